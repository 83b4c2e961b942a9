import Foundation
import Inventory
import Orders
import Postgres
import Queue
import TestSupport
import XCTest

/// Extension Mobility, Single Number Reach, service profile and IM and Presence (issue 15 items 1,
/// 3 and 4) as saga steps of an add
/// order, through a real worker, PostgreSQL and `ucp devsim`: the plan, the device's state after
/// success and after undo, lost answers, failures, drift, a worker killed around each call, and the
/// domain synchronization recognising what the order made.
final class MobilityOrderTests: OrderTestCase {
    static let destination = "+15551234567"

    /// The order file's Extension Mobility, Single Number Reach and IM and Presence part.
    func mobility(em: Bool = true, destination: String? = MobilityOrderTests.destination, serviceProfile: String? = "SP_Jabber") -> String {
        var text = ""
        if em { text += "extension_mobility: yes\n" }
        if let destination { text += "single_number_reach:\n  destination: \"\(destination)\"\n" }
        if let serviceProfile { text += "im_and_presence:\n  service_profile: \(serviceProfile)\n" }
        return text
    }

    /// The devsim state without the login service (shared infrastructure: an order adds it once
    /// per call processor and never removes it).
    func stateWithoutService() throws -> [String] {
        try state().filter { !$0.hasPrefix("IpPhoneServices ") }
    }

