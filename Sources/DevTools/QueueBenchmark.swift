import Foundation
import Postgres
import PostgresCluster
import Queue
import Runtime
import Schema
import Synchronization
import UCPCommands

/// `ucp bench queue`: measures the job queue the way `bench-peers` measured the peer queues
/// (its README, "Method"): a private cluster with the same durability settings, TCP to
/// 127.0.0.1, a fresh database per measurement, no-op jobs, real `ucp worker` processes started
/// and idle before one bulk enqueue, the drain clock stopping when a separate connection sees no
/// unfinished job; then pgbench running the queue's own claim and finish statements as the limit.
struct QueueBenchmark: Sendable {
    /// Worker concurrency chosen for drain throughput on the 2-core reference box (see bench/README.md).
    static let defaultConcurrency = 200

    struct Options: Sendable {
        var jobs: Int
        var workers: Int
        var concurrency: Int
        var single: Int
        var latencyJobs: Int
        var latencyRate: Double
        var pgbenchSeconds: Int
        var pgbenchClients: [Int]
        var pgbenchRows: Int
        var pgbench: String
        var repetitions: Int
        /// Diagnostics: pg_stat_statements (track = all) loaded, its top statements printed after
        /// each drain and pgbench run. Costs some throughput: not for the reported figures.
        var statementStats: Bool = false
        /// Diagnostics: PGOPTIONS for the pgbench sessions (e.g. "-c plan_cache_mode=force_custom_plan").
        var pgbenchPGOptions: String? = nil
    }

    /// The peers' cluster settings (bench-peers/pg.sh); everything else is the default.
    static let serverSettings: [String: String] = [
        "fsync": "on",
        "synchronous_commit": "on",
        "full_page_writes": "on",
        "wal_level": "replica",
        "shared_buffers": "256MB",
        "max_connections": "200",
        "max_wal_size": "4GB",
        "checkpoint_timeout": "15min",
        "logging_collector": "off",
        "log_min_messages": "warning",
    ]

    static let shownSettings = [
        "server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers",
        "max_connections", "wal_level", "max_wal_size", "checkpoint_timeout", "commit_delay", "autovacuum",
    ]

    let options: Options

    // MARK: running

    func run() async throws {
        try await BenchCleanup.withCluster { cluster, directory in
            try await measure(cluster: cluster, directory: directory)
        }
    }

