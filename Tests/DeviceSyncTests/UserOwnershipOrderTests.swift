import Foundation
import Orders
import TestSupport
import XCTest

/// Whose is the user an add order's `user` step finds on Unified CM (an end user carries no order
/// marker)? Its own only when the order itself sent the add and the user shows every field the add
/// wrote; any other is adopted as a user that was there (no uuid recorded), so no undo removes it.
final class UserOwnershipOrderTests: OrderTestCase {
    /// `user` added to devsim by someone else: the order's names, another mail address.
    func addForeignUser(_ userid: String = "jdoe") throws {
        XCTAssertEqual(try sim.axl("addUser") { writer in
            writer.open("user")
            writer.element("firstName", "John")
            writer.element("lastName", "Doe")
            writer.element("userid", userid)
            writer.element("mailid", "john.doe@elsewhere.example")
            writer.element("presenceGroupName", OrderPlanner.presenceGroup)
            writer.close("user")
        }, 200)
    }

    func users(_ userid: String = "jdoe") throws -> [String] {
        try state().filter { $0.hasPrefix("User ") && $0.contains("userid=\(userid) ") }
    }

    func log(_ id: Int64) async throws -> [String] {
        try await sql("SELECT l.message FROM job_logs l JOIN orders o ON o.job_id = l.job_id WHERE o.id = \(id) ORDER BY l.id")
            .map { try $0.decode("message", as: String.self) }
    }

    /// The answer of addUser is lost after Unified CM committed it: the retry finds the user with
    /// every field the order wrote and takes it as the order's own (its uuid recorded); the order
    /// succeeds with exactly one user, and a cancel removes it.
    func testALostAnswerOnAddUserIsTheOrdersOwnUser() async throws {
        try await prepare()
        let before = try state()
        try fault("drop=addUser:1")
        let result = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        let id = try orderID(result)
        await assertEqual(try await order(id).state, "succeeded")
        let users = try users()
        XCTAssertEqual(users.count, 1, users.joined(separator: "\n"))
        let steps = try await steps(id)
        let step = try XCTUnwrap(steps.first { $0.name == .user })
        XCTAssertFalse(step.adopted)
        let uuid = try XCTUnwrap(step.createdUUID, "the user found after the lost answer is the order's own")
        let onDevice = users.first?.split(separator: " ").dropFirst().first.map(String.init) ?? ""
        func normalized(_ uuid: String) -> String { uuid.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "{}")) }
        XCTAssertEqual(normalized(uuid), normalized(onDevice))
        let lines = try await log(id)
        XCTAssertTrue(lines.contains { $0.contains("(user): 'jdoe' is on TestCCM") && $0.contains("shows every field this order's add wrote") },
                      lines.joined(separator: "\n"))

        XCTAssertTrue(try ucp(["order", "cancel", String(id), "--wait"]).stdout.contains("succeeded"))
        XCTAssertEqual(try state(), before, "the order's own user is removed with the rest")
    }

    /// The answer of addUser is lost after Unified CM committed it, and the retry's pre-check then
    /// fails too: the step fails without the user's uuid. The rollback still reads the user, finds
    /// every field the order's add wrote, and removes it as the order's own: no orphan user.
    func testARollbackRemovesTheUserWhoseAddAnswerWasLostAndWhoseRetryFailed() async throws {
        try await prepare()
        let before = try state()
        // getUser: the pre-check (1), the retry's pre-check after the lost answer (2, refused), the rollback's read (3).
        try fault("drop=addUser:1&fail=getUser:2")
        let result = try harness.ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        let id = try orderID(result)
        let ended = try await order(id)
        XCTAssertEqual(ended.state, "rolled_back", ended.error ?? "")
        let steps = try await steps(id)
        XCTAssertEqual(steps.first { $0.name == .user }?.state, "undone", "the failed add's own user was removed")
        XCTAssertEqual(try users(), [], "no orphan user on Unified CM")
        XCTAssertEqual(try state(), before)
        XCTAssertTrue(try calls().contains { $0.hasPrefix("removeUser ") })
    }

    /// Someone else adds a user with the order's userid and names (another mail address): between
    /// the plan and the run (the pre-check finds it), or while the order's own addUser is on its way
    /// (a duplicate answer), or after a try of the order's add that failed (the retry's pre-check
    /// finds it). Each time the order adopts it — no uuid recorded — and its cancel leaves that user
    /// on Unified CM as it was.
    func testAUserSomeoneElseAddedIsAdoptedAndLeftByTheCancel() async throws {
        try await prepare()
        func assertAdoptedAndLeft(_ id: Int64, _ what: String, logged: String?) async throws {
            await assertEqual(try await order(id).state, "succeeded", what)
            let steps = try await steps(id)
            let step = try XCTUnwrap(steps.first { $0.name == .user })
            XCTAssertTrue(step.adopted, what)
            XCTAssertNil(step.createdUUID, "\(what): not recorded as created")
            if let logged {
                let lines = try await log(id)
                XCTAssertTrue(lines.contains { $0.contains(logged) }, "\(what): \(lines.joined(separator: "\n"))")
            }
            XCTAssertTrue(try ucp(["order", "cancel", String(id), "--wait"]).stdout.contains("succeeded"), what)
            let users = try users()
            XCTAssertEqual(users.count, 1, "\(what): the user stays: \(users)")
            XCTAssertTrue(users.first?.contains("mailid=john.doe@elsewhere.example") == true, "\(what): as it was: \(users)")
            XCTAssertFalse(users.first?.contains("names=SEP") == true, "\(what): its devices as before the order: \(users)")
            // The next case starts without it.
            XCTAssertEqual(try sim.axl("removeUser") { $0.element("userid", "jdoe") }, 200)
        }

        // 1. Between plan and run: the order waits in maintenance mode meanwhile.
        try ucp(["maintenance", "on"])
        var id = try orderID(try ucp(["order", "submit", "-f", try orderFile("one.yaml", voicemail: false)]))
        try addForeignUser()
        try ucp(["maintenance", "off"])
        _ = try await ended(id)
        try await assertAdoptedAndLeft(id, "found by the pre-check", logged: nil)

        // 2. While the order's add is held by the device (before it acts): the add answers duplicate.
        try fault("clear=1&pause-seconds=5&stall=addUser:1")
        _ = try sim.control("calls?clear=1")
        id = try orderID(try ucp(["order", "submit", "-f", try orderFile("two.yaml", phone: "SEP00AA00BB0002", voicemail: false)]))
        let seen = Date().addingTimeInterval(60)
        while try !calls().contains(where: { $0.hasPrefix("addUser ") }), Date() < seen { try await Task.sleep(nanoseconds: 50_000_000) }
        try addForeignUser()
        _ = try await ended(id)
        try await assertAdoptedAndLeft(id, "revealed by a duplicate answer", logged: "(user): 'jdoe' is on TestCCM already (a duplicate answer); not proven this order's")

        // 3. After a try of the order's add that the device refused: the retry's pre-check finds it.
        try fault("clear=1&fail=addUser:1")
        let failed = try harness.ucp(["order", "submit", "-f", try orderFile("three.yaml", phone: "SEP00AA00BB0003", voicemail: false, onFailure: "stop"), "--wait"])
        id = try orderID(failed)
        await assertEqual(try await order(id).state, "failed")
        try addForeignUser()
        _ = try harness.ucp(["order", "retry", String(id), "--wait"])
        try await assertAdoptedAndLeft(id, "found by the retry's pre-check", logged: "(user): 'jdoe' is on TestCCM after an earlier try of this step's add (its answer lost or refused); not proven this order's")
    }
}