    /// A full order with both: the plan names every call; the device's writes are exactly the plan's,
    /// valid against AXLSoap.xsd 12.5, in at most 25 device calls; devsim then holds the target (the
    /// login service, the phone subscribed with EM on, the user's device profile with the line and
    /// the service, the profile in the user's profiles, mobility on, the remote destination profile
    /// with the line and the area's device pool, the destination); a cancel leaves the device as
    /// before the order but for the shared login service.
    func testMobilityOrderMakesExactlyThePlanAndItsCancelRestoresTheStateBefore() async throws {
        try await prepare()
        let before = try stateWithoutService()
        let file = try orderFile(extra: mobility())
        let plan = try ucp(["order", "plan", "-f", file])
        for expected in [
            "addIpPhoneServices ipPhoneServices{serviceName='Extension Mobility'",
            "serviceUrl=http://127.0.0.1:",
            "updatePhone name=SEP00AA00BB0001 services{service{telecasterServiceName='Extension Mobility' name='Extension Mobility' url=http://",
            "enableExtensionMobility=true",
            "addDeviceProfile deviceProfile{name=UDP_jdoe description='ucp:order=new John Doe' product='Cisco 8845' class='Device Profile'",
            "loginUserId=jdoe services{service{telecasterServiceName='Extension Mobility'",
            "updateUser userid=jdoe phoneProfiles{profileName=UDP_jdoe} defaultProfile=UDP_jdoe",
            "updateUser userid=jdoe enableMobility=true",
            "addRemoteDestinationProfile remoteDestinationProfile{name=RDP_jdoe",
            "devicePoolName=DP_Site01 lines{line{index=1 dirn{pattern=4000 routePartitionName=PT_Internal}}} callInfoPrivacyStatus=Default userId=jdoe",
            "addRemoteDestination remoteDestination{name='ucp:order=new jdoe' destination=+15551234567",
            "remoteDestinationProfileName=RDP_jdoe",
            "lineAssociations{lineAssociation{pattern=4000 routePartitionName=PT_Internal}}",
            "updateUser userid=jdoe homeCluster=true imAndPresenceEnable=true serviceProfile=SP_Jabber",
        ] {
            XCTAssertTrue(plan.stdout.contains(expected), "plan lacks \(expected): \(plan.stdout)")
        }
        XCTAssertEqual(try calls().filter { !$0.hasPrefix("GET /vmrest/version") }, [], "plan makes no device call")

        let submitted = try ucp(["order", "submit", "-f", file, "--wait"])
        let id = try orderID(submitted)
        let order = try await self.order(id)
        XCTAssertEqual(order.state, "succeeded", order.error ?? submitted.stdout)
        let planned = try await plannedWrites(id)
        XCTAssertEqual(try writes(), planned, "the device's writes are the plan's")
        let made = try calls()
        XCTAssertLessThanOrEqual(made.count, 25, "device calls of a full order: \(made)")
        XCTAssertEqual(try AXLSchema.validate(directory: capture), [], "every request valid against AXLSoap.xsd 12.5")

        let after = try state()
        func has(_ prefix: String, _ parts: [String]) -> Bool {
            after.contains { line in line.hasPrefix(prefix + " ") && parts.allSatisfy { line.contains($0) } }
        }
        XCTAssertTrue(has("IpPhoneServices", ["serviceName=Extension Mobility", "/emapp/EMAppServlet?device=#DEVICENAME#", "serviceDescription=ucp:order=\(id) "]),
                      after.joined(separator: "\n"))
        XCTAssertTrue(has("Phone", ["name=SEP00AA00BB0001 ", "enableExtensionMobility=true", "names=Extension Mobility"]), after.joined(separator: "\n"))
        XCTAssertTrue(has("DeviceProfile", ["name=UDP_jdoe ", "description=ucp:order=\(id) John Doe", "loginUserId=jdoe", "lines=1:4000/PT_Internal",
                                            "names=Extension Mobility"]), after.joined(separator: "\n"))
        XCTAssertTrue(has("User", ["userid=jdoe ", "defaultProfile=UDP_jdoe ", "enableMobility=true", "homeCluster=true", "imAndPresenceEnable=true",
                                   "serviceProfile=SP_Jabber", "phoneProfiles=UDP_jdoe"]), after.joined(separator: "\n"))
        XCTAssertTrue(has("RemoteDestinationProfile", ["name=RDP_jdoe ", "description=ucp:order=\(id) John Doe", "devicePoolName=DP_Site01", "userId=jdoe",
                                                       "lines=1:4000/PT_Internal"]), after.joined(separator: "\n"))
        XCTAssertTrue(has("RemoteDestination", ["name=ucp:order=\(id) jdoe", "destination=+15551234567", "ownerUserId=jdoe",
                                                "remoteDestinationProfileName=RDP_jdoe"]), after.joined(separator: "\n"))
        let services = try await sql("SELECT service_type || ' ' || object_key AS s FROM user_services WHERE user_id = 'jdoe' ORDER BY 1")
            .map { try $0.decode("s", as: String.self) }
        XCTAssertEqual(services, ["em_access UDP_jdoe", "im_presence jdoe", "line 4000/PT_Internal", "phone SEP00AA00BB0001", "remote_destination +15551234567",
                                  "remote_destination_profile RDP_jdoe", "voicemail jdoe"], "the user record shows them without a sync")

        let cancel = try ucp(["order", "cancel", String(id), "--wait"])
        XCTAssertTrue(cancel.stdout.contains("succeeded"), cancel.stdout)
        let canceled = try await self.order(id)
        XCTAssertEqual(canceled.state, "canceled")
        XCTAssertEqual(try stateWithoutService(), before, "the device is as before the order")
        XCTAssertEqual(try state().filter { $0.hasPrefix("IpPhoneServices ") }.count, 1, "the shared login service stays")
        let left = try await sql("SELECT count(*)::bigint AS n FROM user_services WHERE user_id = 'jdoe'")[0].decode("n", as: Int64.self)
        XCTAssertEqual(left, 0)

        // A second order finds the login service and uses it as it is (adopted, not added again).
        let second = try ucp(["order", "submit", "-f", try orderFile("second.yaml", user: "user000001", phone: "SEP00AA00BB0002",
                                                                    voicemail: false, extra: mobility(destination: "+15550000002")), "--wait"])
        let secondID = try orderID(second)
        let secondOrder = try await self.order(secondID)
        XCTAssertEqual(secondOrder.state, "succeeded", secondOrder.error ?? second.stdout)
        let secondSteps = try await steps(secondID)
        let service = try XCTUnwrap(secondSteps.first { $0.name == .emService })
        XCTAssertTrue(service.adopted, "the login service was there")
        XCTAssertFalse(try writes().contains { $0.hasPrefix("addIpPhoneServices") && $0.contains("ucp:order=\(secondID) ") })
        let user = try state().first { $0.hasPrefix("User ") && $0.contains("userid=user000001 ") } ?? ""
        XCTAssertTrue(user.contains("enableMobility=true") && user.contains("phoneProfiles=UDP_user000001") && user.contains("imAndPresenceEnable=true")
                      && user.contains("serviceProfile=SP_Jabber"), user)
    }

