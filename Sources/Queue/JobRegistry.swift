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
    public var description: String { "canceled" }
}

/// Thrown by `JobContext` when this attempt no longer owns the job (rescued or stopped as stuck).
public struct JobLostError: Error, CustomStringConvertible {
    public var description: String { "this attempt no longer owns the job" }
}

/// Shared between a running handler and its worker: what the heartbeats learnt.
final class JobControl: Sendable {
    enum Signal: Sendable { case none, cancel, lost }

    private struct State {
        var signal = Signal.none
        var handlerEnded = false
        /// `runCancelingOnLoss`, waiting for the handler to end or the attempt to be lost.
        var waiter: CheckedContinuation<Void, Never>?

        mutating func takeWaiter() -> CheckedContinuation<Void, Never>? {
            defer { waiter = nil }
            return waiter
        }
    }

    private let state = Mutex(State())

    var signal: Signal { state.withLock { $0.signal } }

    /// Records what a heartbeat or progress report learnt; once lost, the attempt stays lost.
    func set(_ signal: Signal) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.signal != .lost else { return nil }
            state.signal = signal
            return signal == .lost ? state.takeWaiter() : nil
        }
        waiter?.resume()
    }

    /// Runs `handler` as a child task, canceling it if the attempt loses the job meanwhile (rescued,
    /// or stopped as stuck), so that a handler blocked in a cancellable wait lets go at once. Returns
    /// or throws what the handler returned or threw. Call once per attempt.
    func runCancelingOnLoss(_ handler: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { self.handlerEnded() }
                try await handler()
            }
            if await untilHandlerEndsOrLoss() { group.cancelAll() }
            try await group.next()
        }
    }

    private func handlerEnded() {
        state.withLock { state in
            state.handlerEnded = true
            return state.takeWaiter()
        }?.resume()
    }

    /// Returns true when the attempt was lost before its handler ended; returns at once when the
    /// task is canceled (its child, the handler, is canceled with it).
    private func untilHandlerEndsOrLoss() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.handlerEnded || state.signal == .lost || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.takeWaiter() }?.resume()
        }
        return state.withLock { !$0.handlerEnded && $0.signal == .lost }
    }
}

/// How an attempt ends: what the worker writes once the handler returned or threw.
struct AttemptEnding: Equatable, Sendable {
    /// What `jobEnd` (or the batched finisher) records; nil records nothing: the attempt lost the
    /// job, or the worker is stopping and its drain hands the job back.
    var outcome: QueueStore.Outcome?
    /// The job's error text.
    var error: String?
    /// When a retried job may run again.
    var retryAt: Date?

    /// Decides from what the handler threw (nil: it returned), what the heartbeats learnt
    /// (`signal`) and whether the worker canceled the handler's task because it is stopping.
    /// `retryDelay` is the pause before a retry, chosen by the caller (it has jitter).
    static func of(error: (any Error)?, signal: JobControl.Signal, taskCanceled: Bool, now: Date,
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
                return AttemptEnding(outcome: .retry, error: "\(error)", retryAt: now.addingTimeInterval(retryDelay))
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

    var held: QueueStore.Held { .init(id: job.id, attempt: job.attempt) }

    /// Records progress; throws when the job was canceled or lost meanwhile.
    public func progress(done: Int64, total: Int64? = nil, message: String? = nil) async throws {
        try checkCancellation()
        let state = try await store.jobProgress(held, done: done, total: total, message: message,
                                                leaseSeconds: leaseSeconds, now: clock.sqlNow)
        switch state {
        case nil: control.set(.lost)
        case .canceling?: control.set(.cancel)
        default: break
        }
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

    /// Appends a line to the job's detailed log.
    public func log(_ message: String, level: Logger.Level = .info) async throws {
        logger.log(level: level, "\(message)")
        try await store.jobLogAppend(held, level: level.rawValue, message: message)
    }
}
