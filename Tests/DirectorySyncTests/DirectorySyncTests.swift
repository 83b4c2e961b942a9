import DirectoryFixtures
import Foundation
import Inventory
import LDAP
import Postgres
import Sync
import TestSupport
import XCTest

final class DirectorySyncTests: XCTestCase {
    nonisolated(unsafe) static var server: SlapdServer?

    override class func setUp() {
        super.setUp()
        server = try? SlapdServer(users: generatedUsers(1...50))
    }

    override class func tearDown() {
        server?.destroy()
        super.tearDown()
    }

    /// A fresh database with the domain Sales, and the directory holding `users`.
    func fixture(_ users: [FixtureUser] = generatedUsers(1...50), domains: [String] = ["Sales"]) async throws -> SyncFixture {
        let server = try XCTUnwrap(Self.server, "slapd did not start")
        try server.reload(users: users)
        return try await SyncFixture.make(slapd: server, domains: domains)
    }

    // MARK: reading and creating

    func testPagedSyncPastTheSizeLimitCreatesEveryEnabledUser() async throws {
        let f = try await fixture(generatedUsers(1...1_234))
        let reporter = RecordingReporter()
        let (pagesBefore, entriesBefore) = (recordedSample("ucp_ldap_pages_total"), recordedSample("ucp_ldap_entries_total"))
        let createdBefore = recordedSample("ucp_sync_objects_total", ["sync": "ldap", "change": "created"])
        let (result, error, _) = await f.sync(f.settings(), LDAPSyncOptions(batchSize: 700), reporter: reporter)
        XCTAssertNil(error)
        let users = try await f.users()
        let enabled = (1...1_234).filter { $0 % 10 != 0 }
        // The metrics: every page and entry read, every user created.
        XCTAssertGreaterThanOrEqual(recordedSample("ucp_ldap_pages_total") - pagesBefore, 2, "paged past the size limit")
        XCTAssertEqual(recordedSample("ucp_ldap_entries_total") - entriesBefore, Double(enabled.count))
        XCTAssertEqual(recordedSample("ucp_sync_objects_total", ["sync": "ldap", "change": "created"]) - createdBefore,
                       Double(enabled.count))
        XCTAssertEqual(users.count, enabled.count)
        XCTAssertEqual(result?.created, enabled.count)
        XCTAssertEqual(result?.entriesRead, enabled.count)
        XCTAssertNil(users["user000010"], "disabled accounts stay out")
        // Progress (at most once a second, and at the end) reached the total.
        XCTAssertGreaterThanOrEqual(reporter.progressReports.count, 3)
        XCTAssertEqual(reporter.progressReports.last?.0, Int64(enabled.count))
        XCTAssertEqual(reporter.progressReports.last?.1, Int64(enabled.count))

        // Non-ASCII names, DN-special characters and filter-special characters come through intact.
        for index in [7, 11, 13, 22, 77] {
            let expected = DirectoryFixture.user(index)
            let user = try XCTUnwrap(users[expected.uid])
            XCTAssertEqual(user.firstName, expected.givenName)
            XCTAssertEqual(user.lastName, expected.sn)
            XCTAssertEqual(user.department, expected.department)
            XCTAssertEqual(user.domain, "Sales")
            XCTAssertEqual(user.source, "ldap")
            XCTAssertEqual(user.enabled, true)
            XCTAssertEqual(user.directoryDN.map(Self.normalized), Self.normalized(DirectoryFixture.dn(of: expected)))
        }
        let log = try await f.syncLog()
        XCTAssertTrue(log.first?.contains("\(enabled.count) users created") == true, "\(log)")

        // A second run changes nothing.
        let (again, _, _) = await f.sync(f.settings())
        XCTAssertEqual(again?.created, 0)
        XCTAssertEqual(again?.updated, 0)
    }

