import DirectoryFixtures
import Foundation
import Inventory
import Orders
import Postgres
import TestSupport
import XCTest

/// The delete orders of the LDAP synchronization (issue 15 item 6; seed 004's stale-user actions
/// and its report lines): a real slapd, a real worker, `ucp devsim` as Unified CM and Unity Connection.
final class DeleteOrderTests: OrderTestCase {
    var slapd: SlapdServer!

    override func tearDown() async throws {
        slapd?.destroy()
        try await super.tearDown()
    }

    static let jdoe = FixtureUser(cn: "John Doe", uid: "jdoe", sAMAccountName: "jdoe", givenName: "John", sn: "Doe",
                                  mail: "jdoe@example.com", telephoneNumber: "+1 408 555 0100", userAccountControl: 512)

    /// The order fixtures, plus slapd holding jdoe and user000001-4 as domain Cisco's directory, one
    /// LDAP synchronization done, and the stale-user action `action`.
    func prepareDirectory(action: String) async throws {
        try await prepare()
        slapd = try SlapdServer(users: [Self.jdoe] + (1...4).map(DirectoryFixture.user))
        let passwordFile = folder + "/ldap-password"
        try DirectoryFixture.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        try ucp(["device", "add", "--name", "corp-ad", "--kind", "ldap", "--server-type", "ad", "--address", "127.0.0.1",
                 "--port", String(slapd.port), "--user", DirectoryFixture.syncDN, "--password-file", passwordFile])
        try ucp(["domain", "edit", Self.domain, "--directory", "corp-ad", "--search-base", DirectoryFixture.peopleBase,
                 "--stale-users", action])
        try ucp(["submit", "sync", "ldap", "--domain", Self.domain, "--wait"])
    }

    /// An LDAP synchronization of domain Cisco (deletions allowed past the guard); returns its detailed log.
    @discardableResult
    func ldapSync() throws -> String {
        try ucp(["submit", "sync", "ldap", "--domain", Self.domain, "--allow-deletes", "5", "--wait"])
        return try ucp(["domain", "log", Self.domain, "--kind", "ldap"]).stdout
    }

    /// The delete order of `user` once it ended (the workers run it: plan job, then the order).
    func endedDeleteOrder(of user: String) async throws -> Order {
        var found: Order?
        let ended = try await eventually(timeout: 90) {
            let rows = try await sql("SELECT id FROM orders WHERE kind = 'delete' AND user_id = '\(user)' ORDER BY id DESC LIMIT 1")
            guard let id: Int64 = try rows.first?.decode("id") else { return false }
            let order = try await order(id)
            found = order
            return ["succeeded", "failed", "needs_attention", "rolled_back"].contains(order.state)
        }
        XCTAssertTrue(ended, "the delete order of \(user) ended: \(String(describing: found))")
        return try XCTUnwrap(found)
    }

    func request(of user: String) async throws -> (state: String, orderID: Int64?) {
        let row = try await sql("SELECT state, order_id FROM user_delete_orders WHERE user_id = '\(user)' ORDER BY id DESC LIMIT 1")[0]
        return (try row.decode("state"), try row.decodeIfPresent("order_id"))
    }

