import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime
import ScheduleRules

/// Fires the LDAP synchronization of every domain whose own interval is due (the seed's
/// "Synchronization Interval" and "Synchronization Start Date" of a domain), the way schedules fire,
/// each checked as `ucp submit sync ldap` checks it.
/// Domains carry no time zone of their own: daily and weekly intervals step in UTC.
public struct DomainSyncFiring: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    /// Queues an LDAP sync for each domain due at `now` (nil: the database's clock); returns the
    /// domains fired.
    @discardableResult
    public func fireDue(now: Date? = nil, actor: String) async throws -> [String] {
        let now = try await FiringTime.resolve(now, on: connection)
        var fired: [String] = []
        for domain in try await DomainStore(connection).domainListSyncScheduled() {
            let name = domain.name
            guard let frequency = try? ScheduleFrequency(parsing: domain.interval) else {
                throw PostgresError(kind: .decoding, message: "domain '\(name)': stored sync interval cannot be read")
            }
            let timing = ScheduleTiming(frequency: frequency, start: domain.startAt, timeZone: TimeZone(identifier: "UTC")!)
            let due = timing.dueRuns(lastFired: domain.lastFiredAt, now: now)
            guard let dueAt = due.due else { continue }
            let lastFiredText = domain.lastFiredText
            // Checked as `ucp submit sync ldap` is, under the domain's submission lock (`SyncSubmission.submitting`):
            // while a write back to LDAP of the domain is queued or running (seed: LDAP synchronization is then
            // disabled) this due time queues nothing and the audit trail says why; the next one fires again.
            let firedNow: Bool = try await SyncSubmission.submitting(.ldap, target: name, connection: connection) { refusal in
                try await connection.withSession { session in
                    guard try DomainStore.InTransaction(session).domainSyncFiredMark(name: name, dueAt: dueAt, lastFiredText: lastFiredText)
                    else { return false }
                    let queue = QueueStore.InTransaction(session)
                    var message = "LDAP synchronization of domain '\(name)' due at \(PostgresTimestamp.format(dueAt)) (every \(frequency.cliForm))"
                    let missed = due.missedCount > 0
                        ? " (\(due.missedCount) earlier due time(s) missed while no coordinator ran: fired once)" : ""
                    if let refusal {
                        message += ": refused: \(refusal); the next due time fires it again" + missed
                        try queue.auditAppend(actor: actor, action: "domain.ldap_sync_refused", target: name, message: message)
                        return true
                    }
                    // One queued LDAP sync per domain at most (the dedup key): a due time that finds one waiting adds none.
                    let (jobID, created) = try queue.jobEnqueue(.init(
                        LDAPSync.self, target: name, dedupKey: SyncSubmission.ownKey(LDAPSync(), target: name), actor: actor))
                    message += (created ? ": queued" : ": one is already queued, none added") + missed
                    try queue.auditAppend(actor: actor, action: "domain.ldap_sync_fired", jobID: jobID, target: name, message: message)
                    return true
                }
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
        try await DomainSyncFiring(store.connection).fireDue(now: clock.sqlNow, actor: actor)
    }
}