    func testUpdatePolicy() async throws {
        var users = generatedUsers(1...20)
        let f = try await fixture(users)
        await f.sync(f.settings())
        users[0].title = "Chief"
        users[0].mail = "new@example.com"
        users[1].telephoneNumber = "+1 555 0000"
        try f.slapd.reload(users: users)

        let (kept, _, _) = await f.sync(f.settings(update: .doNotUpdate))
        XCTAssertEqual(kept?.updated, 0)
        var stored = try await f.users()
        XCTAssertEqual(stored["user000001"]?.title, "Title1")
        XCTAssertEqual(stored["user000001"]?.email, "user000001@example.com")

        let (changed, _, _) = await f.sync(f.settings(update: .allFields))
        XCTAssertEqual(changed?.updated, 2)
        stored = try await f.users()
        XCTAssertEqual(stored["user000001"]?.title, "Chief")
        XCTAssertEqual(stored["user000001"]?.email, "new@example.com")
        XCTAssertEqual(stored["user000002"]?.phone, "+1 555 0000")
        XCTAssertEqual(stored["user000003"]?.title, "Title3")
    }

    func testSyncInactiveUsers() async throws {
        let f = try await fixture(generatedUsers(1...30))
        // Off: the filter keeps disabled accounts (userAccountControl bit 2) out.
        await f.sync(f.settings(filter: enabledADUsers))
        var users = try await f.users()
        XCTAssertEqual(users.count, 27)
        XCTAssertNil(users["user000020"])
        // On: they come in, marked disabled.
        await f.sync(f.settings(filter: allPersons))
        users = try await f.users()
        XCTAssertEqual(users.count, 30)
        XCTAssertEqual(users["user000020"]?.enabled, false)
        XCTAssertEqual(users["user000021"]?.enabled, true)
        // Off again: the disabled ones are stale now (seed: no longer matching the filter).
        let (result, _, _) = await f.sync(f.settings(filter: enabledADUsers))
        XCTAssertEqual(result?.stale, 3)
        users = try await f.users()
        XCTAssertEqual(users["user000020"]?.state, "stale")
    }

    func testFieldMappingChoices() async throws {
        let f = try await fixture(generatedUsers(1...5))
        let expected = DirectoryFixture.user(3)
        let userIDChoices: [(String, String)] = [
            ("sAMAccountName", expected.sAMAccountName!), ("uid", expected.uid), ("mail", expected.mail!),
            ("employeeNumber", expected.employeeNumber!), ("telephoneNumber", expected.telephoneNumber!),
            ("userPrincipalName", expected.userPrincipalName!),
        ]
        for (attribute, userID) in userIDChoices {
            try await f.execute("DELETE FROM users")
            await f.sync(f.settings(mapping: fieldMapping(userID: attribute)))
            let users = try await f.users()
            XCTAssertEqual(users[userID]?.lastName, expected.sn, "user ID from \(attribute)")
            XCTAssertEqual(users.count, 5, "user ID from \(attribute)")
        }
        let others: [([(field: String, attribute: String)], KeyPath<StoredUser, String?>, String?)] = [
            (fieldMapping(phone: "telephoneNumber"), \.phone, expected.telephoneNumber),
            (fieldMapping(phone: "ipPhone"), \.phone, expected.ipPhone),
            (fieldMapping(email: "mail"), \.email, expected.mail),
            (fieldMapping(email: "sAMAccountName"), \.email, expected.sAMAccountName),
            (fieldMapping(middleName: "middleName"), \.middleName, expected.middleName),
            (fieldMapping(middleName: "initials"), \.middleName, expected.initials),
            (fieldMapping(directoryURI: "mail"), \.directoryURI, expected.mail),
            // msRTCSIP-PrimaryUserAddress holds sip:user@domain; the URI is what follows "sip:".
            (fieldMapping(directoryURI: "msRTCSIP-PrimaryUserAddress"), \.directoryURI, "user000003@example.com"),
            (fieldMapping(directoryURI: nil), \.directoryURI, nil),
        ]
        for (mapping, field, value) in others {
            try await f.execute("DELETE FROM users")
            await f.sync(f.settings(mapping: mapping))
            let users = try await f.users()
            XCTAssertEqual(users["user000003"]?[keyPath: field], value, "\(mapping)")
        }
    }

