import APIServer
import ArgumentParser
import Foundation
import JobCatalog
import Logging
import Postgres
import PostgresCluster
import Orders
import Queue
import Runtime
import Schedules
import Schema
import Sync
import Telemetry

/// Options every command that talks to the database shares.
package struct GlobalOptions: ParsableArguments {
    package init() {}

    @Option(help: "Who is acting, for the audit trail (default: the OS user).")
    var actor: String?

    package var actorName: String {
        if let actor, !actor.isEmpty { return actor }
        return OperatorIdentity.osUser
    }
}

package enum OperatorIdentity {
    package static var osUser: String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "unknown"
    }
}

/// Every job type this build knows: the catalog's contracts for the submit commands, and the
/// handlers a worker registers. Stand-in job types (tests, the demo) come from the tooling `ucp`
/// starts with, and only a worker started with the hidden stand-in flags runs them.
public enum JobTypes {
    /// The contracts a submit command accepts: the catalog's, then the tooling's stand-ins.
    package static var contracts: [any JobParameters.Type] { JobCatalog.contracts + UCPMain.tooling.standInContracts }

    package static func contract(named type: String) throws -> any JobParameters.Type {
        try JobCatalog.contract(named: type, among: contracts)
    }

    /// The production handlers, every type once.
    public static func productionRegistry() throws -> JobRegistry {
        var registry = JobRegistry()
        try SyncJobs.register(in: &registry, provisioningOrders: AutomaticProvisioningOrders())
        try ScheduleRunJob.register(in: &registry)
        try OrderJobs.register(in: &registry)
        try WriteBackJob.register(in: &registry)
        let missing = JobCatalog.contracts.map { $0.jobType }.filter { registry.definitions[$0] == nil }
        guard missing.isEmpty else { throw JobRegistryError(problem: "no handler for \(missing.joined(separator: ", "))") }
        return registry
    }
}

/// The options every long-running role shares (worker, coordinator, watchdog, serve): how its log
/// lines look.
package struct RoleOptions: ParsableArguments {
    package init() {}

    @Option(help: "Log lines as 'text', or 'json': one object per line (time, level, message, process, job id, attempt, type).")
    package var logFormat: String = LogFormat.text.rawValue

    /// The format asked for; a refusal names the option and the values it takes.
    package func format() throws -> LogFormat {
        guard let format = LogFormat(rawValue: logFormat) else {
            throw InputError(field: "log-format", problem: "use \(LogFormat.allCases.map(\.rawValue).joined(separator: " or ")) (got \(InputError.quoted(logFormat)))")
        }
        return format
    }

    /// Bootstraps the logs in the format asked for; `process` names the role's process in JSON lines.
    package func bootstrapLogs(process: String, defaultLevel: Logger.Level = .info) throws -> Logger {
        Logs.bootstrap(defaultLevel: defaultLevel, format: try format(), process: process)
    }
}

/// `--metrics-listen` of worker and coordinator.
package struct MetricsOptions: ParsableArguments {
    package init() {}

    @Option(help: "Serve Prometheus metrics (/metrics) and /healthz on HOST:PORT; PORT alone listens on loopback.")
    package var metricsListen: String?

    /// The address asked for, nil when none; a refusal names the option and the rule.
    package func address() throws -> ListenAddress? {
        try metricsListen.map { text throws(InputError) in try ListenAddress(parsing: text, field: "metrics-listen") }
    }

    /// The listener (swift-metrics bootstrapped to Prometheus), nil without `--metrics-listen`.
    package func listener(_ address: ListenAddress?, logger: Logger) -> MetricsListener? {
        guard let address else { return nil }
        Telemetry.bootstrapMetrics()
        return MetricsListener(address: address, logger: logger)
    }
}

