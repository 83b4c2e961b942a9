import Directory
import DirectoryFixtures
import Foundation
import Inventory
import Postgres
import Runtime
import Secrets
import Sync
import TestSupport
import XCTest

/// The automatic move after an LDAP synchronization against slapd (issue 15 item 8): filters on the
/// LDAP attributes the domain's field mapping reads, tried in order; only users not placed yet move;
/// off, nobody moves. An attribute the domain does not read is refused.
final class MoveFilterLDAPTests: XCTestCase {
    nonisolated(unsafe) static var server: SlapdServer?

    override class func setUp() {
        super.setUp()
        server = try? SlapdServer(users: generatedUsers(1...20))
    }

    override class func tearDown() {
        server?.destroy()
        super.tearDown()
    }

    func testAutomaticMoveAfterAnLDAPSyncPlacesUnplacedUsersByTheirLDAPAttributes() async throws {
        let server = try XCTUnwrap(Self.server, "slapd did not start")
        let database = try await TestServer.freshDatabase()
        let box = SecretBox(key: try SecretKey.random())
        let app = Connection(database.app), owner = Connection(database.owner)
        try await DeviceStore(app, secretBox: box).deviceAdd(
            DeviceDraft(name: "dir", kind: .directory, address: "127.0.0.1", port: server.port, adminUser: DirectoryFixture.syncDN,
                        directoryType: .activeDirectory, ldapSecurity: .ldap),
            password: Secret(DirectoryFixture.password), actor: "test")
        try await DomainStore(app).domainAdd(DomainDraft(name: "Sales", directory: "dir", searchBase: DirectoryFixture.peopleBase, filter: .allUsers),
                                             actor: "test")
        _ = try await owner.query(Statement("", """
            INSERT INTO devices (name, kind, version, address, port, admin_user) VALUES ('cucm', 'call_processor', '12.5', '127.0.0.1', 8443, 'admin')
            """))
        for area in ["SA_One", "SA_Two", "SA_Kept"] {
            _ = try await owner.query(Statement("", "INSERT INTO service_areas (domain, name, call_processor, device_pool) VALUES ('Sales', $1, 'cucm', 'DP')"),
                                      [area])
        }
        // An operator's user the directory also holds, placed already: the sync adopts it, the move leaves it.
        _ = try await owner.query(Statement("", """
            INSERT INTO users (user_id, domain, source, last_name, service_area) VALUES ('user000005', 'Sales', 'manual', 'Five', 'SA_Kept')
            """))

        let filters = MoveFilterStore(app)
        do {
            _ = try await filters.moveFilterAdd(domain: "Sales", MoveFilter(name: "X", attribute: "employeeNumber", pattern: "E1", serviceArea: "SA_One"),
                                                position: nil, actor: "test")
            XCTFail("an attribute the domain does not read is refused")
        } catch let error as InputError {
            XCTAssertTrue(error.description.hasPrefix("attribute: 'employeeNumber' is not an attribute the domain reads (department, location, device_pool; or an LDAP attribute of domain 'Sales''s field mapping: sAMAccountName, givenName"), error.description)
        }
        _ = try await filters.moveFilterAdd(domain: "Sales", MoveFilter(name: "Mail", attribute: "mail", pattern: "*@EXAMPLE.com", serviceArea: "SA_Two"),
                                            position: nil, actor: "test")
        let title = try await filters.moveFilterAdd(domain: "Sales", MoveFilter(name: "Title1", attribute: "TITLE", pattern: "title1", serviceArea: "SA_One"),
                                                    position: 1, actor: "test")
        XCTAssertEqual(title.attribute, "title", "spelled as the field mapping does")
        await assertEqual(try await filters.moveFilterList(domain: "Sales").map(\.name), ["Title1", "Mail"])

        func sync() async throws -> [String] {
            let settings = try await LDAPSyncSettings.load(domain: "Sales", connection: app, secretBox: box)
            let reporter = RecordingReporter()
            _ = try await LDAPSynchronization(settings: settings, database: app, reporter: reporter).run()
            return reporter.lines
        }
        func placements() async throws -> [String: String] {
            var placed: [String: String] = [:]
            for row in try await owner.query(Statement("", "SELECT user_id, service_area FROM users WHERE service_area IS NOT NULL")) {
                placed[try row.decode("user_id")] = try row.decode("service_area")
            }
            return placed
        }

        // Off: nobody moves.
        let off = try await sync()
        XCTAssertFalse(off.contains { $0.contains("Automatic move") }, off.joined(separator: "\n"))
        await assertEqual(try await placements(), ["user000005": "SA_Kept"])

        // On: title Title1 (users 1, 9, 13, 17; 5 is placed) to SA_One by the first filter, the rest by mail to SA_Two.
        let turnedOn = try await filters.automaticMoveSet(domain: "Sales", on: true, actor: "test")
        XCTAssertTrue(turnedOn)
        let on = try await sync()
        let enabled = (1...20).filter { $0 % 10 != 0 }
        var expected = ["user000005": "SA_Kept"]
        for index in enabled where index != 5 { expected[String(format: "user%06d", index)] = index % 4 == 1 ? "SA_One" : "SA_Two" }
        await assertEqual(try await placements(), expected)
        XCTAssertTrue(on.contains("Automatic move of domain 'Sales': \(enabled.count - 1) users placed, 0 need a move by hand, 0 matched no filter"),
                      on.joined(separator: "\n"))
        let log: [String] = try await owner.query(Statement("", "SELECT line FROM sync_log_lines WHERE sync_type = 'ldap' AND target = 'Sales' ORDER BY line_no"))
            .map { try $0.decode("line") }
        XCTAssertTrue(log.contains("Automatic move: user000001 placed in service area 'SA_One' by filter 'Title1' (title=title1)"), log.joined(separator: "\n"))
        XCTAssertTrue(log.contains("Automatic move: user000002 placed in service area 'SA_Two' by filter 'Mail' (mail=*@EXAMPLE.com)"), log.joined(separator: "\n"))
        XCTAssertFalse(log.contains { $0.contains("user000005") }, "a placed user is not moved")
    }
}