    func testManagerIsTheUserIDOfTheManagersEntry() async throws {
        // The generated users have no manager; make user 2 the manager of user 1 through a modify.
        let f = try await fixture(generatedUsers(1...3))
        try await f.setDirectoryManagers([(1, 2)])
        await f.sync(f.settings())
        let users = try await f.users()
        XCTAssertEqual(users["user000001"]?.managerID, "user000002")
        XCTAssertNil(users["user000002"]?.managerID)
    }

    /// Under "do not update" a run gives managers to the users it creates and leaves existing users'
    /// managers alone. Users an LDAP attempt created before failing short of the managers step are still
    /// the sync's new users at the next attempt: it sets their managers (unless an operator set one
    /// meanwhile), whatever the clocks say.
    func testDoNotUpdateSetsManagersOfUsersAFailedLDAPAttemptCreated() async throws {
        let f = try await fixture(generatedUsers(1...2))
        await f.sync(f.settings())
        // An operator gives user 1 a manager; user 2 has none.
        try await f.execute("UPDATE users SET manager_id = 'user000002' WHERE user_id = 'user000001'")
        try f.slapd.reload(users: generatedUsers(1...5))
        try await f.setDirectoryManagers([(1, 4), (2, 3), (3, 4), (4, 5), (5, 1)])
        func managers() async throws -> [String: String] { try await f.users().compactMapValues(\.managerID) }

        // Attempt 1 writes its one batch (users 3, 4, 5), then is canceled before the managers step:
        // the reporter cancels at the check after the last page.
        let (_, failure, _) = await f.sync(f.settings(update: .doNotUpdate), reporter: RecordingReporter(cancelAfterProgress: 2))
        XCTAssertTrue(failure is CancellationError, "\(String(describing: failure))")
        await assertEqual(try await f.users().count, 5)
        await assertEqual(try await managers(), ["user000001": "user000002"])
        // Meanwhile an operator gives user 4 a manager.
        try await f.execute("UPDATE users SET manager_id = 'user000001' WHERE user_id = 'user000004'")

        // Attempt 2 creates nothing; the users attempt 1 created get their managers.
        let (result, error, _) = await f.sync(f.settings(update: .doNotUpdate))
        XCTAssertNil(error)
        XCTAssertEqual(result?.created, 0)
        await assertEqual(try await managers(), ["user000001": "user000002", "user000003": "user000004",
                                                 "user000004": "user000001", "user000005": "user000001"])

        // Once a run has set them, they are existing users like any other: an operator's change stays.
        try await f.execute("UPDATE users SET manager_id = NULL WHERE user_id = 'user000003'")
        await f.sync(f.settings(update: .doNotUpdate))
        await assertEqual(try await managers(), ["user000001": "user000002", "user000004": "user000001", "user000005": "user000001"])
    }

    // MARK: users the sync leaves alone

    func testUsersOfAnotherDomainAreSkippedAndReported() async throws {
        let f = try await fixture(generatedUsers(1...9), domains: ["Sales", "Support"])
        try await f.execute("INSERT INTO users (user_id, domain, last_name) VALUES ('user000002', 'Support', 'Other'), ('user000005', 'Support', 'Other')")
        let (result, _, lines) = await f.sync(f.settings())
        XCTAssertEqual(result?.skippedOtherDomain, 2)
        XCTAssertTrue(lines.contains("The following users were not created because they are already present in another Domain: user000002, user000005"), "\(lines)")
        let users = try await f.users()
        XCTAssertEqual(users["user000002"]?.domain, "Support")
        XCTAssertEqual(users["user000002"]?.lastName, "Other")
        let log = try await f.syncLog()
        XCTAssertTrue(log.contains("The following users were not created because they are already present in another Domain: user000002, user000005"))
    }