    /// "Delete user and all services from Provisioning and CUCM": the sync queues the order, a
    /// worker runs it to completion (mailbox, phone, line and end user gone from the devices; the
    /// devices as before the user's add order), the user record goes, and the next sync reports the
    /// seed's success line. A removal the device refuses fails the order: the failure line.
    func testDeleteUserAndServicesRunsToCompletionAndTheReportShowsTheSeedsLines() async throws {
        try await prepareDirectory(action: "delete-user-and-services")
        let before = try state()
        let added = try ucp(["order", "submit", "-f", try orderFile(), "--wait"])
        await assertEqual(try await order(try orderID(added)).state, "succeeded")

        // jdoe leaves the directory: the sync queues its delete order.
        try slapd.reload(users: (1...4).map(DirectoryFixture.user))
        let queued = try ldapSync()
        XCTAssertTrue(queued.contains("Delete orders were queued for the following users"), queued)
        let deleted = try await endedDeleteOrder(of: "jdoe")
        XCTAssertEqual(deleted.state, "succeeded", deleted.error ?? "")
        let steps = try await steps(deleted.id)
        XCTAssertEqual(steps.map(\.name), [.disassociate, .removeVoicemail, .removePhone, .removeLine, .removeUser])
        XCTAssertEqual(steps.map(\.state), ["done", "done", "done", "done", "done"])
        XCTAssertNotNil(steps.first { $0.name == .removePhone }?.beforeImage, "the phone's before-image is kept")
        let after = try state()
        XCTAssertFalse(after.contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001") }, after.joined(separator: "\n"))
        XCTAssertFalse(after.contains { $0.hasPrefix("Line ") && $0.contains("pattern=4000 ") })
        XCTAssertFalse(after.contains { $0.hasPrefix("User ") && $0.contains("userid=jdoe ") })
        XCTAssertFalse(after.contains { $0.hasPrefix("UnityUser ") && $0.contains("Alias=jdoe ") })
        XCTAssertEqual(after, before, "the devices are as before the user's add order")
        await assertEqual(try await sql("SELECT count(*)::bigint AS n FROM users WHERE user_id = 'jdoe'")[0].decode("n", as: Int64.self), 0)
        let link = try await request(of: "jdoe")
        XCTAssertEqual(link.state, "succeeded")
        XCTAssertEqual(link.orderID, deleted.id)

        // The next sync reports it in the seed's words, with the order's id.
        let report = try ldapSync()
        XCTAssertTrue(report.contains("The following user and associated services were deleted successfully: UserId, OrderId, Status"), report)
        XCTAssertTrue(report.contains("jdoe, \(deleted.id), succeeded"), report)

        // A failing delete: the device refuses the phone's removal; the order stops, the user stays.
        let second = try ucp(["order", "submit", "-f", try orderFile("second.yaml", user: "user000002", phone: "SEP00AA00BB0002", voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(second)).state, "succeeded")
        try fault("fail=removePhone:1")
        try slapd.reload(users: [1, 3, 4].map(DirectoryFixture.user))
        try ldapSync()
        let failed = try await endedDeleteOrder(of: "user000002")
        XCTAssertEqual(failed.state, "failed")
        XCTAssertTrue(try state().contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0002") }, "the phone is still there")
        await assertEqual(try await sql("SELECT state FROM users WHERE user_id = 'user000002'")[0].decode("state", as: String.self), "deleting")
        await assertEqual(try await request(of: "user000002").state, "failed")
        let shown = try ucp(["user", "show", "user000002"]).stdout
        XCTAssertTrue(shown.contains("delete_user_and_services failed (order \(failed.id)): order \(failed.id) failed: step remove_phone: "), shown)
        let failure = try ldapSync()
        XCTAssertTrue(failure.contains("Deletion of User and associated services failed for the following users: UserId, OrderId, Status"), failure)
        XCTAssertTrue(failure.contains("user000002, \(failed.id), failed"), failure)
        XCTAssertFalse(failure.contains("jdoe, \(deleted.id)"), "an order is reported once: \(failure)")
    }

    /// "Delete user and all services" of a user whose line another user's phone shares: the order
    /// removes the user's phone and end user but leaves the shared line (its removal would take it off
    /// the other phone), says so on the step, and still succeeds; the line stays in the inventory.
    func testADeleteOrderLeavesALineAnotherPhoneShares() async throws {
        try await prepare()
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(added)).state, "succeeded")
        try shareLine("4000", partition: "PT_Internal", onPhone: "SEP001122000003")
        try await queueDelete("jdoe")
        let deleted = try await endedDeleteOrder(of: "jdoe")
        XCTAssertEqual(deleted.state, "succeeded", deleted.error ?? "")
        let steps = try await steps(deleted.id)
        let line = try XCTUnwrap(steps.first { $0.name == .removeLine })
        XCTAssertEqual(line.state, "skipped")
        XCTAssertEqual(line.error, "line 4000 in PT_Internal on TestCCM is shared: still on device 'SEP001122000003'; left in place")
        XCTAssertEqual(steps.first { $0.name == .removePhone }?.state, "done")
        let after = try state()
        XCTAssertTrue(after.contains { $0.hasPrefix("Line ") && $0.contains("pattern=4000 ") }, after.joined(separator: "\n"))
        XCTAssertFalse(after.contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001") })
        XCTAssertFalse(after.contains { $0.hasPrefix("User ") && $0.contains("userid=jdoe ") })
        await assertEqual(try await sql("SELECT count(*)::bigint AS n FROM device_objects WHERE device = 'TestCCM' AND object_type = 'Line' "
                                        + "AND object_key = '4000/PT_Internal' AND removed_at IS NULL")[0].decode("n", as: Int64.self), 1,
                          "the shared line stays in the inventory")
    }

    /// "Delete user, but keep services": the end user goes from Unified CM and the user record from
    /// the inventory; the phone and line stay on the device. Maintenance mode holds the order back.
    func testDeleteUserKeepServicesRemovesOnlyTheEndUser() async throws {
        try await prepareDirectory(action: "delete-user-keep-services")
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(added)).state, "succeeded")
        _ = try sim.control("calls?clear=1")
        try slapd.reload(users: (1...4).map(DirectoryFixture.user))
        // Maintenance mode holds the delete order back like every order; once it ends, the order runs.
        try ucp(["maintenance", "on"])
        try ldapSync()
        try await Task.sleep(nanoseconds: 1_500_000_000)
        await assertEqual(try await request(of: "jdoe").state, "pending", "held back by maintenance mode")
        XCTAssertEqual(try writes(), [])
        try ucp(["maintenance", "off"])
        let deleted = try await endedDeleteOrder(of: "jdoe")
        XCTAssertEqual(deleted.state, "succeeded", deleted.error ?? "")
        await assertEqual(try await steps(deleted.id).map(\.name), [.removeUser])
        let after = try state()
        XCTAssertTrue(after.contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001") }, after.joined(separator: "\n"))
        XCTAssertTrue(after.contains { $0.hasPrefix("Line ") && $0.contains("pattern=4000 ") })
        XCTAssertFalse(after.contains { $0.hasPrefix("User ") && $0.contains("userid=jdoe ") })
        await assertEqual(try await sql("SELECT count(*)::bigint AS n FROM users WHERE user_id = 'jdoe'")[0].decode("n", as: Int64.self), 0)
        let report = try ldapSync()
        XCTAssertTrue(report.contains("jdoe, \(deleted.id), succeeded"), report)
    }

    // MARK: the saga's guarantees for the delete steps

    /// A manual user with an add order (phone, line, mailbox); returns its phone and line.
    func provisioned(_ user: String, phone: String, line: String? = nil) async throws -> String {
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name) VALUES ('\(user)', 'Cisco', 'manual', 'Delete', 'Test')")
        let id = try orderID(try ucp(["order", "submit", "-f", try orderFile("\(user).yaml", user: user, phone: phone, line: line), "--wait"]))
        let added = try await order(id)
        XCTAssertEqual(added.state, "succeeded")
        return added.line ?? "?"
    }

