import Foundation
import Logging
import JobCatalog
import Postgres
import Runtime
import Synchronization

/// A job type the worker can run: its contract and its handler.
public struct JobDefinition: Sendable {
    public let type: String
    public let kind: JobKind
    public let maxAttempts: Int
    public let run: @Sendable (JobContext) async throws -> Void
}

/// The handlers of a worker, by job type. Features register theirs at start-up; registering one
/// type twice is an error, never a silent replacement.
public struct JobRegistry: Sendable {
    public private(set) var definitions: [String: JobDefinition] = [:]

    public init() {}

    public mutating func register<P: JobParameters>(
        _ parameters: P.Type, run: @escaping @Sendable (P, JobContext) async throws -> Void
    ) throws {
        guard definitions[P.jobType] == nil else {
            throw JobRegistryError(problem: "job type '\(P.jobType)' is registered twice")
        }
        definitions[P.jobType] = JobDefinition(
            type: P.jobType, kind: P.kind, maxAttempts: P.maxAttempts,
            run: { context in try await run(try P.decode(payload: context.job.payload), context) })
    }

    /// Puts `wrap` around the handler of a registered type (stand-in syncs of tests and the demo).
    /// Explicit, and refused for a type nobody registered.
    public mutating func intercept(
        _ type: String,
        _ wrap: @escaping @Sendable (JobContext, _ handler: @Sendable (JobContext) async throws -> Void) async throws -> Void
    ) throws {
        guard let definition = definitions[type] else {
            throw JobRegistryError(problem: "job type '\(type)' cannot be intercepted: it is not registered")
        }
        definitions[type] = JobDefinition(type: definition.type, kind: definition.kind,
                                          maxAttempts: definition.maxAttempts,
                                          run: { context in try await wrap(context, definition.run) })
    }

    public func definition(for type: String) throws -> JobDefinition {
        guard let definition = definitions[type] else {
            let known = definitions.keys.sorted().joined(separator: ", ")
            throw InputError(field: "job type", problem: "unknown type '\(type)' (known: \(known))")
        }
        return definition
    }
}

/// A registry built wrongly at start-up.
public struct JobRegistryError: Error, CustomStringConvertible {
    public var problem: String
    public init(problem: String) {
        self.problem = problem
    }

    public var description: String { "job registry: \(problem)" }
}

/// An error a handler throws to have its job tried again later (with backoff), while attempts remain.
public struct RetryableJobError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Thrown by `JobContext` when an operator canceled the job.
public struct JobCanceledError: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "canceled" }
}

/// Thrown by `JobContext` when this attempt no longer owns the job (rescued or stopped as stuck).
public struct JobLostError: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "this attempt no longer owns the job" }
}

/// Shared between a running handler and its worker: what the heartbeats learnt, and the local
/// lease deadline. A signal also ends the handler's wait in `JobContext.sleep`, so a lost or
/// canceled attempt stops at once instead of sleeping on (a blocking device call still ends
/// first: no task can interrupt it).
///
/// The deadline is the worker's own view of its lease, on the monotonic clock: the time a claim,
/// heartbeat or progress report that renewed the lease was *sent*, plus a share of the lease. Once
/// it has passed, the attempt counts as lost without asking the database — a worker that was
/// paused (SIGSTOP, a long GC-like stall, a cut-off network) must not run on in the moment before
/// its next heartbeat tells it that the coordinator rescued the job.
final class JobControl: Sendable {
    enum Signal: Sendable { case none, cancel, lost }

    /// The share of the lease a renewal is trusted for: the margin covers the round trip and the
    /// rescue running a little early.
    static let trustedShareOfLease = 0.8

    private struct State {
        var signal = Signal.none
        var leaseDeadline: ContinuousClock.Instant
        var closingLine: String?
    }

    private let state: Mutex<State>
    private let clock: any TimeSource
    private let wakeup: Wakeup
    private let leaseSeconds: Double

    /// `renewedAt`: when the claim that started the attempt was sent.
    init(clock: any TimeSource = SystemTimeSource(), leaseSeconds: Double = 30,
         renewedAt: ContinuousClock.Instant = .now) {
        self.clock = clock
        self.leaseSeconds = leaseSeconds
        wakeup = Wakeup(clock: clock)
        state = Mutex(State(leaseDeadline: renewedAt + Self.trusted(leaseSeconds)))
    }

