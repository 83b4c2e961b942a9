import CoreMetrics
import Prometheus
import Synchronization

/// The metrics of a `ucp` process: swift-metrics, bootstrapped once with the Prometheus backend.
/// The modules that do the work record through swift-metrics' API only (`CoreMetrics`); this module
/// alone knows Prometheus. The names and labels they record are listed in README.md ("Metrics").
public enum Telemetry {
    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Buckets of every timer (job durations, claim latency, device calls): from a few
    /// milliseconds (a claim) to hours (a large sync).
    public static let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(300), .seconds(900), .seconds(3600), .seconds(3 * 3600),
    ]

    /// Makes swift-metrics record into a Prometheus registry; the first call does it, later calls
    /// return the same registry (swift-metrics may be bootstrapped only once per process).
    @discardableResult
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        bootstrapped.withLock { registry in
            if let registry { return registry }
            let made = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: made)
            factory.defaultDurationHistogramBuckets = durationBuckets
            MetricsSystem.bootstrap(factory)
            registry = made
            return made
        }
    }

    /// The content type of `exposition()`: Prometheus' text format 0.0.4.
    public static let expositionContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Everything recorded so far, in Prometheus' text format (bootstraps when nothing did yet).
    public static func exposition() -> String {
        bootstrapMetrics().emitToString()
    }
}
