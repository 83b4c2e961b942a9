import ArgumentParser
import Foundation

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks (see bench/).", subcommands: [BenchQueueCommand.self, BenchAXLSyncCommand.self, BenchHTTPCommand.self, BenchChangeNotificationCommand.self, BenchOrdersCommand.self, BenchCommitFloorCommand.self])
}

/// `ucp bench queue`: the job queue measured the way bench-peers measured the peer queues, in a
/// private PostgreSQL cluster of its own that is removed afterwards.
struct BenchQueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Measure the job queue: bulk enqueue, drain, single enqueue, latency, and the pgbench limit of its own statements.",
        discussion: """
            Starts a private PostgreSQL cluster (fsync and synchronous_commit on, shared_buffers=256MB, \
            max_connections=200, max_wal_size=4GB, checkpoint_timeout=15min) on a free loopback port, \
            runs every measurement in a fresh database with real 'ucp worker' processes, and removes the \
            cluster at the end. The last line of output is the summary: \
            queue: drain_per_s=… limit_per_s=… ratio=… p50_ms=… p99_ms=…
            """)

    @Option(parsing: .unconditional, help: "Jobs enqueued in one bulk call and drained by the workers.")
    var jobs: Int = 20000

    @Option(parsing: .unconditional, help: "Worker processes for the drain.")
    var workers: Int = 2

    @Option(parsing: .unconditional, help: "Concurrency of each worker (also the pgbench claim batch).")
    var concurrency: Int = QueueBenchmark.defaultConcurrency

    @Option(parsing: .unconditional, help: "Sequential single enqueues (after 20 warm-up calls).")
    var single: Int = 2000

    @Option(parsing: .unconditional, help: "Jobs enqueued one at a time into one idle worker for the latency figures.")
    var latencyJobs: Int = 500

    @Option(parsing: .unconditional, help: "Rate of the latency jobs, in jobs per second (e.g. 50 or 50/s).")
    var latencyRate: String = "50/s"

    @Option(parsing: .unconditional, help: "Duration of each pgbench run, in seconds.")
    var pgbenchSeconds: Int = 10

    @Option(help: "pgbench client counts to try, comma-separated; the best counts (default: W and 2×W).")
    var pgbenchClients: String?

    @Option(parsing: .unconditional, help: "Queued jobs prefilled before each pgbench run.")
    var pgbenchRows: Int = 1_000_000

    @Option(help: "The pgbench program.")
    var pgbench: String = "/usr/bin/pgbench"

    @Option(parsing: .unconditional, help: "Repetitions of every measurement; medians are reported.")
    var repetitions: Int = 1

    @Flag(help: "Diagnostics: load pg_stat_statements and print the top statements of each drain and pgbench run (slows the server a little).")
    var statementStats = false

    @Option(name: .customLong("pgbench-pgoptions"), parsing: .unconditional,
            help: "Diagnostics: PGOPTIONS for the pgbench sessions, e.g. '-c plan_cache_mode=force_custom_plan'.")
    var pgbenchPGOptions: String?

    func validate() throws {
        func atLeast(_ minimum: Int, _ value: Int, _ field: String) throws {
            guard value >= minimum else {
                throw ValidationError("--\(field): must be a whole number of at least \(minimum) (got \(value))")
            }
        }
        try atLeast(1, jobs, "jobs")
        try atLeast(1, workers, "workers")
        guard workers <= 50 else { throw ValidationError("--workers: at most 50 (got \(workers))") }
        guard (1...1000).contains(concurrency) else {
            throw ValidationError("--concurrency: must be a whole number from 1 to 1000 (got \(concurrency))")
        }
        try atLeast(1, single, "single")
        try atLeast(1, latencyJobs, "latency-jobs")
        _ = try rate()
        try atLeast(1, pgbenchSeconds, "pgbench-seconds")
        _ = try clients()
        try atLeast(1000, pgbenchRows, "pgbench-rows")
        try atLeast(1, repetitions, "repetitions")
    }

    func rate() throws -> Double {
        var text = latencyRate.trimmingCharacters(in: .whitespaces)
        if text.hasSuffix("/s") { text = String(text.dropLast(2)) }
        guard let value = Double(text), value.isFinite, value > 0, value <= 10000 else {
            throw ValidationError("--latency-rate: must be a positive number of jobs per second up to 10000, e.g. 50 or 50/s (got '\(latencyRate)')")
        }
        return value
    }

    func clients() throws -> [Int] {
        guard let pgbenchClients else { return workers * 2 <= 100 ? [workers, workers * 2] : [workers] }
        let parts = pgbenchClients.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.compactMap { Int($0) }
        guard !parts.isEmpty, values.count == parts.count, values.allSatisfy({ (1...100).contains($0) }) else {
            throw ValidationError("--pgbench-clients: must be client counts from 1 to 100, comma-separated, e.g. 2,4 (got '\(pgbenchClients)')")
        }
        return Array(Set(values)).sorted()
    }

    func run() async throws {
        let options = QueueBenchmark.Options(
            jobs: jobs, workers: workers, concurrency: concurrency, single: single, latencyJobs: latencyJobs,
            latencyRate: try rate(), pgbenchSeconds: pgbenchSeconds, pgbenchClients: try clients(),
            pgbenchRows: pgbenchRows, pgbench: pgbench, repetitions: repetitions,
            statementStats: statementStats, pgbenchPGOptions: pgbenchPGOptions)
        try await QueueBenchmark(options: options).run()
    }
}

