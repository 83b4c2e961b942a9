import Foundation
import Postgres
import Runtime
import Secrets

/// Idempotency keys of the API's submits (migration 017): the first answer to a token's key is kept,
/// and a retry with the same key and the same request gets it again instead of a second job. A key
/// is kept for a day (as payment APIs keep theirs): retries come within minutes, and the table must
/// not grow with every submit for ever. The keys older than that are deleted when a key is claimed;
/// an expired key may be used again.
///
/// A request claims its key before it does the work (a row with status 0 and no answer yet), so two
/// requests sent together with one key never both do it: the second sees the claim, refused as
/// another request, or as the same one still being answered.
public struct IdempotencyStore: Sendable {
    /// How long a key's answer is kept.
    public static let retentionHours = 24
    /// A claim this old was left by a server that stopped while answering: the key may be claimed again.
    public static let claimMinutes = 5

    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    public enum Lookup: Sendable, Equatable {
        /// Never seen, and now claimed by this request: do the work, then `record` the answer (or
        /// `release` the claim when the work was refused).
        case new
        case replay(status: Int, body: String)
        /// The key was used with another request: refused.
        case conflict
        /// The same request, claimed by another one that is still being answered: refused for now.
        case inProgress
    }

    /// The status of a claim: no answer yet.
    static let claimed = 0

    static let keyGet = Statement("api_idempotency_key_get", """
        SELECT request_sha256, status, body FROM api_idempotency_keys WHERE token_id = $1 AND key = $2
        """)
    static let keyClaim = Statement("api_idempotency_key_claim", """
        INSERT INTO api_idempotency_keys (token_id, key, request_sha256, status, body) VALUES ($1, $2, $3, 0, '')
        ON CONFLICT (token_id, key) DO NOTHING RETURNING token_id
        """)
    static let claimAbandonedDelete = Statement("api_idempotency_claim_abandoned_delete", """
        DELETE FROM api_idempotency_keys
         WHERE token_id = $1 AND key = $2 AND status = 0 AND created_at < now() - $3 * interval '1 minute'
        """)
    static let claimDelete = Statement("api_idempotency_claim_delete", """
        DELETE FROM api_idempotency_keys WHERE token_id = $1 AND key = $2 AND request_sha256 = $3 AND status = 0
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

    /// Claims the key for this request (`.new`), or tells what holds it.
    public func claim(tokenID: Int64, key: String, requestDigest: String) async throws -> Lookup {
        try await connection.transaction { session in
            // Expired first, so a key reused after its day is claimed afresh.
            try session.query(Self.keysExpire, [Self.retentionHours])
            try session.query(Self.claimAbandonedDelete, [tokenID, key, Self.claimMinutes])
            if !(try session.query(Self.keyClaim, [tokenID, key, requestDigest])).isEmpty { return .new }
            // Another request's claim or answer, committed (the insert waited for it).
            guard let row = try session.query(Self.keyGet, [tokenID, key]).first else { return .inProgress }
            guard try row.decode("request_sha256") as String == requestDigest else { return .conflict }
            let status: Int = try row.decode("status")
            return status == Self.claimed ? .inProgress : .replay(status: status, body: try row.decode("body"))
        }
    }

    /// Keeps the answer of the request that claimed the key.
    public func record(tokenID: Int64, key: String, requestDigest: String, status: Int, body: String) async throws {
        try await connection.transaction { session in
            try session.query(Self.claimDelete, [tokenID, key, requestDigest])
            try session.query(Self.keyInsert, [tokenID, key, requestDigest, status, body])
        }
    }

    /// Gives the key up: the claiming request was refused, and a refusal is not kept as its answer.
    public func release(tokenID: Int64, key: String, requestDigest: String) async throws {
        _ = try await connection.query(Self.claimDelete, [tokenID, key, requestDigest])
    }
}
