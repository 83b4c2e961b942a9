import Foundation
import HTTPAPI
import Postgres
import PostgresCluster
import Queue
import Runtime

/// `ucp bench http` (bench/http.sh): `ucp serve` under wrk's load on the status and jobs endpoints
/// while two workers drain the queue, and the same drain without the load, in one run on one cluster.
/// The drains without load come before and after the loaded one (their mean is the figure), so a
/// cluster that warms up or slows down over the run does not favour either side.
struct HTTPBenchmark: Sendable {
    struct Options: Sendable {
        var jobs: Int
        var workers: Int
        var concurrency: Int
        var connections: Int
        var threads: Int
        /// Offered requests/s (0: closed loop, as fast as the answers come).
        var rate: Int
        /// Drains under load, each followed by one alone (and one alone before the first).
        var rounds: Int
        var wrk: String
    }

    let options: Options

    func run() async throws {
        try await BenchCleanup.withCluster { cluster, directory in
            say("starting a private PostgreSQL cluster in \(directory) on 127.0.0.1:\(cluster.tcpPort ?? 0)")
            let server = try await blocking { try cluster.start(settings: QueueBenchmark.serverSettings) }
            let context = BenchContext(server: server, directory: directory, statementStats: false)
            say("settings: \(options.jobs) jobs, \(options.workers) worker(s) × concurrency \(options.concurrency); "
                + "wrk \(options.threads) threads × \(options.connections) connections on /api/v1/status and /api/v1/jobs, "
                + (options.rate > 0 ? "offered load \(options.rate) requests/s (open loop, paced by wrk's delay())" : "flat out (closed loop)"))

            // Drains alone and under load alternate (alone first and last). Each loaded drain is compared with
            // the mean of the drains alone just before and just after it, so that a cluster warming up or the
            // machine's other load drifting over the run does not favour either side; the summary line gives the
            // round whose ratio is the median (its loaded drain and its neighbours' mean), p99 the rounds' median.
            var alone: [Double] = []
            var rounds: [(loaded: Double, alone: Double)] = []
            var loads: [Load] = []
            let first = try await drain(context, load: false)
            alone.append(first.drainPerSecond)
            say("drain alone: \(QueueBenchmark.number(first.drainPerSecond, 1)) jobs/s")
            for round in 1...options.rounds {
                let measured = try await drain(context, load: true)
                guard let load = measured.load else { throw BenchError("the loaded drain has no wrk figures") }
                loads.append(load)
                say("round \(round): drain under load \(QueueBenchmark.number(measured.drainPerSecond, 1)) jobs/s in "
                    + "\(QueueBenchmark.number(measured.seconds, 2)) s; wrk: \(QueueBenchmark.number(load.requestsPerSecond, 1)) requests/s, "
                    + "p50 \(QueueBenchmark.number(load.p50Milliseconds, 2)) ms, p99 \(QueueBenchmark.number(load.p99Milliseconds, 2)) ms, "
                    + "\(load.requests) requests in \(QueueBenchmark.number(load.seconds, 1)) s")
                let after = try await drain(context, load: false)
                let neighbours = (alone.last! + after.drainPerSecond) / 2
                alone.append(after.drainPerSecond)
                rounds.append((measured.drainPerSecond, neighbours))
                say("drain alone: \(QueueBenchmark.number(after.drainPerSecond, 1)) jobs/s; round \(round) ran at "
                    + "\(QueueBenchmark.number(measured.drainPerSecond / neighbours * 100, 1))% of the drains alone around it")
            }
            await context.close()

            let median = rounds.sorted { $0.loaded / $0.alone < $1.loaded / $1.alone }[(rounds.count - 1) / 2]
            let (loadedRate, aloneRate) = (median.loaded, median.alone)
            let rps = Double(loads.map(\.requests).reduce(0, +)) / loads.map(\.seconds).reduce(0, +)
            let p99 = Self.median(loads.map(\.p99Milliseconds))
            say("median of \(options.rounds) round(s): the drain under load ran at \(QueueBenchmark.number(loadedRate / aloneRate * 100, 1))% "
                + "of the drains alone around it; p99 \(QueueBenchmark.number(p99, 2)) ms (worst round \(QueueBenchmark.number(loads.map(\.p99Milliseconds).max() ?? 0, 2)) ms)")
            emit("http: rps=\(QueueBenchmark.number(rps, 1)) p99_ms=\(QueueBenchmark.number(p99, 2)) "
                 + "drain_per_s=\(QueueBenchmark.number(loadedRate, 1)) drain_alone_per_s=\(QueueBenchmark.number(aloneRate, 1))")
        }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    private func say(_ line: String) {
        emit("[bench] " + line)
    }

    struct Load {
        var requests: Int
        var seconds: Double
        var requestsPerSecond: Double
        var p50Milliseconds: Double
        var p99Milliseconds: Double
    }

    struct Drain {
        var drainPerSecond: Double
        var seconds: Double
        var load: Load?
    }

    /// Workers started and idle (and, with `load`, `ucp serve` answering wrk for 1 s already); one bulk
    /// enqueue; the drain ends when no job is unfinished. wrk runs on until 0.5 s after the drain, so most
    /// of what it measures is measured while the queue drains.
    private func drain(_ context: BenchContext, load: Bool) async throws -> Drain {
        let database = try await context.freshDatabase()
        let store = QueueStore(Connection(database.app))
        let observer = Connection(database.owner)
        _ = try await store.jobEnqueueMany([])
        let workers = try WorkerProcesses.start(count: options.workers, concurrency: options.concurrency,
                                                database: database, directory: context.directory,
                                                label: load ? "loaded" : "alone")
        var serve: pid_t?
        var wrk: pid_t?
        defer {
            for pid in [wrk, serve].compactMap({ $0 }) {
                kill(pid, SIGKILL)
                ChildProcess.wait(pid)
                BenchCleanup.shared.remove(pid)
            }
        }
        do {
            try await workers.waitUntilIdle(store)
            var wrkOutput = ""
            if load {
                let port = try QueueBenchmark.freeLoopbackPort()
                let serveLog = "\(context.directory)/serve-\(database.name).log"
                serve = try BenchCleanup.spawn(
                    [ChildProcess.currentExecutable, "serve", "--listen", "127.0.0.1:\(port)"],
                    outputPath: serveLog, environment: ["DATABASE_URL": database.url, "UCP_LOG_LEVEL": "warning"])
                try await waitUntilServing(port: port, log: serveLog)
                // The token goes to wrk in a file of mode 0600, never on a command line.
                let secret = try await TokenStore(Connection(database.app)).tokenCreate(name: "bench", role: .viewer, actor: "bench").secret
                let tokenFile = "\(context.directory)/token-\(database.name)"
                _ = FileManager.default.createFile(atPath: tokenFile, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600])
                let script = "\(context.directory)/load.lua"
                try Self.wrkScript.write(toFile: script, atomically: true, encoding: .utf8)
                wrkOutput = "\(context.directory)/wrk-\(database.name).txt"
                // Long enough for any drain of this size; stopped with SIGINT 2 s after the drain.
                wrk = try BenchCleanup.spawn(
                    [options.wrk, "-t", String(options.threads), "-c", String(options.connections), "-d", "600s",
                     "--latency", "-s", script, "http://127.0.0.1:\(port)", "--", tokenFile,
                     String(Double(options.rate) / Double(options.threads))],
                    outputPath: wrkOutput)
                try await Task.sleep(nanoseconds: 1_000_000_000)
                if let wrk, let status = ChildProcess.poll(wrk) {
                    BenchCleanup.shared.remove(wrk)
                    throw BenchError("wrk exited (status \(status)): \((try? String(contentsOfFile: wrkOutput, encoding: .utf8)) ?? "")")
                }
            }
            let clock = ContinuousClock()
            let enqueued = try await store.jobEnqueueMany((0..<options.jobs).map { _ in .init(NoopOrder.self, actor: "bench") })
            guard enqueued == options.jobs else { throw BenchError("bulk enqueue wrote \(enqueued) of \(options.jobs) jobs") }
            let start = clock.now
            let deadline = start.advanced(by: .seconds(120 + options.jobs / 200))
            while try await QueueBenchmark.unfinished(observer) > 0 {
                try workers.checkAlive()
                guard clock.now < deadline else { throw BenchError("the drain did not end within its deadline\(workers.logTail())") }
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            let seconds = (clock.now - start).seconds
            var measured: Load?
            if let pid = wrk {
                try await Task.sleep(nanoseconds: 500_000_000)
                kill(pid, SIGINT)
                let status = ChildProcess.wait(pid)
                BenchCleanup.shared.remove(pid)
                wrk = nil
                let text = (try? String(contentsOfFile: wrkOutput, encoding: .utf8)) ?? ""
                guard status == 0 || status == 130 || status == 2 else { throw BenchError("wrk ended with status \(status): \(text)") }
                measured = try Self.parseWrk(text)
            }
            try await workers.stop()
            await store.connection.close()
            await observer.close()
            try await context.drop(database)
            return Drain(drainPerSecond: Double(options.jobs) / seconds, seconds: seconds, load: measured)
        } catch {
            try? await workers.stop()
            throw error
        }
    }

    private func waitUntilServing(port: Int, log: String) async throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? ChildProcess.run(["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:\(port)/healthz"]))?.status == 0 { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw BenchError("ucp serve did not answer /healthz within 30 s: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    /// Reads the token from the file named after `--`, then alternates the status and a page of jobs.
    /// With a rate (the second argument, requests/s of this thread), each request gets the next slot of
    /// a fixed schedule — start + k / rate — and `delay()` waits until it: an open loop whose offered
    /// load does not depend on how fast the server answers (the clock through LuaJIT's ffi).
    static let wrkScript = """
        local ffi = require("ffi")
        ffi.cdef[[
          typedef struct { long tv_sec; long tv_nsec; } ucp_timespec;
          int clock_gettime(int clock, ucp_timespec *ts);
        ]]
        local now_ts = ffi.new("ucp_timespec")
        local function now_ms()
          ffi.C.clock_gettime(1, now_ts)
          return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
        end
        local paths = { "/api/v1/status", "/api/v1/jobs?limit=50" }
        local turn = 0
        local interval = 0
        local next_slot = nil
        function init(args)
          local file = assert(io.open(args[1], "r"))
          wrk.headers["Authorization"] = "Bearer " .. file:read("*l")
          file:close()
          local rate = tonumber(args[2] or "0")
          if rate > 0 then interval = 1000 / rate end
        end
        function delay()
          if interval == 0 then return 0 end
          local now = now_ms()
          if next_slot == nil then next_slot = now end
          next_slot = next_slot + interval
          local wait = next_slot - now
          if wait < 0 then return 0 end
          return math.floor(wait)
        end
        function request()
          turn = turn + 1
          return wrk.format("GET", paths[turn % 2 + 1])
        end
        """

    /// The figures of wrk's `--latency` report; any non-2xx answer fails the benchmark.
    static func parseWrk(_ text: String) throws -> Load {
        func milliseconds(_ value: Substring) -> Double? {
            for (suffix, factor) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)] where value.hasSuffix(suffix) {
                return Double(value.dropLast(suffix.count)).map { $0 * factor }
            }
            return nil
        }
        var requests: Int?, seconds: Double?, rate: Double?, p50: Double?, p99: Double?
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if line.contains("Non-2xx or 3xx responses") { throw BenchError("wrk saw refused requests: \(line)") }
            if words.first == "Requests/sec:", words.count == 2 { rate = Double(words[1]) }
            if words.first == "50%", words.count == 2 { p50 = milliseconds(words[1]) }
            if words.first == "99%", words.count == 2 { p99 = milliseconds(words[1]) }
            if words.count >= 5, words[1] == "requests", words[2] == "in" {
                requests = Int(words[0])
                seconds = milliseconds(words[3].hasSuffix(",") ? words[3].dropLast() : words[3]).map { $0 / 1000 }
            }
        }
        guard let requests, let seconds, let rate, let p50, let p99 else { throw BenchError("wrk's report could not be read: \(text)") }
        return Load(requests: requests, seconds: seconds, requestsPerSecond: rate, p50Milliseconds: p50, p99Milliseconds: p99)
    }
}
