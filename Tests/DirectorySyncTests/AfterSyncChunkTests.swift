import DirectoryFixtures
import Foundation
import Inventory
import LDAP
import Postgres
import Queue
import Runtime
import Secrets
@testable import Sync
import Synchronization
import TestSupport
import XCTest

/// The tail of an LDAP synchronization takes the directory's users a chunk at a time, so memory stays
/// flat as the directory grows: automatic move pages through the unplaced users, automatic
/// provisioning through the users it staged while reading. With a chunk of 3 and 21 users, each
/// crosses several chunk boundaries; what it does and says is what one chunk of all does and says.
/// Some user IDs mix cases, so the pages' keyset order is the database's order of user IDs
/// (`Bob` < `alice` < `bob2` < `user000001` in the tests' C collation), not one without case.
final class AfterSyncChunkTests: XCTestCase {
    nonisolated(unsafe) static var server: SlapdServer?

    override class func setUp() {
        super.setUp()
        // 21 enabled users (10 and 20 are disabled, and the domains do not read inactive users).
        server = try? SlapdServer(users: generatedUsers(1...20) + mixedCaseUsers)
    }

    /// Generated users 21, 22 and 31 under user IDs of mixed case: `Bob` (title Title1, department
    /// Dept1), `alice` (Title2, Dept2), `bob2` (Title3, Dept1).
    static let mixedCaseUsers = [(21, "Bob"), (22, "alice"), (31, "bob2")].map { index, userID in
        var user = DirectoryFixture.user(index)
        user.uid = userID
        user.sAMAccountName = userID
        return user
    }

    override class func tearDown() {
        server?.destroy()
        super.tearDown()
    }

    /// A fresh database with the directory as device `dir` and domain `Sales` reading it.
    struct Fixture {
        let app: Connection
        let owner: Connection
        let box: SecretBox

        static func make(_ server: SlapdServer, draft: DomainDraft = DomainDraft(name: "Sales")) async throws -> Fixture {
            let database = try await TestServer.freshDatabase()
            let fixture = Fixture(app: Connection(database.app), owner: Connection(database.owner), box: SecretBox(key: try SecretKey.random()))
            try await DeviceStore(fixture.app, secretBox: fixture.box).deviceAdd(
                DeviceDraft(name: "dir", kind: .directory, address: "127.0.0.1", port: server.port, adminUser: DirectoryFixture.syncDN,
                            directoryType: .activeDirectory, ldapSecurity: .ldap),
                password: Secret(DirectoryFixture.password), actor: "test")
            var draft = draft
            draft.directory = "dir"
            draft.searchBase = DirectoryFixture.peopleBase
            try await DomainStore(fixture.app).domainAdd(draft, actor: "test")
            return fixture
        }

        /// Runs an LDAP synchronization of `Sales` with the tail's chunk size; returns what it reported.
        func sync(chunkSize: Int, dryRun: Bool = false, orders: (any ProvisioningOrders)? = nil) async throws -> [String] {
            let settings = try await LDAPSyncSettings.load(domain: "Sales", connection: app, secretBox: box)
            let reporter = RecordingReporter()
            var synchronization = LDAPSynchronization(settings: settings, options: LDAPSyncOptions(dryRun: dryRun), database: app,
                                                      reporter: reporter, actor: "test", provisioningOrders: orders)
            synchronization.afterSyncChunkSize = chunkSize
            _ = try await synchronization.run()
            return reporter.lines
        }

        func query(_ sql: String) async throws -> Rows {
            try await owner.query(Statement("", sql))
        }

        /// The stored detailed log of the last LDAP synchronization of `Sales`.
        func syncLog() async throws -> [String] {
            try await query("SELECT line FROM sync_log_lines WHERE sync_type = 'ldap' AND target = 'Sales' ORDER BY line_no")
                .map { try $0.decode("line") }
        }
    }

