import Foundation

/// The built-in no-op order: does nothing, or waits `seconds`. It counts as an order, so
/// maintenance mode holds it back. Tests, the demo and the benchmark use it.
public struct NoopJob: JobParameters {
    public static let jobType = "noop"
    public static let kind = JobKind.order

    /// How long the job runs.
    public var seconds: Double?
    /// Write "noop started" and "noop finished" to the job's log (tests count runs with it).
    public var log: Bool?
    /// Fail with this message (retryable when `retryable` is true).
    public var fail: String?
    public var retryable: Bool?

    public init(seconds: Double? = nil, log: Bool? = nil, fail: String? = nil, retryable: Bool? = nil) {
        self.seconds = seconds
        self.log = log
        self.fail = fail
        self.retryable = retryable
    }

    public static func register(in registry: inout JobRegistry) {
        registry.register(NoopJob.self) { parameters, context in
            if parameters.log == true { try await context.log("noop started") }
            if let seconds = parameters.seconds, seconds > 0 {
                try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
                try context.checkCancellation()
            }
            if let message = parameters.fail {
                if parameters.retryable == true { throw RetryableJobError(message) }
                throw NoopFailure(description: message)
            }
            if parameters.log == true { try await context.log("noop finished") }
        }
    }

    struct NoopFailure: Error, CustomStringConvertible { var description: String }
}