    private func measure(cluster: LocalCluster, directory: String) async throws {
        say("starting a private PostgreSQL cluster in \(directory) on 127.0.0.1:\(cluster.tcpPort ?? 0)")
        var serverSettings = Self.serverSettings
        if options.statementStats {
            serverSettings["shared_preload_libraries"] = "'pg_stat_statements'"
            serverSettings["pg_stat_statements.track"] = "all"
            serverSettings["pg_stat_statements.track_planning"] = "on"
        }
        let server = try await blocking { [serverSettings] in try cluster.start(settings: serverSettings) }
        let context = BenchContext(server: server, directory: directory, statementStats: options.statementStats)
        if options.statementStats {
            try await context.enableStatementStats()
            say("warning: --statement-stats loads pg_stat_statements; its figures are for diagnosis, not comparison")
        }
        if let pgOptions = options.pgbenchPGOptions {
            say("warning: pgbench runs with PGOPTIONS='\(pgOptions)'; its limit is for diagnosis, not comparison")
        }
        let settings = try await context.settings()
        say("server: " + Self.shownSettings.compactMap { name in settings[name].map { "\(name)=\($0)" } }.joined(separator: " "))
        say("SHOW synchronous_commit = \(settings["synchronous_commit"] ?? "?"); SHOW fsync = \(settings["fsync"] ?? "?"); server_version = \(settings["server_version"] ?? "?")")
        say("settings: \(options.workers) worker(s) × concurrency \(options.concurrency), \(options.jobs) jobs, "
            + "\(options.single) single enqueues, \(options.latencyJobs) latency jobs at \(Self.number(options.latencyRate, 1))/s, "
            + "pgbench \(options.pgbenchSeconds) s × clients \(options.pgbenchClients.map(String.init).joined(separator: ",")) "
            + "batch \(options.concurrency), \(options.repetitions) repetition(s)")

        var results = Results()
        for repetition in 1...options.repetitions {
            let tag = "[\(repetition)/\(options.repetitions)]"
            let drain = try await measureDrain(context)
            results.bulk.append(drain.bulkPerSecond)
            results.drain.append(drain.drainPerSecond)
            say("\(tag) bulk enqueue: \(options.jobs) jobs in \(Self.number(drain.bulkSeconds, 3)) s = \(Self.number(drain.bulkPerSecond, 1)) jobs/s; "
                + "drain: \(Self.number(drain.drainSeconds, 3)) s = \(Self.number(drain.drainPerSecond, 1)) jobs/s "
                + "(\(drain.observerPolls) polls)")

            let single = try await measureSingle(context)
            results.single.append(single)
            say("\(tag) single enqueue: \(Self.number(single, 1)) jobs/s")

            let latency = try await measureLatency(context)
            results.p50.append(latency.p50)
            results.p90.append(latency.p90)
            results.p99.append(latency.p99)
            results.latencyMax.append(latency.max)
            say("\(tag) latency: p50 \(Self.number(latency.p50, 3)) ms, p90 \(Self.number(latency.p90, 3)) ms, "
                + "p99 \(Self.number(latency.p99, 3)) ms, max \(Self.number(latency.max, 3)) ms "
                + "(enqueue call p50 \(Self.number(latency.callP50, 3)) ms)")

            for clients in options.pgbenchClients {
                let limit = try await measureLimit(context, clients: clients)
                results.limit[clients, default: []].append(limit.jobsPerSecond)
                say("\(tag) pgbench c=\(clients) batch \(options.concurrency): \(limit.finished) jobs finished in "
                    + "\(options.pgbenchSeconds) s = \(Self.number(limit.jobsPerSecond, 1)) jobs/s (tps \(Self.number(limit.tps, 1)), "
                    + "\(limit.queuedLeft) still queued)")
                if limit.queuedLeft == 0 {
                    say("warning: pgbench ran the prefilled table dry; raise --pgbench-rows (the limit is understated)")
                }
            }
        }
        await context.close()
        report(results, settings: settings)
    }

    private func say(_ line: String) {
        emit("[bench] " + line)
    }

    // MARK: measurements

    struct Drain {
        var bulkSeconds: Double
        var drainSeconds: Double
        var bulkPerSecond: Double
        var drainPerSecond: Double
        var observerPolls: Int
    }

    /// Workers started and idle; ONE bulk enqueue of N jobs; the drain ends when a separate
    /// connection sees no unfinished job.
    private func measureDrain(_ context: BenchContext) async throws -> Drain {
        let database = try await context.freshDatabase()
        let store = QueueStore(Connection(database.app))
        let observer = Connection(database.owner)
        let params = (0..<options.jobs).map { _ in
            QueueStore.EnqueueParams(NoopOrder.self, actor: "bench")
        }
        // Connect and prepare before the clock runs; an empty COPY only wakes the (absent) workers.
        _ = try await store.jobEnqueueMany([])
        _ = try await Self.unfinished(observer)
        let workers = try WorkerProcesses.start(count: options.workers, concurrency: options.concurrency,
                                                database: database, directory: context.directory, label: "drain")
        do {
            try await workers.waitUntilIdle(store)
            var observerPolls = 0
            try await context.resetStatementStats()
            let clock = ContinuousClock()
            let start = clock.now
            let enqueued = try await store.jobEnqueueMany(params)
            let enqueuedAt = clock.now
            guard enqueued == options.jobs else {
                throw BenchError("bulk enqueue wrote \(enqueued) of \(options.jobs) jobs")
            }
            let deadline = enqueuedAt.advanced(by: .seconds(120 + options.jobs / 200))
            // The peers' observer polled only once their handlers had run all N jobs, so that it
            // added no load during the drain. The workers are other processes here, so the observer
            // paces itself instead: it waits a third of the time the jobs left should take at the
            // rate seen since its previous poll (from 10 ms to 100 ms), so it polls every 10 ms
            // once they should be done within ~30 ms. The clock stops at the first poll that sees
            // zero unfinished jobs.
            var drainedAt = enqueuedAt
            var polls = 0
            var previous = (left: options.jobs, at: enqueuedAt)
            while true {
                let left = try await Self.unfinished(observer)
                drainedAt = clock.now
                polls += 1
                if left == 0 { break }
                if drainedAt > deadline {
                    throw BenchError("drain: \(left) of \(options.jobs) jobs still unfinished after \(Int((drainedAt - enqueuedAt).seconds)) s\(workers.logTail())")
                }
                try workers.checkAlive()
                let progressed = previous.left - left
                let interval = (drainedAt - previous.at).seconds
                var pause = 0.020
                if progressed > 0 && interval > 0 {
                    pause = min(max(Double(left) * interval / Double(progressed) / 3, 0.010), 0.100)
                }
                previous = (left, drainedAt)
                try await Task.sleep(nanoseconds: UInt64(pause * 1_000_000_000))
            }
            observerPolls = polls
            for line in try await context.statementStatsReport(database) { say("  drain statements: " + line) }
            try await workers.stop()
            let succeeded = try await Self.count(observer, state: .succeeded)
            guard succeeded == options.jobs else {
                throw BenchError("drain: \(succeeded) of \(options.jobs) jobs succeeded")
            }
            await store.connection.close()
            await observer.close()
            try await context.drop(database)
            let bulk = (enqueuedAt - start).seconds
            let drain = (drainedAt - enqueuedAt).seconds
            return Drain(bulkSeconds: bulk, drainSeconds: drain, bulkPerSecond: Double(options.jobs) / bulk,
                         drainPerSecond: Double(options.jobs) / drain, observerPolls: observerPolls)
        } catch {
            try? await workers.stop()
            throw error
        }
    }

