import Hummingbird
import Logging
import Runtime
import ServiceLifecycle

/// The routes of the telemetry: `/metrics` (Prometheus' text format) and `/healthz` (the process
/// is alive and serving). `ucp serve` adds them to its own router; worker and coordinator serve
/// them through a `MetricsListener`.
public enum TelemetryRoutes {
    public static func add<Context: RequestContext>(to router: Router<Context>) {
        router.get("metrics") { _, _ in metricsResponse() }
        router.get("healthz") { _, _ in healthResponse() }
    }

    /// The answer of `/metrics`.
    public static func metricsResponse() -> Response {
        Response(status: .ok, headers: [.contentType: Telemetry.expositionContentType],
                 body: .init(byteBuffer: ByteBuffer(string: Telemetry.exposition())))
    }

    /// The answer of `/healthz`: alive. Whether the database is reachable is `/readyz`'s (serve's) question.
    public static func healthResponse() -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
    }
}

/// `--metrics-listen`: a small HTTP server of `/metrics` and `/healthz` beside a worker or a
/// coordinator, run in the role's service group (it stops with the role).
public struct MetricsListener: Service {
    public let address: ListenAddress
    private let logger: Logger

    public init(address: ListenAddress, logger: Logger) {
        self.address = address
        var logger = logger
        logger[metadataKey: "metrics.listen"] = "\(address)"
        self.logger = logger
    }

    public func run() async throws {
        Telemetry.bootstrapMetrics()
        let router = Router()
        TelemetryRoutes.add(to: router)
        // Hummingbird logs the line "Server started and listening on HOST:PORT" itself.
        let application = Application(
            router: router, configuration: .init(address: .hostname(address.host, port: address.port), serverName: "ucp"),
            logger: logger)
        try await application.run()
    }
}