    /// What one automatic move did, as a test compares it.
    struct MoveOutcome: Equatable {
        var placements: [String: String]
        /// The move's lines of the job's log and of the detailed log, in order.
        var reported: [String]
        var logged: [String]
        /// The users placed, by the `users.moved` audit lines (one per chunk that placed any).
        var audited: Int
    }

    func move(chunkSize: Int) async throws -> (outcome: MoveOutcome, auditLines: Int) {
        let server = try XCTUnwrap(Self.server, "slapd did not start")
        let fixture = try await Fixture.make(server)
        _ = try await fixture.query("""
            INSERT INTO devices (name, kind, version, address, port, admin_user) VALUES ('cucm', 'call_processor', '12.5', '127.0.0.1', 8443, 'admin')
            """)
        for area in ["SA_One", "SA_Two", "SA_Kept"] {
            _ = try await fixture.owner.query(Statement("", "INSERT INTO service_areas (domain, name, call_processor, device_pool) VALUES ('Sales', $1, 'cucm', 'DP')"),
                                              [area])
        }
        // Placed already: left alone.
        _ = try await fixture.query("INSERT INTO users (user_id, domain, source, last_name, service_area) VALUES ('user000005', 'Sales', 'manual', 'Five', 'SA_Kept')")
        let filters = MoveFilterStore(fixture.app)
        // Title1: users 1, 9, 13, 17, Bob (5 is placed); Dept1: 6, 11, 16, bob2 (1 and Bob took the first filter); the other 11 match none.
        _ = try await filters.moveFilterAdd(domain: "Sales", MoveFilter(name: "Title1", attribute: "title", pattern: "Title1", serviceArea: "SA_One"),
                                            position: nil, actor: "test")
        _ = try await filters.moveFilterAdd(domain: "Sales", MoveFilter(name: "Dept1", attribute: "department", pattern: "dept1", serviceArea: "SA_Two"),
                                            position: nil, actor: "test")
        _ = try await fixture.sync(chunkSize: chunkSize)
        // user000009 has a phone in another area: named, not moved.
        _ = try await fixture.query("""
            INSERT INTO device_objects (device, sync_kind, object_type, object_key, seen_by) VALUES ('cucm', 'user', 'Phone', 'CSFUSER9', 0)
            """)
        _ = try await fixture.query("""
            INSERT INTO user_services (user_id, service_type, device, sync_kind, object_type, object_key, domain, service_area)
            VALUES ('user000009', 'phone', 'cucm', 'user', 'Phone', 'CSFUSER9', 'Sales', 'SA_Kept')
            """)
        let turnedOn = try await filters.automaticMoveSet(domain: "Sales", on: true, actor: "test")
        XCTAssertTrue(turnedOn)
        let reported = try await fixture.sync(chunkSize: chunkSize).filter { $0.hasPrefix("Automatic move") }
        var placements: [String: String] = [:]
        for row in try await fixture.query("SELECT user_id, service_area FROM users WHERE service_area IS NOT NULL") {
            placements[try row.decode("user_id")] = try row.decode("service_area")
        }
        let audits: [String] = try await fixture.query("SELECT message FROM audit_log WHERE action = 'users.moved' ORDER BY id")
            .map { try $0.decode("message") }
        let audited = audits.compactMap { message in
            message.split(separator: ":").last?.split(separator: " ").first.flatMap { Int($0) }
        }.reduce(0, +)
        let logged = try await fixture.syncLog().filter { $0.hasPrefix("Automatic move") }
        return (MoveOutcome(placements: placements, reported: reported, logged: logged, audited: audited), audits.count)
    }