    func testAdminAndGlobalAdminAreNeverTouched() async throws {
        var users = generatedUsers(1...4)
        users.append(FixtureUser(cn: "Admin", uid: "admin", sAMAccountName: "admin", sn: "FromDirectory", userAccountControl: 512))
        users.append(FixtureUser(cn: "Global", uid: "GlobalAdmin", sAMAccountName: "GlobalAdmin", sn: "FromDirectory", userAccountControl: 512))
        let f = try await fixture(users)
        try await f.execute("INSERT INTO users (user_id, domain, source, last_name) VALUES ('admin', 'Sales', 'ldap', 'Local')")
        await f.sync(f.settings(stale: .deleteUser))
        var stored = try await f.users()
        XCTAssertEqual(stored["admin"]?.lastName, "Local")
        XCTAssertNil(stored["GlobalAdmin"])
        // Gone from the directory, with "delete user": still not deleted.
        try f.slapd.reload(users: generatedUsers(1...4))
        await f.sync(f.settings(stale: .deleteUser, guardPercent: 100))
        stored = try await f.users()
        XCTAssertEqual(stored["admin"]?.state, "active")
        XCTAssertEqual(stored.count, 5)
    }

    /// User identity is case-insensitive (migrations/018): `JSmith` and `jsmith` in the directory are
    /// one user (the first entry, the other reported as a duplicate), and a directory `user000002`
    /// is the inventory's `USER000002`, updated, not created again.
    func testUserIDsDifferingOnlyByCaseAreOneUser() async throws {
        var users = generatedUsers(1...4)
        users.append(FixtureUser(cn: "JSmith A", uid: "JSmith", sAMAccountName: "JSmith", sn: "First", userAccountControl: 512))
        users.append(FixtureUser(cn: "JSmith B", uid: "jsmith", sAMAccountName: "jsmith", sn: "Second", userAccountControl: 512))
        let f = try await fixture(users)
        try await f.execute("INSERT INTO users (user_id, domain, source, last_name) VALUES ('USER000002', 'Sales', 'manual', 'Local')")
        let (result, _, lines) = await f.sync(f.settings())
        XCTAssertEqual(result?.duplicates, 1, "\(lines)")
        let stored = try await f.users()
        XCTAssertEqual(stored.keys.filter { $0.lowercased() == "jsmith" }.count, 1, "\(stored.keys.sorted())")
        XCTAssertNil(stored["user000002"])
        XCTAssertEqual(stored["USER000002"]?.lastName, DirectoryFixture.user(2).sn)
        // A second run: the same users, none stale.
        let (again, _, _) = await f.sync(f.settings())
        XCTAssertEqual(again?.stale, 0)
        let afterwards = try await f.users()
        XCTAssertEqual(afterwards.count, stored.count)
    }

    /// A directory holds what no typed field may: a NUL (which PostgreSQL cannot store) or another
    /// control character in a value is stored as U+FFFD, as an order would write it to the device,
    /// and the sync goes through; an entry whose user ID holds one is left out and reported by DN.
    func testControlCharactersInDirectoryValues() async throws {
        var users = generatedUsers(1...4)
        users[0].title = "Chief\u{0}Officer"
        users[1].title = "Bell\u{7}Ringer\tand\nsinger"
        users[2].sAMAccountName = "user000003\u{1}"
        let f = try await fixture(users)
        let (result, error, lines) = await f.sync(f.settings())
        XCTAssertNil(error, "\(lines)")
        let stored = try await f.users()
        XCTAssertEqual(stored["user000001"]?.title, "Chief\u{FFFD}Officer")
        XCTAssertEqual(stored["user000002"]?.title, "Bell\u{FFFD}Ringer\tand\nsinger", "tab and LF are carried as read")
        XCTAssertEqual(stored["user000004"]?.title, users[3].title)
        XCTAssertFalse(stored.keys.contains { $0.hasPrefix("user000003") }, "\(stored.keys.sorted())")
        XCTAssertEqual(result?.skippedBadUserID, 1)
        XCTAssertEqual(result?.created, 3)
        let log = try await f.syncLog()
        XCTAssertTrue(log.contains { $0.hasPrefix("1 directory entries have a control character in their sAMAccountName")
                && $0.contains(DirectoryFixture.dn(of: users[2])) }, "\(log)")
    }

