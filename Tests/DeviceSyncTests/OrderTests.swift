import Foundation
import Inventory
import Orders
import Postgres
import Queue
import TestSupport
import XCTest

/// Orders (issue 14) through a real worker, PostgreSQL and `ucp devsim` (Unified CM "TestCCM" and
/// Unity Connection "unity"): plan, submit, the saga's steps, lost answers, failures, drift,
/// maintenance mode and bad order files.
final class OrderTests: OrderTestCase {
    // MARK: tests

    /// A Unity template alias with a space, `&` and the like goes into the request's URL escaped: the
    /// mailbox is made from that template (it was a bad URL, or `&` started another parameter).
    func testAUnityTemplateAliasIsEscapedInTheRequestURL() async throws {
        try await prepare()
        try ucp(["service-area", "edit", Self.area, "--domain", Self.domain, "--unity-template", "VMT Sales & Support"])
        let file = try orderFile()
        let plan = try ucp(["order", "plan", "-f", file])
        XCTAssertTrue(plan.stdout.contains("POST /vmrest/users?templateAlias=VMT%20Sales%20%26%20Support Alias=jdoe"), plan.stdout)
        let submitted = try ucp(["order", "submit", "-f", file, "--wait"])
        let id = try orderID(submitted)
        await assertEqual(try await order(id).state, "succeeded")
        let made = try calls()
        XCTAssertTrue(made.contains { $0.hasPrefix("POST /vmrest/users?templateAlias=VMT Sales & Support") }, "\(made)")
    }