package enum Logs {
    /// The one logging bootstrap of a process: lines go to standard error, as text or JSON lines;
    /// `UCP_LOG_LEVEL` sets the level (default `defaultLevel`).
    package static func bootstrap(defaultLevel: Logger.Level, format: LogFormat = .text, process: String = "ucp") -> Logger {
        let level = ProcessInfo.processInfo.environment["UCP_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? defaultLevel
        LogSetup.bootstrap(format: format, level: level, process: process)
        return Logger(label: "ucp")
    }
}

/// Which database `ucp` uses: `DATABASE_URL`, else the `PG*` variables, else the embedded default.
package enum Database {
    /// The role processes switch to after connecting (`UCP_DB_ROLE`, default `ucp_app`; empty for none).
    package static var processRole: String? {
        let configured = ProcessInfo.processInfo.environment["UCP_DB_ROLE"] ?? "ucp_app"
        return configured.isEmpty ? nil : configured
    }

    /// Resolves the database, says which it is when it is the embedded default, and makes sure
    /// the schema is current (migrating the embedded default by itself).
    package static func open(role: String? = processRole, quiet: Bool = false) async throws -> ConnectionConfiguration {
        let environment = ProcessInfo.processInfo.environment
        if let configured = try ConnectionConfiguration.fromEnvironment(environment, role: role) {
            let migrator = try Migrator.locate()
            var owner = configured
            owner.role = nil
            let current = try await migrator.isCurrent(Connection(owner))
            guard current else {
                throw InputError(field: "database", problem: "the schema of \(configured) is not current; run 'ucp migrate'")
            }
            return configured
        }
        let cluster = LocalCluster.embeddedDefault(environment: environment)
        var configuration = try cluster.start()
        if !quiet {
            FileHandle.standardError.write(Data("ucp: using the embedded default database (\(configuration)); set DATABASE_URL to use another\n".utf8))
        }
        let applied = try await Migrator.locate().apply(Connection(configuration), actor: OperatorIdentity.osUser)
        if !applied.isEmpty && !quiet {
            FileHandle.standardError.write(Data("ucp: migrated the embedded database (\(applied.joined(separator: ", ")))\n".utf8))
        }
        configuration.role = role
        return configuration
    }

    /// `open` for the long-lived roles (worker, coordinator, watchdog): while the server cannot be
    /// reached it waits and tries again, 1 s doubling to 30 s, one log line per attempt saying what
    /// it waits for. Nil when SIGTERM or SIGINT came while waiting (the role then just ends).
    /// Operator commands use `open`, which fails at once.
    package static func openWaiting(logger: Logger, role: String? = processRole) async throws -> ConnectionConfiguration? {
        let waiting = Task { () async throws -> ConnectionConfiguration in
            var backoff = Backoff(initial: 1, maximum: 30)
            var attempt = 0
            while true {
                attempt += 1
                do {
                    let configuration = try await open(role: role)
                    if attempt > 1 { logger.info("the database is reachable, starting", metadata: ["attempts": "\(attempt)"]) }
                    return configuration
                } catch let error as PostgresError where error.kind == .connectionLost {
                    let delay = backoff.nextDelay()
                    let reason = error.message.split(whereSeparator: \.isNewline)
                        .map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
                    logger.warning("waiting for the database to start: \(reason); attempt \(attempt), next in \(String(format: "%.1f", delay))s")
                    try await Task.sleep(nanoseconds: UInt64(delay * 1_000_000_000))
                }
            }
        }
        let signals = StopSignals { waiting.cancel() }
        defer { signals.cancel() }
        do {
            return try await waiting.value
        } catch is CancellationError {
            logger.info("stopped while waiting for the database")
            return nil
        }
    }

    /// The connection for `ucp migrate`: the login role itself, which owns the schema.
    package static func openForMigration() throws -> ConnectionConfiguration {
        if let configured = try ConnectionConfiguration.fromEnvironment() { return configured }
        return try LocalCluster.embeddedDefault().start()
    }
}

package enum Output {
    package static func json(_ value: Any) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    package static func iso(_ date: Date?) -> Any { Representation.iso(date) }

    package static func jobJSON(_ job: Job) -> [String: Any] { Representation.job(job) }

    /// How a job ended, in one line: a finished job's last progress message (a sync's "Completed. …"),
    /// or its error; "-" while it has not ended.
    package static func outcome(_ job: Job) -> String {
        switch job.state {
        case .succeeded: return job.progress.message ?? "succeeded"
        case .failed, .canceled: return job.error ?? job.state.rawValue
        default: return "-"
        }
    }

    package static func progressText(_ progress: JobProgress) -> String {
        var text = ""
        if let total = progress.total, total > 0 {
            text = "\(progress.done)/\(total) (\(Int(Double(progress.done) * 100 / Double(total)))%)"
        } else if progress.done > 0 {
            text = "\(progress.done)"
        }
        if let message = progress.message { text += text.isEmpty ? message : " \(message)" }
        return text
    }

    package static func shortTime(_ date: Date?) -> String {
        guard let date else { return "-" }
        let text = PostgresTimestamp.format(date)
        return String(text.prefix(19)).replacingOccurrences(of: "T", with: " ")
    }
}

/// Durations written as `90`, `90s`, `15m`, `2h` or `7d` (Runtime's `DurationText`, shared with the API).
package enum Duration {
    package static func seconds(_ text: String, field: String, within range: ClosedRange<Double> = 0...DurationText.maximumSeconds,
                                rule: String = DurationText.maximumRule) throws -> Double {
        try DurationText.seconds(text, field: field, within: range, rule: rule)
    }
}

/// SIGTERM and SIGINT as an action, for the time before a service group handles them.
private final class StopSignals {
    private let sources: [any DispatchSourceSignal]

    init(_ action: @escaping @Sendable () -> Void) {
        sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: action)
            source.resume()
            return source
        }
    }

    func cancel() { sources.forEach { $0.cancel() } }
}