    // MARK: stale users

    func testDoNotChangeKeepsStaleUsersAndSaysSo() async throws {
        let f = try await fixture(generatedUsers(1...50))
        await f.sync(f.settings())
        try f.slapd.reload(users: generatedUsers(3...50))
        let (result, _, lines) = await f.sync(f.settings(stale: .doNotChange))
        XCTAssertEqual(result?.stale, 2)
        XCTAssertTrue(lines.contains("The following users were not deleted because the delete option was not set: user000001, user000002"), "\(lines)")
        let users = try await f.users()
        XCTAssertEqual(users["user000001"]?.state, "stale")
        XCTAssertEqual(users["user000003"]?.state, "active")
        // Back in the directory: active again.
        try f.slapd.reload(users: generatedUsers(1...50))
        await f.sync(f.settings())
        let back = try await f.users()
        XCTAssertEqual(back["user000001"]?.state, "active")
    }

    func testDeleteIfNoServices() async throws {
        let f = try await fixture(generatedUsers(1...50))
        await f.sync(f.settings())
        // user000001 has services (the services issue replaces this function; here a test stands in for it).
        try await f.execute("CREATE OR REPLACE FUNCTION ucp_user_has_services(user_id text) RETURNS boolean LANGUAGE sql STABLE AS $$ SELECT user_id = 'user000001' $$")
        try f.slapd.reload(users: generatedUsers(3...50))
        let (result, _, lines) = await f.sync(f.settings(stale: .deleteIfNoServices))
        XCTAssertEqual(result?.deleted, 1)
        let users = try await f.users()
        XCTAssertEqual(users["user000001"]?.state, "stale")
        XCTAssertNil(users["user000002"])
        XCTAssertTrue(lines.contains("The following users were deleted: user000002"), "\(lines)")
        XCTAssertTrue(lines.contains("The following users were not deleted because they have services: user000001"), "\(lines)")
    }

    func testDeleteUserDeletesEvenWithServices() async throws {
        let f = try await fixture(generatedUsers(1...50))
        await f.sync(f.settings())
        try await f.execute("CREATE OR REPLACE FUNCTION ucp_user_has_services(user_id text) RETURNS boolean LANGUAGE sql STABLE AS $$ SELECT true $$")
        try f.slapd.reload(users: generatedUsers(3...50))
        let (result, _, _) = await f.sync(f.settings(stale: .deleteUser))
        XCTAssertEqual(result?.deleted, 2)
        let users = try await f.users()
        XCTAssertNil(users["user000001"])
        XCTAssertNil(users["user000002"])
        XCTAssertEqual(users.count, 43) // 3...50 less the disabled 10, 20, 30, 40 and 50
    }