    private static func trusted(_ leaseSeconds: Double) -> Duration {
        .milliseconds(Int64(leaseSeconds * trustedShareOfLease * 1000))
    }

    /// What the heartbeats learnt; `.lost` also once the local lease deadline has passed.
    var signal: Signal {
        let (signal, expired) = state.withLock { ($0.signal, ContinuousClock.now >= $0.leaseDeadline) }
        guard signal != .lost, expired else { return signal }
        set(.lost)
        return .lost
    }

    /// The line `JobContext.logOnSuccess` left for the worker to write with the job's success.
    var closingLine: String? {
        get { state.withLock { $0.closingLine } }
        set { state.withLock { $0.closingLine = newValue } }
    }

    /// Records what a heartbeat or progress report learnt; once lost, the attempt stays lost.
    func set(_ signal: Signal) {
        let changed = state.withLock { state -> Bool in
            guard state.signal != .lost, state.signal != signal else { return false }
            state.signal = signal
            return true
        }
        if changed && signal != .none { wakeup.signal() }
    }

    /// A renewal that the database confirmed, sent at `sentAt`: the lease holds until then plus the
    /// trusted share (never moved back).
    func leaseRenewed(sentAt: ContinuousClock.Instant) {
        let deadline = sentAt + Self.trusted(leaseSeconds)
        state.withLock { state in
            if state.signal != .lost && deadline > state.leaseDeadline { state.leaseDeadline = deadline }
        }
    }

    /// Waits `seconds` of the clock, or less when a signal comes, the local lease runs out or the
    /// task is canceled.
    func wait(seconds: Double) async {
        let deadline = clock.now.addingTimeInterval(seconds)
        while signal == .none && !Task.isCancelled {
            let left = deadline.timeIntervalSince(clock.now)
            guard left > 0 else { return }
            let leaseLeft = state.withLock { ContinuousClock.now.duration(to: $0.leaseDeadline) }
            let leaseSeconds = Double(leaseLeft.components.seconds) + Double(leaseLeft.components.attoseconds) * 1e-18
            await wakeup.wait(timeout: min(left, max(0.001, leaseSeconds)))
        }
    }
}

/// How an attempt ends: what the worker writes once the handler returned or threw.
struct AttemptEnding: Equatable, Sendable {
    /// What `jobEnd` (or the batched finisher) records; nil records nothing: the attempt lost the
    /// job, or the worker is stopping and its drain hands the job back.
    var outcome: QueueStore.Outcome?
    /// The job's error text.
    var error: String?
    /// How long after the attempt's end (on the database's clock) a retried job may run again.
    var retryDelay: Double?

    /// Decides from what the handler threw (nil: it returned), what the heartbeats learnt
    /// (`signal`) and whether the worker canceled the handler's task because it is stopping.
    /// `retryDelay` is the pause before a retry, chosen by the caller (it has jitter).
    ///
    /// A handler that returned did its work: its job succeeds even when a cancel came meanwhile
    /// (the batched success and `ucp_job_end` write it so). A handler that stops for a cancel must
    /// throw — `JobContext` throws `JobCanceledError` — never return.
    static func of(error: (any Error)?, signal: JobControl.Signal, taskCanceled: Bool,
                   retryDelay: Double) -> AttemptEnding {
        guard let error else { return AttemptEnding(outcome: .succeeded) }
        if error is JobCanceledError { return AttemptEnding(outcome: .canceled, error: "canceled") }
        if error is JobLostError { return AttemptEnding(outcome: nil) }
        switch signal {
        case .lost: return AttemptEnding(outcome: nil)
        case .cancel: return AttemptEnding(outcome: .canceled, error: "canceled")
        case .none:
            if taskCanceled { return AttemptEnding(outcome: nil) }  // stopping: the drain releases it
            // A lost database connection inside a handler is worth another try, like any error the
            // handler marks retryable.
            if error is RetryableJobError || (error as? PostgresError)?.isTransient == true {
                return AttemptEnding(outcome: .retry, error: "\(error)", retryDelay: retryDelay)
            }
            return AttemptEnding(outcome: .failed, error: "\(error)")
        }
    }
}

