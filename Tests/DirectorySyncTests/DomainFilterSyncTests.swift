import Directory
import DirectoryFixtures
import Foundation
import Inventory
import LDAP
import Postgres
import Runtime
import Secrets
import Sync
import TestSupport
import XCTest

/// Syncs of domains stored in the inventory: a directory device and a domain made through the
/// stores, the settings read back with `LDAPSyncSettings.load` — the filter query compiled by the
/// Directory module, every typed value escaped — and the users that come out.
final class DomainFilterSyncTests: XCTestCase {
    nonisolated(unsafe) static var server: SlapdServer?

    /// The generated users 1…30 and a few whose user IDs hold the filter's special characters, each
    /// with a decoy that an unescaped filter would also select.
    static let users: [FixtureUser] = generatedUsers(1...30) + [
        "star*user", "starXuser", "paren(user)", "paren-user-", "back\\slash", "backslash", "lone*", "lonely",
    ].map { FixtureUser(cn: "Special \($0)", uid: $0, sAMAccountName: $0, sn: "Special", userAccountControl: 512) }

    override class func setUp() {
        super.setUp()
        server = try? SlapdServer(users: users)
    }

    override class func tearDown() {
        server?.destroy()
        super.tearDown()
    }

    struct Stored {
        let database: TestDatabase
        let secretBox: SecretBox
    }

    /// A database with the directory device `dir` (AD) pointing at the test slapd, and the domain Sales.
    func stored(filter: FilterQuery, syncInactive: Bool = false, type: DirectoryServerType = .activeDirectory) async throws -> Stored {
        let server = try XCTUnwrap(Self.server, "slapd did not start")
        let database = try await TestServer.freshDatabase()
        let box = SecretBox(key: try SecretKey.random())
        let connection = Connection(database.app)
        try await DeviceStore(connection, secretBox: box).deviceAdd(
            DeviceDraft(name: "dir", kind: .directory, address: "127.0.0.1", port: server.port, adminUser: DirectoryFixture.syncDN,
                        directoryType: type, ldapSecurity: .ldap),
            password: Secret(DirectoryFixture.password), actor: "test")
        try await DomainStore(connection).domainAdd(
            DomainDraft(name: "Sales", directory: "dir", searchBase: DirectoryFixture.peopleBase, syncInactiveUsers: syncInactive,
                        filter: filter),
            actor: "test")
        return Stored(database: database, secretBox: box)
    }

    /// Syncs the domain as the job does and returns the user IDs it holds.
    func syncedUserIDs(_ filter: FilterQuery, syncInactive: Bool = false) async throws -> Set<String> {
        let stored = try await stored(filter: filter, syncInactive: syncInactive)
        let connection = Connection(stored.database.app)
        let settings = try await LDAPSyncSettings.load(domain: "Sales", connection: connection, secretBox: stored.secretBox)
        _ = try await LDAPSynchronization(settings: settings, database: connection, reporter: RecordingReporter()).run()
        let rows = try await connection.query(Statement("", "SELECT user_id FROM users WHERE domain = 'Sales'"))
        return Set(try rows.map { try $0.decode("user_id", as: String.self) })
    }

    func simple(_ conditions: String..., match: SimpleQuery.Match = .all) throws -> FilterQuery {
        .simple(SimpleQuery(conditions: try conditions.map { try QueryCondition(parsing: $0) }, match: match))
    }

    func ids(_ indexes: [Int]) -> Set<String> { Set(indexes.map { DirectoryFixture.user($0).uid }) }
    var enabledGenerated: [Int] { (1...30).filter { $0 % 10 != 0 } }
    let specials: Set<String> = ["star*user", "starXuser", "paren(user)", "paren-user-", "back\\slash", "backslash", "lone*", "lonely"]

    func testAllUsersAndSyncInactive() async throws {
        await assertEqual(try await syncedUserIDs(.allUsers), ids(enabledGenerated).union(specials))
        await assertEqual(try await syncedUserIDs(.allUsers, syncInactive: true), ids(Array(1...30)).union(specials))
    }

    func testSimpleQueryForms() async throws {
        let cases: [(FilterQuery, Set<String>)] = [
            (try simple("user-id = user000003"), ids([3])),
            (try simple("user-id != user000003"), ids(enabledGenerated.filter { $0 != 3 }).union(specials)),
            (try simple("user-id = user00001*"), ids([11, 12, 13, 14, 15, 16, 17, 18, 19])),
            (try simple("user-id = *00005"), ids([5])),
            (try simple("user-id in user000001, user000002, user000004"), ids([1, 2, 4])),
            // Directory numbers are listed with ';'.
            (try simple("ip-phone-number in 100001;10002*"), ids([1, 21, 22, 23, 24, 25, 26, 27, 28, 29])),
            // '/+' is a literal plus; the phone's parentheses are escaped.
            (try simple("phone = /+1 (408) 555-0003"), ids([3])),
            (try simple("phone in /+1 (408) 555-0001, /+1 (408) 555-0002"), ids([1, 2])),
            (try simple("department = Dept1"), ids([1, 6, 11, 16, 21])),
            (try simple("user-id = user000001", "user-id = user000002", match: .any), ids([1, 2])),
            (try simple("department = Dept2", "title = Title3"), ids([7, 27])),
        ]
        for (filter, expected) in cases {
            await assertEqual(try await syncedUserIDs(filter), expected, filter.summary)
        }
    }