    func assertGone(_ user: String, phone: String, line: String, _ context: String, file: StaticString = #filePath, line sourceLine: UInt = #line) throws {
        let state = try state()
        XCTAssertFalse(state.contains { $0.hasPrefix("Phone ") && $0.contains("name=\(phone) ") }, "\(context): phone", file: file, line: sourceLine)
        XCTAssertFalse(state.contains { $0.hasPrefix("Line ") && $0.contains("pattern=\(line) ") }, "\(context): line", file: file, line: sourceLine)
        XCTAssertFalse(state.contains { $0.hasPrefix("User ") && $0.contains("userid=\(user) ") }, "\(context): user", file: file, line: sourceLine)
        XCTAssertFalse(state.contains { $0.hasPrefix("UnityUser ") && $0.contains("Alias=\(user) ") }, "\(context): mailbox", file: file, line: sourceLine)
    }

    /// Every write of a delete order loses its answer after the device carried it out: each step's
    /// next try finds the object gone (or the association already reduced) and is done — no failure.
    func testLostAnswersOnEveryDeleteWriteEndSucceeded() async throws {
        try await prepare()
        let before = try state()
        let line = try await provisioned("lost1", phone: "SEP00EE00FF0001")
        for operation in ["updateUser", "cupiDeleteUser", "removePhone", "removeLine", "removeUser"] { try fault("drop=\(operation):1") }
        _ = try sim.control("calls?clear=1")
        try await queueDelete("lost1")
        let deleted = try await endedDeleteOrder(of: "lost1")
        XCTAssertEqual(deleted.state, "succeeded", deleted.error ?? "")
        let made = try calls()
        // Each write reached the device; a second arrival of a removal (libcurl sends a request
        // again whose reused connection closed unanswered, as the add orders' test notes) finds the
        // object gone (5007, 404) and counts as removed.
        for marker in ["updateUser ", "DELETE /vmrest/users", "removePhone ", "removeLine ", "removeUser "] {
            XCTAssertTrue(made.contains { $0.hasPrefix(marker) }, "\(marker): \(made)")
        }
        try assertGone("lost1", phone: "SEP00EE00FF0001", line: line, "lost answers")
        XCTAssertEqual(try state(), before)
        await assertEqual(try await request(of: "lost1").state, "succeeded")
    }

