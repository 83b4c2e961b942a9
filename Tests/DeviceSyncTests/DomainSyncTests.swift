import AXL
import Foundation
import Inventory
import Postgres
import Queue
import TestSupport
import XCTest

/// Domain synchronization (issue 11) through a real worker: `ucp devsim` stands for Unified CM
/// ("TestCCM") and Unity Connection ("unity"), their infrastructure and user syncs fill the
/// inventory, then `sync.domain` builds the user records of domain "Cisco" by its rules.
final class DomainSyncTests: XCTestCase {
    var harness: SyncHarness!

    override func setUp() async throws {
        harness = try await SyncHarness()
        try harness.startWorker()
    }

    override func tearDown() async throws {
        harness?.stop()
    }

    static let domain = "Cisco"
    static let callProcessor = "TestCCM"

    // MARK: fixtures

    @discardableResult
    func ucp(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        let result = try harness.ucp(arguments)
        XCTAssertEqual(result.status, 0, "ucp \(arguments.joined(separator: " ")): \(result.stdout)\(result.stderr)", file: file, line: line)
        return result
    }

    func sql(_ text: String) async throws -> Rows {
        try await Connection(harness.database.owner).query(Statement("", text))
    }

    func count(_ text: String) async throws -> Int {
        Int(try await sql(text)[0].decode("n", as: Int64.self))
    }

    /// A simulator of `users` users with `fixtures` applied on it over
    /// AXL; registered as the call processor and the message processor, both synchronized; the
    /// domain with one service area per site (device pool DP_SiteNN, partition PT_Internal, the
    /// message processor) unless `areas` says which device pools get one.
    @discardableResult
    func prepare(users: Int, areas: [Int]? = nil, fixtures: (DeviceSimulatorProcess) throws -> Void = { _ in }) async throws -> DeviceSimulatorProcess {
        let sim = try DeviceSimulatorProcess.start(for: self, users: users)
        try fixtures(sim)
        try await harness.register(Self.callProcessor, kind: .callProcessor, simulator: sim)
        try await harness.register("unity", kind: .messageProcessor, simulator: sim)
        try ucp(["device", "test", "unity", "--wait"])
        for (kind, device) in [(DeviceSyncKind.infra, Self.callProcessor), (.user, Self.callProcessor), (.infra, "unity"), (.user, "unity")] {
            let (result, _) = try await harness.sync(kind, device)
            XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        }
        try ucp(["domain", "add", "--name", Self.domain])
        for site in areas ?? Array(1...10) {
            let name = "Site" + String(format: "%02d", site)
            try ucp(["service-area", "add", "--domain", Self.domain, "--name", "SA_" + name, "--call-processor", Self.callProcessor,
                     "--device-pool", "DP_" + name, "--partition", "PT_Internal", "--message-processor", "unity"])
        }
        return sim
    }

    func rules(_ rules: String...) throws {
        try ucp(["domain", "edit", Self.domain] + rules.flatMap { ["--rule", $0] })
    }

    func domainSync(dryRun: Bool = false) throws -> CommandResult {
        try ucp(["submit", "sync", "domain", "--domain", Self.domain, "--wait"] + (dryRun ? ["--dry-run"] : []))
    }

    func log() throws -> [String] {
        try ucp(["domain", "log", Self.domain, "--kind", "domain"]).stdout.split(separator: "\n").map(String.init)
    }

    func userIDs() async throws -> [String] {
        try await sql("SELECT user_id FROM users WHERE domain = 'Cisco' ORDER BY user_id").map { try $0.decode("user_id") }
    }

    /// The AXL and CUPI requests the simulator has served so far (`axl=N cupi=M`).
    func deviceRequests(_ sim: DeviceSimulatorProcess) throws -> String {
        try sim.control("requests")
    }

    /// Everything the sync writes, to compare two runs: users and services with their update times.
    func snapshot() async throws -> [String] {
        try await sql("""
            SELECT format('%s %s %s', user_id, updated_at, coalesce(first_name, '')) AS r FROM users
            UNION ALL SELECT format('%s %s %s %s %s %s', user_id, service_type, object_key, service_area, detail, updated_at) FROM user_services
            ORDER BY 1
            """).map { try $0.decode("r") }
    }

