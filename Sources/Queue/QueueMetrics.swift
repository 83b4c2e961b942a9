import CoreMetrics
import Foundation
import JobCatalog
import Logging
import Postgres
import Runtime
import ServiceLifecycle

/// What the queue records through swift-metrics (README.md, "Metrics"). Labels are bounded: job
/// types and kinds, outcomes and states, never a job's id or target.
enum QueueMetrics {
    /// An attempt's end as written: `succeeded`, `failed`, `canceled`, or `retried` (queued again).
    static func jobFinished(type: String, recorded state: JobState) {
        let outcome = state.isFinal ? state.rawValue : "retried"
        Counter(label: "ucp_jobs_finished_total", dimensions: [("type", type), ("outcome", outcome)]).increment()
    }

    static func jobsSucceeded(type: String, count: Int) {
        guard count > 0 else { return }
        Counter(label: "ucp_jobs_finished_total", dimensions: [("type", type), ("outcome", JobState.succeeded.rawValue)])
            .increment(by: count)
    }

    /// How long a handler ran, by job type.
    static func jobDuration(type: String, _ duration: Swift.Duration) {
        Timer(label: "ucp_job_duration_seconds", dimensions: [("type", type)]).recordNanoseconds(duration.nanoseconds)
    }

    /// How long a claimed job waited after it became due (both times from the database's clock).
    static func claimLatency(_ job: Job) {
        guard let started = job.startedAt else { return }
        let seconds = max(0, started.timeIntervalSince(max(job.runAt, job.createdAt)))
        Timer(label: "ucp_job_claim_latency_seconds", dimensions: [("kind", job.kind.rawValue)]).recordSeconds(seconds)
    }

    /// One claim's round trip.
    static func claimRoundTrip(_ duration: Swift.Duration) {
        Timer(label: "ucp_job_claim_seconds").recordNanoseconds(duration.nanoseconds)
    }
}

extension Swift.Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// The queue depth gauges, `ucp_queue_jobs{kind,state}` (queued, running, canceling) and
/// `ucp_queue_jobs_due{kind}` (queued and due: what a worker autoscaler watches), refreshed by one
/// grouped read each interval. Every kind and state is set, to 0 when none, so a series never
/// keeps a stale value. Run by the coordinators and `serve`; each reports the same figures, so
/// dashboards take `max` over the instances.
///
/// Also the change-notification lag and backlog, `ucp_change_notification_lag_seconds` and
/// `ucp_change_notification_backlog`: left at 0 until the change-notification handlers (issue 13)
/// record them.
public struct QueueGauges: Service {
    public let intervalSeconds: Double
    private let database: ConnectionConfiguration
    private let logger: Logger
    private let clock: any TimeSource

    public init(database: ConnectionConfiguration, intervalSeconds: Double = 5, logger: Logger,
                clock: any TimeSource = SystemTimeSource()) {
        self.database = database
        self.intervalSeconds = intervalSeconds
        self.logger = logger
        self.clock = clock
    }

    static let depthStates: [JobState] = [.queued, .running, .canceling]

    public func run() async throws {
        let store = QueueStore(Connection(database))
        Gauge(label: "ucp_change_notification_lag_seconds").record(0)
        Gauge(label: "ucp_change_notification_backlog").record(0)
        await PeriodicLoop(.init(name: "queue gauges", intervalSeconds: intervalSeconds), clock: clock, logger: logger).run {
            try await runOnce(store)
        }
        await store.connection.close()
    }

    /// One refresh; returns what it set.
    @discardableResult
    public func runOnce(_ store: QueueStore) async throws -> [QueueStore.Depth] {
        let depths = try await store.jobDepthByKindAndState(now: clock.sqlNow)
        for kind in JobKind.allCases {
            for state in Self.depthStates {
                let jobs = depths.first { $0.kind == kind && $0.state == state }?.jobs ?? 0
                Gauge(label: "ucp_queue_jobs", dimensions: [("kind", kind.rawValue), ("state", state.rawValue)]).record(jobs)
            }
            let due = depths.filter { $0.kind == kind }.reduce(0) { $0 + $1.due }
            Gauge(label: "ucp_queue_jobs_due", dimensions: [("kind", kind.rawValue)]).record(due)
        }
        return depths
    }
}
