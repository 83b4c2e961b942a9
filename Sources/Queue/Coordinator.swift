import Foundation
import Logging
import Postgres
import Runtime
import ServiceLifecycle
import Synchronization

/// A periodic duty of the coordinator (lease rescue, pruning, schedule firing …). Duties run only
/// on the leader; `runOnce` is what tests call instead of waiting for the interval. `clock` tells
/// the time to judge by: `clock.now` for what is decided in Swift, `clock.sqlNow` for store calls.
public protocol CoordinatorDuty: Sendable {
    var name: String { get }
    var intervalSeconds: Double { get }
    func runOnce(_ store: QueueStore, actor: String, clock: any TimeSource) async throws
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
        try Names.validateProcessName(name)
        guard leaderLeaseSeconds >= 1 else { throw InputError(field: "leader lease", problem: "must be at least 1 second") }
        guard rescueIntervalSeconds > 0 else { throw InputError(field: "rescue interval", problem: "must be positive") }
        guard pruneIntervalSeconds > 0 else { throw InputError(field: "prune interval", problem: "must be positive") }
        guard retentionSeconds >= 60 else { throw InputError(field: "retention", problem: "must be at least 1 minute") }
    }
}

/// Rescues jobs whose worker stopped renewing the lease (rule 3 of DESIGN.md §4).
public struct LeaseRescueDuty: CoordinatorDuty {
    public let name = "lease rescue"
    public let intervalSeconds: Double
    let logger: Logger

    public func runOnce(_ store: QueueStore, actor: String, clock: any TimeSource) async throws {
        let rescued = try await store.jobRescueExpired(actor: actor, now: clock.sqlNow)
        for job in rescued {
            logger.warning("lease expired: worker lost", metadata: [
                "job.id": "\(job.id)", "job.type": "\(job.type)", "job.state": "\(job.state.rawValue)",
            ])
        }
        // What the rescue skipped because a paused worker's write still locks the row: end that
        // worker's sessions; the next round rescues the job.
        for session in try await store.lostWorkerSessionsEnd(sessionPrefix: Worker.sessionNamePrefix, now: clock.sqlNow) {
            logger.warning("""
                ended session \(session.pid) of worker \(session.worker): it held job \(session.jobID) locked past the \
                job's lease (the worker was paused or cut off); the job is rescued next round
                """, metadata: ["job.id": "\(session.jobID)", "session.ended": "\(session.ended)"])
        }
    }
}

/// Deletes old finished jobs and stopped workers.
public struct PruneDuty: CoordinatorDuty {
    public let name = "prune"
    public let intervalSeconds: Double
    let retentionSeconds: Double
    let logger: Logger

    public func runOnce(_ store: QueueStore, actor: String, clock: any TimeSource) async throws {
        var total = 0
        while true {
            let deleted = try await store.jobPrune(retentionSeconds: retentionSeconds, limit: 5000, now: clock.sqlNow)
            total += deleted
            if deleted < 5000 { break }
        }
        _ = try await store.workerPrune(olderThanSeconds: max(retentionSeconds, 86400), now: clock.sqlNow)
        if total > 0 { logger.info("pruned \(total) finished job(s)") }
    }
}

/// Writes the audit line when maintenance mode starts because a scheduled sync became due by the clock.
public struct MaintenanceClockDuty: CoordinatorDuty {
    public let name = "maintenance clock"
    public let intervalSeconds: Double

    public func runOnce(_ store: QueueStore, actor: String, clock: any TimeSource) async throws {
        try await store.maintenanceRefresh(actor: actor, now: clock.sqlNow)
    }
}