    /// The answer of every add of these steps (the login service, the device profile, the remote
    /// destination profile, the destination) and of the phone's update is lost after the device
    /// committed it: each retry finds the order's own object (its marker) and adopts it as created —
    /// no duplicate, no failure; the cancel then removes exactly those objects.
    func testLostAnswersOnEveryMobilityWriteAreAdoptedWithoutDuplicates() async throws {
        try await prepare()
        let before = try stateWithoutService()
        // jdoe's fourth updateUser is the IM and Presence step.
        for spec in ["addIpPhoneServices:1", "updatePhone:1", "addDeviceProfile:1", "addRemoteDestinationProfile:1", "addRemoteDestination:1", "updateUser:4"] {
            try fault("drop=\(spec)")
        }
        let result = try ucp(["order", "submit", "-f", try orderFile(voicemail: false, extra: mobility()), "--wait"])
        let id = try orderID(result)
        let order = try await self.order(id)
        XCTAssertEqual(order.state, "succeeded", order.error ?? result.stdout)
        let steps = try await steps(id)
        for name in [StepName.emService, .emProfile, .snrProfile, .snrDestination] {
            let step = try XCTUnwrap(steps.first { $0.name == name })
            XCTAssertNotNil(step.createdUUID, "\(name): the object found after the lost answer is the order's own")
            XCTAssertFalse(step.adopted, "\(name)")
        }
        let after = try state()
        for (prefix, part) in [("IpPhoneServices", "serviceName=Extension Mobility "), ("DeviceProfile", "name=UDP_jdoe "),
                               ("RemoteDestinationProfile", "name=RDP_jdoe "), ("RemoteDestination", "destination=\(Self.destination) ")] {
            XCTAssertEqual(after.filter { $0.hasPrefix(prefix + " ") && $0.contains(part) }.count, 1, "\(prefix): \(after.joined(separator: "\n"))")
        }
        let phone = after.first { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001 ") } ?? ""
        XCTAssertTrue(phone.contains("names=Extension Mobility") && !phone.contains("Extension Mobility,"), phone)

        let cancel = try ucp(["order", "cancel", String(id), "--wait"])
        XCTAssertTrue(cancel.stdout.contains("succeeded"), cancel.stdout)
        XCTAssertEqual(try stateWithoutService(), before, "the device is as before the order")
    }

    /// The device refuses each write of these steps in turn: each order ends rolled back, the steps
    /// before undone in reverse, and the device as before the order (the shared login service aside).
    /// Once more with a user Unified CM already had: its phoneProfiles and mobility are written back
    /// from their before-images.
    func testAFailureAtEachMobilityStepRollsBackToTheStateBefore() async throws {
        try await prepare()
        let before = try stateWithoutService()
        // jdoe is added by each order: its updateUser calls are the association (1), the profiles (2),
        // mobility (3) and IM and Presence (4).
        for spec in ["addIpPhoneServices:1", "updatePhone:1", "addDeviceProfile:1", "updateUser:2", "updateUser:3",
                     "addRemoteDestinationProfile:1", "addRemoteDestination:1", "updateUser:4"] {
            try fault("clear=1&fail=\(spec)")
            let result = try harness.ucp(["order", "submit", "-f", try orderFile(voicemail: false, extra: mobility()), "--wait"])
            XCTAssertEqual(result.status, 1, "\(spec): \(result.stdout)\(result.stderr)")
            let order = try await order(try orderID(result))
            XCTAssertEqual(order.state, "rolled_back", "\(spec): \(order.error ?? "")")
            XCTAssertTrue(order.error?.contains("Simulated failure") == true, order.error ?? "")
            XCTAssertEqual(try stateWithoutService(), before, "\(spec): the device is as before the order")
            let steps = try await steps(order.id)
            XCTAssertEqual(steps.filter { $0.state == "failed" }.count, 1, "\(spec)")
            XCTAssertTrue(steps.allSatisfy { ["pending", "failed", "undone", "skipped"].contains($0.state) }, "\(spec): \(steps.map(\.state))")
        }
        // A user Unified CM had (no profiles, mobility off, IM and Presence off): the rollback writes
        // the first two back; a cancel of a succeeded order all three.
        try fault("clear=1&fail=addRemoteDestination:1")
        _ = try sim.control("calls?clear=1")
        var result = try harness.ucp(["order", "submit", "-f", try orderFile(user: "user000001", voicemail: false, extra: mobility()), "--wait"])
        let order = try await order(try orderID(result))
        XCTAssertEqual(order.state, "rolled_back", order.error ?? "")
        XCTAssertEqual(try stateWithoutService(), before, "the adopted user's profiles and mobility are as before")
        var writes = try writes()
        XCTAssertTrue(writes.contains("updateUser userid=user000001 enableMobility=false"), writes.joined(separator: "\n"))
        XCTAssertTrue(writes.contains("updateUser userid=user000001 phoneProfiles='' defaultProfile=''"), "the profiles written back empty: \(writes.joined(separator: "\n"))")
        try fault("clear=1")
        result = try ucp(["order", "submit", "-f", try orderFile(user: "user000001", voicemail: false, extra: mobility()), "--wait"])
        let id = try orderID(result)
        _ = try sim.control("calls?clear=1")
        try ucp(["order", "cancel", String(id), "--wait"])
        let canceled = try await self.order(id)
        XCTAssertEqual(canceled.state, "canceled")
        XCTAssertEqual(try stateWithoutService(), before, "the adopted user as before the order")
        writes = try self.writes()
        XCTAssertTrue(writes.contains("updateUser userid=user000001 enableMobility=false"), writes.joined(separator: "\n"))
        XCTAssertTrue(writes.contains("updateUser userid=user000001 phoneProfiles='' defaultProfile=''"), "the profiles written back empty: \(writes.joined(separator: "\n"))")
        XCTAssertTrue(writes.contains("updateUser userid=user000001 homeCluster=true imAndPresenceEnable=false serviceProfile=SP_Default"),
                      writes.joined(separator: "\n"))
    }

    /// Extension Mobility makes the order's device profile the user's default (so an EM login picks
    /// it), in the same updateUser as the profile list. For a user Unified CM had with a profile and
    /// default of its own: a rollback and a cancel write both back as they were; once someone else
    /// changed the default after the order, the cancel leaves the user untouched and needs attention.
    func testTheDeviceProfileBecomesTheUsersDefaultAndUndoRestoresThePreviousOne() async throws {
        try await prepare()
        let userid = "user000001", mine = "UDP_user000001", theirs = "UDP_user000000"
        func setProfiles(_ profiles: [String], default profile: String) throws {
            XCTAssertEqual(try sim.axl("updateUser") { writer in
                writer.element("userid", userid)
                writer.open("phoneProfiles")
                for name in profiles { writer.element("profileName", name) }
                writer.close("phoneProfiles")
                writer.element("defaultProfile", profile)
            }, 200)
        }
        func user() throws -> String { try state().first { $0.hasPrefix("User ") && $0.contains("userid=\(userid) ") } ?? "" }
        try setProfiles([theirs], default: theirs)
        let before = try stateWithoutService()
        let restore = "updateUser userid=\(userid) phoneProfiles{profileName=\(theirs)} defaultProfile=\(theirs)"

        // Rolled back (a later step fails): the list and the default as they were.
        try fault("fail=addRemoteDestination:1")
        _ = try sim.control("calls?clear=1")
        let failed = try harness.ucp(["order", "submit", "-f", try orderFile(user: userid, voicemail: false, extra: mobility()), "--wait"])
        await assertEqual(try await order(try orderID(failed)).state, "rolled_back")
        var writes = try writes()
        XCTAssertTrue(writes.contains("updateUser userid=\(userid) phoneProfiles{profileName=\(theirs) profileName=\(mine)} defaultProfile=\(mine)"),
                      "one update sets both: \(writes.joined(separator: "\n"))")
        XCTAssertTrue(writes.contains(restore), writes.joined(separator: "\n"))
        XCTAssertEqual(try stateWithoutService(), before)

        // Succeeded: the order's profile is the default; canceled: the user's own again.
        try fault("clear=1")
        var id = try orderID(try ucp(["order", "submit", "-f", try orderFile(user: userid, voicemail: false, extra: mobility()), "--wait"]))
        await assertEqual(try await order(id).state, "succeeded")
        var record = try user()
        XCTAssertTrue(record.contains("defaultProfile=\(mine) ") && record.contains("phoneProfiles=\(theirs),\(mine)"), record)
        XCTAssertEqual(try AXLSchema.validate(directory: capture), [], "every request valid against AXLSoap.xsd 12.5")
        _ = try sim.control("calls?clear=1")
        XCTAssertTrue(try ucp(["order", "cancel", String(id), "--wait"]).stdout.contains("succeeded"))
        writes = try self.writes()
        XCTAssertTrue(writes.contains(restore), writes.joined(separator: "\n"))
        XCTAssertEqual(try stateWithoutService(), before, "the user's default profile as before the order")

        // Someone makes their profile the default again after the order: the cancel writes nothing over it.
        id = try orderID(try ucp(["order", "submit", "-f", try orderFile(user: userid, voicemail: false, extra: mobility()), "--wait"]))
        await assertEqual(try await order(id).state, "succeeded")
        try setProfiles([theirs, mine], default: theirs)
        _ = try sim.control("calls?clear=1")
        _ = try harness.ucp(["order", "cancel", String(id), "--wait"])
        writes = try self.writes()
        XCTAssertFalse(writes.contains { $0.hasPrefix("updateUser userid=\(userid) phoneProfiles") }, writes.joined(separator: "\n"))
        record = try user()
        XCTAssertTrue(record.contains("defaultProfile=\(theirs) ") && record.contains("phoneProfiles=\(theirs),\(mine)"), record)
        let cancel = try await sql("SELECT o.state, s.state AS step FROM orders o JOIN order_steps s ON s.order_id = o.id AND s.name = 'em_user' WHERE o.cancels = \(id)")
        XCTAssertEqual(try cancel.map { "\(try $0.decode("state", as: String.self)) \(try $0.decode("step", as: String.self))" }, ["needs_attention conflict"])
    }

    /// Out-of-band changes between a step and its undo: someone adds a profile to the user's
    /// phoneProfiles (Extension Mobility), or turns the user's mobility off (Single Number Reach).
    /// The rollback leaves that object untouched, undoes the rest, and the order needs attention.
    func testDriftBeforeTheUndoOfAMobilityStepEndsNeedingAttentionAndLeavesThatObject() async throws {
        try await prepare()
        // Extension Mobility: the user's profiles changed.
        try fault("fail=addRemoteDestination:1")
        var result = try harness.ucp(["order", "submit", "-f", try orderFile(user: "user000001", voicemail: false, onFailure: "stop",
                                                                             extra: mobility()), "--wait"])
        XCTAssertEqual(result.status, 1, result.stdout)
        var id = try orderID(result)
        var failed = try await order(id)
        XCTAssertEqual(failed.state, "failed")
        XCTAssertEqual(try sim.axl("updateUser") { writer in
            writer.element("userid", "user000001")
            writer.open("phoneProfiles")
            writer.element("profileName", "UDP_user000001")
            writer.element("profileName", "UDP_user000000")
            writer.close("phoneProfiles")
        }, 200)
        _ = try sim.control("calls?clear=1")
        var rollback = try harness.ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertEqual(rollback.status, 1, rollback.stdout)
        var order = try await self.order(id)
        XCTAssertEqual(order.state, "needs_attention")
        XCTAssertTrue(order.error?.contains("drift") == true, order.error ?? "")
        var after = try state()
        let user = after.first { $0.hasPrefix("User ") && $0.contains("userid=user000001 ") } ?? ""
        XCTAssertTrue(user.contains("phoneProfiles=UDP_user000001,UDP_user000000"), "the user's profiles are untouched: \(user)")
        XCTAssertFalse(try writes().contains { $0.hasPrefix("updateUser userid=user000001 phoneProfiles") }, "no write over the change")
        XCTAssertFalse(after.contains { $0.hasPrefix("DeviceProfile ") && $0.contains("name=UDP_user000001 ") }, "the device profile was undone")
        XCTAssertFalse(after.contains { $0.hasPrefix("RemoteDestinationProfile ") && $0.contains("name=RDP_user000001 ") }, "the profile was undone")
        XCTAssertFalse(after.contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001 ") }, "the phone was undone")
        var states = Dictionary(uniqueKeysWithValues: try await steps(id).map { ($0.name, $0.state) })
        XCTAssertEqual(states[.emUser], "conflict")
        XCTAssertEqual(states[.snrUser], "undone")
        XCTAssertEqual(states[.emProfile], "undone")
        XCTAssertEqual(states[.snrProfile], "undone")
        XCTAssertEqual(states[.emService], "skipped")

        // Single Number Reach: the user's mobility turned off again by someone else.
        try fault("clear=1&fail=addRemoteDestination:1")
        result = try harness.ucp(["order", "submit", "-f", try orderFile("snr.yaml", user: "user000003", phone: "SEP00AA00BB0003", voicemail: false,
                                                                         onFailure: "stop", extra: mobility(em: false)), "--wait"])
        id = try orderID(result)
        failed = try await self.order(id)
        XCTAssertEqual(failed.state, "failed")
        XCTAssertEqual(try sim.axl("updateUser") { writer in
            writer.element("userid", "user000003")
            writer.element("enableMobility", "false")
        }, 200)
        _ = try sim.control("calls?clear=1")
        rollback = try harness.ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertEqual(rollback.status, 1, rollback.stdout)
        order = try await self.order(id)
        XCTAssertEqual(order.state, "needs_attention")
        after = try state()
        XCTAssertFalse(try writes().contains { $0.hasPrefix("updateUser userid=user000003 enableMobility") }, "no write over the change")
        XCTAssertFalse(after.contains { $0.hasPrefix("RemoteDestinationProfile ") && $0.contains("name=RDP_user000003 ") }, "the profile was undone")
        states = Dictionary(uniqueKeysWithValues: try await steps(id).map { ($0.name, $0.state) })
        XCTAssertEqual(states[.snrUser], "conflict")
        XCTAssertEqual(states[.snrProfile], "undone")
    }

    /// Crash safety: for every write of these steps, the worker is killed (SIGKILL) while the device
    /// holds the call — before it acts (stall), or after it acted and before it answers (hold). A new
    /// worker resumes the order at its step: every run ends succeeded with exactly one of each object
    /// (no orphan, no duplicate) and no list written twice with the order's entry.
    func testAWorkerKilledAroundEveryMobilityCallResumesWithoutDuplicates() async throws {
        try await prepare()
        try ucp(["service-area", "edit", "--domain", Self.domain, Self.area, "--dn-block", "4000-4099"])
        var workers = try CrashWorkers(self)
        // jdoe-like users are added by their order: updateUser 2 is the profiles, 3 the mobility, 4 IM and Presence.
        let operations = ["addIpPhoneServices:1", "updatePhone:1", "addDeviceProfile:1", "updateUser:2", "updateUser:3",
                          "addRemoteDestinationProfile:1", "addRemoteDestination:1", "updateUser:4"]
        var run = 0
        for spec in operations {
            let operation = String(spec.split(separator: ":")[0])
            for mode in ["stall", "hold"] {
                run += 1
                let user = "crash\(run)", phone = String(format: "SEP00CC00DD%04d", run), destination = String(format: "+1555000%04d", run)
                _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name) VALUES ('\(user)', 'Cisco', 'manual', 'Crash', 'Test\(run)')")
                if operation == "addIpPhoneServices" {
                    // The login service is added once per call processor: gone, so that this order adds it.
                    _ = try sim.axl("removeIpPhoneServices") { writer in writer.element("serviceName", OrderPlanner.emServiceName) }
                }
                try fault("clear=1&pause-seconds=3&\(mode)=\(spec)")
                _ = try sim.control("calls?clear=1")
                let id = try orderID(try ucp(["order", "submit", "-f", try orderFile("crash\(run).yaml", user: user, phone: phone, voicemail: false,
                                                                                    extra: mobility(destination: destination))]))
                // The Nth call of the operation is the one held: wait for as many, then kill.
                let count = Int(spec.split(separator: ":")[1])!
                let seen = Date().addingTimeInterval(60)
                while try calls().filter({ $0.hasPrefix(operation + " ") }).count < count, Date() < seen { try await Task.sleep(nanoseconds: 50_000_000) }
                try await workers.kill(whenTheDeviceHas: operation + " ")
                let ended = try await ended(id)
                XCTAssertEqual(ended.state, "succeeded", "\(spec) \(mode): \(ended.error ?? "")")
                let state = try state()
                for (prefix, part) in [("Phone", "name=\(phone) "), ("User", "userid=\(user) "), ("DeviceProfile", "name=UDP_\(user) "),
                                       ("RemoteDestinationProfile", "name=RDP_\(user) "), ("RemoteDestination", "destination=\(destination) "),
                                       ("IpPhoneServices", "serviceName=Extension Mobility ")] {
                    XCTAssertEqual(state.filter { $0.hasPrefix(prefix + " ") && $0.contains(part) }.count, 1, "\(spec) \(mode): \(prefix)")
                }
                let record = state.first { $0.hasPrefix("User ") && $0.contains("userid=\(user) ") } ?? ""
                XCTAssertTrue(record.contains("phoneProfiles=UDP_\(user)") && !record.contains("UDP_\(user),UDP_\(user)") && record.contains("enableMobility=true")
                              && record.contains("defaultProfile=UDP_\(user) ")
                              && record.contains("imAndPresenceEnable=true"),
                              "\(spec) \(mode): \(record)")
                let device = state.first { $0.hasPrefix("Phone ") && $0.contains("name=\(phone) ") } ?? ""
                XCTAssertTrue(device.contains("names=Extension Mobility") && !device.contains("Extension Mobility,") && device.contains("enableExtensionMobility=true"),
                              "\(spec) \(mode): \(device)")
                if mode == "stall" {
                    // The killed worker's stalled call is carried out when devsim's pause ends, however
                    // fast the new worker finished: let it land here, not after the next run's setup (it
                    // would re-add the login service the next run removes, and that order would adopt it).
                    try await Task.sleep(nanoseconds: 3_300_000_000)
                }
            }
        }
        // No orphan: every device profile, remote destination profile and destination with an
        // order's marker belongs to a succeeded order.
        let marked = try state().filter { line in
            ["DeviceProfile ", "RemoteDestinationProfile ", "RemoteDestination "].contains { line.hasPrefix($0) } && line.contains("ucp:order=")
        }
        XCTAssertEqual(marked.count, 3 * run, marked.joined(separator: "\n"))
    }

    /// What an order made is what the domain synchronization recognises: after the call
    /// processor's infrastructure and user syncs, the user's device profile is Extension Mobility
    /// access (subscribed to the login service, whose URL is the EMAppServlet), the remote
    /// destination profile and its destination are the user's services, and so is IM and Presence
    /// (this cluster its home cluster).
    func testTheDomainSyncRecognisesExtensionMobilityAndTheRemoteDestination() async throws {
        try await prepare()
        let result = try ucp(["order", "submit", "-f", try orderFile(voicemail: false, extra: mobility()), "--wait"])
        let done = try await order(try orderID(result))
        XCTAssertEqual(done.state, "succeeded", result.stdout)
        for kind in [DeviceSyncKind.infra, .user] {
            let (sync, _) = try await harness.sync(kind, "TestCCM")
            XCTAssertEqual(sync.status, 0, sync.stdout + sync.stderr)
        }
        try ucp(["submit", "sync", "domain", "--domain", Self.domain, "--wait"])
        let services = try await sql("SELECT service_type || ' ' || object_key AS s FROM user_services WHERE user_id = 'jdoe' ORDER BY 1")
            .map { try $0.decode("s", as: String.self) }
        XCTAssertEqual(services, ["em_access UDP_jdoe", "im_presence jdoe", "line 4000/PT_Internal", "phone SEP00AA00BB0001",
                                  "remote_destination +15551234567", "remote_destination_profile RDP_jdoe"])
    }

    /// IM and Presence in the user record (issue 15 item 4): once an order with it succeeds, the
    /// record shows it at once, as the domain sync records it (the same row after the syncs); for
    /// a synchronized user the order adopted, the account keeps what the sync read with the
    /// order's fields over it. A cancel takes it back: the adopted user's record shows IM and
    /// Presence as before the order, the added user's none (its account is gone).
    func testTheUserRecordShowsIMAndPresenceAtOnceAndACancelTakesItBack() async throws {
        try await prepare()
        func presence(_ user: String) async throws -> [String] {
            try await sql("SELECT object_key || ' ' || detail::text AS s FROM user_services WHERE user_id = '\(user)' AND service_type = 'im_presence'")
                .map { try $0.decode("s", as: String.self) }
        }
        func account(_ user: String) async throws -> String {
            try await sql("SELECT attributes::text AS a FROM device_objects WHERE device = 'TestCCM' AND object_type = 'User' AND object_key = '\(user)' AND removed_at IS NULL")
                .first?.decode("a", as: String.self) ?? "none"
        }
        let jabber = "{\"home_cluster\": true, \"service_profile\": \"SP_Jabber\", \"im_presence_enabled\": true}"

        // A user the order adds to Unified CM.
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: false, extra: mobility(em: false, destination: nil)), "--wait"])
        let addedID = try orderID(added)
        await assertEqual(try await order(addedID).state, "succeeded")
        await assertEqual(try await presence("jdoe"), ["jdoe \(jabber)"], "shown at once")
        let area: String? = try await sql("SELECT service_area FROM user_services WHERE user_id = 'jdoe' AND service_type = 'im_presence'")[0].decodeIfPresent("service_area")
        XCTAssertEqual(area, Self.area, "placed in the order's area")

        // A synchronized user the order adopts: its record showed the sync's IM and Presence.
        let synced = "user000001"
        let syncedBefore = try await presence(synced), accountBefore = try await account(synced)
        XCTAssertEqual(syncedBefore.count, 1, "the domain sync recorded it")
        XCTAssertTrue(syncedBefore.first?.contains("\"im_presence_enabled\": false") == true, syncedBefore.first ?? "")
        let adopted = try ucp(["order", "submit", "-f", try orderFile("adopted.yaml", user: synced, phone: "SEP00AA00BB0002", voicemail: false,
                                                                     extra: mobility(em: false, destination: nil)), "--wait"])
        let adoptedID = try orderID(adopted)
        await assertEqual(try await order(adoptedID).state, "succeeded")
        await assertEqual(try await presence(synced), ["\(synced) \(jabber)"])
        let accountAfter = try await account(synced)
        XCTAssertTrue(accountAfter.contains("\"firstName\": ") && accountAfter.contains("\"imAndPresenceEnable\": \"true\"")
                      && accountAfter.contains("\"serviceProfile\": \"SP_Jabber\""), accountAfter)

        // The syncs record the same.
        for kind in [DeviceSyncKind.infra, .user] {
            let (sync, _) = try await harness.sync(kind, "TestCCM")
            XCTAssertEqual(sync.status, 0, sync.stdout + sync.stderr)
        }
        try ucp(["submit", "sync", "domain", "--domain", Self.domain, "--wait"])
        await assertEqual(try await presence("jdoe"), ["jdoe \(jabber)"], "the domain sync's record is the order's")
        await assertEqual(try await presence(synced), ["\(synced) \(jabber)"])

        // Canceled: the adopted user's IM and Presence as before the order; the added user's gone.
        XCTAssertTrue(try ucp(["order", "cancel", String(adoptedID), "--wait"]).stdout.contains("succeeded"))
        await assertEqual(try await presence(synced), syncedBefore)
        let accountCanceled = try await account(synced)
        XCTAssertTrue(accountCanceled.contains("\"imAndPresenceEnable\": \"false\"") && accountCanceled.contains("\"serviceProfile\": \"SP_Default\""),
                      "\(accountCanceled) (before: \(accountBefore))")
        XCTAssertTrue(try ucp(["order", "cancel", String(addedID), "--wait"]).stdout.contains("succeeded"))
        await assertEqual(try await presence("jdoe"), [], "its account is gone")
        await assertEqual(try await account("jdoe"), "none")
    }

    /// Bad input: one line naming the field (and the file's line), exit 64, nothing written — a
    /// malformed destination, a non-boolean, and objects the call processor already has (a device
    /// profile, a remote destination profile, the number as someone's remote destination).
    func testBadMobilityInputIsRefusedWithTheFieldAndWritesNothing() async throws {
        try await prepare()
        let orders = try await sql("SELECT count(*)::bigint AS n FROM orders")[0].decode("n", as: Int64.self)
        let cases: [(String, String)] = [
            (try orderFile("d.yaml", extra: mobility(em: false, destination: "12ab")),
             "single_number_reach.destination (d.yaml line 10): '12ab' must be a phone number: 3 to 24 digits, optionally after '+'"),
            (try orderFile("b.yaml", extra: "extension_mobility: maybe\n"), "extension_mobility (b.yaml line 9): must be yes or no"),
            (try orderFile("m.yaml", extra: "single_number_reach: \"+15551234567\"\n"), "single_number_reach (m.yaml line 9): must be a mapping with destination"),
            (try orderFile("p.yaml", user: "user000000", extra: mobility(destination: nil)),
             "extension_mobility (p.yaml line 9): device profile 'UDP_user000000' already exists on 'TestCCM'"),
            (try orderFile("r.yaml", user: "user000002", extra: mobility(em: false)),
             "single_number_reach (r.yaml line 9): remote destination profile 'RDP_user000002' already exists on 'TestCCM'"),
            (try orderFile("t.yaml", extra: mobility(em: false, destination: "+19190000002")),
             "single_number_reach.destination (t.yaml line 10): +19190000002 is already a remote destination on 'TestCCM'"),
            (try orderFile("s.yaml", extra: mobility(em: false, destination: nil, serviceProfile: "SP_Nope")),
             "im_and_presence.service_profile (s.yaml line 10): no service profile 'SP_Nope' on 'TestCCM'"),
            (try orderFile("q.yaml", extra: mobility(em: false, destination: nil, serviceProfile: "SP\"x")),
             "im_and_presence.service_profile (q.yaml line 10): 'SP\"x' must be a service profile's name"),
            (try orderFile("h.yaml", user: "user000001", extra: mobility(em: false, destination: nil)),
             "im_and_presence (h.yaml line 9): 'OtherCCM' is already the home cluster of 'user000001'"),
        ]
        // Another Unified CM of the inventory (the same simulated cluster) is the home cluster of its users.
        try await harness.register("OtherCCM", kind: .callProcessor, simulator: sim)
        let (sync, _) = try await harness.sync(.user, "OtherCCM")
        XCTAssertEqual(sync.status, 0, sync.stdout + sync.stderr)
        _ = try sim.control("calls?clear=1")
        for (path, expected) in cases {
            try assertRefused(path, expected)
        }
        let after = try await sql("SELECT count(*)::bigint AS n FROM orders")[0].decode("n", as: Int64.self)
        XCTAssertEqual(after, orders, "nothing written")
        XCTAssertEqual(try writes(), [], "no device write")
    }
}
