import Foundation
import Postgres
import Runtime
import Secrets

/// Idempotency keys of the API's submits (migration 017): the first answer to a token's key is kept,
/// and a retry with the same key and the same request gets it again instead of a second job. A key
/// is kept for a day (as payment APIs keep theirs): retries come within minutes, and the table must
/// not grow with every submit for ever. The keys older than that are deleted when an answer is recorded;
/// an expired key may be used again.
public struct IdempotencyStore: Sendable {
    /// How long a key's answer is kept.
    public static let retentionHours = 24

    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    public enum Lookup: Sendable, Equatable {
        /// Never seen: do the work, then `record` the answer.
        case new
        case replay(status: Int, body: String)
        /// The key was used with another request: refused.
        case conflict
    }

    static let keyGet = Statement("api_idempotency_key_get", """
        SELECT request_sha256, status, body FROM api_idempotency_keys
         WHERE token_id = $1 AND key = $2 AND created_at >= now() - $3 * interval '1 hour'
        """)
    static let keyInsert = Statement("api_idempotency_key_insert", """
        INSERT INTO api_idempotency_keys (token_id, key, request_sha256, status, body) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (token_id, key) DO NOTHING
        """)
    static let keysExpire = Statement("api_idempotency_keys_expire", """
        DELETE FROM api_idempotency_keys WHERE created_at < now() - $1 * interval '1 hour'
        """)

    /// The rule for a key, as the header names it.
    public static func validateKey(_ key: String) throws {
        guard (1...255).contains(key.utf8.count), key.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value <= 0x7e }) else {
            throw InputError(field: "Idempotency-Key", problem: "must be 1 to 255 printable ASCII characters without spaces")
        }
    }

    /// The digest a request is compared by: its method, path and body.
    public static func requestDigest(method: String, path: String, body: [UInt8]) -> String {
        BearerToken.digest("\(method) \(path)\n" + String(decoding: body, as: UTF8.self))
    }

    public func lookup(tokenID: Int64, key: String, requestDigest: String) async throws -> Lookup {
        guard let row = try await connection.query(Self.keyGet, [tokenID, key, Self.retentionHours]).first else { return .new }
        guard try row.decode("request_sha256") as String == requestDigest else { return .conflict }
        return .replay(status: try row.decode("status"), body: try row.decode("body"))
    }

    /// Keeps the first answer; a concurrent retry that recorded first wins (both answers name the
    /// same job: the queue's de-duplication key makes the second submit return the first job).
    public func record(tokenID: Int64, key: String, requestDigest: String, status: Int, body: String) async throws {
        try await connection.transaction { session in
            // Expired first, so a key reused after its day is recorded afresh.
            try session.query(Self.keysExpire, [Self.retentionHours])
            try session.query(Self.keyInsert, [tokenID, key, requestDigest, status, body])
        }
    }
}
