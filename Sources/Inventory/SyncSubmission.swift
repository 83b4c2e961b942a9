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
        let parameters: any SyncParameters = switch syncType {
        case .ldap: LDAPSync(dryRun: dryRun ? true : nil, allowDeletes: allowDeletes)
        case .domain: DomainSync(dryRun: dryRun ? true : nil)
        case .infra: InfrastructureSync()
        case .user: UserSync()
        }
        params = try .init(parameters, target: target, priority: priority, dedupKey: Self.ownKey(parameters, target: target),
                           actor: actor)
        self.type = syncType
        self.target = target
        self.dryRun = dryRun
    }

    /// The de-duplication key of a synchronization: the sync's own (`SyncType.key`), which keeps one
    /// of its type and target queued at most; none for a dry run or a run allowed past the deletion
    /// guard, which are not the sync an operator or a schedule queues.
    public static func ownKey(_ parameters: any SyncParameters, target: String) -> String? {
        switch parameters {
        case let ldap as LDAPSync where ldap.dryRun == true || ldap.allowDeletes != nil: return nil
        case let domain as DomainSync where domain.dryRun == true: return nil
        default: return Swift.type(of: parameters).syncType.key(target: target)
        }
    }

    /// The checks that read the inventory: the device or domain must exist (else the job would only
    /// fail on a worker); a domain or LDAP sync of a domain whose write back to LDAP is
    /// queued or running is refused (`WriteBackRefusal`); a domain sync of a domain with no required
    /// rule could place no one, so it is refused before it is queued (`domainSyncRefusal`).
    static func checkInventory(_ type: SyncType, target: String, _ connection: Connection) async throws {
        try await JobSubmission.checkExists(type.contract.targetKind, target: target, connection)
        if let refusal = try await WriteBackRefusal.syncRefusal(type, domain: target, connection: connection) { throw refusal }
        guard type == .domain else { return }
        if let refusal = try await DomainStore(connection).domainSyncRefusal(name: target) { throw refusal }
    }

    /// Checks a synchronization of `type` and `target` (`checkInventory`) and runs `body` with the
    /// refusal, nil when it may be queued, in one transaction holding the submission locks of the
    /// domains it concerns (`WriteBackRefusal.lockedDomains`): a write-back submitted at the same
    /// moment is checked before or after it, never beside it. The one place every sync is submitted
    /// through — `ucp submit sync|job`, the API, schedule runs and domains' LDAP intervals — each
    /// queuing the job, or recording the refusal, its own way in `body` (on `connection`, within the
    /// transaction). A user synchronization is not refused by a write-back: it waits for the one sync
    /// slot behind it (the seed keeps the write-back out of user synchronization, not the other way).
    public static func submitting<T: Sendable>(_ type: SyncType, target: String, connection: Connection,
                                               _ body: (InputError?) async throws -> T) async throws -> T {
        let domains = try await WriteBackRefusal.lockedDomains(type, target: target, connection: connection)
        return try await WriteBackRefusal.submitting(domains: domains, connection: connection) {
            do {
                try await checkInventory(type, target: target, connection)
            } catch let refusal as InputError {
                return try await body(refusal)
            }
            return try await body(nil)
        }
    }

    /// Checks the inventory and queues the job (`submitting`); `created` is false when the same sync
    /// was already queued.
    public func enqueue(_ connection: Connection) async throws -> (id: Int64, created: Bool) {
        try await Self.submitting(type, target: target, connection: connection) { refusal in
            if let refusal { throw refusal }
            return try await QueueStore(connection).jobEnqueue(params)
        }
    }
}
