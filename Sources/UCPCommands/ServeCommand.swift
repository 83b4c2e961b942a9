import APIServer
import ArgumentParser
import Foundation
import HTTPAPI
import Postgres
import Queue
import Runtime
import Schema
import Telemetry

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the REST API (/api/v1/…), the probes /healthz and /readyz, on HTTP. SIGTERM/SIGINT: stop accepting, finish the requests in flight.",
        discussion: """
            Every request but /healthz needs a bearer token (ucp token create). The server speaks plain HTTP and \
            listens on loopback unless --behind-proxy says a TLS-terminating reverse proxy stands in front of it.
            """)

    @Option(help: "Where to listen: ADDR:PORT (loopback unless --behind-proxy).") var listen: String = "127.0.0.1:8080"
    @Flag(help: "A reverse proxy terminates TLS in front of this server: allow a non-loopback --listen and trust the last X-Forwarded-For address.")
    var behindProxy = false
    @Option(help: "Connections to PostgreSQL at most (1 to 100).") var connections: Int = 8
    @Option(help: ArgumentHelp("Failed authentications in a row a client may make before each further attempt must wait (1 to 1000000).",
                               discussion: "Raise it only for a test client that fails on purpose (scripts/api-check.sh's schemathesis run)."))
    var authFreeFailures: Int = AuthThrottle.Rules().freeFailures
    @Option(help: "Close a connection that sends no complete request part for this long (1s to 1h).")
    var idleTimeout: String = "30s"
    @OptionGroup var role: RoleOptions

    func run() async throws {
        let address = try ListenAddress(parsing: listen, field: "listen")
        try address.checkServable(behindProxy: behindProxy)
        guard (1...100).contains(connections) else {
            throw InputError(field: "connections", problem: "must be a whole number from 1 to 100 (got \(connections))")
        }
        guard (1...1_000_000).contains(authFreeFailures) else {
            throw InputError(field: "auth-free-failures", problem: "must be a whole number from 1 to 1000000 (got \(authFreeFailures))")
        }
        let idleSeconds = try Duration.seconds(idleTimeout, field: "idle-timeout", within: 1...3600, rule: "must be from 1s to 1h")
        let logger = try role.bootstrapLogs(process: Names.defaultProcessName(role: "serve"))
        guard let database = try await Database.openWaiting(logger: logger) else { return }
        // Readiness reads the schema's version as the login role (the one that migrates).
        var owner = database
        owner.role = nil
        let ownerConnection = Connection(owner.named("ucp serve readiness"))
        let migrator = try Migrator.locate()
        let readiness: @Sendable () async throws -> String? = {
            try await migrator.isCurrent(ownerConnection) ? nil : "migrations: the schema is not current; run 'ucp migrate'"
        }
        var configuration = APIServerConfiguration(listen: address, behindProxy: behindProxy, knownJobTypes: JobTypes.contracts,
                                                   databaseDescription: "\(database)")
        configuration.poolSize = connections
        configuration.throttleRules.freeFailures = authFreeFailures
        configuration.idleTimeout = .milliseconds(Int64(idleSeconds * 1000))
        // `/metrics` of this process: the API's own requests and what the queue's gauges read.
        Telemetry.bootstrapMetrics()
        let metrics = ExtraRoute(method: "GET", path: "/metrics") { _ in TelemetryRoutes.metricsResponse() }
        let server = APIServer(configuration: configuration, database: database, readiness: readiness,
                               extraRoutes: [metrics], logger: logger)
        let application = try server.application { port in
            logger.info("serving on \(address.host):\(port)")
        }
        try await ProcessServices.run([application], alongside: [QueueGauges(database: database, logger: logger)], logger: logger)
    }
}