    /// Crash safety: for every write of a delete order, the worker is killed while the device holds
    /// the call — before it acts (stall) or after it acted, before it answers (hold). A new worker
    /// resumes the order at its step: it ends succeeded, everything of the user gone.
    func testAWorkerKilledAroundEveryDeleteCallResumes() async throws {
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
        var run = 0
        for operation in ["updateUser", "cupiDeleteUser", "removePhone", "removeLine", "removeUser"] {
            for mode in ["stall", "hold"] {
                run += 1
                let user = "crash\(run)", phone = String(format: "SEP00CC00DD%04d", run)
                // Each run its own number, so that each run's objects are told apart in a failure: the
                // killed worker's stalled call still acts on devsim after the run (as on a real
                // device); being a removal by uuid, it cannot reach an object re-added under the same
                // key, which gets a new uuid (ObjectTable.add).
                let line = try await provisioned(user, phone: phone, line: String(4000 + run))
                try fault("clear=1&pause-seconds=3&\(mode)=\(operation):1")
                _ = try sim.control("calls?clear=1")
                try await queueDelete(user)
                let marker = operation == "cupiDeleteUser" ? "DELETE /vmrest/users" : operation + " "
                let seen = try await eventually(timeout: 60, interval: 0.05) { try self.calls().contains { $0.hasPrefix(marker) } }
                XCTAssertTrue(seen, "\(operation) \(mode): the device never got the call")
                harness.processes.kill("worker\(worker)")
                try startWorker()
                let deleted = try await endedDeleteOrder(of: user)
                XCTAssertEqual(deleted.state, "succeeded", "\(operation) \(mode): \(deleted.error ?? "")")
                try assertGone(user, phone: phone, line: line, "\(operation) \(mode)")
            }
        }
    }

