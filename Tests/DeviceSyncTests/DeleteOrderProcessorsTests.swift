import DirectoryFixtures
import Foundation
import Inventory
import Orders
import Postgres
import TestSupport
import XCTest

/// Delete orders of a user with services on two call processors (TestCCM and OtherCCM, a second
/// `ucp devsim`): one order removes it from both, a call processor at a time.
extension DeleteOrderTests {
    static let otherArea = "SA_Other"

    /// The directory fixtures with `action`, OtherCCM registered and synchronized with a service area
    /// of its own, and jdoe given a phone and line on each call processor (two add orders). Returns
    /// OtherCCM's simulator.
    func prepareTwoProcessors(action: String) async throws -> DeviceSimulatorProcess {
        try await prepareDirectory(action: action)
        let other = try DeviceSimulatorProcess.start(for: self, users: 0)
        try await harness.register("OtherCCM", kind: .callProcessor, simulator: other)
        let (sync, _) = try await harness.sync(.infra, "OtherCCM")
        XCTAssertEqual(sync.status, 0, sync.stdout + sync.stderr)
        try ucp(["service-area", "add", "--domain", Self.domain, "--name", Self.otherArea, "--call-processor", "OtherCCM",
                 "--device-pool", "DP_Site01", "--location", "Hub_None", "--device-css", "CSS_Internal", "--line-css", "CSS_Internal",
                 "--partition", "PT_Internal", "--dn-block", "5000-5009"])
        let first = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(first)).state, "succeeded")
        let path = folder + "/other.yaml"
        try """
            domain: \(Self.domain)
            service_area: \(Self.otherArea)
            user: jdoe
            phone:
              name: SEP00AA00BB0009
              model: Cisco 8845
            voicemail: no

            """.write(toFile: path, atomically: true, encoding: .utf8)
        let second = try ucp(["order", "submit", "-f", path, "--wait"])
        let secondOrder = try await order(try orderID(second))
        XCTAssertEqual(secondOrder.state, "succeeded", secondOrder.error ?? second.stdout + second.stderr)
        let devices = try await sql("SELECT DISTINCT device FROM user_services WHERE user_id = 'jdoe' AND service_type IN ('phone', 'line') ORDER BY device")
            .map { try $0.decode("device", as: String.self) }
        XCTAssertEqual(devices, ["OtherCCM", "TestCCM"], "jdoe has a phone and line on each call processor")
        for simulator in [sim!, other] { XCTAssertEqual(Self.jdoesObjects(simulator).count, 3, (try? simulator.control("state")) ?? "") }
        return other
    }

    /// jdoe's phone, line and end user on `simulator` (state lines).
    static func jdoesObjects(_ simulator: DeviceSimulatorProcess) -> [String] {
        ((try? simulator.control("state")) ?? "").split(separator: "\n").map(String.init).filter { line in
            (line.hasPrefix("Phone ") && (line.contains("name=SEP00AA00BB0001 ") || line.contains("name=SEP00AA00BB0009 ")))
                || (line.hasPrefix("Line ") && (line.contains("pattern=4000 ") || line.contains("pattern=5000 ")))
                || (line.hasPrefix("User ") && line.contains("userid=jdoe "))
        }
    }

    /// jdoe leaves the directory: the sync queues its delete order, which succeeds; the order and its steps.
    func jdoeDeleted() async throws -> (Order, [OrderStep]) {
        try slapd.reload(users: (1...4).map(DirectoryFixture.user))
        try ldapSync()
        let deleted = try await endedDeleteOrder(of: "jdoe")
        XCTAssertEqual(deleted.state, "succeeded", deleted.error ?? "")
        return (deleted, try await steps(deleted.id))
    }

    /// "Delete user and all services" of a user on two call processors (refused before: "delete it
    /// by hand"): one order removes its phone, line and end user from each, the user record goes, and
    /// the next sync reports the seed's success line, once.
    func testDeleteUserAndServicesOnTwoCallProcessors() async throws {
        let other = try await prepareTwoProcessors(action: "delete-user-and-services")
        let (deleted, steps) = try await jdoeDeleted()
        XCTAssertEqual(Set(steps.filter { $0.name == .removeUser }.map(\.device)), ["TestCCM", "OtherCCM"])
        XCTAssertEqual(Set(steps.filter { $0.name == .removePhone }.map(\.device)), ["TestCCM", "OtherCCM"])
        XCTAssertTrue(steps.allSatisfy { $0.state == "done" }, steps.map { "\($0.name.rawValue)@\($0.device) \($0.state)" }.joined(separator: ", "))
        XCTAssertEqual(Self.jdoesObjects(sim), [], "nothing of jdoe on TestCCM")
        XCTAssertEqual(Self.jdoesObjects(other), [], "nothing of jdoe on OtherCCM")
        await assertEqual(try await sql("SELECT count(*)::bigint AS n FROM users WHERE user_id = 'jdoe'")[0].decode("n", as: Int64.self), 0)
        await assertEqual(try await sql("SELECT count(*)::bigint AS n FROM device_objects WHERE object_key IN ('SEP00AA00BB0001', 'SEP00AA00BB0009') AND removed_at IS NULL")[0]
            .decode("n", as: Int64.self), 0)
        let report = try ldapSync()
        XCTAssertTrue(report.contains("The following user and associated services were deleted successfully: UserId, OrderId, Status"), report)
        XCTAssertEqual(report.components(separatedBy: "jdoe, \(deleted.id), succeeded").count, 2, "one line for the user: \(report)")
    }

    /// "Delete user, but keep services" of a user on two call processors: the end user goes from
    /// both, its phones and lines stay on both.
    func testKeepServicesRemovesTheEndUserFromBothCallProcessors() async throws {
        let other = try await prepareTwoProcessors(action: "delete-user-keep-services")
        let (_, steps) = try await jdoeDeleted()
        XCTAssertEqual(steps.map(\.name), [.removeUser, .removeUser])
        XCTAssertEqual(Set(steps.map(\.device)), ["TestCCM", "OtherCCM"])
        for simulator in [sim!, other] {
            let left = Self.jdoesObjects(simulator)
            XCTAssertFalse(left.contains { $0.hasPrefix("User ") }, left.joined(separator: "\n"))
            XCTAssertTrue(left.contains { $0.hasPrefix("Phone ") } && left.contains { $0.hasPrefix("Line ") }, left.joined(separator: "\n"))
        }
        await assertEqual(try await sql("SELECT count(*)::bigint AS n FROM users WHERE user_id = 'jdoe'")[0].decode("n", as: Int64.self), 0)
    }

    /// A removal the second call processor refuses: the order stops failed there, what it did on
    /// the first visible (its steps done, the objects gone); `order retry` finishes it and the
    /// request succeeds.
    func testAFailureOnTheSecondCallProcessorStopsTheOrderAndRetryFinishesIt() async throws {
        let other = try await prepareTwoProcessors(action: "delete-user-and-services")
        // The order's first call processor is the one of the user's area.
        let area: String = try await sql("SELECT service_area FROM users WHERE user_id = 'jdoe'")[0].decode("service_area")
        let (first, second) = area == Self.otherArea ? (other, sim!) : (sim!, other)
        let secondName = area == Self.otherArea ? "TestCCM" : "OtherCCM"
        _ = try second.control("faults?fail=removePhone:1")
        try slapd.reload(users: (1...4).map(DirectoryFixture.user))
        try ldapSync()
        let failed = try await endedDeleteOrder(of: "jdoe")
        XCTAssertEqual(failed.state, "failed")
        XCTAssertTrue(failed.error?.hasPrefix("step remove_phone: ") == true, failed.error ?? "")
        let steps = try await steps(failed.id)
        let stopped = try XCTUnwrap(steps.first { $0.state == "failed" })
        XCTAssertEqual(stopped.device, secondName)
        XCTAssertTrue(steps.filter { $0.device != secondName }.allSatisfy { $0.state == "done" }, "the first call processor's steps done")
        XCTAssertEqual(Self.jdoesObjects(first), [], "the first call processor's part is done")
        XCTAssertEqual(Self.jdoesObjects(second).count, 3, "the second's phone, line and end user are still there")
        await assertEqual(try await request(of: "jdoe").state, "failed")

        let retry = try ucp(["order", "retry", String(failed.id), "--wait"])
        await assertEqual(try await order(failed.id).state, "succeeded", retry.stdout + retry.stderr)
        XCTAssertEqual(Self.jdoesObjects(second), [], "the retry finished the second call processor")
        await assertEqual(try await request(of: "jdoe").state, "succeeded")
        await assertEqual(try await sql("SELECT count(*)::bigint AS n FROM users WHERE user_id = 'jdoe'")[0].decode("n", as: Int64.self), 0)
    }
}
