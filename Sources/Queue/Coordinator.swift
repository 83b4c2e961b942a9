import Foundation
import Logging
import Postgres
import Runtime
import ServiceLifecycle

/// A periodic duty of the coordinator (lease rescue, pruning, schedule firing …). Duties run only
/// on the leader; `runOnce` is what tests call instead of waiting for the interval.
public protocol CoordinatorDuty: Sendable {
    var name: String { get }
    var intervalSeconds: Double { get }
    func runOnce(_ store: QueueStore, actor: String) async throws
}

public struct CoordinatorConfiguration: Sendable {
    public var name: String
    /// How long a leader's claim stays valid without renewal. A standby takes over within this
    /// time after the leader dies: the lease row is written for 3/4 of it and checked every 1/5.
    public var leaderLeaseSeconds: Double = 15
    public var rescueIntervalSeconds: Double = 5
    public var pruneIntervalSeconds: Double = 3600
    /// Finished jobs older than this are deleted (the audit trail is kept).
    public var retentionSeconds: Double = 7 * 86400

    public init(name: String) {
        self.name = name
    }

    public func validate() throws {
        guard Names.isValidProcessName(name) else {
            throw QueueError.invalidInput("name: use 1 to 64 letters, digits, '.', '_', '-' or '@' (got '\(name)')")
        }
        guard leaderLeaseSeconds >= 1 else { throw QueueError.invalidInput("leader lease: must be at least 1 second") }
        guard rescueIntervalSeconds > 0 else { throw QueueError.invalidInput("rescue interval: must be positive") }
        guard pruneIntervalSeconds > 0 else { throw QueueError.invalidInput("prune interval: must be positive") }
        guard retentionSeconds >= 60 else { throw QueueError.invalidInput("retention: must be at least 1 minute") }
    }
}

/// Rescues jobs whose worker stopped renewing the lease (rule 3 of DESIGN.md §4).
public struct LeaseRescueDuty: CoordinatorDuty {
    public let name = "lease rescue"
    public let intervalSeconds: Double
    let logger: Logger

    public func runOnce(_ store: QueueStore, actor: String) async throws {
        let rescued = try await store.jobRescueExpired(actor: actor)
        for job in rescued {
            logger.warning("lease expired: worker lost", metadata: [
                "job.id": "\(job.id)", "job.type": "\(job.type)", "job.state": "\(job.state.rawValue)",
            ])
        }
    }
}

/// Deletes old finished jobs and stopped workers.
public struct PruneDuty: CoordinatorDuty {
    public let name = "prune"
    public let intervalSeconds: Double
    let retentionSeconds: Double
    let logger: Logger

    public func runOnce(_ store: QueueStore, actor: String) async throws {
        var total = 0
        while true {
            let deleted = try await store.jobPrune(retentionSeconds: retentionSeconds, limit: 5000)
            total += deleted
            if deleted < 5000 { break }
        }
        _ = try await store.workerPrune(olderThanSeconds: max(retentionSeconds, 86400))
        if total > 0 { logger.info("pruned \(total) finished job(s)") }
    }
}

/// Writes the audit line when maintenance mode starts because a scheduled sync became due by the clock.
public struct MaintenanceClockDuty: CoordinatorDuty {
    public let name = "maintenance clock"
    public let intervalSeconds: Double

    public func runOnce(_ store: QueueStore, actor: String) async throws {
        try await store.maintenanceRefresh(actor: actor)
    }
}

/// The coordinator: elected leader through a lease row in `leadership`; while leader it runs its
/// duties, each at its interval.
///
///     standby ──lease free or expired──▶ leader ──renewal failed / lease taken──▶ standby
///        ▲                                  │
///        └──────────── stop (resigns) ◀─────┘
public final class Coordinator: Service, Sendable {
    public static let leadershipRole = "coordinator"
    public let configuration: CoordinatorConfiguration
    private let database: ConnectionConfiguration
    private let duties: [any CoordinatorDuty]
    private let logger: Logger

    public init(configuration: CoordinatorConfiguration, database: ConnectionConfiguration,
                extraDuties: [any CoordinatorDuty] = [], logger: Logger) {
        self.configuration = configuration
        self.database = database
        var logger = logger
        logger[metadataKey: "coordinator"] = "\(configuration.name)"
        self.logger = logger
        self.duties = [
            LeaseRescueDuty(intervalSeconds: configuration.rescueIntervalSeconds, logger: logger),
            MaintenanceClockDuty(intervalSeconds: configuration.rescueIntervalSeconds),
            PruneDuty(intervalSeconds: configuration.pruneIntervalSeconds,
                      retentionSeconds: configuration.retentionSeconds, logger: logger),
        ] + extraDuties
    }

    public func run() async throws {
        try configuration.validate()
        let store = QueueStore(Connection(database))
        let tick = min(configuration.leaderLeaseSeconds / 5, duties.map(\.intervalSeconds).min() ?? 1)
        var leading = false
        var lastRun: [String: Date] = [:]
        var backoff = Backoff()
        logger.info("coordinator started")
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let nowLeading = try await store.leaderAttemptElect(
                    role: Self.leadershipRole, holder: configuration.name,
                    leaseSeconds: configuration.leaderLeaseSeconds * 0.75)
                backoff.reset()
                if nowLeading != leading {
                    leading = nowLeading
                    lastRun = [:]
                    logger.info(leading ? "elected leader" : "standing by: another coordinator leads")
                    if leading {
                        try? await store.auditAppend(actor: configuration.name, action: "coordinator.leader",
                                                     message: "Coordinator \(configuration.name) became leader")
                    }
                }
                if leading {
                    for duty in duties {
                        let due = lastRun[duty.name].map { Date().timeIntervalSince($0) >= duty.intervalSeconds } ?? true
                        guard due else { continue }
                        lastRun[duty.name] = Date()
                        do {
                            try await duty.runOnce(store, actor: configuration.name)
                        } catch {
                            logger.warning("\(duty.name) failed: \(error)")
                        }
                    }
                }
            } catch {
                if leading { logger.warning("lost contact with the database; no longer acting as leader: \(error)") }
                leading = false
                let delay = backoff.nextDelay()
                try? await cancelWhenGracefulShutdown { try await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000)) }
                continue
            }
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(nanoseconds: UInt64(tick * 1_000_000_000))
            }
        }
        if leading {
            try? await store.leaderResign(role: Self.leadershipRole, holder: configuration.name)
            logger.info("resigned leadership")
        }
        await store.connection.close()
        logger.info("coordinator stopped")
    }
}