/// The coordinator: elected leader through a lease row in `leadership`; while leader it runs its
/// duties, each at its interval on the coordinator's clock. Each round (`runOnce`) renews or takes
/// the lease, then runs the duties that are due; the rounds run in a `PeriodicLoop`.
///
///     standby ──lease free or expired──▶ leader ──renewal failed / lease taken──▶ standby
///        ▲                                  │
///        └──────────── stop (resigns) ◀─────┘
public final class Coordinator: Service, Sendable {
    public static let leadershipRole = "coordinator"
    public let configuration: CoordinatorConfiguration
    private let duties: [any CoordinatorDuty]
    private let logger: Logger
    private let clock: any TimeSource
    private let store: QueueStore
    private let round = Mutex(Round())

    /// What one round leaves for the next.
    private struct Round {
        var leading = false
        /// When each duty last ran, on the clock; forgotten when leadership changes hands.
        var lastRun: [String: Date] = [:]
    }

    public init(configuration: CoordinatorConfiguration, database: ConnectionConfiguration,
                extraDuties: [any CoordinatorDuty] = [], logger: Logger, clock: any TimeSource = SystemTimeSource()) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "coordinator"] = "\(configuration.name)"
        self.logger = logger
        self.clock = clock
        self.store = QueueStore(Connection(database))
        self.duties = [
            LeaseRescueDuty(intervalSeconds: configuration.rescueIntervalSeconds, logger: logger),
            MaintenanceClockDuty(intervalSeconds: configuration.rescueIntervalSeconds),
            PruneDuty(intervalSeconds: configuration.pruneIntervalSeconds,
                      retentionSeconds: configuration.retentionSeconds, logger: logger),
        ] + extraDuties
    }

    /// True while the last round found this coordinator leading.
    public var isLeading: Bool { round.withLock { $0.leading } }

    public func run() async throws {
        try configuration.validate()
        // A round often enough to renew the lease in time and to run the most frequent duty.
        let tick = min(configuration.leaderLeaseSeconds / 5, duties.map(\.intervalSeconds).min() ?? 1)
        // A round fails only when the database cannot be reached: it is tried again soon, and
        // `runOnce` says so itself when that costs the leadership.
        var loop = PeriodicLoop.Configuration(name: "coordinator round", intervalSeconds: tick, backoffAfterFailure: Backoff())
        loop.failureLogLevel = .debug
        logger.info("coordinator started")
        await PeriodicLoop(loop, clock: clock, logger: logger).run { try await runOnce() }
        if isLeading {
            try? await store.leaderResign(role: Self.leadershipRole, holder: configuration.name)
            logger.info("resigned leadership")
        }
        await store.connection.close()
        logger.info("coordinator stopped")
    }

    /// One round: takes or renews the leadership, then, while leading, runs each duty whose interval
    /// has passed on the clock (a duty that fails is logged and does not stop the others). Throws
    /// when the database cannot be reached; the coordinator then no longer counts as leader.
    public func runOnce() async throws {
        let wasLeading = isLeading
        let leading: Bool
        do {
            leading = try await store.leaderAttemptElect(
                role: Self.leadershipRole, holder: configuration.name,
                leaseSeconds: configuration.leaderLeaseSeconds * 0.75, now: clock.sqlNow)
        } catch {
            if wasLeading { logger.warning("lost contact with the database; no longer acting as leader: \(error)") }
            round.withLock { $0 = Round() }
            throw error
        }
        if leading != wasLeading {
            round.withLock { $0 = Round(leading: leading) }
            logger.info(leading ? "elected leader" : "standing by: another coordinator leads")
            if leading {
                try? await store.auditAppend(actor: configuration.name, action: "coordinator.leader",
                                             message: "Coordinator \(configuration.name) became leader")
            }
        }
        guard leading else { return }
        for duty in duties {
            let now = clock.now
            let due = round.withLock { round -> Bool in
                guard round.lastRun[duty.name].map({ now.timeIntervalSince($0) >= duty.intervalSeconds }) ?? true else {
                    return false
                }
                round.lastRun[duty.name] = now
                return true
            }
            guard due else { continue }
            do {
                try await duty.runOnce(store, actor: configuration.name, clock: clock)
            } catch {
                logger.warning("\(duty.name) failed: \(error)")
            }
        }
    }
}
