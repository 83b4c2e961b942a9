import ArgumentParser
import Foundation
import Postgres
import PostgresCluster

/// `ucp bench commit-floor`: what PostgreSQL spends on the smallest durable write a saga step can
/// make — one single-row UPDATE of a step row matched on its attempt, committed — on this box, so
/// that the CPU an order costs (`ucp bench orders`) can be set against what no engine could avoid.
struct BenchCommitFloorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commit-floor",
        abstract: "Measure the smallest fenced step save: pgbench single-row UPDATEs, committed, and the CPU the cluster and pgbench spent on each.",
        discussion: """
            A private cluster with the benchmarks' settings (fsync and synchronous_commit on), 100,000 step rows, \
            pgbench (prepared, 2 threads) updating one row matched on its attempt per transaction; the cluster's \
            CPU (postmaster, backends, reaped backends) and pgbench's from /proc and getrusage. The last line is: \
            commit-floor: clients=<n> tps=<t> server_cpu_ms_per_commit=<s> pgbench_cpu_ms_per_commit=<p>
            """)

    @Option(parsing: .unconditional, help: "pgbench clients.") var clients: Int = 16
    @Option(parsing: .unconditional, help: "pgbench run time, seconds.") var seconds: Int = 8
    @Option(help: "The pgbench program.") var pgbench: String = "/usr/bin/pgbench"

    func validate() throws {
        guard (1...200).contains(clients) else { throw ValidationError("--clients: must be a whole number from 1 to 200 (got \(clients))") }
        guard (1...600).contains(seconds) else { throw ValidationError("--seconds: must be a whole number from 1 to 600 (got \(seconds))") }
    }

    static let rows = 100_000
    static let stepSave = """
        \\set id random(1, \(rows))
        UPDATE floor_steps SET state = 'sending', image = '{"description": "before"}' WHERE id = :id AND attempt = 1;

        """

    func run() async throws {
        try await BenchCleanup.withCluster { cluster, directory in
            emit("[bench] starting a private PostgreSQL cluster in \(directory)")
            let server = try await blocking { try cluster.start(settings: QueueBenchmark.serverSettings) }
            let context = BenchContext(server: server, directory: directory, statementStats: false)
            let database = try await context.freshDatabase()
            let owner = Connection(database.owner)
            try await owner.withSession { session in
                try session.execute("""
                    CREATE TABLE floor_steps (id integer PRIMARY KEY, attempt integer NOT NULL, state text NOT NULL, image jsonb);
                    INSERT INTO floor_steps SELECT g, 1, 'pending', '{}' FROM generate_series(1, \(Self.rows)) g;
                    """)
                try session.execute("VACUUM ANALYZE floor_steps")
                try session.execute("CHECKPOINT")
            }
            await owner.close()
            let script = directory + "/step-save.sql"
            try Self.stepSave.write(toFile: script, atomically: true, encoding: .utf8)
            let cpu = ProcessCPU(groups: [], postmaster: ProcessCPU.postmaster(clusterDirectory: cluster.directory))
            let before = cpu.read()
            let run = try await PGBench.run([pgbench, "-n", "-M", "prepared", "-c", String(clients), "-j", String(min(2, clients)),
                                             "-T", String(seconds), "-f", script] + PGBench.target(database),
                                            seconds: seconds, logPath: directory + "/pgbench-step-save.log")
            let after = cpu.read()
            await context.close()
            let commits = Double(max(run.transactions, 1))
            let serverMilliseconds = ((after.seconds["postgres"] ?? 0) - (before.seconds["postgres"] ?? 0)) * 1000 / commits
            emit("[bench] \(run.transactions) single-row fenced commits by \(clients) clients in \(seconds) s; "
                 + ProcessCPU.report(from: before, to: after, per: run.transactions, order: ["postgres"]))
            print("commit-floor: clients=\(clients) tps=\(QueueBenchmark.number(run.tps, 1)) "
                  + "server_cpu_ms_per_commit=\(QueueBenchmark.number(serverMilliseconds, 3)) "
                  + "pgbench_cpu_ms_per_commit=\(QueueBenchmark.number(run.cpuSeconds * 1000 / commits, 3))")
        }
    }
}