    /// Drift: between the plan and the run, the phone was given to another user. The removal reads
    /// it first and leaves it untouched: the order fails naming the new owner, the request fails,
    /// the user record stays; a rollback writes the association back and, the mailbox removed before,
    /// ends "needs attention" saying it is not re-added.
    func testAPhoneGivenToAnotherUserIsLeftUntouched() async throws {
        try await prepare()
        let line = try await provisioned("drift1", phone: "SEP00EE00FF0002")
        XCTAssertEqual(try sim.axl("updatePhone") { writer in
            writer.element("name", "SEP00EE00FF0002")
            writer.element("ownerUserName", "user000001")
        }, 200)
        try await queueDelete("drift1")
        let failed = try await endedDeleteOrder(of: "drift1")
        XCTAssertEqual(failed.state, "failed")
        XCTAssertTrue(failed.error?.contains("belongs to 'user000001' now, not 'drift1': left untouched") == true, failed.error ?? "")
        let state = try state()
        XCTAssertTrue(state.contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00EE00FF0002 ") && $0.contains("ownerUserName=user000001") })
        XCTAssertTrue(state.contains { $0.hasPrefix("Line ") && $0.contains("pattern=\(line) ") }, "nothing after the phone ran")
        await assertEqual(try await request(of: "drift1").state, "failed")
        await assertEqual(try await sql("SELECT state FROM users WHERE user_id = 'drift1'")[0].decode("state", as: String.self), "deleting")

        let rollback = try harness.ucp(["order", "rollback", String(failed.id), "--wait"])
        XCTAssertEqual(rollback.status, 1, rollback.stdout)
        let rolled = try await order(failed.id)
        XCTAssertEqual(rolled.state, "needs_attention")
        XCTAssertTrue(rolled.error?.contains("not re-added") == true, rolled.error ?? "")
        let states = Dictionary(uniqueKeysWithValues: try await steps(failed.id).map { ($0.name, $0.state) })
        XCTAssertEqual(states[.disassociate], "undone")
        XCTAssertEqual(states[.removeVoicemail], "conflict")
        let user = try self.state().first { $0.hasPrefix("User ") && $0.contains("userid=drift1 ") } ?? ""
        XCTAssertTrue(user.contains("names=SEP00EE00FF0002"), "the association written back: \(user)")
    }

    /// The plan: a user spread over two call processors is one order (refused before); keep services plans only the end user (on its services' call processor, else its
    /// area's); a user on no device plans nothing.
    func testPlans() throws {
        func target(_ type: String, _ device: String, _ key: String) -> UserDeleteTarget {
            UserDeleteTarget(serviceType: type, device: device, objectType: type, key: key, uuid: nil, detail: [:])
        }
        // Two call processors: one order, a call processor at a time (the area's first), the end user from each.
        let spread = try DeleteOrders.plan(action: "delete_user_and_services", userID: "u", targets: [target("phone", "A", "SEP1"), target("line", "B", "1/")],
                                           areaProcessor: "B", userOnDevices: [])
        XCTAssertEqual(spread.steps.map { "\($0.name.rawValue)@\($0.device)" },
                       ["disassociate@B", "remove_line@B", "remove_user@B", "disassociate@A", "remove_phone@A", "remove_user@A"])
        XCTAssertEqual(spread.callProcessor, "B")
        // UDS copies of the home cluster A on B and C are the directory's to remove; one with services
        // (B) has them removed here; an end user the sync read on D (no copy) goes too.
        let withCopies = try DeleteOrders.plan(action: "delete_user_and_services", userID: "u", targets: [target("phone", "A", "SEP1"), target("phone", "B", "SEP2")],
                                               areaProcessor: "B", userOnDevices: ["A", "B", "C", "D"], copies: ["B": "A", "C": "A"])
        XCTAssertEqual(withCopies.callProcessor, "A", "the copies' home cluster")
        XCTAssertEqual(withCopies.steps.map { "\($0.name.rawValue)@\($0.device)" },
                       ["disassociate@A", "remove_phone@A", "remove_user@A", "disassociate@B", "remove_phone@B", "remove_user@D"])
        let copiesOnly = try DeleteOrders.plan(action: "delete_user_keep_services", userID: "u", targets: [target("phone", "A", "SEP1")],
                                               areaProcessor: "A", userOnDevices: ["A", "B", "C"], copies: ["B": "A", "C": "A"])
        XCTAssertEqual(copiesOnly.steps.map { "\($0.name.rawValue)@\($0.device)" }, ["remove_user@A"], "planned as with no copies")
        let keep = try DeleteOrders.plan(action: "delete_user_keep_services", userID: "u", targets: [target("phone", "A", "SEP1")], areaProcessor: nil, userOnDevices: [])
        XCTAssertEqual(keep.steps.map(\.name), [.removeUser])
        XCTAssertEqual(keep.callProcessor, "A")
        let keepOnDevice = try DeleteOrders.plan(action: "delete_user_keep_services", userID: "u", targets: [], areaProcessor: "A", userOnDevices: [])
        XCTAssertEqual(keepOnDevice.steps.map(\.name), [.removeUser])
        // The end user is removed only while it is the one the inventory knows (its uuid on that device).
        let byUUID = try DeleteOrders.plan(action: "delete_user_keep_services", userID: "u", targets: [], areaProcessor: "A",
                                           userOnDevices: ["A"], userUUIDs: ["A": "{AAAA-1}", "B": "{BBBB-2}"])
        XCTAssertEqual(byUUID.steps.first?.calls.first?.values.text("uuid"), "{AAAA-1}")
        let nothing = try DeleteOrders.plan(action: "delete_user_and_services", userID: "u", targets: [], areaProcessor: nil, userOnDevices: [])
        XCTAssertEqual(nothing.steps, [])
        XCTAssertNil(nothing.callProcessor)
    }

    /// Single Number Reach: a user's remote destination and its profile are removed (destination
    /// first), each checked to be still the user's, with the phone, line and end user: the devices as
    /// before the user's add order.
    func testSingleNumberReachIsRemovedWithTheUser() async throws {
        try await prepare()
        let before = try state()
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name) VALUES ('snr1', 'Cisco', 'manual', 'Snr', 'Test')")
        let extra = "single_number_reach:\n  destination: \"+15550001111\"\n"
        let id = try orderID(try ucp(["order", "submit", "-f", try orderFile("snr1.yaml", user: "snr1", phone: "SEP00EE00FF0003", voicemail: false, extra: extra), "--wait"]))
        await assertEqual(try await order(id).state, "succeeded")
        try await queueDelete("snr1")
        let deleted = try await endedDeleteOrder(of: "snr1")
        XCTAssertEqual(deleted.state, "succeeded", deleted.error ?? "")
        await assertEqual(try await steps(deleted.id).map(\.name),
                          [.disassociate, .removeRemoteDestination, .removeRemoteDestinationProfile, .removePhone, .removeLine, .removeUser])
        XCTAssertEqual(try state(), before)
    }