    /// Chunks of 3 over the 20 unplaced users (seven chunks): the same users placed, the same lines,
    /// the summary with the totals last; each chunk that placed users has its own audit line.
    func testAutomaticMoveInChunksDoesWhatOneChunkDoes() async throws {
        let (chunked, chunkedAudits) = try await move(chunkSize: 3)
        let (whole, wholeAudits) = try await move(chunkSize: 1000)

        var expected = ["user000005": "SA_Kept"]
        for user in [1, 13, 17] { expected[String(format: "user%06d", user)] = "SA_One" }
        for user in [6, 11, 16] { expected[String(format: "user%06d", user)] = "SA_Two" }
        expected["Bob"] = "SA_One"
        expected["bob2"] = "SA_Two"
        XCTAssertEqual(whole.placements, expected)
        let summary = "Automatic move of domain 'Sales': 8 users placed, 1 need a move by hand, 11 matched no filter"
        XCTAssertEqual(whole.logged.last, summary, whole.logged.joined(separator: "\n"))
        XCTAssertEqual(whole.reported, whole.logged)
        XCTAssertEqual(whole.logged.count, 10, "eight placed, one named, the summary")
        XCTAssertEqual(Array(whole.logged.prefix(3)), ["Automatic move: Bob placed in service area 'SA_One' by filter 'Title1' (title=Title1)",
                                                       "Automatic move: bob2 placed in service area 'SA_Two' by filter 'Dept1' (department=dept1)",
                                                       "Automatic move: user000001 placed in service area 'SA_One' by filter 'Title1' (title=Title1)"],
                       "in the database's order of user IDs: \(whole.logged.joined(separator: "\n"))")
        XCTAssertTrue(whole.logged.contains("Automatic move: user000009 matches filter 'Title1' (title=Title1) for service area 'SA_One' "
                                            + "but has services in 'SA_Kept': not moved (a move with services is a change order): ucp user move user000009 --filter"),
                      whole.logged.joined(separator: "\n"))
        XCTAssertEqual(whole.audited, 8)
        XCTAssertEqual(wholeAudits, 1)

        XCTAssertEqual(chunked, whole)
        // The 20 unplaced by threes: Bob alice bob2, 1-3, 4 6 7, 8 9 11, 12-14, 15-17, 18 19; the first six place users
        // (Bob, bob2; 1; 6; 11; 13; 16, 17).
        XCTAssertEqual(chunkedAudits, 6, "one audit line per chunk that placed users")
    }

    /// Automatic provisioning's order engine, as a test sees it: each submission recorded and
    /// accepted, but user000007's refused. With `dropStagingAfter`, the staged users are dropped
    /// from the sync's session once that user's order is submitted: the next page's read fails.
    final class RecordingOrders: ProvisioningOrders {
        private let submitted = Mutex<[ProvisioningOrder]>([])
        private let dropStagingAfter: String?
        var orders: [ProvisioningOrder] { submitted.withLock { $0 } }

        init(dropStagingAfter: String? = nil) {
            self.dropStagingAfter = dropStagingAfter
        }

        func submit(_ order: ProvisioningOrder, connection: Connection, actor: String, owner: QueueStore.Held?) async throws -> ProvisioningSubmitted {
            if order.user == "user000007" { throw InputError(field: "line", problem: "refused by the test") }
            let count = submitted.withLock { orders in
                orders.append(order)
                return orders.count
            }
            if order.user == dropStagingAfter {
                try await connection.withSession { session in try session.execute("DROP TABLE ldap_seen") }
            }
            let line: String
            switch order.line {
            case .number(let number): line = number
            case .fromBlock: line = "block"
            case .none: line = ""
            }
            return ProvisioningSubmitted(orderID: Int64(count), line: line, created: true)
        }
    }

    /// The domain: two service areas by filter (users 1, 5, 9, 13, 17, Bob by title; 2, 7, 12, alice by
    /// department, masked; the others none), Managers by employee number (1, 11 … 19), Staff the default.
    static let provisioningDomain = DomainDraft(
        name: "Sales",
        serviceAreaFilters: [NamedLDAPFilter(name: "SA_One", filter: "(title=Title1)", assignNewLine: true),
                             NamedLDAPFilter(name: "SA_Two", filter: "(department=Dept2)", mask: "54XX")],
        userRoleFilters: [NamedLDAPFilter(name: "Managers", filter: "(employeeNumber=E1*)")])

    static let jabber = "Cisco Unified Client Services Framework"

