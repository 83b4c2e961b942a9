import Foundation
import Inventory
import Orders
import Postgres
import Queue
import TestSupport
import XCTest

/// Conferencing (issue 15 item 2, seed 000 step 8): the user may host Conference Now, with an
/// attendee access code, as a saga step of an add order (updateUser with a before-image), through a
/// real worker, PostgreSQL and `ucp devsim`: the plan, the device's state after success and after
/// undo, a lost answer, drift, a worker killed around the call, bad codes and a call processor
/// without Conference Now refused.
final class ConferencingOrderTests: OrderTestCase {
    static let code = "1234"

    /// The order file's conferencing part.
    func conferencing(_ code: String = ConferencingOrderTests.code) -> String {
        "conference_now:\n  access_code: \"\(code)\"\n"
    }

    /// The devsim record of a user.
    func user(_ userid: String) throws -> String {
        try state().first { $0.hasPrefix("User ") && $0.contains("userid=\(userid) ") } ?? ""
    }

    /// A user Unified CM had (Conference Now off, no code): the plan names the call; the order makes
    /// exactly the plan's writes (valid against AXLSoap.xsd 12.5), and the user then may host
    /// Conference Now with the code; a lost answer of that write is tried again without harm; the
    /// cancel writes the before-image back and the device is as before the order.
    func testConferenceNowOrderSetsTheUserAndItsCancelRestoresTheStateBefore() async throws {
        try await prepare()
        let before = try state()
        let initial = try user("user000001")
        XCTAssertTrue(initial.contains("enableUserToHostConferenceNow=false"), initial)
        let file = try orderFile(user: "user000001", voicemail: false, extra: conferencing())
        let plan = try ucp(["order", "plan", "-f", file])
        XCTAssertTrue(plan.stdout.contains("updateUser userid=user000001 enableUserToHostConferenceNow=true attendeesAccessCode=1234"), plan.stdout)
        XCTAssertEqual(try calls().filter { !$0.hasPrefix("GET /vmrest/version") }, [], "plan makes no device call")

        // updateUser 1 is the association, 2 the conferencing step: its answer is lost once.
        try fault("drop=updateUser:2")
        let submitted = try ucp(["order", "submit", "-f", file, "--wait"])
        let id = try orderID(submitted)
        let order = try await self.order(id)
        XCTAssertEqual(order.state, "succeeded", order.error ?? submitted.stdout)
        // The association's device list is read, extended and written whole (the adopted user had a phone): the rest is the plan's.
        let association = "updateUser userid=user000001 associatedDevices"
        let planned = try await plannedWrites(id).filter { !$0.hasPrefix(association) }
        // The dropped answer's connection closes without a word: the HTTP client sends that same update once more by
        // itself (the saga's retry reads first and writes nothing more) — the same write, so compared without repeats.
        XCTAssertEqual(Set(try writes().filter { !$0.hasPrefix(association) }), Set(planned), "the device's writes are the plan's")
        XCTAssertEqual(try AXLSchema.validate(directory: capture), [], "every request valid against AXLSoap.xsd 12.5")
        let record = try user("user000001")
        XCTAssertTrue(record.contains("enableUserToHostConferenceNow=true") && record.contains("attendeesAccessCode=1234"), record)
        let done = try await steps(id)
        let step = try XCTUnwrap(done.first { $0.name == .conferenceNow })
        XCTAssertEqual(step.state, "done")
        XCTAssertEqual(step.beforeImage, [CallField("enableUserToHostConferenceNow", "false"), CallField("attendeesAccessCode", "")])

        _ = try sim.control("calls?clear=1")
        let cancel = try ucp(["order", "cancel", String(id), "--wait"])
        XCTAssertTrue(cancel.stdout.contains("succeeded"), cancel.stdout)
        let canceled = try await self.order(id)
        XCTAssertEqual(canceled.state, "canceled")
        let undone = try writes()
        XCTAssertTrue(undone.contains("updateUser userid=user000001 enableUserToHostConferenceNow=false attendeesAccessCode=''"),
                      undone.joined(separator: "\n"))
        XCTAssertEqual(try state(), before, "the device is as before the order")
    }

    /// A later step fails: the rollback writes the user's Conference Now fields back from their
    /// before-image, and the device is as before the order. The conferencing write itself refused:
    /// the steps before it are undone.
    func testAFailureRollsTheConferencingStepBack() async throws {
        try await prepare()
        let before = try state()
        for spec in ["addRemoteDestinationProfile:1", "updateUser:2"] {
            try fault("clear=1&fail=\(spec)")
            _ = try sim.control("calls?clear=1")
            let file = try orderFile(user: "user000001", voicemail: false,
                                     extra: conferencing() + "single_number_reach:\n  destination: \"+15557654321\"\n")
            let result = try harness.ucp(["order", "submit", "-f", file, "--wait"])
            XCTAssertEqual(result.status, 1, "\(spec): \(result.stdout)\(result.stderr)")
            let order = try await order(try orderID(result))
            XCTAssertEqual(order.state, "rolled_back", "\(spec): \(order.error ?? "")")
            XCTAssertEqual(try state(), before, "\(spec): the device is as before the order")
            let states = Dictionary(uniqueKeysWithValues: try await steps(order.id).map { ($0.name, $0.state) })
            XCTAssertEqual(states[.conferenceNow], spec == "updateUser:2" ? "failed" : "undone", spec)
        }
    }