    // MARK: tests

    /// Sync All Users: every user with a phone, its line, voicemail for those with a mailbox, Extension
    /// Mobility access, remote destination profiles with their destinations and IM and Presence,
    /// each placed in its site's service area; the seed's message 2 for lines without a mailbox;
    /// no device request; a second run writes nothing; `ucp users show` groups by service area.
    func testSyncAllUsersBuildsEveryServiceAndASecondRunWritesNothing() async throws {
        let sim = try await prepare(users: 20)
        try rules("sync-all-users")
        let before = try deviceRequests(sim)
        XCTAssertTrue(before.hasPrefix("axl=") && !before.hasPrefix("axl=0 ") && !before.hasSuffix("cupi=0\n"),
                      "the device syncs' requests are counted: \(before)")
        let run = try domainSync()
        XCTAssertEqual(try deviceRequests(sim), before, "the domain synchronization sent a device request")
        XCTAssertTrue(run.stdout.contains("succeeded"), run.stdout)

        let users = try await userIDs()
        XCTAssertEqual(users, (0..<20).map { String(format: "user%06d", $0) })
        let types = try await sql("SELECT service_type, count(*)::bigint AS n FROM user_services GROUP BY 1")
        var byType: [String: Int] = [:]
        for row in types { byType[try row.decode("service_type")] = Int(try row.decode("n", as: Int64.self)) }
        XCTAssertEqual(byType["phone"], 20)
        XCTAssertEqual(byType["line"], 20)
        XCTAssertEqual(byType["voicemail"], 10, "every 2nd user has a mailbox whose DTMF access ID is its line")
        XCTAssertEqual(byType["em_access"], 2, "users 0 and 10 have a device profile subscribed to Extension Mobility")
        XCTAssertEqual(byType["remote_destination_profile"], 4)
        XCTAssertEqual(byType["remote_destination"], 4)
        XCTAssertEqual(byType["im_presence"], 20)
        // Placed by device pool: user 3 is at Site04.
        let placed = try await sql("SELECT DISTINCT service_area FROM user_services WHERE user_id = 'user000003'").map { try $0.decode("service_area", as: String.self) }
        XCTAssertEqual(placed, ["SA_Site04"])

        let lines = try log()
        XCTAssertTrue(lines.contains("No matching voicemail info found for directory number 1000001"), lines.joined(separator: "\n"))
        XCTAssertFalse(lines.contains("No matching voicemail info found for directory number 1000002"))
        let summary = lines.first { $0.hasPrefix("Domain synchronization of domain 'Cisco'") } ?? ""
        XCTAssertTrue(summary.contains("users 20 created, 0 updated, 0 unchanged, 0 skipped"), summary)
        XCTAssertTrue(summary.contains("services 80 added, 0 updated, 0 removed, 0 unplaced"), summary)

        let show = try ucp(["users", "show", "user000000"])
        XCTAssertTrue(show.stdout.contains("service area SA_Site01"), show.stdout)
        XCTAssertTrue(show.stdout.contains("em_access"), show.stdout)
        let list = try ucp(["users", "list", "--domain", Self.domain])
        XCTAssertTrue(list.stdout.contains("SERVICES"), list.stdout)
        XCTAssertTrue(list.stdout.contains("user000000"), list.stdout)

        // A second run: the same records, not one row rewritten.
        let first = try await snapshot()
        let again = try domainSync()
        XCTAssertTrue(again.stdout.contains("succeeded"), again.stdout)
        await assertEqual(try await snapshot(), first)
        let secondSummary = try log().first { $0.hasPrefix("Domain synchronization") } ?? ""
        XCTAssertTrue(secondSummary.contains("users 0 created, 0 updated, 20 unchanged"), secondSummary)
        XCTAssertTrue(secondSummary.contains("services 0 added, 0 updated, 0 removed"), secondSummary)
        XCTAssertEqual(try deviceRequests(sim), before)
    }
    /// Each of the seed's three messages, word for word, from a fixture built to trigger it: a
    /// Unified CM user `TestUser` while the inventory has `testuser` (a case-only clash: skipped with
    /// its services), a device profile line 123400000 in the None partition, which no service area
    /// holds and no mailbox answers. Also: `admin` restricted, a user of another domain left there,
    /// Extension Mobility access only for a profile subscribed to the service.
    func testSeedMessagesCaseClashRestrictedUsersAndUsersOfAnotherDomain() async throws {
        try await prepare(users: 20) { sim in
            func add(_ operation: String, _ element: String, _ body: @escaping (inout XMLWriter) -> Void) throws {
                XCTAssertEqual(try sim.axl(operation) { writer in
                    writer.open(element)
                    body(&writer)
                    writer.close(element)
                }, 200, operation)
            }
            for userid in ["TestUser", "admin"] {
                try add("addUser", "user") { $0.element("userid", userid); $0.element("lastName", userid) }
            }
            try add("addPhone", "phone") { writer in
                writer.element("name", "SEP00AA00BB00CC"); writer.element("product", "Cisco 8845"); writer.element("devicePoolName", "DP_Site01")
                writer.element("ownerUserName", "TestUser")
            }
            try add("addLine", "line") { $0.element("pattern", "123400000"); $0.element("usage", "Device") }
            func profile(_ name: String, user: String, number: String, partition: String, service: String) throws {
                try add("addDeviceProfile", "deviceProfile") { writer in
                    writer.element("name", name); writer.element("product", "Cisco 8845"); writer.element("loginUserId", user)
                    writer.open("lines"); writer.open("line"); writer.element("index", "1"); writer.open("dirn")
                    writer.element("pattern", number); writer.element("routePartitionName", partition)
                    writer.close("dirn"); writer.close("line"); writer.close("lines")
                    writer.open("services"); writer.open("service"); writer.element("telecasterServiceName", service)
                    writer.close("service"); writer.close("services")
                }
            }
            try profile("UDP_Seed", user: "user000001", number: "123400000", partition: "", service: "Extension Mobility")
            try profile("UDP_NoEM", user: "user000003", number: "1000003", partition: "PT_Internal", service: "Corporate Directory")
        }
        try ucp(["domain", "add", "--name", "Other"])
        _ = try await sql("""
            INSERT INTO users (user_id, domain, source) VALUES ('testuser', 'Cisco', 'manual'), ('user000004', 'Other', 'manual')
            """)
        try rules("sync-all-users")
        try domainSync()
        let lines = try log()
        let text = lines.joined(separator: "\n")
        XCTAssertTrue(lines.contains("Duplicate username encountered. So skipping the creation of this user: TestUser from the Call Processor: TestCCM"), text)
        XCTAssertTrue(lines.contains("No matching voicemail info found for directory number 123400000"), text)
        XCTAssertTrue(lines.contains("The device profile line Line 1 - 123400000 could not be added to the customer record because a service area with the following properties could not be determined in the domain Cisco: Call Processor: TestCCM"), text)
        XCTAssertTrue(lines.contains("Restricted user admin from the Call Processor: TestCCM: admin and globaladmin are never changed by a synchronization"), text)
        XCTAssertTrue(lines.contains("The user user000004 was not synchronized because it is already present in another Domain: Other"), text)
        XCTAssertTrue(lines.contains("The device profile UDP_NoEM of user user000003 is not subscribed to the Extension Mobility service: it is not added as Extension Mobility access"), text)
        let summary = lines.first { $0.hasPrefix("Domain synchronization") } ?? ""
        XCTAssertTrue(summary.contains("3 skipped (1 duplicate username, 1 restricted, 1 in another domain, 0 not matched by the rules)"), summary)

        // The clash: neither a second user nor the clashing account's phone.
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM users WHERE lower(user_id) = 'testuser'"), 1)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE user_id = 'testuser'"), 0)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM users WHERE user_id IN ('admin', 'globaladmin')"), 0)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM users WHERE user_id = 'user000004' AND domain = 'Other'"), 1)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE user_id = 'user000004'"), 0)
        // Extension Mobility access: the subscribed profile, not the other.
        let profiles = try await sql("SELECT object_key FROM user_services WHERE service_type = 'em_access' ORDER BY 1").map { try $0.decode("object_key", as: String.self) }
        XCTAssertEqual(profiles, ["UDP_Seed", "UDP_user000000", "UDP_user000010"])
        // The unplaced line is not in the record; the placed services are.
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE object_key LIKE '123400000%'"), 0)
        // Voicemail matched: user000002's mailbox (DTMF 1000002) on its line; user000001 has none.
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE service_type = 'voicemail' AND user_id = 'user000002' AND object_key = 'user000002'"), 1)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE service_type = 'voicemail' AND user_id = 'user000001'"), 0)

        // The phone TestUser's account holds is no user's: an orphan.
        let orphans = try ucp(["domain", "orphans", Self.domain, "--csv"])
        XCTAssertTrue(orphans.stdout.contains("TestCCM,SEP00AA00BB00CC,"), orphans.stdout)
        XCTAssertFalse(orphans.stdout.contains("SEP001122000000"), orphans.stdout)
    }

    /// A shared line gives its users the line, but the mailbox it answers stays its owner's: the
    /// user whose account the mailbox's alias names. It used to go to every user holding the number,
    /// so a delete order of the assistant sharing a line would have removed the manager's mailbox.
    func testASharedLineDoesNotGiveAwayItsOwnersMailbox() async throws {
        try await prepare(users: 4, areas: [1, 2, 3, 4]) { sim in
            // user000001 (no mailbox) gets a second phone carrying user000002's line 1000002 (mailbox user000002).
            XCTAssertEqual(try sim.axl("addPhone") { writer in
                writer.open("phone")
                writer.element("name", "SEP00AA00BB00DD"); writer.element("product", "Cisco 8845")
                writer.element("devicePoolName", "DP_Site02"); writer.element("ownerUserName", "user000001")
                writer.open("lines"); writer.open("line"); writer.element("index", "1"); writer.open("dirn")
                writer.element("pattern", "1000002"); writer.element("routePartitionName", "PT_Internal")
                writer.close("dirn"); writer.close("line"); writer.close("lines")
                writer.close("phone")
            }, 200)
        }
        try rules("sync-all-users")
        try domainSync()
        func holders(_ type: String, _ key: String) async throws -> [String] {
            try await sql("SELECT user_id FROM user_services WHERE service_type = '\(type)' AND object_key = '\(key)' ORDER BY 1")
                .map { try $0.decode("user_id") }
        }
        await assertEqual(try await holders("line", "1000002/PT_Internal"), ["user000001", "user000002"], "the shared line: both")
        await assertEqual(try await holders("voicemail", "user000002"), ["user000002"], "the mailbox: its owner only")
        XCTAssertFalse(try log().contains("No matching voicemail info found for directory number 1000002"))
    }

    /// A record no account spells as it does (`testuser`; Unified CM has `TestUser`) is skipped with the
    /// seed's message 1, and its services are "not synchronized": left as they are. It used to be
    /// synchronized with no device, which removed every service it held and blanked its attributes.
    func testACaseOnlyClashLeavesTheRecordAndItsServicesAlone() async throws {
        try await prepare(users: 4, areas: [1, 2, 3, 4]) { sim in
            XCTAssertEqual(try sim.axl("addUser") { writer in
                writer.open("user"); writer.element("userid", "TestUser"); writer.element("lastName", "TestUser"); writer.close("user")
            }, 200)
            XCTAssertEqual(try sim.axl("addPhone") { writer in
                writer.open("phone")
                writer.element("name", "SEP00AA00BB00CC"); writer.element("product", "Cisco 8845")
                writer.element("devicePoolName", "DP_Site01"); writer.element("ownerUserName", "TestUser")
                writer.close("phone")
            }, 200)
        }
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name) VALUES ('testuser', 'Cisco', 'device', 'Tess')")
        _ = try await sql("""
            INSERT INTO user_services (user_id, service_type, device, sync_kind, object_type, object_key, domain, service_area)
            VALUES ('testuser', 'phone', 'TestCCM', 'user', 'Phone', 'SEP00AA00BB00CC', 'Cisco', 'SA_Site01')
            """)
        try rules("sync-all-users")
        try domainSync()
        let lines = try log()
        XCTAssertTrue(lines.contains("Duplicate username encountered. So skipping the creation of this user: TestUser from the Call Processor: TestCCM"),
                      lines.joined(separator: "\n"))
        XCTAssertFalse(lines.contains { $0.contains("from user testuser") }, lines.joined(separator: "\n"))
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE user_id = 'testuser' AND object_key = 'SEP00AA00BB00CC'"), 1)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM users WHERE user_id = 'testuser' AND first_name = 'Tess'"), 1)
        await assertEqual(try await userIDs(), ["testuser", "user000000", "user000001", "user000002", "user000003"])
    }

    /// The seed's priority: Sync All Users overrides the Match rules; Sync Only Existing Users
    /// creates nobody; the Match rules are additive.
    func testRulePriorityAndAdditivity() async throws {
        try await prepare(users: 20)
        func reset() async throws {
            _ = try await sql("DELETE FROM user_services")
            _ = try await sql("DELETE FROM users")
        }
        func created(_ rules: String...) async throws -> [Int] {
            try await reset()
            try ucp(["domain", "edit", Self.domain] + rules.flatMap { ["--rule", $0] })
            try domainSync()
            return try await userIDs().compactMap { Int($0.dropFirst(4)) }
        }
        // Departments cycle through 8 (Sales: 0, 8, 16); sites through 10 (Site01: 0, 10).
        await assertEqual(try await created("match-department=Sales"), [0, 8, 16])
        await assertEqual(try await created("match-location=LOC_Site01"), [0, 10])
        await assertEqual(try await created("match-device-pool=DP_Site03"), [2, 12])
        await assertEqual(try await created("match-department=Sales", "match-location=LOC_Site01"), [0])
        await assertEqual(try await created("match-location=LOC_Site02", "match-device-pool=DP_Site03"), [])
        await assertEqual(try await created("sync-all-users", "match-department=Sales"), Array(0..<20))
        // Only existing users: none created, the existing one gets its services.
        try await reset()
        _ = try await sql("INSERT INTO users (user_id, domain, source) VALUES ('user000005', 'Cisco', 'manual')")
        try rules("sync-existing-users", "match-department=Sales")
        try domainSync()
        await assertEqual(try await userIDs(), ["user000005"])
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE user_id = 'user000005' AND service_type = 'phone'"), 1)
        let summary = try log().first { $0.hasPrefix("Domain synchronization") } ?? ""
        XCTAssertTrue(summary.contains("users 0 created, 0 updated, 1 unchanged, 19 skipped"), summary)
    }

    /// The coresident rules: Unity Connection users without a Unified CM account come in only with
    /// Sync All Users (Unity Connection); user attributes come from Unity Connection only with Sync
    /// Primary User From Unity Connection.
    func testCoresidentUnityRules() async throws {
        try await prepare(users: 20) { sim in
            // user000002 (a mailbox) has no Unified CM account; user000000 is renamed on Unified CM.
            XCTAssertEqual(try sim.axl("removeUser") { $0.element("userid", "user000002") }, 200)
            XCTAssertEqual(try sim.axl("updateUser") { $0.element("userid", "user000000"); $0.element("firstName", "Cucm") }, 200)
        }
        try rules("match-department=Sales")
        try domainSync()
        await assertEqual(try await userIDs(), ["user000000", "user000008", "user000016"])
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM users WHERE user_id = 'user000000' AND first_name = 'Cucm'"), 1)

        try rules("match-department=Sales", "sync-all-unity-users", "sync-primary-user-from-unity")
        try domainSync()
        await assertEqual(try await userIDs(), ["user000000", "user000002", "user000008", "user000016"])
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE user_id = 'user000002' AND service_type = 'voicemail'"), 1)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM users WHERE user_id = 'user000000' AND first_name = 'Anna'"), 1)
    }

    /// A dry run reports what it would do and writes nothing; a service gone from the device is
    /// removed and the log says so; a phone in a device pool no service area has is not placed.
    func testDryRunRemovedServicesAndNoMatchingServiceArea() async throws {
        let sim = try await prepare(users: 20, areas: Array(1...9))
        try rules("sync-all-users")
        let dry = try domainSync(dryRun: true)
        XCTAssertTrue(dry.stdout.contains("Dry run of the domain synchronization of domain 'Cisco': users 20 would be created"), dry.stdout)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM users"), 0)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services"), 0)
        XCTAssertEqual(try harness.ucp(["domain", "log", Self.domain, "--kind", "domain"]).stdout,
                       "domain 'Cisco': no domain synchronization has run yet\n")

        try domainSync()
        let lines = try log()
        XCTAssertTrue(lines.contains("The phone SEP001122000009 could not be added to the customer record because a service area with the following properties could not be determined in the domain Cisco: Call Processor: TestCCM, Device Pool: DP_Site10"),
                      lines.joined(separator: "\n"))
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE service_type = 'phone'"), 18)

        // The phone of user000005 goes; after the user sync, the domain sync removes it and its line.
        XCTAssertEqual(try sim.axl("removePhone") { $0.element("name", "SEP001122000005") }, 200)
        let (user, _) = try await harness.sync(.user, Self.callProcessor)
        XCTAssertEqual(user.status, 0)
        let before = try await snapshot()
        let dryAgain = try domainSync(dryRun: true)
        XCTAssertTrue(dryAgain.stdout.contains("Removed phone SEP001122000005 from user user000005"), dryAgain.stdout)
        await assertEqual(try await snapshot(), before)
        try domainSync()
        let after = try log()
        XCTAssertTrue(after.contains("Removed phone SEP001122000005 from user user000005: the device no longer has it for this user"), after.joined(separator: "\n"))
        XCTAssertTrue(after.contains("Removed line 1000005/PT_Internal from user user000005: the device no longer has it for this user"), after.joined(separator: "\n"))
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE user_id = 'user000005' AND service_type IN ('phone', 'line')"), 0)
    }

    /// Without a required rule the sync is refused before it is queued, naming the command that sets one.
    func testASyncWithoutARequiredRuleIsRefused() async throws {
        try await prepare(users: 2, areas: [1])
        try rules("sync-all-unity-users")
        let refused = try harness.ucp(["submit", "sync", "domain", "--domain", Self.domain])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("you are required to enable one of the rules"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("ucp domain edit 'Cisco' --rule sync-all-users"), refused.stderr)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM jobs WHERE type = 'sync.domain'"), 0)
    }
    /// A user deleted from the inventory ("Delete user in Provisioning") keeps its services there,
    /// without a user; the next domain synchronization gives them back to the user it creates again.
    func testServicesOfADeletedUserAreKeptAndGivenBack() async throws {
        try await prepare(users: 4, areas: [1, 2, 3, 4])
        try rules("sync-all-users")
        try domainSync()
        let held = try await count("SELECT count(*)::bigint AS n FROM user_services WHERE user_id = 'user000003'")
        XCTAssertEqual(held, 3, "phone, line, IM and Presence")
        // Its service area holds them: it cannot be removed (one line naming the field, nothing removed).
        let remove = try harness.ucp(["service-area", "remove", "--domain", Self.domain, "SA_Site04"])
        XCTAssertNotEqual(remove.status, 0)
        XCTAssertTrue(remove.stderr.contains("service area 'SA_Site04': cannot be removed while 3 user services are placed in it"), remove.stderr)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM service_areas WHERE name = 'SA_Site04'"), 1)
        _ = try await sql("DELETE FROM users WHERE user_id = 'user000003'")
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE user_id IS NULL"), held)
        try domainSync()
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE user_id IS NULL"), 0)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE user_id = 'user000003'"), held)
    }
    /// The same inventory gives the same records whatever the batching: batches of 3 users build
    /// exactly what one batch of all builds.
    func testTheRecordsDoNotDependOnTheBatches() async throws {
        try await prepare(users: 20)
        try rules("sync-all-users")
        func records() async throws -> [String] {
            try await sql("""
                SELECT format('%s %s %s %s %s %s', user_id, service_type, device, object_key, service_area, detail) AS r
                  FROM user_services ORDER BY 1
                """).map { try $0.decode("r") }
        }
        try ucp(["submit", "job", "sync.domain", "--target", Self.domain, "--payload", "{\"batch_size\": 3}", "--wait"])
        let small = try await records()
        XCTAssertEqual(small.count, 80)
        _ = try await sql("DELETE FROM user_services")
        _ = try await sql("DELETE FROM users")
        try ucp(["submit", "job", "sync.domain", "--target", Self.domain, "--payload", "{\"batch_size\": 1000}", "--wait"])
        await assertEqual(try await records(), small)
    }
}