    func provisioningFixture() async throws -> Fixture {
        let fixture = try await Fixture.make(try XCTUnwrap(Self.server, "slapd did not start"), draft: Self.provisioningDomain)
        let roles = UserRoleStore(fixture.app)
        try await roles.roleAdd(domain: "Sales", UserRole(name: "Staff", phoneModel: Self.jabber), actor: "test")
        try await roles.roleAdd(domain: "Sales", UserRole(name: "Managers", phoneModel: Self.jabber, voicemail: true), actor: "test")
        _ = try await roles.provisioningSet(domain: "Sales", on: true, defaultRole: .some("Staff"), actor: "test")
        return fixture
    }

    /// Automatic provisioning's lines: it is the last part of the sync, so from its first line (the
    /// orders' header, a note, or the summary) to the end, the summary last.
    func provisioningLines(_ lines: [String]) -> [String] {
        guard let start = lines.firstIndex(where: { $0.hasPrefix("Automatic provisioning") || $0.hasPrefix("Dry run of the automatic provisioning") })
        else { return [] }
        return Array(lines[start...])
    }

    /// A run in chunks says what one chunk of all says, a page's lines as the page ends: the same
    /// summary, last; the same lines; the orders' rows in user ID order after their header, once;
    /// the notes in user ID order.
    func assertSameProvisioning(_ chunked: [String], _ whole: [String], file: StaticString = #filePath, line: UInt = #line) {
        let text = "chunked:\n" + chunked.joined(separator: "\n") + "\nwhole:\n" + whole.joined(separator: "\n")
        XCTAssertEqual(chunked.last, whole.last, text, file: file, line: line)
        XCTAssertEqual(chunked.sorted(), whole.sorted(), text, file: file, line: line)
        func notes(_ lines: [String]) -> [String] { lines.filter { $0.hasPrefix("Automatic provisioning: ") } }
        XCTAssertEqual(notes(chunked), notes(whole), text, file: file, line: line)
        func table(_ lines: [String]) -> [String] {
            lines.dropLast().filter { !$0.hasPrefix("Automatic provisioning: ") }
        }
        XCTAssertEqual(table(chunked), table(whole), text, file: file, line: line)
        XCTAssertEqual(table(chunked).filter { $0.hasPrefix("Automatic provisioning") }.count, table(chunked).isEmpty ? 0 : 1,
                       "one header: \(text)", file: file, line: line)
        XCTAssertTrue(table(chunked).first?.hasPrefix("Automatic provisioning") ?? true, "the header first: \(text)", file: file, line: line)
    }