    /// No workers; N sequential single enqueues (each its own transaction) after 20 warm-up calls.
    private func measureSingle(_ context: BenchContext) async throws -> Double {
        let database = try await context.freshDatabase()
        let store = QueueStore(Connection(database.app))
        let params = QueueStore.EnqueueParams(NoopOrder.self, actor: "bench")
        for _ in 0..<20 { _ = try await store.jobEnqueue(params) }
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<options.single { _ = try await store.jobEnqueue(params) }
        let elapsed = (clock.now - start).seconds
        await store.connection.close()
        try await context.drop(database)
        return Double(options.single) / elapsed
    }

    struct Latency {
        var p50: Double
        var p90: Double
        var p99: Double
        var max: Double
        var callP50: Double
    }

    /// One idle worker; jobs enqueued one at a time at the given rate; latency = started_at −
    /// created_at, both the server's clock_timestamp().
    private func measureLatency(_ context: BenchContext) async throws -> Latency {
        let database = try await context.freshDatabase()
        let store = QueueStore(Connection(database.app))
        let observer = Connection(database.owner)
        let params = QueueStore.EnqueueParams(NoopOrder.self, actor: "bench")
        let workers = try WorkerProcesses.start(count: 1, concurrency: options.concurrency, database: database,
                                                directory: context.directory, label: "latency")
        do {
            try await workers.waitUntilIdle(store)
            // Warm the client side like the peers (10 jobs, not measured), then let the worker idle again.
            var warmUpLast: Int64 = 0
            for _ in 0..<10 { warmUpLast = try await store.jobEnqueue(params).id }
            try await waitUntilDrained(observer, workers, timeout: 30)
            try await Task.sleep(nanoseconds: 500_000_000)

            let clock = ContinuousClock()
            let period = 1 / options.latencyRate
            let start = clock.now
            var calls: [Double] = []
            calls.reserveCapacity(options.latencyJobs)
            for index in 0..<options.latencyJobs {
                let target = start.advanced(by: .seconds(Double(index) * period))
                if target > clock.now { try await Task.sleep(until: target, clock: clock) }
                let before = clock.now
                _ = try await store.jobEnqueue(params)
                calls.append((clock.now - before).seconds * 1000)
            }
            try await waitUntilDrained(observer, workers, timeout: 60)
            try await workers.stop()
            let latencies = try await QueueStore(observer).jobStartLatencies(afterID: warmUpLast).sorted()
            guard latencies.count == options.latencyJobs else {
                throw BenchError("latency: \(latencies.count) of \(options.latencyJobs) jobs succeeded")
            }
            await store.connection.close()
            await observer.close()
            try await context.drop(database)
            return Latency(p50: Self.quantile(latencies, 0.5), p90: Self.quantile(latencies, 0.9),
                           p99: Self.quantile(latencies, 0.99), max: latencies.last ?? 0,
                           callP50: Self.quantile(calls.sorted(), 0.5))
        } catch {
            try? await workers.stop()
            throw error
        }
    }

