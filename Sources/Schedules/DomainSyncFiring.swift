import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime
import ScheduleRules

enum DomainSyncFiringSQL {
    /// Domains that synchronize from a directory on their own interval. A start date left empty counts
    /// from when the domain was created.
    static let scheduledDomains = Statement("domain_firing_domains", """
        SELECT name, sync_interval, coalesce(sync_start_at, created_at) AS start_at,
               ldap_sync_last_fired_at, ldap_sync_last_fired_at::text AS last_fired_text
          FROM domains
         WHERE directory IS NOT NULL AND ldap_mode = 'authentication_and_synchronization' AND sync_interval IS NOT NULL
         ORDER BY name
        """)
    /// Fires only when nobody fired the domain since we read it (compared as stored text: exact).
    static let markFired = Statement("domain_firing_mark", """
        UPDATE domains SET ldap_sync_last_fired_at = $2::timestamptz
         WHERE name = $1 AND ldap_sync_last_fired_at IS NOT DISTINCT FROM $3::timestamptz
        RETURNING name
        """)
}

/// Fires the LDAP synchronization of every domain whose own interval is due (the seed's
/// "Synchronization Interval" and "Synchronization Start Date" of a domain), the way schedules fire.
/// Domains carry no time zone of their own: daily and weekly intervals step in UTC.
public struct DomainSyncFiring: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    /// Queues an LDAP sync for each domain due at `now`; returns the domains fired.
    @discardableResult
    public func fireDue(now: Date = Date(), actor: String) async throws -> [String] {
        var fired: [String] = []
        for row in try await connection.query(DomainSyncFiringSQL.scheduledDomains) {
            let name: String = try row.decode("name")
            let intervalText: String = try row.decode("sync_interval")
            guard let frequency = try? ScheduleFrequency(parsing: intervalText) else {
                throw PostgresError(kind: .decoding, message: "domain '\(name)': stored sync interval cannot be read")
            }
            let timing = ScheduleTiming(frequency: frequency, start: try row.decode("start_at"), timeZone: TimeZone(identifier: "UTC")!)
            let due = timing.dueRuns(lastFired: try row.decodeIfPresent("ldap_sync_last_fired_at"), now: now)
            guard let dueAt = due.due else { continue }
            let lastFiredText: String? = try row.decodeIfPresent("last_fired_text")
            let firedNow: Bool = try await connection.transaction { session in
                guard !(try session.query(DomainSyncFiringSQL.markFired, [name, dueAt, lastFiredText])).isEmpty else { return false }
                // One queued LDAP sync per domain at most (the dedup key): a due time that finds one waiting adds none.
                let queue = QueueStore.InTransaction(session)
                let (jobID, created) = try queue.jobEnqueue(.init(
                    LDAPSync.self, target: name, dedupKey: SyncType.ldap.key(target: name), actor: actor))
                var message = "LDAP synchronization of domain '\(name)' due at \(PostgresTimestamp.format(dueAt)) (every \(frequency.cliForm))"
                message += created ? ": queued" : ": one is already queued, none added"
                if due.missedCount > 0 { message += " (\(due.missedCount) earlier due time(s) missed while no coordinator ran: fired once)" }
                try queue.auditAppend(actor: actor, action: "domain.ldap_sync_fired", jobID: jobID, target: name, message: message)
                return true
            }
            if firedNow { fired.append(name) }
        }
        return fired
    }
}

/// The coordinator's duty that fires domains' own LDAP synchronization (leader only; safe with two leaders).
public struct DomainSyncFiringDuty: CoordinatorDuty {
    public let name = "domain LDAP sync firing"
    public let intervalSeconds: Double

    public init(intervalSeconds: Double = 1) {
        self.intervalSeconds = intervalSeconds
    }

    public func runOnce(_ store: QueueStore, actor: String, clock: any TimeSource) async throws {
        try await DomainSyncFiring(store.connection).fireDue(now: clock.now, actor: actor)
    }
}