    func testDeleteActionsWithOrdersQueuePendingOrdersAndReportTheirOutcome() async throws {
        for action in [StaleUserAction.deleteUserKeepServices, .deleteUserAndServices] {
            let f = try await fixture(generatedUsers(1...50))
            await f.sync(f.settings())
            try f.slapd.reload(users: generatedUsers(3...50))
            let (result, _, lines) = await f.sync(f.settings(stale: action))
            XCTAssertEqual(result?.ordersQueued, 2)
            let orders = try await f.execute("SELECT id, user_id, action, state FROM user_delete_orders ORDER BY user_id")
            XCTAssertEqual(try orders.map { try $0.decode("user_id", as: String.self) }, ["user000001", "user000002"])
            XCTAssertEqual(try orders.map { try $0.decode("action", as: String.self) }, [action.rawValue, action.rawValue])
            XCTAssertEqual(try orders.map { try $0.decode("state", as: String.self) }, ["pending", "pending"])
            let first: Int64 = try orders[0].decode("id")
            let second: Int64 = try orders[1].decode("id")
            XCTAssertTrue(lines.contains("user000001, \(first), pending"), "\(lines)")
            let users = try await f.users()
            XCTAssertEqual(users["user000001"]?.state, "deleting")

            // A second sync queues nothing more.
            let (again, _, _) = await f.sync(f.settings(stale: action))
            XCTAssertEqual(again?.ordersQueued, 0)

            // The orders issue runs them; the next sync reports how they ended, in the seed's words.
            try await f.execute("UPDATE user_delete_orders SET state = 'succeeded', finished_at = clock_timestamp() WHERE id = $1", [first])
            try await f.execute("UPDATE user_delete_orders SET state = 'failed', finished_at = clock_timestamp() WHERE id = $1", [second])
            let (_, _, after) = await f.sync(f.settings(stale: action))
            XCTAssertTrue(after.contains("The following user and associated services were deleted successfully: UserId, OrderId, Status"), "\(after)")
            XCTAssertTrue(after.contains("user000001, \(first), succeeded"), "\(after)")
            XCTAssertTrue(after.contains("Deletion of User and associated services failed for the following users: UserId, OrderId, Status"), "\(after)")
            XCTAssertTrue(after.contains("user000002, \(second), failed"), "\(after)")
        }
    }

    // MARK: the deletion guard

    func testDeletionGuardHoldsWhenSixtyPercentDisappear() async throws {
        let f = try await fixture(generatedUsers(1...50))
        await f.sync(f.settings())
        let before = try await f.users().count
        // 60% of the directory's users go.
        try f.slapd.reload(users: generatedUsers(31...50))
        let (_, error, lines) = await f.sync(f.settings(stale: .deleteUser))
        let held = try XCTUnwrap(error as? DeletionGuardHeld, "\(String(describing: error))")
        XCTAssertTrue(held.description.contains("Deletion guard"), held.description)
        XCTAssertTrue(held.description.contains("No user was deleted"), held.description)
        XCTAssertTrue(held.description.contains("--allow-deletes 27"), held.description)
        XCTAssertTrue(lines.contains(held.description), "\(lines)")
        await assertEqual(try await f.users().count, before)
        let audit = try await f.execute("SELECT message FROM audit_log WHERE action = 'ldap_sync.deletion_guard' AND target = 'Sales'")
        XCTAssertEqual(audit.count, 1)
        let log = try await f.syncLog()
        XCTAssertTrue(log.contains(held.description))

        // An operator lets this one run through.
        let (result, allowedError, _) = await f.sync(f.settings(stale: .deleteUser), LDAPSyncOptions(allowDeletes: 27))
        XCTAssertNil(allowedError)
        XCTAssertEqual(result?.deleted, 27)
        await assertEqual(try await f.users().count, before - 27)
    }

    func testDeletionGuardHoldsWhenTheDirectoryReturnsNothing() async throws {
        let f = try await fixture(generatedUsers(1...5))
        await f.sync(f.settings())
        try f.slapd.reload(users: [])
        let (_, error, _) = await f.sync(f.settings(stale: .deleteUser, guardCount: 1000, guardPercent: 100))
        let held = try XCTUnwrap(error as? DeletionGuardHeld)
        XCTAssertTrue(held.description.contains("the directory returned no user"), held.description)
        // One clause: "no user", not also "0 users, far fewer than…".
        XCTAssertEqual(held.description, "Deletion guard: this synchronization would delete 5 of the domain's 5 directory users (100%); "
                       + "the directory returned no user. No user was deleted. To allow it for one run: ucp submit sync ldap --domain 'Sales' --allow-deletes 5")
        await assertEqual(try await f.users().count, 5)
    }