    private func waitUntilDrained(_ observer: Connection, _ workers: WorkerProcesses, timeout: Double) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let left = try await Self.unfinished(observer)
            if left == 0 { return }
            if Date() > deadline {
                throw BenchError("\(left) jobs still unfinished after \(Int(timeout)) s\(workers.logTail())")
            }
            try workers.checkAlive()
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }

    struct Limit {
        var finished: Int
        var jobsPerSecond: Double
        var tps: Double
        var queuedLeft: Int
    }

    /// pgbench running the worker's own claim and batched finish, batch = worker concurrency, on
    /// a fresh database prefilled with queued no-op jobs.
    private func measureLimit(_ context: BenchContext, clients: Int) async throws -> Limit {
        let database = try await context.freshDatabase()
        let owner = Connection(database.owner)
        let queue = QueueStore(owner)
        _ = try await queue.jobEnqueueCopies(QueueStore.EnqueueParams(NoopOrder.self, actor: "bench"), count: options.pgbenchRows)
        try await queue.jobTableVacuum()
        try await owner.withSession { session in try session.execute("CHECKPOINT") }
        let script = context.directory + "/pgbench-claim-finish-\(options.concurrency).sql"
        try QueueStore.pgbenchClaimFinishScript(batch: options.concurrency)
            .write(toFile: script, atomically: true, encoding: .utf8)
        let arguments = [options.pgbench, "-n", "-M", "extended", "-c", String(clients), "-j", String(min(2, clients)),
                         "-T", String(options.pgbenchSeconds), "-f", script] + PGBench.target(database)
        try await context.resetStatementStats()
        let environment = options.pgbenchPGOptions.map { ["PGOPTIONS": $0] } ?? [:]
        let tps = try await PGBench.run(arguments, seconds: options.pgbenchSeconds,
                                        logPath: context.directory + "/pgbench-\(database.name).log", environment: environment).tps
        for line in try await context.statementStatsReport(database) { say("  pgbench c=\(clients) statements: " + line) }
        let finished = try await Self.count(owner, state: .succeeded)
        let queued = try await Self.count(owner, state: .queued)
        await owner.close()
        try await context.drop(database)
        return Limit(finished: finished, jobsPerSecond: Double(finished) / Double(options.pgbenchSeconds), tps: tps,
                     queuedLeft: queued)
    }

    static func unfinished(_ connection: Connection) async throws -> Int {
        try await QueueStore(connection).jobCountUnfinished()
    }

    static func count(_ connection: Connection, state: JobState) async throws -> Int {
        try await QueueStore(connection).jobCount(state: state)
    }

    // MARK: report

    struct Results {
        var bulk: [Double] = []
        var drain: [Double] = []
        var single: [Double] = []
        var p50: [Double] = []
        var p90: [Double] = []
        var p99: [Double] = []
        var latencyMax: [Double] = []
        var limit: [Int: [Double]] = [:]
    }

    private func report(_ results: Results, settings: [String: String]) {
        let bestLimit = results.limit.map { (clients: $0.key, jobs: Self.median($0.value)) }
            .max { $0.jobs < $1.jobs }
        let drain = Self.median(results.drain)
        let limit = bestLimit?.jobs ?? 0
        let ratio = limit > 0 ? drain / limit : 0
        var rows: [[String]] = [["figure", "median", "min", "max", "unit"]]
        func row(_ name: String, _ values: [Double], _ unit: String, decimals: Int = 1) {
            rows.append([name, Self.number(Self.median(values), decimals), Self.number(values.min() ?? 0, decimals),
                         Self.number(values.max() ?? 0, decimals), unit])
        }
        row("bulk enqueue (\(options.jobs) jobs, one COPY transaction)", results.bulk, "jobs/s")
        row("drain (\(options.workers) worker(s) × \(options.concurrency))", results.drain, "jobs/s")
        row("single enqueue (\(options.single) sequential calls)", results.single, "jobs/s")
        row("latency p50 (1 worker, \(options.latencyJobs) jobs at \(Self.number(options.latencyRate, 1))/s)", results.p50, "ms", decimals: 3)
        row("latency p90", results.p90, "ms", decimals: 3)
        row("latency p99", results.p99, "ms", decimals: 3)
        row("latency max", results.latencyMax, "ms", decimals: 3)
        for clients in results.limit.keys.sorted() {
            row("pgbench limit c=\(clients), batch \(options.concurrency) (\(options.pgbenchSeconds) s)",
                results.limit[clients] ?? [], "jobs/s")
        }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        emit("")
        emit("Queue benchmark: PostgreSQL \(settings["server_version"] ?? "?"), fsync=\(settings["fsync"] ?? "?"), "
              + "synchronous_commit=\(settings["synchronous_commit"] ?? "?"), TCP 127.0.0.1, "
              + "\(options.repetitions) repetition(s), medians with [min, max]")
        for (index, cells) in rows.enumerated() {
            let line = cells.enumerated().map { column, text in
                column == 0 || column == 4
                    ? text.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - text.count) + text
            }.joined(separator: "  ")
            emit(line)
            if index == 0 { emit(String(repeating: "-", count: line.count)) }
        }
        if let bestLimit {
            emit("limit (best pgbench client count, c=\(bestLimit.clients)): \(Self.number(limit, 1)) jobs/s; "
                  + "drain / limit = \(Self.number(ratio, 3))")
        }
        emit("queue: drain_per_s=\(Self.number(drain, 1)) limit_per_s=\(Self.number(limit, 1)) ratio=\(Self.number(ratio, 3)) "
              + "p50_ms=\(Self.number(Self.median(results.p50), 3)) p99_ms=\(Self.number(Self.median(results.p99), 3))")
    }

    // MARK: helpers

    static func number(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }

    static func median(_ values: [Double]) -> Double {
        quantile(values.sorted(), 0.5)
    }

    /// Linear interpolation between the closest ranks (Python's statistics.quantiles "inclusive").
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }

    static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/ucp-bench-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else {
            throw BenchError("cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        return String(cString: path)
    }

    /// A loopback TCP port nobody listens on (the kernel's choice of a free one).
    static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BenchError("cannot open a socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else { throw BenchError("cannot find a free loopback port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// One fresh, migrated database of the benchmark.
struct BenchDatabase: Sendable {
    var name: String
    /// The login role (the cluster's superuser), which owns the schema.
    var owner: ConnectionConfiguration
    /// As the processes connect: switched to ucp_app.
    var app: ConnectionConfiguration {
        var configuration = owner
        configuration.role = "ucp_app"
        return configuration
    }
    /// A libpq connection string for the workers (DATABASE_URL), as LocalCluster builds it.
    var url: String {
        "host=\(owner.host ?? "127.0.0.1") port=\(owner.port ?? "5432") user=\(owner.user ?? "postgres") dbname=\(name)"
    }
}

/// The cluster and the fresh databases of one benchmark run.
final class BenchContext: Sendable {
    let server: ConnectionConfiguration
    let directory: String
    private let admin: Connection
    private let counter = Mutex(0)

    let statementStats: Bool

    init(server: ConnectionConfiguration, directory: String, statementStats: Bool) {
        self.server = server
        self.directory = directory
        self.statementStats = statementStats
        self.admin = Connection(server)
    }

    func enableStatementStats() async throws {
        try await admin.withSession { session in try session.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements") }
    }

    func resetStatementStats() async throws {
        guard statementStats else { return }
        try await admin.query(Statement("", "SELECT pg_stat_statements_reset()"))
    }

    /// The statements of one database that took the most time since the last reset.
    func statementStatsReport(_ database: BenchDatabase, limit: Int = 10, width: Int = 110) async throws -> [String] {
        guard statementStats else { return [] }
        let rows = try await admin.query(Statement("", """
            SELECT calls, round(total_exec_time::numeric, 1)::text AS total_ms,
                   round(mean_exec_time::numeric, 3)::text AS mean_ms, round(total_plan_time::numeric, 1)::text AS plan_ms, rows,
                   left(regexp_replace(query, '\\s+', ' ', 'g'), $3::integer) AS query
              FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND calls > 0
             ORDER BY total_exec_time + total_plan_time DESC LIMIT $2
            """), [database.name, Int64(limit), Int32(width)])
        // plan_ms: the time spent planning (pg_stat_statements.track_planning), not in total_ms.
        var lines = ["calls  total_ms  mean_ms  plan_ms  rows  statement"]
        for row in rows {
            lines.append("\(try row.decode("calls", as: Int.self))  \(try row.decode("total_ms", as: String.self))  "
                         + "\(try row.decode("mean_ms", as: String.self))  \(try row.decode("plan_ms", as: String.self))  "
                         + "\(try row.decode("rows", as: Int.self))  " + (try row.decode("query", as: String.self)))
        }
        return lines
    }

    func settings() async throws -> [String: String] {
        let rows = try await admin.query(Statement("", """
            SELECT name, current_setting(name) AS value FROM unnest($1::text[]) AS name
            """), [PostgresTextArray(QueueBenchmark.shownSettings)])
        var settings: [String: String] = [:]
        for row in rows { settings[try row.decode("name")] = try row.decode("value") }
        return settings
    }

    /// CREATE DATABASE bench_N, migrated.
    func freshDatabase() async throws -> BenchDatabase {
        let number = counter.withLock { value -> Int in
            value += 1
            return value
        }
        let name = "bench_\(number)"
        // CREATE DATABASE takes no parameters; the name is made of a constant and a number.
        try await admin.withSession { session in try session.execute("CREATE DATABASE \(name)") }
        let owner = try ConnectionConfiguration(
            conninfo: "host=\(server.host ?? "127.0.0.1") port=\(server.port ?? "5432") user=\(server.user ?? "postgres") dbname=\(name)")
        _ = try await Migrator.locate().apply(Connection(owner), actor: "bench")
        return BenchDatabase(name: name, owner: owner)
    }

    func drop(_ database: BenchDatabase) async throws {
        try await admin.withSession { session in try session.execute("DROP DATABASE IF EXISTS \(database.name) WITH (FORCE)") }
    }

    func close() async {
        await admin.close()
    }
}

/// `ucp worker` child processes of one measurement.
final class WorkerProcesses: Sendable {
    let pids: [pid_t]
    let logs: [String]
    private let exited = Mutex<[pid_t: Int32]>([:])

    private init(pids: [pid_t], logs: [String]) {
        self.pids = pids
        self.logs = logs
    }

    static func start(count: Int, concurrency: Int, database: BenchDatabase, directory: String,
                      label: String, environment extra: [String: String] = [:]) throws -> WorkerProcesses {
        var pids: [pid_t] = []
        var logs: [String] = []
        let environment = ["DATABASE_URL": database.url, "UCP_LOG_LEVEL": "warning"].merging(extra) { $1 }
        do {
            for index in 1...count {
                let log = "\(directory)/worker-\(database.name)-\(index).log"
                let pid = try BenchCleanup.spawn(
                    [ChildProcess.currentExecutable, "worker", "--stand-in-jobs", "--concurrency", String(concurrency),
                     "--name", "bench-\(label)-\(index)"],
                    outputPath: log, environment: environment)
                pids.append(pid)
                logs.append(log)
            }
        } catch {
            for pid in pids {
                kill(pid, SIGKILL)
                ChildProcess.wait(pid)
                BenchCleanup.shared.remove(pid)
            }
            throw error
        }
        return WorkerProcesses(pids: pids, logs: logs)
    }

    /// Waits until every worker is registered in `workers`, then lets them settle into their idle wait.
    func waitUntilIdle(_ store: QueueStore, timeout: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            try checkAlive()
            let live = try await store.workerListLive(withinSeconds: 60)
            if live.count >= pids.count { break }
            if Date() > deadline {
                throw BenchError("only \(live.count) of \(pids.count) workers registered after \(Int(timeout)) s\(logTail())")
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        try checkAlive()
    }

    /// Throws when a worker exited on its own.
    func checkAlive() throws {
        for pid in pids {
            let already = exited.withLock { $0[pid] }
            if already != nil { continue }
            if let status = ChildProcess.poll(pid) {
                exited.withLock { $0[pid] = status }
                BenchCleanup.shared.remove(pid)
                throw BenchError("worker \(pid) exited (status \(status))\(logTail())")
            }
        }
    }

    /// SIGTERM, then SIGKILL for any still running after 15 s.
    func stop() async throws {
        let running = pids.filter { pid in exited.withLock { $0[pid] == nil } }
        for pid in running { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(15)
        var left = Set(running)
        while !left.isEmpty {
            for pid in left {
                if let status = ChildProcess.poll(pid) {
                    exited.withLock { $0[pid] = status }
                    BenchCleanup.shared.remove(pid)
                    left.remove(pid)
                }
            }
            if left.isEmpty { break }
            if Date() > deadline {
                emit("[bench] warning: \(left.count) worker(s) did not stop within 15 s of SIGTERM; killing them")
                for pid in left {
                    kill(pid, SIGKILL)
                    ChildProcess.wait(pid)
                    exited.withLock { $0[pid] = 137 }
                    BenchCleanup.shared.remove(pid)
                }
                break
            }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// The last lines each worker wrote, for error messages.
    func logTail() -> String {
        var text = ""
        for log in logs {
            let content = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            let tail = content.split(separator: "\n").suffix(5)
            if !tail.isEmpty { text += "\n\(log):\n" + tail.joined(separator: "\n") }
        }
        return text
    }
}

/// What to remove whatever happens: the cluster (stopped, folder deleted) and child processes.
/// Also run on SIGINT, SIGTERM and SIGHUP.
final class BenchCleanup: Sendable {
    static let shared = BenchCleanup()

    private struct State {
        var cluster: LocalCluster?
        var children: Set<pid_t> = []
    }

    private let state = Mutex(State())
    /// Held for the whole of a teardown, so a second caller (the signal handler or the main path)
    /// returns only once the cluster is really gone.
    private let tearingDown = Mutex(false)
    private let signalled = Mutex<Int32?>(nil)

    func setCluster(_ cluster: LocalCluster) { state.withLock { $0.cluster = cluster } }
    func add(_ pid: pid_t) { _ = state.withLock { $0.children.insert(pid) } }
    func remove(_ pid: pid_t) { _ = state.withLock { $0.children.remove(pid) } }

    /// The signal that interrupted the benchmark, if one did.
    var interruption: Int32? { signalled.withLock { $0 } }

    func tearDown() {
        tearingDown.withLock { _ in
            let (cluster, children) = state.withLock { state -> (LocalCluster?, Set<pid_t>) in
                defer { state = State() }
                return (state.cluster, state.children)
            }
            for pid in children {
                kill(pid, SIGKILL)
                ChildProcess.wait(pid)
            }
            cluster?.destroy()
        }
    }

    /// Runs a benchmark against a private cluster in a new temporary folder on a free loopback port,
    /// and removes both afterwards: also when the benchmark fails or a signal interrupts it.
    static func withCluster(_ body: (LocalCluster, String) async throws -> Void) async throws {
        installSignalHandlers()
        let directory = try QueueBenchmark.makeTemporaryDirectory()
        let cluster = LocalCluster(directory: directory, tcpPort: try QueueBenchmark.freeLoopbackPort(), database: "postgres")
        shared.setCluster(cluster)
        do {
            try await body(cluster, directory)
        } catch {
            if let signo = shared.interruption {
                shared.tearDown() // waits for the signal handler's teardown
                exit(128 + signo)
            }
            emit("[bench] benchmark failed: \(error); removing the cluster")
            shared.tearDown()
            throw error
        }
        shared.tearDown()
    }

    nonisolated(unsafe) private static var signalSources: [DispatchSourceSignal] = []

    static func installSignalHandlers() {
        guard signalSources.isEmpty else { return }
        for signo in [SIGINT, SIGTERM, SIGHUP] {
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            source.setEventHandler {
                BenchCleanup.shared.signalled.withLock { $0 = $0 ?? signo }
                FileHandle.standardError.write(Data("ucp bench: interrupted; removing the benchmark cluster\n".utf8))
                BenchCleanup.shared.tearDown()
                exit(128 + signo)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Starts a child that the teardown will stop.
    static func spawn(_ arguments: [String], outputPath: String, environment: [String: String] = [:]) throws -> pid_t {
        let pid = try ChildProcess.spawn(arguments, outputPath: outputPath, environment: environment)
        shared.add(pid)
        return pid
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One line to standard output, unbuffered (progress lines show up while the benchmark runs).
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Runs blocking work (child processes, pg_ctl) on a thread of its own, off the cooperative pool.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await BlockingExecutor.shared.run(body)
}

extension Swift.Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