    /// Manager ID is the manager's full DN, commas and all; a list of them is split at ';'. The
    /// managers: user 11, whose DN holds an escaped ',' and '+', user 22 (a leading '#'), user 3.
    func testManagerIDSelectsByTheManagersDN() async throws {
        let server = try XCTUnwrap(Self.server, "slapd did not start")
        let dn = { (index: Int) in DirectoryFixture.dn(of: DirectoryFixture.user(index)) }
        XCTAssertTrue(dn(11).contains("\\,") && dn(11).contains("\\+") && dn(22).contains("\\#"), dn(11) + " " + dn(22))
        let admin = try await LDAPConnection.connect(LDAPConfiguration(primary: LDAPEndpoint(url: server.url)!,
                                                                       bindDN: DirectoryFixture.rootDN,
                                                                       password: Secret(DirectoryFixture.password)))
        // User 10 is disabled: selected by its manager, still left out.
        for (user, manager) in [(1, 11), (2, 11), (10, 11), (4, 22), (5, 3)] {
            try await admin.modifyReplace(dn(user), attribute: "manager", values: [dn(manager)])
        }
        await admin.close()

        let cases: [(FilterQuery, Set<String>)] = [
            (try simple("manager-id = \(dn(11))"), ids([1, 2])),
            (try simple("manager-id in \(dn(11));\(dn(22))"), ids([1, 2, 4])),
            (try simple("manager-id in \(dn(22)) ; \(dn(3)) ;"), ids([4, 5])),
            (try simple("manager-id != \(dn(11))", "user-id = user00000*"), ids([3, 4, 5, 6, 7, 8, 9])),
            (try simple("manager-id = *"), ids([1, 2, 4, 5])),
        ]
        for (filter, expected) in cases {
            await assertEqual(try await syncedUserIDs(filter), expected, filter.summary)
        }
    }

    func testAdvancedQuery() async throws {
        await assertEqual(try await syncedUserIDs(.advanced("(|(sAMAccountName=user000004)(title=Title0))")),
                          ids([4, 8, 12, 16, 24, 28]))
    }

    /// Typed `*` (inside a value), `(`, `)`, `\` and NUL select only what they literally say.
    func testFilterInjectionValuesSelectOnlyWhatTheySay() async throws {
        let cases: [(FilterQuery, Set<String>)] = [
            (try simple("user-id = star*user"), ["star*user"]),
            (try simple("user-id = paren(user)"), ["paren(user)"]),
            (try simple("user-id = back\\slash"), ["back\\slash"]),
            (try simple("user-id in paren(user), back\\slash"), ["paren(user)", "back\\slash"]),
            (try simple("department = R&D (Lab*) \\ 3"), ids([13])),
            (try simple("user-id = *)(uid=*"), []),
        ]
        for (filter, expected) in cases {
            await assertEqual(try await syncedUserIDs(filter), expected, filter.summary)
        }

        // NUL cannot be stored in a domain (PostgreSQL text); compiled directly, it is escaped as \00.
        let stored = try await stored(filter: .allUsers)
        let connection = Connection(stored.database.app)
        var settings = try await LDAPSyncSettings.load(domain: "Sales", connection: connection, secretBox: stored.secretBox)
        let nul = SimpleQuery(conditions: [QueryCondition(field: .userID, operator: .equal, value: "lone\u{0}*")])
        let userFilter = try nul.filter(mapping: FieldMappingChoices().resolved(for: .activeDirectory))
        XCTAssertTrue(userFilter.text.contains("\\00"), userFilter.text)
        settings.filter = "(&\(settings.filter)\(userFilter.text))"
        _ = try await LDAPSynchronization(settings: settings, database: connection, reporter: RecordingReporter()).run()
        let rows = try await connection.query(Statement("", "SELECT count(*)::bigint AS n FROM users"))
        XCTAssertEqual(try rows[0].decode("n", as: Int64.self), 0)
    }

    func testSettingsComeFromTheDomainAndItsDirectory() async throws {
        let stored = try await stored(filter: .allUsers)
        let settings = try await LDAPSyncSettings.load(domain: "Sales", connection: Connection(stored.database.app),
                                                       secretBox: stored.secretBox)
        XCTAssertEqual(settings.connection.primary.url, try XCTUnwrap(Self.server).url)
        XCTAssertEqual(settings.connection.bindDN, DirectoryFixture.syncDN)
        XCTAssertEqual(settings.connection.password?.revealed, DirectoryFixture.password)
        XCTAssertEqual(settings.userIDAttribute, "sAMAccountName")
        XCTAssertEqual(settings.deletionGuard, DeletionGuard(maximumCount: 500, maximumPercent: 10))
        XCTAssertTrue(settings.filter.contains("1.2.840.113556.1.4.803"), settings.filter)
        do {
            _ = try await LDAPSyncSettings.load(domain: "Nowhere", connection: Connection(stored.database.app), secretBox: stored.secretBox)
            XCTFail("an unknown domain must be refused")
        } catch let error as InputError {
            XCTAssertTrue(error.description.contains("Nowhere"), error.description)
        }
    }
}
