import DirectoryFixtures
import Foundation
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
        let failure = try ldapSync()
        XCTAssertTrue(failure.contains("Deletion of User and associated services failed for the following users: UserId, OrderId, Status"), failure)
        XCTAssertTrue(failure.contains("user000002, \(failed.id), failed"), failure)
        XCTAssertFalse(failure.contains("jdoe, \(deleted.id)"), "an order is reported once: \(failure)")
    }

    /// "Delete user, but keep services": the end user goes from Unified CM and the user record from
    /// the inventory; the phone and line stay on the device.
    func testDeleteUserKeepServicesRemovesOnlyTheEndUser() async throws {
        try await prepareDirectory(action: "delete-user-keep-services")
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(added)).state, "succeeded")
        try slapd.reload(users: (1...4).map(DirectoryFixture.user))
        try ldapSync()
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
}
