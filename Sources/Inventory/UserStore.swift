import Foundation
import Postgres
import Runtime

/// A user of a domain (migrations/007_directory_users.sql): what an LDAP synchronization or an
/// operator made.
public struct User: Sendable, Equatable {
    public var userID: String
    public var domain: String
    /// ldap or manual.
    public var source: String
    /// The user's fields by column name (first_name, email, phone, …); absent when empty.
    public var fields: [String: String]
    public var directoryDN: String?
    public var enabled: Bool
    /// active, stale or deleting.
    public var state: String
    public var staleSince: Date?
    public var createdAt: Date
    public var updatedAt: Date
    /// Another user has this ID in another case (an import before identities were case-insensitive,
    /// migrations/018): synchronizations leave this one alone.
    public var caseClash: Bool
    /// The service area the user is placed in (`ucp user move`); nil: at domain level.
    public var serviceArea: String?

    public static let fieldColumns = ["first_name", "middle_name", "last_name", "email", "phone", "directory_uri", "manager_id",
                                      "department", "title", "home_number", "mobile_number", "pager_number"]

    init(row: Row) throws {
        userID = try row.decode("user_id")
        domain = try row.decode("domain")
        source = try row.decode("source")
        var fields: [String: String] = [:]
        for column in Self.fieldColumns {
            if let value: String = try row.decodeIfPresent(column) { fields[column] = value }
        }
        self.fields = fields
        directoryDN = try row.decodeIfPresent("directory_dn")
        enabled = try row.decode("enabled")
        state = try row.decode("state")
        staleSince = try row.decodeIfPresent("stale_since")
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
        caseClash = try row.decodeIfPresent("case_clash") ?? false
        serviceArea = try row.decodeIfPresent("service_area")
    }
}

/// A delete order a stale-user action queued for a user.
public struct UserDeleteOrder: Sendable, Equatable {
    public var id: Int64
    public var action: String
    public var state: String
    public var createdAt: Date
    /// The order of the engine that runs it (kind delete), once planned; why it failed.
    public var orderID: Int64? = nil
    public var message: String? = nil
}

/// The detailed log of the latest synchronization of one kind for one target.
public struct SyncLog: Sendable {
    public var jobID: Int64?
    public var startedAt: Date
    public var finishedAt: Date
    public var outcome: String
    public var lines: [String]
}

/// Reads users and sync logs for the operator commands.
public struct UserStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    public static func noSuchUser(_ userID: String) -> InputError {
        InputError(field: "user '\(userID)'", problem: "no such user")
    }

    public func userGet(userID: String) async throws -> User? {
        try await connection.query(UserSQL.userGet, [userID]).first.map(User.init(row:))
    }

    /// `userGet` of each of `userIDs` in one statement: the users found, by the user ID asked for.
    public func usersGet(userIDs: [String]) async throws -> [String: User] {
        var found: [String: User] = [:]
        for row in try await connection.query(UserSQL.usersGet, [PostgresTextArray(userIDs)]) {
            found[try row.decode("wanted")] = try User(row: row)
        }
        return found
    }

    /// A domain's users in user ID order: all of them, or a page of `limit` after user `after` (the API pages,
    /// so a request never holds a whole directory). A domain that does not exist is refused, not shown as one
    /// without users.
    public func userList(domain: String, after: String? = nil, limit: Int? = nil) async throws -> [User] {
        let page: [any PostgresEncodable] = [domain, after, limit.map(Int64.init)]
        let users = try await connection.query(UserSQL.userList, page).map(User.init(row:))
        if users.isEmpty, try await DomainStore(connection).domain(named: domain) == nil { throw DomainStore.noSuchDomain(domain) }
        return users
    }

    public func userDeleteOrders(userID: String) async throws -> [UserDeleteOrder] {
        try await connection.query(UserSQL.userOpenOrders, [userID]).map { row in
            UserDeleteOrder(id: try row.decode("id"), action: try row.decode("action"), state: try row.decode("state"),
                            createdAt: try row.decode("created_at"), orderID: try row.decodeIfPresent("order_id"),
                            message: try row.decodeIfPresent("message"))
        }
    }

    /// The latest detailed log of `syncType` (ldap, domain, …) for `target`; nil when none ran yet.
    public func syncLogGet(syncType: String, target: String) async throws -> SyncLog? {
        try await connection.withSession { session in
            guard let head = try session.query(UserSQL.syncLogGet, [syncType, target]).first else { return nil }
            let lines: [String] = try session.query(UserSQL.syncLogLines, [syncType, target]).map { try $0.decode("line") }
            return SyncLog(jobID: try head.decodeIfPresent("job_id"), startedAt: try head.decode("started_at"),
                           finishedAt: try head.decode("finished_at"), outcome: try head.decode("outcome"), lines: lines)
        }
    }
}