    /// Extension Mobility: the user's device profile is taken out of its phoneProfiles (read, reduced,
    /// written whole, the list as read kept) before the profile is removed, so that an order stopped
    /// after the removal leaves no user naming a profile that is gone; retried, it ends with nothing of
    /// the user left on the devices — no profile, no phone, no reference to the user or its profile —
    /// only the login service, shared infrastructure, stays. A rollback writes back no removed profile.
    func testAnExtensionMobilityProfileIsTakenOffTheUserBeforeItIsRemoved() async throws {
        try await prepare()
        let before = try state()
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name) VALUES ('em1', 'Cisco', 'manual', 'Em', 'Test')")
        let added = try orderID(try ucp(["order", "submit", "-f", try orderFile("em1.yaml", user: "em1", phone: "SEP00EE00FF0004", voicemail: false,
                                                                                extra: "extension_mobility: yes\n"), "--wait"]))
        await assertEqual(try await order(added).state, "succeeded")
        XCTAssertTrue(try state().contains { $0.hasPrefix("User ") && $0.contains("userid=em1 ") && $0.contains("phoneProfiles=UDP_em1") })

        // The phone's removal fails: the order stops after the profile's removal.
        try fault("fail=removePhone:1")
        try await queueDelete("em1")
        let failed = try await endedDeleteOrder(of: "em1")
        XCTAssertEqual(failed.state, "failed")
        let steps = try await steps(failed.id)
        XCTAssertEqual(steps.map(\.name), [.disassociate, .removeDeviceProfile, .removePhone, .removeLine, .removeUser])
        XCTAssertEqual(steps.map(\.state), ["done", "done", "failed", "pending", "pending"])
        let kept = steps[0].beforeImage?.first { $0.name == "phoneProfiles" }
        XCTAssertEqual(kept?.value.children.compactMap { $0.value.text }, ["UDP_em1"], "the list as read is the before-image")
        let stopped = try state()
        XCTAssertFalse(stopped.contains { $0.hasPrefix("DeviceProfile ") && $0.contains("name=UDP_em1 ") }, "the profile is removed")
        let user = try XCTUnwrap(stopped.first { $0.hasPrefix("User ") && $0.contains("userid=em1 ") })
        XCTAssertFalse(user.contains("phoneProfiles="), "the user names no profile that is gone: \(user)")
        assertNoDanglingReferences(stopped)