/// `ucp bench http`: `ucp serve` under wrk's load while the queue drains, and the drain alone.
struct BenchHTTPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "Measure `ucp serve` under wrk's load on the status and jobs endpoints while workers drain the queue, and the drain without that load.",
        discussion: """
            Starts a private PostgreSQL cluster on a free loopback port; in fresh databases: a drain alone, then \
            --rounds times a drain while wrk loads `ucp serve` (a viewer token read from a 0600 file) at a fixed \
            offered rate (--rate, paced per thread with wrk's delay(): an open loop) followed by a drain alone; each loaded drain is compared with the drains alone around it and the \
            summary gives the median round. The last line of output is the summary: http: rps=… p99_ms=… drain_per_s=… drain_alone_per_s=…
            """)

    @Option(parsing: .unconditional, help: "Jobs enqueued in one bulk call and drained by the workers.")
    var jobs: Int = 20000
    @Option(parsing: .unconditional, help: "Worker processes.")
    var workers: Int = 2
    @Option(parsing: .unconditional, help: "Concurrency of each worker.")
    var concurrency: Int = QueueBenchmark.defaultConcurrency
    @Option(parsing: .unconditional, help: "wrk's open connections.")
    var connections: Int = 16
    @Option(parsing: .unconditional, help: "wrk's threads.")
    var threads: Int = 2
    @Option(parsing: .unconditional, help: "The offered load in requests/s, paced by wrk whatever the answers take (open loop; 0: flat out, closed loop).")
    var rate: Int = 550
    @Option(parsing: .unconditional, help: "Drains under load, each followed by one alone (and one alone before the first); the summary gives the median round.")
    var rounds: Int = 5
    @Option(help: "The wrk program.")
    var wrk: String = "/usr/bin/wrk"

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs: must be a whole number of at least 1 (got \(jobs))") }
        guard (1...50).contains(workers) else { throw ValidationError("--workers: must be from 1 to 50 (got \(workers))") }
        guard (1...1000).contains(concurrency) else { throw ValidationError("--concurrency: must be from 1 to 1000 (got \(concurrency))") }
        guard (1...1000).contains(connections) else { throw ValidationError("--connections: must be from 1 to 1000 (got \(connections))") }
        guard (1...connections).contains(threads) else { throw ValidationError("--threads: must be from 1 to --connections (got \(threads))") }
        guard (1...20).contains(rounds) else { throw ValidationError("--rounds: must be from 1 to 20 (got \(rounds))") }
        guard (0...100_000).contains(rate) else { throw ValidationError("--rate: must be from 0 to 100000 (got \(rate))") }
    }

    func run() async throws {
        try await HTTPBenchmark(options: .init(jobs: jobs, workers: workers, concurrency: concurrency,
                                               connections: connections, threads: threads, rate: rate, rounds: rounds, wrk: wrk)).run()
    }
}
