import ArgumentParser
import Foundation
import Logging
import Postgres
import Queue
import ServiceLifecycle

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Claim and run jobs. SIGTERM/SIGINT: stop claiming, let running jobs finish within the grace period, release the rest.")

    @Option(help: "How many jobs run at once (1 to 1000).") var concurrency: Int = 10
    @Option(help: "The worker's name (default worker-HOST-PID).") var name: String?
    @Option(help: "Job lease (e.g. 30s); heartbeats renew it every third of it.") var lease: String = "30s"
    @Option(help: "Grace period on shutdown.") var grace: String = "30s"
    @Option(help: "Polling interval when no notification arrives.") var poll: String = "1s"

    func run() async throws {
        var configuration = WorkerConfiguration(name: name ?? Names.defaultProcessName(role: "worker"))
        configuration.concurrency = concurrency
        configuration.leaseSeconds = try Duration.seconds(lease, field: "lease")
        configuration.gracePeriodSeconds = try Duration.seconds(grace, field: "grace")
        configuration.pollIntervalSeconds = try Duration.seconds(poll, field: "poll")
        try configuration.validate()
        let logger = Logs.bootstrap(defaultLevel: .info)
        let worker = Worker(configuration: configuration, database: try await Database.open(), registry: JobTypes.registry,
                            logger: logger)
        try await ServiceGroup(configuration: .init(
            services: [.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    }
}

struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Rescue expired leases, prune old jobs and fire due work; leader-elected, so a second one stands by.")

    @Option(help: "The coordinator's name (default coordinator-HOST-PID).") var name: String?
    @Option(help: "Leadership lease: a standby takes over within it after the leader dies.") var leaderLease: String = "15s"
    @Option(help: "How often to look for expired job leases.") var rescueInterval: String = "5s"
    @Option(help: "How long finished jobs are kept.") var retention: String = "7d"
    @Option(help: "How often to prune.") var pruneInterval: String = "1h"

    func run() async throws {
        var configuration = CoordinatorConfiguration(name: name ?? Names.defaultProcessName(role: "coordinator"))
        configuration.leaderLeaseSeconds = try Duration.seconds(leaderLease, field: "leader-lease")
        configuration.rescueIntervalSeconds = try Duration.seconds(rescueInterval, field: "rescue-interval")
        configuration.retentionSeconds = try Duration.seconds(retention, field: "retention")
        configuration.pruneIntervalSeconds = try Duration.seconds(pruneInterval, field: "prune-interval")
        try configuration.validate()
        let logger = Logs.bootstrap(defaultLevel: .info)
        let coordinator = Coordinator(configuration: configuration, database: try await Database.open(), logger: logger)
        try await ServiceGroup(configuration: .init(
            services: [.init(service: coordinator, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    }
}