    /// Chunks of 3 over the 21 users read (seven chunks): the dry run lists the same orders and writes
    /// nothing; the real run submits the same orders and says the same, each page's lines written as
    /// the page ends; a second run finds none awaiting.
    func testAutomaticProvisioningInChunksDoesWhatOneChunkDoes() async throws {
        let chunkedFixture = try await provisioningFixture(), wholeFixture = try await provisioningFixture()

        let dryChunked = provisioningLines(try await chunkedFixture.sync(chunkSize: 3, dryRun: true, orders: RecordingOrders()))
        let dryWhole = provisioningLines(try await chunkedFixture.sync(chunkSize: 1000, dryRun: true, orders: RecordingOrders()))
        XCTAssertEqual(dryChunked.last, "Dry run of the automatic provisioning of domain 'Sales': 21 users await it, 10 orders would be queued, 11 without an order",
                       dryChunked.joined(separator: "\n"))
        assertSameProvisioning(dryChunked, dryWhole)
        XCTAssertTrue(dryChunked.contains("user000001, SA_One, the next free number of the block, Managers, Staff: phone Cisco Unified Client Services Framework, voicemail"),
                      dryChunked.joined(separator: "\n"))
        XCTAssertTrue(dryChunked.contains("user000012, SA_Two, 5412, Managers, Staff: phone Cisco Unified Client Services Framework, voicemail"),
                      dryChunked.joined(separator: "\n"))
        await assertEqual(try await chunkedFixture.query("SELECT count(*)::bigint AS n FROM users")[0].decode("n", as: Int64.self), 0,
                          "a dry run writes no user")

        let chunkedOrders = RecordingOrders(), wholeOrders = RecordingOrders()
        let chunked = provisioningLines(try await chunkedFixture.sync(chunkSize: 3, orders: chunkedOrders))
        let whole = provisioningLines(try await wholeFixture.sync(chunkSize: 1000, orders: wholeOrders))
        XCTAssertEqual(whole.last, "Automatic provisioning of domain 'Sales': 21 users await it, 9 orders queued, 12 without an order",
                       whole.joined(separator: "\n"))
        assertSameProvisioning(chunked, whole)
        XCTAssertEqual(whole.count, 1 + 9 + 12 + 1, "header, nine orders, twelve reasons, summary")
        let refused = "Automatic provisioning: user000007: no order: line: refused by the test"
        XCTAssertTrue(whole.contains(refused), whole.joined(separator: "\n"))
        XCTAssertTrue(whole.contains("Automatic provisioning: user000003: no order: no service area LDAP filter matches"), whole.joined(separator: "\n"))
        // Page by page: user000007's reason (the fourth page: 7, 8, 9) before user000009's order (the
        // same page) and user000012's (a later page); in one page all orders come first.
        func position(_ lines: [String], _ prefix: String) -> Int { lines.firstIndex { $0.hasPrefix(prefix) } ?? -1 }
        XCTAssertLessThan(position(chunked, refused), position(chunked, "user000012, "), chunked.joined(separator: "\n"))
        XCTAssertGreaterThan(position(chunked, refused), position(chunked, "user000009, "), chunked.joined(separator: "\n"))
        XCTAssertGreaterThan(position(whole, refused), position(whole, "user000012, "), whole.joined(separator: "\n"))
        // The orders, but for the user records' generation (each database has its own).
        func described(_ orders: [ProvisioningOrder]) -> [String] {
            orders.map { "\($0.user) \($0.serviceArea) \($0.line) \($0.services.name)" }
        }
        XCTAssertEqual(described(chunkedOrders.orders), described(wholeOrders.orders))
        XCTAssertEqual(chunkedOrders.orders.map(\.user), ["Bob", "alice", "user000001", "user000002", "user000005", "user000009", "user000012",
                                                          "user000013", "user000017"],
                       "in the database's order of user IDs")
        XCTAssertTrue(whole.contains("alice, 2, SA_Two, 5422"), whole.joined(separator: "\n"))
        await assertEqual(try await chunkedFixture.syncLog().suffix(chunked.count).map { $0 }, chunked, "the detailed log ends with the same lines")

        // Submitted users await no more; the refused one and those without an order still do.
        let again = provisioningLines(try await chunkedFixture.sync(chunkSize: 3, orders: chunkedOrders))
        XCTAssertEqual(again.last, "Automatic provisioning of domain 'Sales': 12 users await it, 0 orders queued, 12 without an order",
                       again.joined(separator: "\n"))
        XCTAssertEqual(chunkedOrders.orders.count, 9)
    }

    /// A page whose read fails after earlier pages submitted orders: those pages' lines (their orders,
    /// their reasons) are in the job's log and the detailed log, and the failure after them.
    func testAutomaticProvisioningFailingOnALaterPageKeepsTheLinesOfThePagesBefore() async throws {
        let fixture = try await provisioningFixture()
        let orders = RecordingOrders(dropStagingAfter: "user000002")
        let lines = provisioningLines(try await fixture.sync(chunkSize: 3, orders: orders))
        XCTAssertEqual(orders.orders.map(\.user), ["Bob", "alice", "user000001", "user000002"])
        // The first two pages (Bob, alice, bob2; user000001 … 3), then the third's read fails.
        XCTAssertEqual(Array(lines.dropLast()), [
            "Automatic provisioning orders were queued for the following users: UserId, OrderId, ServiceArea, Number",
            "Bob, 1, SA_One, block",
            "alice, 2, SA_Two, 5422",
            "Automatic provisioning: bob2: no order: no service area LDAP filter matches",
            "user000001, 3, SA_One, block",
            "user000002, 4, SA_Two, 5402",
            "Automatic provisioning: user000003: no order: no service area LDAP filter matches",
        ], lines.joined(separator: "\n"))
        XCTAssertTrue(lines.last?.hasPrefix("Automatic provisioning of domain 'Sales' failed: ") == true, lines.joined(separator: "\n"))
        await assertEqual(try await fixture.syncLog().suffix(lines.count).map { $0 }, lines, "the detailed log has them too")
    }

