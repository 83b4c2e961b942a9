import Foundation
import Logging
import Postgres
import Synchronization

/// The parameters of a job type: a `Codable` struct with the type's name and kind. A registry
/// decodes a job's payload into it before calling the handler.
public protocol JobParameters: Codable, Sendable {
    static var jobType: String { get }
    static var kind: JobKind { get }
}

/// A job type the worker can run.
public struct JobDefinition: Sendable {
    public let type: String
    public let kind: JobKind
    public let maxAttempts: Int
    /// Checks a payload before it is enqueued (nothing is written when it throws).
    public let validate: @Sendable (String) throws -> Void
    public let run: @Sendable (JobContext) async throws -> Void
}

/// Job types by name. Features register theirs; `ucp` builds one registry for every role.
public struct JobRegistry: Sendable {
    public private(set) var definitions: [String: JobDefinition] = [:]

    public init() {}

    public mutating func register<P: JobParameters>(
        _ parameters: P.Type, maxAttempts: Int = 5,
        run: @escaping @Sendable (P, JobContext) async throws -> Void
    ) {
        definitions[P.jobType] = JobDefinition(
            type: P.jobType, kind: P.kind, maxAttempts: maxAttempts,
            validate: { payload in _ = try JobPayload.decode(P.self, from: payload) },
            run: { context in try await run(try JobPayload.decode(P.self, from: context.job.payload), context) })
    }

    public func definition(for type: String) throws -> JobDefinition {
        guard let definition = definitions[type] else {
            let known = definitions.keys.sorted().joined(separator: ", ")
            throw QueueError.invalidInput("job type: unknown type '\(type)' (known: \(known))")
        }
        return definition
    }
}

enum JobPayload {
    static func decode<P: Decodable>(_ type: P.Type, from payload: String) throws -> P {
        do {
            return try JSONDecoder().decode(P.self, from: Data(payload.utf8))
        } catch let error as DecodingError {
            throw QueueError.invalidInput("payload: \(describe(error))")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map(\.stringValue).joined(separator: ".")
            return keys.isEmpty ? "" : "field '\(keys)': "
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context))missing required field '\(key.stringValue)'"
        case .typeMismatch(let type, let context): return "\(path(context))must be \(type)"
        case .valueNotFound(let type, let context): return "\(path(context))must be a \(type), not null"
        case .dataCorrupted(let context): return "\(path(context))\(context.debugDescription)"
        @unknown default: return "cannot be decoded"
        }
    }
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
    private let state = Mutex<Signal>(.none)

    var signal: Signal { state.withLock { $0 } }
    func set(_ signal: Signal) {
        state.withLock { current in if current != .lost { current = signal } }
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

    var held: QueueStore.Held { .init(id: job.id, attempt: job.attempt) }

    /// Records progress; throws when the job was canceled or lost meanwhile.
    public func progress(done: Int64, total: Int64? = nil, message: String? = nil) async throws {
        try checkCancellation()
        let state = try await store.jobProgress(held, done: done, total: total, message: message,
                                                leaseSeconds: leaseSeconds)
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
