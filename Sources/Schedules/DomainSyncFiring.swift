import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime
import ScheduleRules

/// Fires the LDAP synchronization of every domain whose own interval is due (the seed's
/// "Synchronization Interval" and "Synchronization Start Date" of a domain), the way schedules fire.
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
            let firedNow: Bool = try await connection.transaction { session in
                guard try DomainStore.InTransaction(session).domainSyncFiredMark(name: name, dueAt: dueAt, lastFiredText: lastFiredText)
                else { return false }
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
        try await DomainSyncFiring(store.connection).fireDue(now: clock.sqlNow, actor: actor)
    }
}
