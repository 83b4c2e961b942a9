import Foundation
import Postgres
import Queue
import Runtime
import Secrets

/// Who may do what through the API: a viewer reads; an operator also submits and cancels jobs,
/// syncs and orders and switches maintenance; an admin also changes devices, domains, settings and tokens.
public enum APIRole: String, Sendable, Codable, CaseIterable, Comparable {
    case viewer, `operator`, admin

    var rank: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (lhs: APIRole, rhs: APIRole) -> Bool { lhs.rank < rhs.rank }

    /// The role `text` names, or an input error naming `field` and the choices.
    public static func parse(_ text: String, field: String = "role") throws -> APIRole {
        guard let role = APIRole(rawValue: text) else {
            throw InputError(field: field, problem: "must be viewer, operator or admin (got '\(text)')")
        }
        return role
    }
}

/// One API token as listed: never its secret, which is shown once and not kept.
public struct APIToken: Sendable, Codable, Equatable {
    public var id: Int64
    public var name: String
    public var role: APIRole
    public var createdBy: String
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var revokedAt: Date?

    public init(id: Int64, name: String, role: APIRole, createdBy: String, createdAt: Date,
                lastUsedAt: Date? = nil, revokedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
    }

    init(row: Row) throws {
        id = try row.decode("id")
        name = try row.decode("name")
        role = try APIRole.parse(try row.decode("role"))
        createdBy = try row.decode("created_by")
        createdAt = try row.decode("created_at")
        lastUsedAt = try row.decodeIfPresent("last_used_at")
        revokedAt = try row.decodeIfPresent("revoked_at")
    }
}

/// The API tokens (migration 017): made, listed, revoked and checked here only. Each change is audited
/// in the same transaction.
public struct TokenStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    static let columns = "id, name, role, created_by, created_at, last_used_at, revoked_at"
    static let tokenInsert = Statement("api_token_insert", """
        INSERT INTO api_tokens (name, role, token_sha256, created_by) VALUES ($1, $2, $3, $4)
        ON CONFLICT (name) DO NOTHING RETURNING \(columns)
        """)
    static let tokenList = Statement("api_token_list", "SELECT \(columns) FROM api_tokens ORDER BY name")
    static let tokenRevoke = Statement("api_token_revoke", """
        UPDATE api_tokens SET revoked_at = clock_timestamp() WHERE name = $1 AND revoked_at IS NULL RETURNING \(columns)
        """)
    static let tokenGetByName = Statement("api_token_get_by_name", "SELECT \(columns) FROM api_tokens WHERE name = $1")
    /// Marks the use at most once a minute, so reads under load do not turn into a write each.
    static let tokenAuthenticate = Statement("api_token_authenticate", """
        WITH found AS (SELECT id FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL),
             touched AS (UPDATE api_tokens SET last_used_at = clock_timestamp()
                          WHERE id IN (SELECT id FROM found)
                            AND (last_used_at IS NULL OR last_used_at < clock_timestamp() - interval '1 minute'))
        SELECT \(columns) FROM api_tokens WHERE id IN (SELECT id FROM found)
        """)

    /// The rule for a token's name (checked before anything is written; the table checks it too).
    public static func validateName(_ name: String, field: String = "name") throws {
        // `\z`, not `$`: ICU's `$` also matches before a final line break, which the table's CHECK refuses.
        guard name.range(of: #"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z"#, options: .regularExpression) != nil else {
            throw InputError(field: field, problem: "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (got \(InputError.quoted(name)))")
        }
    }

    /// Makes a token; returns its secret (to be shown once) and its listing.
    public func tokenCreate(name: String, role: APIRole, actor: String) async throws -> (secret: String, token: APIToken) {
        try Self.validateName(name)
        let secret = try BearerToken.generate()
        let digest = BearerToken.digest(secret)
        let token: APIToken = try await connection.transaction { session in
            guard let row = try session.query(Self.tokenInsert, [name, role.rawValue, digest, actor]).first else {
                throw InputError(field: "name", problem: "a token named '\(name)' already exists (revoked tokens keep their names)")
            }
            let token = try APIToken(row: row)
            try QueueStore.InTransaction(session).auditAppend(
                actor: actor, action: "api.token.create", target: name, message: "API token '\(name)' made with role \(role.rawValue)")
            return token
        }
        return (secret, token)
    }

    public func tokenList() async throws -> [APIToken] {
        try await connection.query(Self.tokenList).map(APIToken.init(row:))
    }

    /// Revokes the token named `name`; an unknown or already revoked name is an input error.
    public func tokenRevoke(name: String, actor: String) async throws -> APIToken {
        try Self.validateName(name)
        return try await connection.transaction { session in
            guard let row = try session.query(Self.tokenRevoke, [name]).first else {
                let exists = !(try session.query(Self.tokenGetByName, [name])).isEmpty
                throw InputError(field: "name", problem: exists ? "the token '\(name)' is already revoked" : "no token is named '\(name)'")
            }
            try QueueStore.InTransaction(session).auditAppend(
                actor: actor, action: "api.token.revoke", target: name, message: "API token '\(name)' revoked")
            return try APIToken(row: row)
        }
    }

    /// The live token whose secret is `secret`, or nil (unknown, malformed or revoked).
    public func tokenAuthenticate(secret: String) async throws -> APIToken? {
        guard secret.hasPrefix(BearerToken.prefix), secret.utf8.count <= 128 else { return nil }
        return try await connection.query(Self.tokenAuthenticate, [BearerToken.digest(secret)]).first.map(APIToken.init(row:))
    }
}
