import Foundation
import Runtime

/// pgbench run to its end by a benchmark: its log kept in a file, its tps read back, killed if it
/// outlives its -T by a minute.
enum PGBench {
    /// The connection arguments for a benchmark database (loopback TCP, its owner).
    static func target(_ database: BenchDatabase) -> [String] {
        ["-h", "127.0.0.1", "-p", database.owner.port ?? "5432", "-U", database.owner.user ?? "postgres", database.name]
    }

    /// Runs `arguments` (pgbench's path first, `-T seconds` among them); returns its tps (without the
    /// connections' time), how many transactions it made, and the CPU it spent (user + system, s).
    static func run(_ arguments: [String], seconds: Int, logPath: String,
                    environment: [String: String] = [:]) async throws -> (tps: Double, transactions: Int, cpuSeconds: Double) {
        let childrenBefore = childrenCPUSeconds()
        let pid = try await blocking { try BenchCleanup.spawn(arguments, outputPath: logPath, environment: environment) }
        let deadline = Date().addingTimeInterval(Double(seconds) + 60)
        var exitStatus: Int32?
        while exitStatus == nil {
            exitStatus = ChildProcess.poll(pid)
            if exitStatus == nil && Date() > deadline {
                kill(pid, SIGKILL)
                exitStatus = ChildProcess.wait(pid)
                BenchCleanup.shared.remove(pid)
                throw BenchError("pgbench: still running 60 s after its -T \(seconds) s; killed it")
            }
            if exitStatus == nil { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        BenchCleanup.shared.remove(pid)
        // Reaped: its CPU is now among this process's children's.
        let cpu = childrenCPUSeconds() - childrenBefore
        let status = exitStatus ?? -1
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        func value(after prefix: String) -> Double? {
            log.split(separator: "\n").lazy.compactMap { line -> Double? in
                guard line.hasPrefix(prefix) else { return nil }
                return Double(line.dropFirst(prefix.count).prefix { $0.isNumber || $0 == "." })
            }.first
        }
        guard status == 0, let tps = value(after: "tps = "), !log.contains("aborted") else {
            let tail = log.split(separator: "\n").suffix(8).joined(separator: "\n")
            throw BenchError("pgbench failed (exit status \(status)):\n\(tail)")
        }
        let transactions = Int(value(after: "number of transactions actually processed: ") ?? 0)
        return (tps, transactions, cpu)
    }

    /// User + system CPU of this process's children that ended and were waited for, seconds.
    static func childrenCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
