import ArgumentParser
import Foundation
import Logging
import Orders
import Postgres
import Queue
import Schedules
import ServiceLifecycle
import Telemetry
import Watchdog

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Claim and run jobs. SIGTERM/SIGINT: stop claiming, let running jobs finish within the grace period, release the rest.")

    @Option(help: "How many jobs run at once (1 to 1000).") var concurrency: Int = 10
    @Option(help: "The worker's name (default worker-HOST-PID).") var name: String?
    @Option(help: "Job lease (e.g. 30s); heartbeats renew it every third of it.") var lease: String = "30s"
    @Option(help: "Grace period on shutdown.") var grace: String = "30s"
    @Option(help: "Polling interval when no notification arrives.") var poll: String = "1s"
    // Tests and the demo only: the stand-in job types (the noop order), and stand-in syncs of the
    // targets named (TARGET=seconds:N,hang,fail:MESSAGE; * for every other target).
    @Flag(help: .hidden) var standInJobs = false
    @Option(help: .hidden) var standInSync: [String] = []
    @OptionGroup var role: RoleOptions
    @OptionGroup var metrics: MetricsOptions

    func run() async throws {
        var configuration = WorkerConfiguration(name: name ?? Names.defaultProcessName(role: "worker"))
        configuration.concurrency = concurrency
        configuration.leaseSeconds = try Duration.seconds(lease, field: "lease")
        configuration.gracePeriodSeconds = try Duration.seconds(grace, field: "grace")
        configuration.pollIntervalSeconds = try Duration.seconds(poll, field: "poll")
        try configuration.validate()
        var registry = try JobTypes.productionRegistry()
        if standInJobs || !standInSync.isEmpty { try UCPMain.tooling.installStandIns(standInSync, &registry) }
        let metricsAddress = try metrics.address()
        let logger = try role.bootstrapLogs(process: configuration.name)
        let listener = metrics.listener(metricsAddress, logger: logger)
        guard let database = try await Database.openWaiting(logger: logger) else { return }
        let worker = Worker(configuration: configuration, database: database, registry: registry,
                            logger: logger)
        try await ProcessServices.run([worker], alongside: [listener].compactMap { $0 }, logger: logger)
    }
}

struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Rescue expired leases, prune old jobs and fire due work; leader-elected, so a second one stands by.")

    @Option(help: "The coordinator's name (default coordinator-HOST-PID).") var name: String?
    @Option(help: "Leadership lease: a standby takes over within it after the leader dies.") var leaderLease: String = "15s"
    @Option(help: "How often to look for expired job leases (and for open orders whose job ended, to withdraw them).") var rescueInterval: String = "5s"
    @Option(help: "How long finished jobs are kept.") var retention: String = "7d"
    @Option(help: "How often to prune.") var pruneInterval: String = "1h"
    @Flag(help: "Also run the stuck-sync watchdog in this process.") var watchdog = false
    @Option(help: "With --watchdog: how often to check.") var watchdogInterval: String = "1h"
    @Option(help: "With --watchdog: how long progress may stand still.") var watchdogThreshold: String = "1h"
    @Option(help: "How often to look for due schedules (and domains' own LDAP sync intervals) and fire them.") var scheduleInterval: String = "1s"
    @Option(help: "With --metrics-listen: how often to read the queue depth gauges.") var gaugeInterval: String = "5s"
    @OptionGroup var role: RoleOptions
    @OptionGroup var metrics: MetricsOptions

    func run() async throws {
        var configuration = CoordinatorConfiguration(name: name ?? Names.defaultProcessName(role: "coordinator"))
        configuration.leaderLeaseSeconds = try Duration.seconds(leaderLease, field: "leader-lease")
        configuration.rescueIntervalSeconds = try Duration.seconds(rescueInterval, field: "rescue-interval")
        configuration.retentionSeconds = try Duration.seconds(retention, field: "retention")
        configuration.pruneIntervalSeconds = try Duration.seconds(pruneInterval, field: "prune-interval")
        try configuration.validate()
        let metricsAddress = try metrics.address()
        let gaugeIntervalSeconds = try Duration.seconds(gaugeInterval, field: "gauge-interval")
        guard gaugeIntervalSeconds > 0 else { throw ValidationError("gauge-interval: must be positive") }
        let logger = try role.bootstrapLogs(process: configuration.name)
        let listener = metrics.listener(metricsAddress, logger: logger)
        var watchdogConfiguration = WatchdogConfiguration(name: configuration.name)
        watchdogConfiguration.checkIntervalSeconds = try Duration.seconds(watchdogInterval, field: "watchdog-interval")
        watchdogConfiguration.stuckThresholdSeconds = try Duration.seconds(watchdogThreshold, field: "watchdog-threshold")
        if watchdog { try watchdogConfiguration.validate() }
        let scheduleIntervalSeconds = try Duration.seconds(scheduleInterval, field: "schedule-interval")
        guard scheduleIntervalSeconds > 0 else { throw ValidationError("schedule-interval: must be positive") }
        guard let database = try await Database.openWaiting(logger: logger) else { return }
        // The coordinator always sends the alert outbox; with --watchdog it also checks for stuck syncs.
        var services: [any Service] = [
            Coordinator(configuration: configuration, database: database,
                        extraDuties: [
                            ScheduleFiringDuty(intervalSeconds: scheduleIntervalSeconds),
                            DomainSyncFiringDuty(intervalSeconds: scheduleIntervalSeconds),
                            ChangeNotificationDuty(intervalSeconds: scheduleIntervalSeconds),
                            ScheduleRunPruneDuty(intervalSeconds: configuration.pruneIntervalSeconds,
                                                 retentionSeconds: configuration.retentionSeconds),
                            // After the lease rescue: an order or a schedule run whose job it ended is closed soon after.
                            EndedJobOrdersDuty(intervalSeconds: configuration.rescueIntervalSeconds),
                            EndedJobScheduleRunsDuty(intervalSeconds: configuration.rescueIntervalSeconds),
                        ], logger: logger),
            AlertSender(database: database, mailer: SMTPAlertMailer(), logger: logger),
        ]
        if watchdog {
            services.append(Watchdog(configuration: watchdogConfiguration, database: database, logger: logger))
        }
        var alongside: [any Service] = []
        if let listener {
            alongside = [listener, QueueGauges(database: database, intervalSeconds: gaugeIntervalSeconds, logger: logger)]
        }
        try await ProcessServices.run(services, alongside: alongside, logger: logger)
    }
}

struct WatchdogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watchdog",
        abstract: "Stop syncs whose progress stood still for the threshold, audit them and mail the recipients. Safe to run twice.")

    @Option(help: "The watchdog's name (default watchdog-HOST-PID).") var name: String?
    @Option(help: "How often to check (seed: 1h).") var interval: String = "1h"
    @Option(help: "How long progress may stand still (seed: 1h).") var threshold: String = "1h"
    @OptionGroup var role: RoleOptions

    func run() async throws {
        var configuration = WatchdogConfiguration(name: name ?? Names.defaultProcessName(role: "watchdog"))
        configuration.checkIntervalSeconds = try Duration.seconds(interval, field: "interval")
        configuration.stuckThresholdSeconds = try Duration.seconds(threshold, field: "threshold")
        try configuration.validate()
        let logger = try role.bootstrapLogs(process: configuration.name)
        guard let database = try await Database.openWaiting(logger: logger) else { return }
        let watchdog = Watchdog(configuration: configuration, database: database, logger: logger)
        let sender = AlertSender(database: database, mailer: SMTPAlertMailer(), logger: logger)
        try await ProcessServices.run([watchdog, sender], logger: logger)
    }
}

/// Runs a long-lived role's services until SIGTERM or SIGINT, then shuts them down gracefully.
/// `alongside` (the metrics listener, the gauges) start first and stop last, so the metrics of the
/// role's last moments can still be read while it stops.
enum ProcessServices {
    static func run(_ services: [any Service], alongside: [any Service] = [], logger: Logger) async throws {
        try await ServiceGroup(configuration: .init(
            services: (alongside + services).map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    }
}