    /// Issue 10, finding 2: a refused run never becomes the baseline, so running the sync again
    /// without a flag is refused again; a dry run does not move the baseline either; an
    /// `--allow-deletes` run passes, deletes, and becomes the baseline.
    func testRefusedRunIsNotTheBaselineSoARerunIsRefusedAgain() async throws {
        // 180 enabled users of 200 (every 10th is disabled); thresholds high: only the
        // "far fewer than the last accepted synchronization" rule is at play.
        let f = try await fixture(generatedUsers(1...200))
        let settings = f.settings(stale: .deleteUser, guardCount: 1000, guardPercent: 100)
        let (first, firstError, _) = await f.sync(settings)
        XCTAssertNil(firstError)
        XCTAssertEqual(first?.created, 180)
        func baseline() async throws -> Int? {
            try await f.execute("SELECT baseline_user_count FROM ldap_sync_state WHERE domain = 'Sales'").first?
                .decodeIfPresent("baseline_user_count")
        }
        func guardAudits() async throws -> Int64 {
            try await f.execute("SELECT count(*)::bigint AS n FROM audit_log WHERE action = 'ldap_sync.deletion_guard' AND target = 'Sales'")[0]
                .decode("n")
        }
        await assertEqual(try await baseline(), 180)

        // Users 1...120 leave the directory: 72 enabled users remain, 108 would be deleted.
        try f.slapd.reload(users: generatedUsers(121...200))
        let expected = "Deletion guard: this synchronization would delete 108 of the domain's 180 directory users (60%); "
            + "the directory returned 72 users, far fewer than the 180 of the last accepted synchronization. No user was deleted. "
            + "To allow it for one run: ucp submit sync ldap --domain 'Sales' --allow-deletes 108"
        let (_, refused, refusedLines) = await f.sync(settings)
        let held = try XCTUnwrap(refused as? DeletionGuardHeld, "\(String(describing: refused))")
        XCTAssertEqual(held.description, expected)
        XCTAssertEqual(refusedLines.filter { $0.contains("Deletion guard") }, [expected], "one message, once")
        await assertEqual(try await f.users().count, 180)
        await assertEqual(try await f.users().values.filter { $0.state == "stale" }.count, 108)
        await assertEqual(try await baseline(), 180)
        await assertEqual(try await guardAudits(), 1)

        // The same run again, no flag: refused again with the same message, nothing deleted.
        let (_, again, _) = await f.sync(settings)
        XCTAssertEqual((again as? DeletionGuardHeld)?.description, expected, "\(String(describing: again))")
        await assertEqual(try await f.users().count, 180)
        await assertEqual(try await baseline(), 180)
        await assertEqual(try await guardAudits(), 2)
        await assertEqual(try await f.syncLog().contains(expected), true)

        // A dry run that would pass does not move the baseline: a plain run after it is still refused.
        let (dry, dryError, _) = await f.sync(settings, LDAPSyncOptions(dryRun: true, allowDeletes: 108))
        XCTAssertNil(dryError)
        XCTAssertEqual(dry?.deleted, 108)
        await assertEqual(try await f.users().count, 180)
        await assertEqual(try await baseline(), 180)
        let (_, afterDry, _) = await f.sync(settings)
        XCTAssertEqual((afterDry as? DeletionGuardHeld)?.description, expected, "\(String(describing: afterDry))")
        await assertEqual(try await f.users().count, 180)
        await assertEqual(try await guardAudits(), 3)

        // Fewer allowed than needed: refused, and says so.
        let (_, tooFew, _) = await f.sync(settings, LDAPSyncOptions(allowDeletes: 100))
        XCTAssertEqual((tooFew as? DeletionGuardHeld)?.description,
                       "Deletion guard: this synchronization would delete 108 of the domain's 180 directory users (60%); "
                       + "the directory returned 72 users, far fewer than the 180 of the last accepted synchronization. No user was deleted. "
                       + "(--allow-deletes 100 is fewer.) To allow it for one run: ucp submit sync ldap --domain 'Sales' --allow-deletes 108")
        await assertEqual(try await f.users().count, 180)
        await assertEqual(try await baseline(), 180)

        // Allowed once: the run passes, deletes the 108, and becomes the baseline.
        let (allowed, allowedError, _) = await f.sync(settings, LDAPSyncOptions(allowDeletes: 108))
        XCTAssertNil(allowedError)
        XCTAssertEqual(allowed?.deleted, 108)
        XCTAssertNil(allowed?.guardMessage)
        await assertEqual(try await f.users().count, 72)
        await assertEqual(try await f.users().values.filter { $0.state != "active" }.count, 0)
        await assertEqual(try await baseline(), 72)

        // The next plain run passes: nothing to delete, nothing refused.
        let (next, nextError, _) = await f.sync(settings)
        XCTAssertNil(nextError)
        XCTAssertEqual(next?.deleted, 0)
        XCTAssertEqual(next?.created, 0)
        XCTAssertEqual(next?.stale, 0)
        await assertEqual(try await f.users().count, 72)
        await assertEqual(try await baseline(), 72)
        await assertEqual(try await guardAudits(), 4)
    }