    /// A user ID with spaces and parentheses (Unified CM's user IDs may have both; one synchronized
    /// from a directory does) is the mailbox's alias: after the create's answer is lost, the CUPI
    /// query `(Alias is Ann Lee (Sales))` finds exactly that mailbox and the step adopts it. (The
    /// simulator read the value only up to its first `)` before, found nothing, and the order failed
    /// on the duplicate.)
    func testAMailboxAliasWithSpacesAndParenthesesIsFoundByItsQuery() async throws {
        try await prepare()
        let user = "Ann Lee (Sales)"
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name) VALUES ('\(user)', 'Cisco', 'manual', 'Ann', 'Lee')")
        try fault("drop=cupiCreateUser:1")
        let result = try ucp(["order", "submit", "-f", try orderFile(user: user), "--wait"])
        let id = try orderID(result)
        let order = try await order(id)
        XCTAssertEqual(order.state, "succeeded", result.stdout + (order.error ?? ""))
        let steps = try await steps(id)
        let voicemail = try XCTUnwrap(steps.first { $0.name == .voicemail })
        XCTAssertNotNil(voicemail.createdUUID, "the mailbox found after the lost answer is the order's own")
        let made = try calls()
        XCTAssertTrue(made.contains("GET /vmrest/users?query=(Alias is \(user))"), "\(made)")
        XCTAssertEqual(try state().filter { $0.hasPrefix("UnityUser ") && $0.contains("Alias=\(user) ") }.count, 1)
    }

    /// A full order for a user only the inventory had: the plan names every call with the area's
    /// defaults; execution makes exactly the plan's writes (the association read-extend-written),
    /// every request valid against AXLSoap.xsd 12.5, at most 12 device calls; the user record then
    /// shows the phone, line and voicemail placed in the area without a sync.
    func testFullOrderSucceedsAndTheDeviceSawExactlyThePlan() async throws {
        try await prepare()
        let file = try orderFile()
        let plan = try ucp(["order", "plan", "-f", file])
        XCTAssertTrue(plan.stdout.contains("addUser user{firstName=John lastName=Doe userid=jdoe mailid=jdoe@example.com presenceGroupName='Standard Presence group'}"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("addLine line{pattern=4000 description='ucp:order=new John Doe' usage=Device routePartitionName=PT_Internal"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("devicePoolName=DP_Site01"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("POST /vmrest/users?templateAlias=voicemailusertemplate Alias=jdoe DtmfAccessId=4000"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("doDeviceReset deviceName=SEP00AA00BB0001"), plan.stdout)
        XCTAssertEqual(try calls().filter { !$0.hasPrefix("GET /vmrest/version") }, [], "plan makes no device call")

        let submitted = try ucp(["order", "submit", "-f", file, "--wait"])
        let id = try orderID(submitted)
        XCTAssertTrue(submitted.stdout.contains("order \(id) succeeded"), submitted.stdout)
        let first = try await order(id)
        XCTAssertEqual(first.state, "succeeded")
        XCTAssertEqual(first.line, "4000")

        let planned = try await plannedWrites(id)
        XCTAssertEqual(try writes(), planned, "the device's writes are the plan's")
        let made = try calls()
        XCTAssertLessThanOrEqual(made.count, 12, "device calls of one order: \(made)")
        XCTAssertEqual(try AXLSchema.validate(directory: capture), [], "every request valid against AXLSoap.xsd 12.5")

        let after = try state()
        XCTAssertTrue(after.contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001") && $0.contains("ownerUserName=jdoe") && $0.contains("lines=1:4000/PT_Internal") }, after.joined(separator: "\n"))
        XCTAssertTrue(after.contains { $0.hasPrefix("User ") && $0.contains("userid=jdoe") && $0.contains("names=SEP00AA00BB0001") && $0.contains("primaryExtension=4000\u{1}PT_Internal") })
        XCTAssertTrue(after.contains { $0.hasPrefix("Line ") && $0.contains("pattern=4000") && $0.contains("callForwardBusy=true\u{1}CSS_Internal") && $0.contains("voiceMailProfileName=Default") })
        XCTAssertTrue(after.contains { $0.hasPrefix("UnityUser ") && $0.contains("Alias=jdoe") && $0.contains("DtmfAccessId=4000") })

        let services = try await sql("SELECT service_type || ' ' || object_key || ' ' || service_area AS s FROM user_services WHERE user_id = 'jdoe' ORDER BY 1")
            .map { try $0.decode("s", as: String.self) }
        XCTAssertEqual(services, ["line 4000/PT_Internal SA_Orders", "phone SEP00AA00BB0001 SA_Orders", "voicemail jdoe SA_Orders"])
        let show = try ucp(["order", "show", String(id)])
        XCTAssertTrue(show.stdout.contains("7. reset"), show.stdout)

        // The next order takes the next number; its user was synchronized, so it is adopted.
        let second = try ucp(["order", "submit", "-f", try orderFile("second.yaml", user: "user000001", phone: "SEP00AA00BB0002"), "--wait"])
        let secondOrder = try await order(try orderID(second))
        XCTAssertEqual(secondOrder.line, "4001")
        XCTAssertEqual(secondOrder.state, "succeeded")
        let secondSteps = try await steps(secondOrder.id)
        XCTAssertEqual(secondSteps.first?.adopted, true)
        let user = try state().first { $0.hasPrefix("User ") && $0.contains("userid=user000001") } ?? ""
        XCTAssertTrue(user.contains("names=SEP001122000001,SEP00AA00BB0002"), "the device list was read, extended and written whole: \(user)")
    }

    /// The answer of every add (user, line, phone) and of the Unity create is lost after the device
    /// committed it: each retry finds its own object (the marker, or the values it sent) and adopts
    /// it as created — no duplicate, no failure; a cancel then removes exactly those objects.
    func testLostAnswersOnEveryAddAreAdoptedWithoutDuplicates() async throws {
        try await prepare()
        let before = try state()
        for operation in ["addUser", "addLine", "addPhone", "cupiCreateUser"] { try fault("drop=\(operation):1") }
        let result = try ucp(["order", "submit", "-f", try orderFile(), "--wait"])
        let id = try orderID(result)
        let order = try await order(id)
        XCTAssertEqual(order.state, "succeeded", result.stdout)
        let steps = try await steps(id)
        for name in [StepName.user, .line, .phone, .voicemail] {
            let step = try XCTUnwrap(steps.first { $0.name == name })
            XCTAssertNotNil(step.createdUUID, "\(name): the object found after the lost answer is the order's own")
            XCTAssertFalse(step.adopted, "\(name)")
            XCTAssertGreaterThanOrEqual(step.attempts, 1)
        }
        let after = try state()
        XCTAssertEqual(after.filter { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001 ") }.count, 1)
        XCTAssertEqual(after.filter { $0.hasPrefix("Line ") && $0.contains("pattern=4000 ") }.count, 1)
        XCTAssertEqual(after.filter { $0.hasPrefix("User ") && $0.contains("userid=jdoe ") }.count, 1)
        XCTAssertEqual(after.filter { $0.hasPrefix("UnityUser ") && $0.contains("Alias=jdoe ") }.count, 1)
        // (libcurl itself may send a request again whose reused connection closed unanswered: the
        // device then answers "duplicate", and the step adopts its object all the same.)

        // Cancel: everything the order made goes, and the device is as before the order.
        let cancel = try ucp(["order", "cancel", String(id), "--wait"])
        XCTAssertTrue(cancel.stdout.contains("succeeded"), cancel.stdout)
        let canceled = try await self.order(id)
        XCTAssertEqual(canceled.state, "canceled")
        XCTAssertEqual(try state(), before)
        let services = try await sql("SELECT count(*)::bigint AS n FROM user_services WHERE user_id = 'jdoe'")[0].decode("n", as: Int64.self)
        XCTAssertEqual(services, 0)
        // A cancel order is not rolled back (that would re-add what it removed).
        let cancelID = try orderID(cancel)
        let refused = try harness.ucp(["order", "rollback", String(cancelID)])
        XCTAssertEqual(refused.status, 64, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("order \(cancelID): is a cancel order; only a failed order of another kind can be rolled back"),
                      refused.stderr)
        XCTAssertTrue(refused.stderr.contains("`ucp order retry \(cancelID)` goes on removing"),
                      refused.stderr)
    }

    /// The device refuses each write of the order in turn: each order ends rolled back, the steps
    /// before undone in reverse, and the device as before the order (nothing left, nothing twice).
    /// The reset is retried instead and the order succeeds.
    func testAFailureAtEachStepRollsBackToTheStateBefore() async throws {
        try await prepare()
        let before = try state()
        for operation in ["addUser", "addLine", "addPhone", "updateUser", "cupiCreateUser", "updateLine"] {
            try fault("clear=1&fail=\(operation):1")
            let result = try harness.ucp(["order", "submit", "-f", try orderFile(), "--wait"])
            XCTAssertEqual(result.status, 1, "\(operation): \(result.stdout)\(result.stderr)")
            let order = try await order(try orderID(result))
            XCTAssertEqual(order.state, "rolled_back", "\(operation): \(order.error ?? "")")
            XCTAssertTrue(order.error?.contains("Simulated failure") == true, order.error ?? "")
            XCTAssertEqual(try state(), before, "\(operation): the device is as before the order")
            let steps = try await steps(order.id)
            XCTAssertEqual(steps.filter { $0.state == "failed" }.count, 1, "\(operation)")
            XCTAssertTrue(steps.allSatisfy { ["pending", "failed", "undone", "skipped"].contains($0.state) }, "\(operation): \(steps.map(\.state))")
        }
        try fault("clear=1&fail=doDeviceReset:1")
        let result = try ucp(["order", "submit", "-f", try orderFile(), "--wait"])
        let order = try await order(try orderID(result))
        XCTAssertEqual(order.state, "succeeded")
        XCTAssertEqual(try writes().filter { $0.hasPrefix("doDeviceReset") }.count, 2, "the reset was tried again")
    }

    /// The device answers an order's addPhone with broken XML (as a proxy's HTML error page would
    /// be): the step fails, the order rolls back — the line and user it created removed — and
    /// `--wait` returns, instead of the attempt ending with the order left running.
    func testABrokenAnswerToAWriteFailsTheStepAndRollsBack() async throws {
        try await prepare(simulatorArguments: ["--malformed-op", "addPhone"])
        let before = try state()
        let result = try harness.ucp(["order", "submit", "-f", try orderFile(), "--wait"])
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        let order = try await order(try orderID(result))
        XCTAssertEqual(order.state, "rolled_back", order.error ?? "")
        XCTAssertTrue(order.error?.contains("step phone: addPhone: the answer is not valid XML") == true, order.error ?? "")
        XCTAssertTrue(try writes().contains { $0.hasPrefix("addLine") }, "the line was created before the phone")
        XCTAssertEqual(try state(), before, "the device is as before the order")
        let steps = try await steps(order.id)
        XCTAssertEqual(steps.first { $0.name == .phone }?.state, "failed")
        XCTAssertEqual(steps.first { $0.name == .line }?.state, "undone")
    }

    /// An out-of-band change between a step and its undo: the rollback leaves that object untouched
    /// (the user, whose device list someone changed), undoes the rest, and the order needs attention.
    func testDriftBeforeTheUndoEndsNeedingAttentionAndLeavesThatObject() async throws {
        try await prepare()
        try fault("fail=cupiCreateUser:1")
        let result = try harness.ucp(["order", "submit", "-f", try orderFile(onFailure: "stop"), "--wait"])
        XCTAssertEqual(result.status, 1, result.stdout)
        let id = try orderID(result)
        var order = try await order(id)
        XCTAssertEqual(order.state, "failed")
        // Someone adds a device to the user on Unified CM.
        XCTAssertEqual(try sim.axl("updateUser") { writer in
            writer.element("userid", "jdoe")
            writer.open("associatedDevices")
            writer.element("device", "SEP00AA00BB0001")
            writer.element("device", "SEP001122000003")
            writer.close("associatedDevices")
        }, 200)
        let rollback = try harness.ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertEqual(rollback.status, 1, rollback.stdout)
        order = try await self.order(id)
        XCTAssertEqual(order.state, "needs_attention")
        XCTAssertTrue(order.error?.contains("drift") == true, order.error ?? "")
        let after = try state()
        let user = after.first { $0.hasPrefix("User ") && $0.contains("userid=jdoe ") }
        XCTAssertTrue(user?.contains("names=SEP00AA00BB0001,SEP001122000003") == true, "the user is untouched: \(user ?? "gone")")
        XCTAssertFalse(after.contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001 ") }, "the phone was undone")
        XCTAssertFalse(after.contains { $0.hasPrefix("Line ") && $0.contains("pattern=4000 ") }, "the line was undone")
        let states = Dictionary(uniqueKeysWithValues: try await steps(id).map { ($0.name, $0.state) })
        XCTAssertEqual(states[.associate], "conflict")
        XCTAssertEqual(states[.user], "conflict")
        XCTAssertEqual(states[.phone], "undone")
        XCTAssertEqual(states[.line], "undone")
    }

    /// A line the order created that another device carries by the time of the undo (someone shared
    /// it out of band): the rollback removes the order's phone but not the line — that would break the
    /// other device's calls — and the order needs attention, naming the device.
    func testAnUndoLeavesTheLineAnotherDeviceCarriesAndNeedsAttention() async throws {
        try await prepare()
        try fault("fail=cupiCreateUser:1")
        let result = try harness.ucp(["order", "submit", "-f", try orderFile(onFailure: "stop"), "--wait"])
        XCTAssertEqual(result.status, 1, result.stdout)
        let id = try orderID(result)
        await assertEqual(try await order(id).state, "failed")
        // Someone puts the order's line on another phone as a shared line.
        try shareLine("4000", partition: "PT_Internal", onPhone: "SEP001122000003")
        let rollback = try harness.ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertEqual(rollback.status, 1, rollback.stdout)
        let order = try await order(id)
        XCTAssertEqual(order.state, "needs_attention")
        XCTAssertTrue(order.error?.contains("the line is on device 'SEP001122000003' on TestCCM now: not removed") == true, order.error ?? "")
        let after = try state()
        XCTAssertTrue(after.contains { $0.hasPrefix("Line ") && $0.contains("pattern=4000 ") }, "the shared line stays: \(after.joined(separator: "\n"))")
        XCTAssertFalse(after.contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001 ") }, "the order's phone was undone")
        let states = Dictionary(uniqueKeysWithValues: try await steps(id).map { ($0.name, $0.state) })
        XCTAssertEqual(states[.phone], "undone")
        XCTAssertEqual(states[.line], "conflict")
    }

    /// Maintenance mode holds an order back (as it does while a user sync runs); once it ends, the
    /// order runs and succeeds.
    func testAnOrderSubmittedDuringMaintenanceWaitsThenSucceeds() async throws {
        try await prepare()
        try ucp(["maintenance", "on"])
        let result = try ucp(["order", "submit", "-f", try orderFile()])
        let id = try orderID(result)
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let waiting = try await order(id)
        XCTAssertEqual(waiting.state, "submitted", "held back by maintenance mode")
        XCTAssertEqual(try writes(), [])
        try ucp(["maintenance", "off"])
        let deadline = Date().addingTimeInterval(60)
        while try await order(id).state != "succeeded", Date() < deadline { try await Task.sleep(nanoseconds: 100_000_000) }
        let ended = try await order(id)
        XCTAssertEqual(ended.state, "succeeded")
    }

    /// Bad order files: one line naming the field and the file's line, exit 64, nothing written.
    func testBadOrderFilesAreRefusedWithTheFieldAndLineAndWriteNothing() async throws {
        try await prepare()
        _ = try ucp(["order", "submit", "-f", try orderFile("taken.yaml", phone: "SEP00AA00BB0009"), "--wait"])
        let orders = try await sql("SELECT count(*)::bigint AS n FROM orders")[0].decode("n", as: Int64.self)
        let jobs = try await sql("SELECT count(*)::bigint AS n FROM jobs")[0].decode("n", as: Int64.self)
        let cases: [(String, String, String)] = [
            (try orderFile("u.yaml", user: "nobody"), "user (u.yaml line 4): no such user 'nobody'", "unknown user"),
            (try orderFile("l.yaml", line: "5999"), "line (l.yaml line 9): 5999 is outside the blocks", "number outside the blocks"),
            (try orderFile("t.yaml", line: "4000"), "line (t.yaml line 9): 4000 is already in use", "number in use"),
            (try orderFile("p.yaml", phone: "SEP001122000001"), "phone.name (p.yaml line 6): phone 'SEP001122000001' already exists", "phone in use"),
        ]
        for (path, expected, what) in cases {
            let result = try harness.ucp(["order", "submit", "-f", path])
            XCTAssertEqual(result.status, 64, "\(what): \(result.stdout)\(result.stderr)")
            XCTAssertTrue(result.stderr.hasPrefix("ucp: " + expected), "\(what): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(what): one line")
        }
        let texts: [(String, String, String)] = [
            ("domain: Nowhere\nservice_area: SA_Orders\nuser: jdoe\nphone:\n  name: SEP1\n  model: Cisco 8845\n",
             "domain (bad.yaml line 1): no such domain 'Nowhere'", "unknown domain"),
            ("domain: Cisco\nservice_area: SA_None\nuser: jdoe\nphone:\n  name: SEP1\n  model: Cisco 8845\n",
             "service_area (bad.yaml line 2): no service area 'SA_None'", "unknown service area"),
            ("domain: Cisco\nservice_area: SA_Orders\nuser: jdoe\nphone:\n  name: SEP1\n  model: Cisco 9999\n",
             "phone.model (bad.yaml line 6): unknown phone model 'Cisco 9999'", "unknown model"),
            ("domain: Cisco\nservice_area: SA_Orders\nuser: jdoe\nphone: [SEP1\n",
             "yaml (bad.yaml line ", "malformed YAML"),
            ("domain: Cisco\nservice_area: SA_Orders\nuser: jdoe\ncolour: red\nphone:\n  name: SEP1\n  model: Cisco 8845\n",
             "colour (bad.yaml line 4): unknown field", "unknown field"),
        ]
        for (text, expected, what) in texts {
            let path = folder + "/bad.yaml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            try assertRefused(path, expected, what)
        }
        let ordersAfter = try await sql("SELECT count(*)::bigint AS n FROM orders")[0].decode("n", as: Int64.self)
        let jobsAfter = try await sql("SELECT count(*)::bigint AS n FROM jobs")[0].decode("n", as: Int64.self)
        XCTAssertEqual(ordersAfter, orders, "nothing written")
        XCTAssertEqual(jobsAfter, jobs, "nothing queued")
    }

    /// Crash safety: for every write of the full order, the worker is killed (SIGKILL) while the
    /// device holds the call — before it acts (stall), or after it acted and before it answers
    /// (hold). A new worker resumes the order at its step once the coordinator hands the job back:
    /// every run ends succeeded with exactly one of each object (no orphan, no duplicate) and no
    /// step took effect twice.
    func testAWorkerKilledAroundEveryDeviceCallResumesWithoutDuplicates() async throws {
        try await prepare()
        try ucp(["service-area", "edit", "--domain", Self.domain, Self.area, "--dn-block", "4000-4099"])
        harness.processes.kill("worker")
        try startRescuingCoordinator()
        var worker = 0
        func startWorker() throws {
            worker += 1
            _ = try harness.processes.start("worker\(worker)", ["worker", "--concurrency", "4", "--name", "crash-worker-\(worker)", "--lease", "2s"])
        }
        try startWorker()
        let operations = ["addUser", "addLine", "addPhone", "updateUser", "cupiCreateUser", "updateLine", "doDeviceReset"]
        var run = 0
        for operation in operations {
            for mode in ["stall", "hold"] {
                run += 1
                let user = "crash\(run)", phone = String(format: "SEP00CC00DD%04d", run)
                _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name) VALUES ('\(user)', 'Cisco', 'manual', 'Crash', 'Test\(run)')")
                try fault("clear=1&pause-seconds=3&\(mode)=\(operation):1")
                _ = try sim.control("calls?clear=1")
                let id = try orderID(try ucp(["order", "submit", "-f", try orderFile("crash\(run).yaml", user: user, phone: phone)]))
                // Wait until the device has the call, then kill the worker in the middle of it.
                let marker = operation == "cupiCreateUser" ? "POST /vmrest/users" : operation + " "
                let seen = Date().addingTimeInterval(60)
                while try !calls().contains(where: { $0.hasPrefix(marker) }), Date() < seen { try await Task.sleep(nanoseconds: 50_000_000) }
                XCTAssertTrue(try calls().contains { $0.hasPrefix(marker) }, "\(operation) \(mode): the device never got the call")
                harness.processes.kill("worker\(worker)")
                try startWorker()
                let deadline = Date().addingTimeInterval(90)
                while !Order.finalStates.union(["failed", "needs_attention"]).contains(try await order(id).state), Date() < deadline {
                    try await Task.sleep(nanoseconds: 100_000_000)
                }
                let ended = try await order(id)
                XCTAssertEqual(ended.state, "succeeded", "\(operation) \(mode): \(ended.error ?? "")")
                let state = try state()
                XCTAssertEqual(state.filter { $0.hasPrefix("Phone ") && $0.contains("name=\(phone) ") }.count, 1, "\(operation) \(mode)")
                XCTAssertEqual(state.filter { $0.hasPrefix("User ") && $0.contains("userid=\(user) ") }.count, 1, "\(operation) \(mode)")
                XCTAssertEqual(state.filter { $0.hasPrefix("Line ") && $0.contains("pattern=\(ended.line ?? "?") ") }.count, 1, "\(operation) \(mode)")
                XCTAssertEqual(state.filter { $0.hasPrefix("UnityUser ") && $0.contains("Alias=\(user) ") }.count, 1, "\(operation) \(mode)")
                let record = state.first { $0.hasPrefix("User ") && $0.contains("userid=\(user) ") } ?? ""
                XCTAssertTrue(record.contains("names=\(phone)") && !record.contains("names=\(phone),\(phone)"), "\(operation) \(mode): \(record)")
            }
        }
        // No orphan: every object carrying an order's marker belongs to a succeeded order.
        let marked = try state().filter { $0.contains("ucp:order=") }
        XCTAssertEqual(marked.count, 2 * run, marked.joined(separator: "\n"))
    }

    /// The per-device write bound holds across worker processes: with the device's bound at 1 and
    /// two workers running its orders at once (the device slowed to 40 ms a write so that writes
    /// would overlap), the device never has two writes at once; the bound is a validated setting.
    func testTheDeviceWriteBoundHoldsAcrossWorkerProcesses() async throws {
        try await prepare()
        try ucp(["service-area", "edit", "--domain", Self.domain, Self.area, "--dn-block", "4000-4099"])
        let refused = try harness.ucp(["device", "edit", "TestCCM", "--max-writes-in-flight", "65"])
        XCTAssertEqual(refused.status, 64, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.hasPrefix("ucp: max_writes_in_flight: must be a whole number from 1 to 64"), refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        XCTAssertTrue(try ucp(["device", "show", "TestCCM"]).stdout.contains("at most 2 "), "the default bound is 2")
        try ucp(["device", "edit", "TestCCM", "--max-writes-in-flight", "1"])
        XCTAssertTrue(try ucp(["device", "show", "TestCCM"]).stdout.contains("at most 1 "))
        _ = try harness.processes.start("worker2", ["worker", "--concurrency", "4", "--name", "second-worker"])
        let count = 8
        var values: [String] = []
        for index in 1...count { values.append("('bound\(index)', 'Cisco', 'manual', 'Bound', 'User\(index)')") }
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name) VALUES " + values.joined(separator: ", "))
        try fault("write-ms=40")
        // Held back until all are queued, so both workers take orders at once.
        try ucp(["maintenance", "on"])
        for index in 1...count {
            _ = try orderID(try ucp(["order", "submit", "-f", try orderFile("bound\(index).yaml", user: "bound\(index)",
                                                                              phone: String(format: "SEP00BB00CC%04d", index), voicemail: false)]))
        }
        _ = try sim.control("requests?clear=1")
        try ucp(["maintenance", "off"])
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let open = try await sql("SELECT count(*)::bigint AS n FROM orders WHERE state IN ('submitted', 'running', 'rolling_back')")[0].decode("n", as: Int64.self)
            if open == 0 { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let states = try await sql("SELECT state, count(*)::bigint AS n FROM orders GROUP BY state").map { "\(try $0.decode("state", as: String.self)) \(try $0.decode("n", as: Int64.self))" }
        XCTAssertEqual(states, ["succeeded \(count)"])
        let workers = try await sql("SELECT count(DISTINCT j.worker)::bigint AS n FROM orders o JOIN jobs j ON j.id = o.job_id")[0].decode("n", as: Int64.self)
        XCTAssertEqual(workers, 2, "both workers ran orders")
        let requests = try sim.control("requests")
        XCTAssertTrue(requests.contains("max_axl_writes_in_flight=1 "), "never two writes at once on the device: \(requests)")
    }

    /// Write throttling: the device answers 503 above 20 writes a second; 60 orders released at once
    /// all succeed (each 503 backed off with jitter and retried; the pre-checks make that safe). The
    /// acceptance's 200 orders: scripts/orders-throttle.sh.
    func testOrdersSucceedWhileTheDeviceThrottlesWrites() async throws {
        try await prepare()
        try ucp(["service-area", "edit", "--domain", Self.domain, Self.area, "--dn-block", "4000-4099"])
        let count = 60
        var values: [String] = []
        for index in 1...count { values.append("('load\(index)', 'Cisco', 'manual', 'Load', 'User\(index)')") }
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name) VALUES " + values.joined(separator: ", "))
        try fault("writes-per-second=20")
        // Held back until all are queued: they then start together and their writes come faster than
        // 20 a second whatever the pace of submission (the device must throttle for the test to mean anything).
        try ucp(["maintenance", "on"])
        var ids: [Int64] = []
        for index in 1...count {
            ids.append(try orderID(try ucp(["order", "submit", "-f", try orderFile("load\(index).yaml", user: "load\(index)",
                                                                                    phone: String(format: "SEP00EE00FF%04d", index), voicemail: false)])))
        }
        try ucp(["maintenance", "off"])
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline {
            let open = try await sql("SELECT count(*)::bigint AS n FROM orders WHERE state IN ('submitted', 'running', 'rolling_back')")[0].decode("n", as: Int64.self)
            if open == 0 { break }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        let states = try await sql("SELECT state, count(*)::bigint AS n FROM orders GROUP BY state").map { "\(try $0.decode("state", as: String.self)) \(try $0.decode("n", as: Int64.self))" }
        XCTAssertEqual(states, ["succeeded \(count)"])
        let line = try sim.control("faults")
        XCTAssertFalse(line.contains(" 0 writes answered 503"), "the device throttled: \(line)")
        XCTAssertEqual(try state().filter { $0.hasPrefix("Phone ") && $0.contains("name=SEP00EE00FF") }.count, count)
    }
}
