import Logging
import ServiceLifecycle

/// The loop of every periodic service (the coordinator and its duties, the watchdog, the alert
/// outbox): a round at once, then one per interval on the service's clock, until a graceful
/// shutdown (swift-service-lifecycle) or cancellation. A failed round is logged and the loop goes
/// on. Each service also offers its round as `runOnce`, which tests call instead of running the loop.
public struct PeriodicLoop: Sendable {
    public struct Configuration: Sendable {
        /// What log lines call a round ("status check", "alert outbox").
        public var name: String
        /// The pause between the end of one round and the start of the next.
        public var intervalSeconds: Double
        /// After a failed round the pause is this backoff's next delay instead of the interval (a
        /// coordinator that lost the database tries again soon); nil keeps the interval.
        public var backoffAfterFailure: Backoff?
        /// A service that reports its own failures asks for `.debug` here.
        public var failureLogLevel: Logger.Level = .warning

        public init(name: String, intervalSeconds: Double, backoffAfterFailure: Backoff? = nil) {
            self.name = name
            self.intervalSeconds = intervalSeconds
            self.backoffAfterFailure = backoffAfterFailure
        }
    }

    public let configuration: Configuration
    public let clock: any TimeSource
    public let logger: Logger

    public init(_ configuration: Configuration, clock: any TimeSource, logger: Logger) {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    /// Runs `round` until a graceful shutdown or cancellation; a shutdown cuts the pause short.
    public func run(_ round: () async throws -> Void) async {
        var backoff = configuration.backoffAfterFailure
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var pause = configuration.intervalSeconds
            do {
                try await round()
                backoff?.reset()
            } catch {
                logger.log(level: configuration.failureLogLevel, "\(configuration.name) failed: \(error)")
                if let delay = backoff?.nextDelay() { pause = delay }
            }
            let (clock, seconds) = (self.clock, pause)
            try? await cancelWhenGracefulShutdown { try await clock.sleep(seconds: seconds) }
        }
    }
}