/// What a handler receives: the job, a logger, progress reporting, cancellation checks and the database.
public struct JobContext: Sendable {
    public let job: Job
    public let logger: Logger
    /// Connections for the handler's own reads and writes.
    public let database: ConnectionPool
    let store: QueueStore
    let control: JobControl
    let leaseSeconds: Double
    /// The worker's clock: progress is stamped with its time.
    let clock: any TimeSource

    /// This attempt of the job: what a transaction written on the job's behalf is fenced on
    /// (`QueueStore.InTransaction.jobConfirmOwned`).
    public var held: QueueStore.Held { .init(id: job.id, attempt: job.attempt) }

    /// Records progress (and renews the lease); throws when the job was canceled or lost meanwhile.
    public func progress(done: Int64, total: Int64? = nil, message: String? = nil) async throws {
        try checkCancellation()
        let sentAt = ContinuousClock.now
        let state = try await store.jobProgress(held, done: done, total: total, message: message,
                                                leaseSeconds: leaseSeconds, now: clock.sqlNow)
        switch state {
        case nil: control.set(.lost)
        case .canceling?: control.set(.cancel)
        default: control.leaseRenewed(sentAt: sentAt)
        }
        try checkCancellation()
    }

    /// Throws `JobLostError` when this attempt no longer owns the job, as far as the worker knows
    /// without asking: the heartbeats said so, or its local lease ran out. Call it right before
    /// every write to a device.
    public func checkOwnership() throws {
        if control.signal == .lost { throw JobLostError() }
    }

    /// Waits on the worker's clock, like `Task.sleep`, but throws as soon as the job is canceled or
    /// lost meanwhile, or the worker stops: handlers wait through their context.
    public func sleep(seconds: Double) async throws {
        try checkCancellation()
        await control.wait(seconds: seconds)
        try checkCancellation()
    }

    /// Throws when the job was canceled, lost, or the worker is stopping.
    public func checkCancellation() throws {
        switch control.signal {
        case .cancel: throw JobCanceledError()
        case .lost: throw JobLostError()
        case .none: try Task.checkCancellation()
        }
    }

    /// Appends a line to the job's detailed log; throws `JobLostError` instead when the attempt no
    /// longer owns the job (the line is not written: the log shows only what the owner did).
    ///
    /// A line whose connection was lost (a restart, a failover) is written again once the server
    /// answers, for as long as the attempt owns the job: failing the attempt instead would run the
    /// whole handler again, and the lost line may have been committed all the same (then it shows
    /// twice, under the same attempt).
    public func log(_ message: String, level: Logger.Level = .info) async throws {
        try checkOwnership()
        logger.log(level: level, "\(message)")
        var backoff = Backoff(initial: 0.05, maximum: 1)
        while true {
            do {
                guard try await store.jobLogAppend(held, level: level.rawValue, message: message) else {
                    control.set(.lost)
                    throw JobLostError()
                }
                return
            } catch let error as PostgresError where error.kind == .connectionLost {
                logger.log(level: backoff.attempt == 0 ? .warning : .debug,
                           "job log line not written, trying again when the server answers: \(error)")
                await control.wait(seconds: backoff.nextDelay())
                try checkCancellation()
            }
        }
    }

    /// Leaves a line (level info) that the worker writes to the job's log in the same statement that
    /// records this attempt's success: it is there exactly when the success is, so it counts
    /// completions — a worker killed between the handler's end and the success, whose order then
    /// runs again, leaves no line for the attempt it did not record (a line written by `log` at the
    /// handler's end would stay). A later call replaces the line. Orders and tasks only: a sync's
    /// success is not batched, and a sync that calls this is refused with `JobRegistryError`.
    public func logOnSuccess(_ message: String) throws {
        guard !job.kind.isSync else {
            throw JobRegistryError(problem: "\(job.type): logOnSuccess is for orders and tasks, not syncs")
        }
        try checkOwnership()
        control.closingLine = message
    }
}