    // MARK: dry run, cancel

    func testDryRunReportsAndChangesNothing() async throws {
        let f = try await fixture(generatedUsers(1...50))
        await f.sync(f.settings())
        var changed = generatedUsers(3...60)
        changed[0].title = "Changed"
        try f.slapd.reload(users: changed)
        let before = try await f.users()
        let (result, error, lines) = await f.sync(f.settings(stale: .deleteUser), LDAPSyncOptions(dryRun: true, sampleSize: 3))
        XCTAssertNil(error)
        XCTAssertEqual(result?.created, 9) // 51...60 less the disabled 60
        XCTAssertEqual(result?.updated, 1)
        XCTAssertEqual(result?.deleted, 2)
        XCTAssertTrue(lines.contains("Would create 9, first: user000051, user000052, user000053"), "\(lines)")
        XCTAssertTrue(lines.contains("Would update 1, first: user000003"), "\(lines)")
        XCTAssertTrue(lines.contains("Would delete 2, first: user000001, user000002"), "\(lines)")
        await assertEqual(try await f.users(), before)
        await assertEqual(try await f.syncLog().first?.hasPrefix("LDAP synchronization") == true, true)
        let audit = try await f.execute("SELECT count(*)::bigint AS n FROM audit_log WHERE target = 'Sales' AND action LIKE 'ldap_sync%'")
        XCTAssertEqual(try audit[0].decode("n", as: Int64.self), 0)
    }

    func testCancelBetweenPagesStopsTheSync() async throws {
        let f = try await fixture(generatedUsers(1...1_200))
        let reporter = RecordingReporter(cancelAfterProgress: 2)
        let (_, error, _) = await f.sync(f.settings(), LDAPSyncOptions(batchSize: 500), reporter: reporter)
        XCTAssertTrue(error is CancellationError, "\(String(describing: error))")
        let count = try await f.users().count
        XCTAssertLessThan(count, 1_080)
        let outcome = try await f.execute("SELECT outcome FROM sync_logs WHERE target = 'Sales'")
        XCTAssertEqual(try outcome.first?.decode("outcome", as: String.self), "canceled")
    }

    /// A DN with its RFC 4514 escapes (`\,` and `\2c` alike) decoded, lower-cased: servers choose their escapes.
    static func normalized(_ dn: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(dn.utf8)[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "\\"), let next = utf8.first else { bytes.append(byte); continue }
            if utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(next)
                utf8 = utf8.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self).lowercased()
    }
}