    /// Someone changes the user's access code between the step and its undo: the rollback leaves the
    /// user untouched (no write over the change), undoes the rest, and the order needs attention.
    func testDriftBeforeTheUndoEndsNeedingAttentionAndLeavesTheUser() async throws {
        try await prepare()
        try fault("fail=addRemoteDestinationProfile:1")
        let file = try orderFile(user: "user000001", voicemail: false, onFailure: "stop",
                                 extra: conferencing() + "single_number_reach:\n  destination: \"+15557654321\"\n")
        let result = try harness.ucp(["order", "submit", "-f", file, "--wait"])
        XCTAssertEqual(result.status, 1, result.stdout)
        let id = try orderID(result)
        let failed = try await order(id)
        XCTAssertEqual(failed.state, "failed")
        XCTAssertEqual(try sim.axl("updateUser") { writer in
            writer.element("userid", "user000001")
            writer.element("attendeesAccessCode", "9999")
        }, 200)
        _ = try sim.control("calls?clear=1")
        let rollback = try harness.ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertEqual(rollback.status, 1, rollback.stdout)
        let order = try await self.order(id)
        XCTAssertEqual(order.state, "needs_attention")
        XCTAssertTrue(order.error?.contains("drift") == true, order.error ?? "")
        let record = try user("user000001")
        XCTAssertTrue(record.contains("enableUserToHostConferenceNow=true") && record.contains("attendeesAccessCode=9999"), "untouched: \(record)")
        XCTAssertFalse(try writes().contains { $0.hasPrefix("updateUser userid=user000001 enableUserToHostConferenceNow") }, "no write over the change")
        XCTAssertFalse(try state().contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001 ") }, "the phone was undone")
        let states = Dictionary(uniqueKeysWithValues: try await steps(id).map { ($0.name, $0.state) })
        XCTAssertEqual(states[.conferenceNow], "conflict")
    }

    /// Crash safety: the worker is killed while the device holds the conferencing write — before it
    /// acts (stall) or after it acted and before it answers (hold). A new worker resumes the order:
    /// it ends succeeded with the user's fields set, and its before-image is the state before.
    func testAWorkerKilledAroundTheConferencingCallResumes() async throws {
        try await prepare()
        var workers = try CrashWorkers(self)
        for (run, mode) in ["stall", "hold"].enumerated() {
            let userid = String(format: "user%06d", run + 1), phone = String(format: "SEP00CC00DD%04d", run + 1)
            try fault("clear=1&pause-seconds=3&\(mode)=updateUser:2")
            _ = try sim.control("calls?clear=1")
            let id = try orderID(try ucp(["order", "submit", "-f", try orderFile("crash\(run).yaml", user: userid, phone: phone, voicemail: false,
                                                                                extra: conferencing("00\(run)42"))]))
            let seen = Date().addingTimeInterval(60)
            while try calls().filter({ $0.hasPrefix("updateUser ") }).count < 2, Date() < seen { try await Task.sleep(nanoseconds: 50_000_000) }
            try await workers.kill(whenTheDeviceHas: "updateUser userid=\(userid) enableUserToHostConferenceNow")
            let ended = try await ended(id)
            XCTAssertEqual(ended.state, "succeeded", "\(mode): \(ended.error ?? "")")
            let record = try user(userid)
            XCTAssertTrue(record.contains("enableUserToHostConferenceNow=true") && record.contains("attendeesAccessCode=00\(run)42"), "\(mode): \(record)")
            let made = try await steps(id)
            let step = try XCTUnwrap(made.first { $0.name == .conferenceNow })
            XCTAssertEqual(step.beforeImage?.first, CallField("enableUserToHostConferenceNow", "false"), "\(mode): the image before the order")
        }
    }

    /// Bad input: one line naming the field (and the file's line), exit 64, nothing written — codes
    /// that are not 3 to 10 digits, a value that is not a mapping, an unknown field, and a call
    /// processor whose infrastructure synchronization read no Conference Now number.
    func testBadAccessCodesAndMissingConferenceNowAreRefusedAndWriteNothing() async throws {
        try await prepare()
        let orders = try await sql("SELECT count(*)::bigint AS n FROM orders")[0].decode("n", as: Int64.self)
        var cases: [(String, String)] = [
            (try orderFile("a.yaml", extra: conferencing("12a4")),
             "conference_now.access_code (a.yaml line 10): '12a4' must be an attendee access code: 3 to 10 digits"),
            (try orderFile("s.yaml", extra: conferencing("12")),
             "conference_now.access_code (s.yaml line 10): '12' must be an attendee access code: 3 to 10 digits"),
            (try orderFile("l.yaml", extra: conferencing("12345678901")),
             "conference_now.access_code (l.yaml line 10): '12345678901' must be an attendee access code: 3 to 10 digits"),
            (try orderFile("m.yaml", extra: "conference_now: \"1234\"\n"), "conference_now (m.yaml line 9): must be a mapping with access_code"),
            (try orderFile("u.yaml", extra: "conference_now:\n  pin: \"1234\"\n"), "conference_now.pin (u.yaml line 10): unknown field (known: access_code)"),
        ]
        _ = try sim.control("calls?clear=1")
        for (path, expected) in cases {
            try assertRefused(path, expected)
        }
        // The call processor has no Conference Now number any more (as its infrastructure sync reads it).
        _ = try await sql("UPDATE device_objects SET removed_at = now() WHERE device = 'TestCCM' AND object_type = 'ConferenceNow'")
        cases = [(try orderFile("n.yaml", extra: conferencing()), "conference_now (n.yaml line 9): 'TestCCM' has no Conference Now number")]
        for (path, expected) in cases {
            try assertRefused(path, expected)
        }
        let after = try await sql("SELECT count(*)::bigint AS n FROM orders")[0].decode("n", as: Int64.self)
        XCTAssertEqual(after, orders, "nothing written")
        XCTAssertEqual(try writes(), [], "no device write")
    }
}