        // Retried, it goes on from the phone: nothing of em1 is left.
        let retried = try harness.ucp(["order", "retry", String(failed.id), "--wait"])
        XCTAssertEqual(retried.status, 0, retried.stdout + retried.stderr)
        XCTAssertTrue(retried.stdout.hasPrefix("order \(failed.id) retried (job "), retried.stdout)
        await assertEqual(try await order(failed.id).state, "succeeded")
        let after = try state()
        assertNoDanglingReferences(after)
        XCTAssertFalse(after.contains { $0.contains("em1") }, after.joined(separator: "\n"))
        XCTAssertEqual(after.filter { !$0.hasPrefix("IpPhoneServices ") }, before.filter { !$0.hasPrefix("IpPhoneServices ") },
                       "the devices as before the add order, but for the login service (infrastructure, never undone)")

        // A rollback after the profile's removal writes the user's list back without it.
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name) VALUES ('em2', 'Cisco', 'manual', 'Em', 'Two')")
        let second = try orderID(try ucp(["order", "submit", "-f", try orderFile("em2.yaml", user: "em2", phone: "SEP00EE00FF0005", voicemail: false,
                                                                                 extra: "extension_mobility: yes\n"), "--wait"]))
        await assertEqual(try await order(second).state, "succeeded")
        XCTAssertEqual(try sim.axl("updateUser") { writer in
            writer.element("userid", "em2")
            writer.open("phoneProfiles")
            writer.element("profileName", "UDP_em2")
            writer.element("profileName", "UDP_user000000")
            writer.close("phoneProfiles")
        }, 200)
        try fault("fail=removePhone:1")
        try await queueDelete("em2")
        let stoppedAgain = try await endedDeleteOrder(of: "em2")
        XCTAssertEqual(stoppedAgain.state, "failed")
        let rollback = try harness.ucp(["order", "rollback", String(stoppedAgain.id), "--wait"])
        XCTAssertEqual(rollback.status, 1, rollback.stdout)
        await assertEqual(try await order(stoppedAgain.id).state, "needs_attention")
        let states = Dictionary(uniqueKeysWithValues: try await self.steps(stoppedAgain.id).map { ($0.name, $0.state) })
        XCTAssertEqual(states[.disassociate], "undone")
        XCTAssertEqual(states[.removeDeviceProfile], "conflict")
        let rolled = try state()
        let em2 = try XCTUnwrap(rolled.first { $0.hasPrefix("User ") && $0.contains("userid=em2 ") })
        XCTAssertTrue(em2.contains("phoneProfiles=UDP_user000000") && !em2.contains("UDP_em2"), "the list written back without the removed profile: \(em2)")
        XCTAssertTrue(em2.contains("names=SEP00EE00FF0005"), "the phone, not removed, associated again: \(em2)")
        assertNoDanglingReferences(rolled)
    }

    /// No object of the simulator names a user, device or device profile that is not there (a user's
    /// devices — phones and remote destination profiles — and profiles, an owner, a profile's login
    /// user, a destination profile's user).
    func assertNoDanglingReferences(_ state: [String], file: StaticString = #filePath, line: UInt = #line) {
        func names(_ type: String, _ field: String) -> Set<String> {
            Set(state.filter { $0.hasPrefix(type + " ") }.compactMap { entry in
                entry.split(separator: " ").first { $0.hasPrefix(field + "=") }.map { String($0.dropFirst(field.count + 1)).lowercased() }
            })
        }
        let users = names("User", "userid"), profiles = names("DeviceProfile", "name")
        let devices = names("Phone", "name").union(names("RemoteDestinationProfile", "name"))
        for entry in state {
            for part in entry.split(separator: " ") {
                let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, !pair[1].isEmpty, pair[1] != "''" else { continue }
                let named = pair[1].split(separator: ",").map { $0.lowercased() }
                switch (entry.split(separator: " ")[0], pair[0]) {
                case ("User", "phoneProfiles"), ("User", "defaultProfile"):
                    for name in named where !profiles.contains(name) { XCTFail("\(entry): names profile \(name), which is gone", file: file, line: line) }
                case ("User", "names"):
                    for name in named where !devices.contains(name) {
                        XCTFail("\(entry): names device \(name), which is gone", file: file, line: line)
                    }
                case (_, "ownerUserName"), (_, "loginUserId"), (_, "ownerUserId"), ("RemoteDestinationProfile", "userId"):
                    for name in named where !users.contains(name) { XCTFail("\(entry): names user \(name), who is gone", file: file, line: line) }
                default:
                    continue
                }
            }
        }
    }
}
