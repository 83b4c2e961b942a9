import Foundation

/// CPU time (user + system) from /proc, to say where a benchmark's CPU went: a process, a
/// PostgreSQL cluster (its postmaster, its live backends and the backends it has reaped), and the
/// whole box.
struct ProcessCPU {
    /// One reading of the groups a benchmark watches, seconds of CPU each.
    struct Reading {
        var seconds: [String: Double]
        /// The box: CPU seconds busy and in all (every core), from /proc/stat.
        var boxBusy: Double
        var boxTotal: Double
    }

    /// The groups: a label and the processes it sums (`postgres` for the cluster whose postmaster is
    /// `postmaster`).
    let groups: [(label: String, pids: [pid_t])]
    let postmaster: pid_t?

    /// The postmaster of the cluster in `directory` (its `data/postmaster.pid`).
    static func postmaster(clusterDirectory directory: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first.flatMap { pid_t($0.trimmingCharacters(in: .whitespaces)) }
    }

    func read() -> Reading {
        var seconds: [String: Double] = [:]
        for group in groups { seconds[group.label] = group.pids.map { Self.seconds(pid: $0) }.reduce(0, +) }
        if let postmaster { seconds["postgres"] = Self.clusterSeconds(postmaster: postmaster) }
        let (busy, total) = Self.box()
        return Reading(seconds: seconds, boxBusy: busy, boxTotal: total)
    }

    /// What each group spent between two readings, in milliseconds per `per` (an order, a change), and
    /// how busy the box was: "postgres 8.5 ms, workers 6.2 ms, …; box 91 % busy".
    static func report(from before: Reading, to after: Reading, per count: Int, order labels: [String]) -> String {
        let parts = labels.compactMap { label -> String? in
            guard let end = after.seconds[label], let start = before.seconds[label] else { return nil }
            return "\(label) \(QueueBenchmark.number((end - start) * 1000 / Double(max(count, 1)), 2)) ms"
        }
        let busy = after.boxBusy - before.boxBusy, total = after.boxTotal - before.boxTotal
        let share = total > 0 ? busy / total * 100 : 0
        return parts.joined(separator: ", ") + "; box \(QueueBenchmark.number(share, 0)) % busy"
    }

    /// Total CPU milliseconds per `count` of the labels between two readings.
    static func total(from before: Reading, to after: Reading, per count: Int, labels: [String]) -> Double {
        labels.map { (after.seconds[$0] ?? 0) - (before.seconds[$0] ?? 0) }.reduce(0, +) * 1000 / Double(max(count, 1))
    }

    /// User + system CPU of a process so far, seconds (0 when unreadable).
    static func seconds(pid: pid_t) -> Double {
        guard let fields = statFields(pid: pid) else { return 0 }
        return ticks(fields, 11) + ticks(fields, 12)
    }

    /// The cluster's CPU so far: the postmaster and its live children, plus the children it reaped
    /// (a backend whose connection closed during the run keeps counting).
    static func clusterSeconds(postmaster: pid_t) -> Double {
        guard let own = statFields(pid: postmaster) else { return 0 }
        var total = ticks(own, 11) + ticks(own, 12) + ticks(own, 13) + ticks(own, 14)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry), pid != postmaster, let fields = statFields(pid: pid),
                  fields.count > 12, pid_t(fields[1]) == postmaster else { continue }
            total += ticks(fields, 11) + ticks(fields, 12)
        }
        return total
    }

    /// The fields of /proc/PID/stat after "pid (comm)": [0] is the state, [1] the parent, [11] and
    /// [12] utime and stime, [13] and [14] the reaped children's.
    static func statFields(pid: pid_t) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    static func ticks(_ fields: [Substring], _ index: Int) -> Double {
        guard fields.count > index, let value = Double(fields[index]) else { return 0 }
        return value / ticksPerSecond
    }

    /// The box's busy and total CPU seconds (all cores): /proc/stat's first line, idle and iowait not busy.
    static func box() -> (busy: Double, total: Double) {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first else { return (0, 0) }
        let values = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard values.count >= 5 else { return (0, 0) }
        let total = values.prefix(8).reduce(0, +)
        return ((total - values[3] - values[4]) / ticksPerSecond, total / ticksPerSecond)
    }
}