    /// The service area and user role filters select on the entries read what they would select on
    /// the server, by the server's matching rules read from its schema: slapd's telephoneNumber
    /// ignores spaces, hyphens and case (user 3's number is `+1 (408) 555-0003`), caseIgnoreMatch
    /// ignores leading, trailing and repeated spaces (users 2, 6, 14, 18 and alice have Title2). The
    /// same filters as searches select the same users. Lower-casing alone matched none of them.
    func testFiltersMatchByTheDirectorysMatchingRules() async throws {
        let draft = DomainDraft(
            name: "Sales",
            serviceAreaFilters: [NamedLDAPFilter(name: "SA_Phone", filter: "(telephoneNumber=+1\\28408\\295550003)", assignNewLine: true),
                                 NamedLDAPFilter(name: "SA_Title", filter: "(title=  TITLE2 )", assignNewLine: true)],
            userRoleFilters: [NamedLDAPFilter(name: "Managers", filter: "(telephoneNumber=*555 00-03)")])
        let fixture = try await Fixture.make(try XCTUnwrap(Self.server, "slapd did not start"), draft: draft)
        let roles = UserRoleStore(fixture.app)
        try await roles.roleAdd(domain: "Sales", UserRole(name: "Staff", phoneModel: Self.jabber), actor: "test")
        try await roles.roleAdd(domain: "Sales", UserRole(name: "Managers", phoneModel: Self.jabber, voicemail: true), actor: "test")
        _ = try await roles.provisioningSet(domain: "Sales", on: true, defaultRole: .some("Staff"), actor: "test")

        let lines = provisioningLines(try await fixture.sync(chunkSize: 100, dryRun: true, orders: RecordingOrders()))
        let text = lines.joined(separator: "\n")
        let placed = lines.filter { $0.contains(", SA_") }.map { String($0.prefix { $0 != "," }) + " " + ($0.contains("SA_Phone") ? "SA_Phone" : "SA_Title") }
        XCTAssertEqual(placed.sorted(), ["alice SA_Title", "user000002 SA_Title", "user000003 SA_Phone", "user000006 SA_Title",
                                         "user000014 SA_Title", "user000018 SA_Title"], text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("user000003, SA_Phone, ") && $0.contains("Managers, Staff") }, text)
        XCTAssertTrue(lines.contains { $0.hasPrefix("user000002, SA_Title, ") && !$0.contains("Managers") }, text)

        // The server agrees.
        let directory = try await LDAPConnection.connect(LDAPConfiguration(
            primary: try XCTUnwrap(LDAPEndpoint(url: try XCTUnwrap(Self.server).url)), bindDN: DirectoryFixture.rootDN,
            password: Secret(DirectoryFixture.password)))
        func selected(_ filter: String) async throws -> Set<String> {
            var ids = Set<String>()
            for try await page in directory.pages(LDAPSearch(base: DirectoryFixture.peopleBase, scope: .subtree, filter: filter,
                                                             attributes: ["sAMAccountName"], pageSize: 100)) {
                for entry in page.entries { ids.formUnion(entry["sAMAccountName"]) }
            }
            return ids
        }
        let phone = try await selected("(telephoneNumber=+1\\28408\\295550003)")
        let title = try await selected("(&(title=  TITLE2 )(!(userAccountControl:1.2.840.113556.1.4.803:=2)))")
        await directory.close()
        XCTAssertEqual(phone, ["user000003"])
        XCTAssertEqual(title, ["alice", "user000002", "user000006", "user000014", "user000018"])
    }
}
