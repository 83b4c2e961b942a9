import Foundation
import Queue

/// The four sync job types and what each is about.
public enum SyncType: String, CaseIterable, Sendable {
    case infra, user, domain, ldap

    public var jobType: String { "sync.\(rawValue)" }
    public var kind: JobKind { self == .infra || self == .user ? .deviceSync : .sync }
    /// What the target names: a device for infrastructure and user syncs, a domain otherwise.
    public var targetField: String { kind == .deviceSync ? "device" : "domain" }
    public var title: String {
        switch self {
        case .infra: return "infrastructure synchronization"
        case .user: return "user synchronization"
        case .domain: return "domain synchronization"
        case .ldap: return "LDAP synchronization"
        }
    }
}

/// Payload of the stand-in syncs that hold the place of the real ones until they land (domain, LDAP),
/// and that the real infrastructure and user syncs still run when their payload carries these fields
/// (schedule and watchdog tests): they run for `seconds` while reporting progress; with `hang` they
/// stop reporting and never finish by themselves; with `fail` they fail with that message.
public protocol StandInSyncParameters: JobParameters {
    var seconds: Double? { get }
    var hang: Bool? { get }
    var fail: String? { get }
}

public struct DomainSyncStandIn: StandInSyncParameters {
    public static let jobType = SyncType.domain.jobType
    public static let kind = SyncType.domain.kind
    public var seconds: Double?
    public var hang: Bool?
    public var fail: String?
}

public enum SyncJobs {
    /// Registers the sync job types.
    public static func register(in registry: inout JobRegistry) {
        registry.register(InfrastructureSync.self, maxAttempts: 1, run: DeviceSync.run)
        registry.register(UserSync.self, maxAttempts: 1, run: DeviceSync.run)
        DeviceTestJob.register(in: &registry)
        registry.register(DomainSyncStandIn.self, maxAttempts: 1, run: runStandIn)
        LDAPSyncJob.register(in: &registry)
    }

    static let stepSeconds = 0.25

    @Sendable
    static func runStandIn<P: StandInSyncParameters>(_ parameters: P, _ context: JobContext) async throws {
        let seconds = max(0, parameters.seconds ?? 5)
        let steps = max(1, Int((seconds / stepSeconds).rounded(.up)))
        let target = context.job.target ?? "?"
        try await context.progress(done: 0, total: Int64(steps), message: "reading \(target)")
        if parameters.hang == true {
            // Stuck: no more progress, no end. Only a stop (watchdog, operator, shutdown) ends it.
            while true {
                try await Task.sleep(nanoseconds: 1_000_000_000)
                try context.checkCancellation()
            }
        }
        for step in 1...steps {
            try await Task.sleep(nanoseconds: UInt64(min(stepSeconds, seconds) * 1_000_000_000))
            try await context.progress(done: Int64(step), total: Int64(steps), message: "step \(step) of \(steps)")
        }
        if let failure = parameters.fail { throw StandInFailure(description: failure) }
    }

    struct StandInFailure: Error, CustomStringConvertible { var description: String }
}
