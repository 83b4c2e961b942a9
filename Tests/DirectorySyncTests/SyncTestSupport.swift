import DirectoryFixtures
import Foundation
import Inventory
import LDAP
import Postgres
import Secrets
import Sync
import Synchronization
import TestSupport
import XCTest

/// Collects what a sync reports; can cancel after a number of progress reports.
final class RecordingReporter: SyncReporter, Sendable {
    private let state = Mutex<(lines: [String], progress: [(Int64, Int64?)])>(([], []))
    let cancelAfterProgress: Int?

    init(cancelAfterProgress: Int? = nil) { self.cancelAfterProgress = cancelAfterProgress }

    var lines: [String] { state.withLock { $0.lines } }
    var progressReports: [(Int64, Int64?)] { state.withLock { $0.progress } }

    func progress(done: Int64, total: Int64?, message: String?) async throws {
        try checkCancellation()
        state.withLock { $0.progress.append((done, total)) }
    }

    func log(_ line: String) async throws { state.withLock { $0.lines.append(line) } }

    func checkCancellation() throws {
        if let cancelAfterProgress, state.withLock({ $0.progress.count }) >= cancelAfterProgress { throw CancellationError() }
    }
}

/// The user row fields the tests look at.
struct StoredUser: Equatable {
    var userID: String
    var domain: String
    var source: String
    var firstName: String?
    var middleName: String?
    var lastName: String?
    var email: String?
    var phone: String?
    var directoryURI: String?
    var managerID: String?
    var department: String?
    var title: String?
    var directoryDN: String?
    var enabled: Bool
    var state: String
}

/// The field mapping of a domain: the seed's Table 6, with the operator's five choices.
func fieldMapping(userID: String = "sAMAccountName", phone: String = "telephoneNumber", email: String = "mail",
                  middleName: String = "middleName", directoryURI: String? = nil, department: String = "department")
    -> [(field: String, attribute: String)] {
    var mapping: [(field: String, attribute: String)] = [
        ("user_id", userID), ("first_name", "givenName"), ("middle_name", middleName), ("last_name", "sn"), ("email", email),
        ("phone", phone),
    ]
    if let directoryURI { mapping.append(("directory_uri", directoryURI)) }
    mapping += [("manager_id", "manager"), ("department", department), ("title", "title"), ("home_number", "homePhone"),
                ("mobile_number", "mobile"), ("pager_number", "pager")]
    return mapping
}

let enabledADUsers = "(&(objectClass=inetOrgPerson)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
let allPersons = "(objectClass=inetOrgPerson)"

/// A test database with domains, and helpers to run a sync and read the users back.
struct SyncFixture {
    let database: TestDatabase
    let slapd: SlapdServer

    static func make(slapd: SlapdServer, domains: [String] = ["Sales"]) async throws -> SyncFixture {
        let database = try await TestServer.freshDatabase()
        let fixture = SyncFixture(database: database, slapd: slapd)
        for domain in domains { try await fixture.addDomain(domain) }
        return fixture
    }

    func addDomain(_ name: String) async throws {
        try await Connection(database.owner).query(Statement("", "INSERT INTO domains (name) VALUES ($1)"), [name])
    }

    func settings(domain: String = "Sales", filter: String = enabledADUsers,
                  mapping: [(field: String, attribute: String)] = fieldMapping(),
                  disabledFlag: DisabledAccountFlag? = .userAccountControl,
                  update: UpdatePolicy = .allFields, stale: StaleUserAction = .doNotChange,
                  guardCount: Int = 500, guardPercent: Int = 10) -> LDAPSyncSettings {
        LDAPSyncSettings(
            domain: domain,
            connection: LDAPConfiguration(primary: LDAPEndpoint(url: slapd.url)!, bindDN: DirectoryFixture.syncDN,
                                          password: Secret(DirectoryFixture.password), networkTimeout: 3, operationTimeout: 30),
            searchBase: DirectoryFixture.peopleBase, filter: filter, mapping: mapping, disabledFlag: disabledFlag,
            updatePolicy: update, staleUserAction: stale,
            deletionGuard: DeletionGuard(maximumCount: guardCount, maximumPercent: guardPercent))
    }

    /// Runs a sync; returns its result, or the error it ended with and what it reported.
    @discardableResult
    func sync(_ settings: LDAPSyncSettings, _ options: LDAPSyncOptions = LDAPSyncOptions(),
              reporter: RecordingReporter = RecordingReporter()) async -> (result: LDAPSyncResult?, error: Error?, lines: [String]) {
        do {
            let result = try await LDAPSynchronization(settings: settings, options: options, database: Connection(database.app),
                                                       reporter: reporter, jobID: nil, actor: "test").run()
            return (result, nil, reporter.lines)
        } catch {
            return (nil, error, reporter.lines)
        }
    }

    /// Makes the directory name, for each pair, generated user `manager` the manager of generated user `user`.
    func setDirectoryManagers(_ pairs: [(user: Int, manager: Int)]) async throws {
        let admin = try await LDAPConnection.connect(LDAPConfiguration(primary: LDAPEndpoint(url: slapd.url)!,
                                                                       bindDN: DirectoryFixture.rootDN,
                                                                       password: .init(DirectoryFixture.password)))
        for (user, manager) in pairs {
            try await admin.modifyReplace(DirectoryFixture.dn(of: DirectoryFixture.user(user)), attribute: "manager",
                                          values: [DirectoryFixture.dn(of: DirectoryFixture.user(manager))])
        }
        await admin.close()
    }

    func users(domain: String? = nil) async throws -> [String: StoredUser] {
        let rows = try await Connection(database.owner).query(Statement("", """
            SELECT * FROM users WHERE $1::text IS NULL OR domain = $1 ORDER BY user_id
            """), [domain])
        var users: [String: StoredUser] = [:]
        for row in rows {
            let user = StoredUser(
                userID: try row.decode("user_id"), domain: try row.decode("domain"), source: try row.decode("source"),
                firstName: try row.decodeIfPresent("first_name"), middleName: try row.decodeIfPresent("middle_name"),
                lastName: try row.decodeIfPresent("last_name"), email: try row.decodeIfPresent("email"),
                phone: try row.decodeIfPresent("phone"), directoryURI: try row.decodeIfPresent("directory_uri"),
                managerID: try row.decodeIfPresent("manager_id"), department: try row.decodeIfPresent("department"),
                title: try row.decodeIfPresent("title"), directoryDN: try row.decodeIfPresent("directory_dn"),
                enabled: try row.decode("enabled"), state: try row.decode("state"))
            users[user.userID] = user
        }
        return users
    }

    @discardableResult
    func execute(_ sql: String, _ parameters: [any PostgresEncodable] = []) async throws -> Rows {
        try await Connection(database.owner).query(Statement("", sql), parameters)
    }

    /// The stored detailed log of the domain's last LDAP sync.
    func syncLog(domain: String = "Sales") async throws -> [String] {
        try await execute("SELECT line FROM sync_log_lines WHERE sync_type = 'ldap' AND target = $1 ORDER BY line_no", [domain])
            .map { try $0.decode("line") }
    }
}

/// The generated users 1...count, as the directory holds them.
func generatedUsers(_ range: ClosedRange<Int>) -> [FixtureUser] { range.map(DirectoryFixture.user) }
