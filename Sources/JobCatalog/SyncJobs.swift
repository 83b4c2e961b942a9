/// The four synchronizations of seed 004 and the job type of each.
public enum SyncType: String, CaseIterable, Hashable, Sendable, Codable {
    case infra, user, ldap, domain

    public var contract: any SyncParameters.Type {
        switch self {
        case .infra: return InfrastructureSync.self
        case .user: return UserSync.self
        case .ldap: return LDAPSync.self
        case .domain: return DomainSync.self
        }
    }

    public var jobType: String { contract.jobType }
    public var kind: JobKind { contract.kind }
    public var maxAttempts: Int { contract.maxAttempts }

    /// The sync type of a job type, if it is one.
    public init?(jobType: String) {
        guard let type = Self.allCases.first(where: { $0.jobType == jobType }) else { return nil }
        self = type
    }

    /// What the target names: a device for infrastructure and user syncs, a domain otherwise.
    public var targetField: String { kind == .deviceSync ? "device" : "domain" }

    public var title: String {
        switch self {
        case .infra: return "infrastructure synchronization"
        case .user: return "user synchronization"
        case .ldap: return "LDAP synchronization"
        case .domain: return "domain synchronization"
        }
    }

    /// One sync of this type of `target`: the key schedule runs match their syncs by, and the
    /// de-duplication key that keeps at most one of them waiting in the queue.
    public func key(target: String) -> String { "\(jobType)|\(target)" }
}

/// The parameters of a sync job type. Syncs are never retried by the queue: a failed sync is
/// reported, and the next run (by hand or schedule) starts afresh.
public protocol SyncParameters: JobParameters {
    static var syncType: SyncType { get }
}

extension SyncParameters {
    public static var maxAttempts: Int { 1 }
    public static var targetKind: JobTargetKind { syncType.kind == .deviceSync ? .device : .domain }
}

/// `sync.infra` and `sync.user`: the target is the device. `pageSize` and `concurrency` tune the AXL reads.
public protocol DeviceSyncParameters: SyncParameters {
    var pageSize: Int? { get }
    var concurrency: Int? { get }
}

public struct InfrastructureSync: DeviceSyncParameters {
    public static let jobType = "sync.infra"
    public static let kind = JobKind.deviceSync
    public static let syncType = SyncType.infra
    public var pageSize: Int?
    public var concurrency: Int?
    public init(pageSize: Int? = nil, concurrency: Int? = nil) {
        self.pageSize = pageSize
        self.concurrency = concurrency
    }
}

public struct UserSync: DeviceSyncParameters {
    public static let jobType = "sync.user"
    public static let kind = JobKind.deviceSync
    public static let syncType = SyncType.user
    public var pageSize: Int?
    public var concurrency: Int?
    public init(pageSize: Int? = nil, concurrency: Int? = nil) {
        self.pageSize = pageSize
        self.concurrency = concurrency
    }
}

/// `sync.domain`: the target is the domain.
public struct DomainSync: SyncParameters {
    public static let jobType = "sync.domain"
    public static let kind = JobKind.sync
    public static let syncType = SyncType.domain
    /// Run the whole sync and report what it would change; change nothing.
    public var dryRun: Bool?
    /// Users merged per transaction (tests and benchmarks; the default suits every size).
    public var batchSize: Int?

    public init(dryRun: Bool? = nil, batchSize: Int? = nil) {
        self.dryRun = dryRun
        self.batchSize = batchSize
    }

    enum CodingKeys: String, CodingKey {
        case dryRun = "dry_run", batchSize = "batch_size"
    }
}

/// `sync.ldap`: the target is the domain.
public struct LDAPSync: SyncParameters {
    public static let jobType = "sync.ldap"
    public static let kind = JobKind.sync
    public static let syncType = SyncType.ldap
    /// Read and report, change nothing.
    public var dryRun: Bool?
    /// Lets this run delete up to this many users past the deletion guard.
    public var allowDeletes: Int?

    public init(dryRun: Bool? = nil, allowDeletes: Int? = nil) {
        self.dryRun = dryRun
        self.allowDeletes = allowDeletes
    }

    enum CodingKeys: String, CodingKey {
        case dryRun = "dry_run", allowDeletes = "allow_deletes"
    }
}
