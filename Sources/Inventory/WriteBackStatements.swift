import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime

/// The inventory's side of "Write Primary DN to LDAP" (seed 004): which users of a domain a
/// whole-domain write-back writes, with their primary directory number, and the refusals that keep
/// it apart from the domain's synchronizations.
enum WriteBackSQL {
    /// A page of the domain's directory users (those with an entry), each with its primary directory
    /// number: the primary extension its call processor holds for it (the user's on the call processor of
    /// its service area, as the last synchronization or change notification read it — an order sets
    /// its line as the primary extension, and writes that number back), else the number of its line
    /// service recorded first; NULL for a user with neither. $1 domain; by user ID without case (one
    /// user each: case clashes are not directory users), those after user $2 ('' for the first page),
    /// at most $3.
    static let domainUsers = Statement("write_back_domain_users", """
        SELECT u.user_id, u.directory_dn,
               coalesce(
                   (SELECT nullif(o.attributes->'primaryExtension'->>'pattern', '')
                      FROM service_areas a
                      JOIN device_objects o ON o.device = a.call_processor AND o.object_type = 'User'
                                           AND lower(o.object_key) = lower(u.user_id) AND o.removed_at IS NULL
                     WHERE a.domain = u.domain AND a.name = u.service_area
                     LIMIT 1),
                   (SELECT coalesce(nullif(s.detail->>'number', ''), split_part(s.object_key, '/', 1))
                      FROM user_services s
                     WHERE s.user_id = u.user_id AND s.service_type = 'line'
                     ORDER BY s.created_at, s.object_key LIMIT 1)) AS number
          FROM users u
         WHERE \(domainUser) AND lower(u.user_id) > lower($2)
         ORDER BY lower(u.user_id) LIMIT $3
        """)
    /// How many directory users the domain $1 has (`domainUsers` of every page).
    static let domainUserCount = Statement("write_back_domain_user_count", """
        SELECT count(*)::bigint AS n FROM users u WHERE \(domainUser)
        """)
    /// A directory user `u` of domain $1.
    static let domainUser = "u.domain = $1 AND u.directory_dn IS NOT NULL AND u.state = 'active' AND NOT u.case_clash"
    /// The domains whose service areas use device $1 as call or message processor: those a write-back
    /// checks the user synchronization of the device for (`WriteBackSubmission`), in name order.
    static let processorDomains = Statement("write_back_processor_domains", """
        SELECT DISTINCT domain FROM service_areas WHERE call_processor = $1 OR message_processor = $1 ORDER BY domain
        """)
}

/// A directory user of a domain and its primary directory number (nil: it has none).
public struct WriteBackUser: Sendable, Equatable {
    public var userID: String
    public var entryDN: String
    public var number: String?
}

extension UserStore {
    /// A page of the domain's directory users with their primary directory numbers, by user ID
    /// without case: at most `limit` of those after the user `after` ("" for the first page).
    public func writeBackUsers(domain: String, after: String, limit: Int) async throws -> [WriteBackUser] {
        try await connection.query(WriteBackSQL.domainUsers, [domain, after, limit]).map { row in
            WriteBackUser(userID: try row.decode("user_id"), entryDN: try row.decode("directory_dn"),
                          number: try row.decodeIfPresent("number"))
        }
    }

    /// How many directory users the domain has.
    public func writeBackUserCount(domain: String) async throws -> Int {
        Int(try await connection.query(WriteBackSQL.domainUserCount, [domain]).first?.decode("n", as: Int64.self) ?? 0)
    }
}

/// The rule between a domain's write-back and its synchronizations, one line each way.
public enum WriteBackRefusal {
    /// The domain and LDAP synchronizations a write-back of the domain refuses, and which refuse it.
    public static let syncTypes = [SyncType.domain.jobType, SyncType.ldap.jobType]

    /// Why a domain or LDAP synchronization of `domain` cannot be submitted now: a write-back of it is
    /// queued or running (seed: "Once Start Write Back to LDAP action starts, other actions such as
    /// Start Domain Synchronization and Start LDAP Synchronization are disabled"); nil when none is.
    public static func syncRefusal(_ type: SyncType, domain: String, connection: Connection) async throws -> InputError? {
        guard type == .domain || type == .ldap else { return nil }
        guard let job = try await QueueStore(connection).jobUnfinished(types: [WriteBackRun.jobType], targets: [domain]).first else {
            return nil
        }
        return InputError(field: "domain '\(domain)'",
                          problem: "its \(type.title) is disabled while its write back to LDAP (job \(job.id), \(job.state.rawValue)) is queued or running")
    }

    /// The domain's submission lock, held to the end of the transaction.
    static let submissionLock = Statement("domain_submission_lock",
                                          "SELECT pg_advisory_xact_lock(hashtext('ucp.domain.submission'), hashtext($1))")

    /// The domains whose submission locks a synchronization of `type` takes: a domain or LDAP
    /// synchronization its domain's; a user synchronization those of every domain using its device as
    /// call or message processor (a write-back of any of them refuses it while queued or running); an
    /// infrastructure synchronization none. A service area added once they are read is not waited for.
    public static func lockedDomains(_ type: SyncType, target: String, connection: Connection) async throws -> [String] {
        switch type {
        case .domain, .ldap: return [target]
        case .user: return try await connection.query(WriteBackSQL.processorDomains, [target]).map { try $0.decode("domain") }
        case .infra: return []
        }
    }

    /// `submitting(domains:)` of one domain.
    public static func submitting<T: Sendable>(domain: String, connection: Connection,
                                               _ submit: () async throws -> T) async throws -> T {
        try await submitting(domains: [domain], connection: connection, submit)
    }

    /// Runs `submit` — a synchronization's or a write-back's checks and enqueue — in one transaction
    /// holding the submission locks of `domains`, so that two submitted at the same moment are checked
    /// one after the other: the second sees the first's job (committed before the locks are released)
    /// and is refused. The locks are taken in name order, so two submissions of several domains never
    /// wait for each other in a circle. `submit` uses `connection` only, and no transaction of its own.
    public static func submitting<T: Sendable>(domains: [String], connection: Connection,
                                               _ submit: () async throws -> T) async throws -> T {
        let ordered = Set(domains).sorted()
        let opened = try await connection.withSession { session in
            try session.execute("BEGIN")
            do {
                for domain in ordered { try session.query(submissionLock, [domain]) }
            } catch {
                _ = try? session.execute("ROLLBACK")
                throw error
            }
            return session.serverSessionNumber
        }
        do {
            let value = try await submit()
            try await connection.withSession { session in
                // A connection made again meanwhile lost the transaction and its lock: say so rather than commit nothing.
                guard session.serverSessionNumber == opened else {
                    throw PostgresError(kind: .connectionLost, message: "the connection was lost during a submission (domains \(ordered.joined(separator: ", ")))")
                }
                try session.execute("COMMIT")
            }
            return value
        } catch {
            _ = try? await connection.withSession { session in
                if session.serverSessionNumber == opened { try session.execute("ROLLBACK") }
            }
            throw error
        }
    }
}
