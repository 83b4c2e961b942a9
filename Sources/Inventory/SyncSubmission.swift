import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime

/// A synchronization asked for by `ucp submit sync` or `POST /api/v1/syncs`: its rules checked in one
/// place, so both refuse the same input with the same line and queue the same job.
public struct SyncSubmission: Sendable {
    public var type: SyncType
    public var target: String
    public var dryRun: Bool
    public var params: QueueStore.EnqueueParams

    /// Checks every field before anything is read or written. `kind` is infra, user, domain or ldap;
    /// a device sync names `device`, a domain or LDAP sync `domain`.
    public init(kind: String, device: String?, domain: String?, dryRun: Bool, allowDeletes: Int?, priority: Int,
                actor: String) throws {
        guard let syncType = SyncType(rawValue: kind) else {
            throw InputError(field: "sync kind", problem: "must be infra, user, domain or ldap (got \(InputError.quoted(kind)))")
        }
        let target: String
        switch (syncType.kind, device, domain) {
        case (.deviceSync, let device?, nil): target = device
        case (.sync, nil, let domain?): target = domain
        case (.deviceSync, _, _):
            throw InputError(field: "device", problem: "--device NAME is required for a \(kind) sync (and --domain is not accepted)")
        default:
            throw InputError(field: "domain", problem: "--domain NAME is required for a \(kind) sync (and --device is not accepted)")
        }
        try DeviceValidation.name(target, field: syncType.targetField)
        if syncType != .ldap, allowDeletes != nil {
            throw InputError(field: "allow-deletes", problem: "only for an ldap sync")
        }
        if dryRun, syncType != .ldap, syncType != .domain {
            throw InputError(field: "dry-run", problem: "only for an ldap or domain sync")
        }
        if let allowDeletes, allowDeletes < 1 {
            throw InputError(field: "allow-deletes", problem: "must be a whole number of users, 1 or more (got \(allowDeletes))")
        }
        guard (-32768...32767).contains(priority) else {
            throw InputError(field: "priority", problem: "must be from -32768 to 32767 (got \(priority))")
        }
        let key = dryRun || allowDeletes != nil ? nil : syncType.key(target: target)
        if syncType == .ldap {
            params = try .init(LDAPSync(dryRun: dryRun ? true : nil, allowDeletes: allowDeletes), target: target,
                               priority: priority, dedupKey: key, actor: actor)
        } else if syncType == .domain {
            params = try .init(DomainSync(dryRun: dryRun ? true : nil), target: target, priority: priority, dedupKey: key,
                               actor: actor)
        } else {
            params = .init(syncType.contract, target: target, priority: priority, dedupKey: key, actor: actor)
        }
        self.type = syncType
        self.target = target
        self.dryRun = dryRun
    }

    /// The checks that read the inventory: the device or domain must exist (else the job would only
    /// fail on a worker); a domain or LDAP sync of a domain whose write back to LDAP is
    /// queued or running is refused (`WriteBackRefusal`); a domain sync of a domain with no required
    /// rule could place no one, so it is refused before it is queued (`domainSyncRefusal`). A
    /// schedule's run does not come here: a sync it names of a device removed since fails as a sync.
    func checkInventory(_ connection: Connection) async throws {
        try await Self.checkInventory(type, target: target, connection)
    }

    /// The same checks for a sync queued by type (`JobSubmission`).
    static func checkInventory(_ type: SyncType, target: String, _ connection: Connection) async throws {
        try await JobSubmission.checkExists(type.contract.targetKind, target: target, connection)
        if let refusal = try await WriteBackRefusal.syncRefusal(type, domain: target, connection: connection) { throw refusal }
        guard type == .domain else { return }
        if let refusal = try await DomainStore(connection).domainSyncRefusal(name: target) { throw refusal }
    }

    /// Checks the inventory and queues the job; `created` is false when the same sync was already queued.
    /// A domain or LDAP synchronization is checked and queued under the domain's submission lock, as a
    /// write-back is (`WriteBackRefusal.submitting`), so the two cannot both pass their checks.
    public func enqueue(_ connection: Connection) async throws -> (id: Int64, created: Bool) {
        let submit = {
            try await checkInventory(connection)
            return try await QueueStore(connection).jobEnqueue(params)
        }
        guard WriteBackRefusal.syncTypes.contains(type.jobType) else { return try await submit() }
        return try await WriteBackRefusal.submitting(domain: target, connection: connection, submit)
    }
}
