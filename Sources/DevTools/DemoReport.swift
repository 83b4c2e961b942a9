import Foundation
import JobCatalog
import Postgres
import Queue
import Sync
import UCPCommands

/// The jobs of one demo run. The database keeps earlier runs' jobs, so every read is limited to
/// this run's ids (and submitter).
struct DemoRun: Sendable {
    let syncID: Int64
    let orderIDs: ClosedRange<Int64>
    let orderCount: Int
    let actor: String

    /// The orders were copied right after the sync: the first `orderCount` matching jobs after it.
    static func locate(syncID: Int64, orderCount: Int, device: String, actor: String,
                       connection: Connection) async throws -> DemoRun {
        guard let range = try await QueueStore(connection).jobRangeLocate(
            afterID: syncID, type: NoopOrder.jobType, target: device, submittedBy: actor, count: orderCount)
        else {
            throw DemoFailure("orders: cannot find the \(orderCount) orders just submitted after job \(syncID)")
        }
        return DemoRun(syncID: syncID, orderIDs: range.ids, orderCount: orderCount, actor: actor)
    }

    private var orders: QueueStore.JobRange {
        QueueStore.JobRange(ids: orderIDs, type: NoopOrder.jobType, submittedBy: actor)
    }

    func orderCounts(_ connection: Connection) async throws -> OrderCounts {
        OrderCounts(byState: try await QueueStore(connection).jobRangeCountByState(orders))
    }

    struct OrderSummary: Sendable {
        var orders: Int
        var succeeded: Int
        var startedDuringSync: Int
        var firstStarted: Date?
        var lastFinished: Date?
    }

    /// The orders were all submitted after the sync was queued, so one that started before the sync
    /// finished started while it was queued or running.
    func orderSummary(_ connection: Connection) async throws -> OrderSummary {
        let summary = try await QueueStore(connection).jobRangeSummary(orders, comparedWith: syncID)
        return OrderSummary(orders: summary.jobs, succeeded: summary.succeeded, startedDuringSync: summary.startedBefore,
                            firstStarted: summary.firstStarted, lastFinished: summary.lastFinished)
    }

    func ordersByWorker(_ connection: Connection) async throws -> [(worker: String, orders: Int)] {
        try await QueueStore(connection).jobRangeCountByWorker(orders).map { ($0.worker, $0.jobs) }
    }
}

struct OrderCounts: Sendable {
    var byState: [JobState: Int] = [:]

    var queued: Int { byState[.queued, default: 0] }
    var running: Int { byState[.running, default: 0] + byState[.canceling, default: 0] }
    var succeeded: Int { byState[.succeeded, default: 0] }
    /// Canceled counts as failed here: the order did not succeed.
    var failed: Int { byState[.failed, default: 0] + byState[.canceled, default: 0] }
    var finished: Int { succeeded + failed }
}

struct DemoVerdict: Sendable {
    let passed: Bool
    let line: String
}

enum DemoReport {
    /// The columns of the status lines printed while the demo runs.
    struct StatusLayout {
        let maintenanceWidth: Int
        let syncWidth = 38
        let header: String

        init(run: DemoRun) {
            let longestReason = "ON: \(SyncType.infra.jobType) of \(DemoCommand.device) (job \(run.syncID)) is about to start"
            maintenanceWidth = longestReason.count + 2
            header = DemoReport.right("time", 7) + "  " + DemoReport.left("maintenance", maintenanceWidth)
                + DemoReport.left("sync (job \(run.syncID))", syncWidth) + "orders:"
                + DemoReport.right("queued", 7) + DemoReport.right("running", 8)
                + DemoReport.right("succeeded", 10) + DemoReport.right("failed", 7)
        }

        func line(elapsed: Double, maintenance: QueueStore.MaintenanceState, sync: Job, orders: OrderCounts) -> String {
            let maintenanceText = maintenance.active ? "ON: \(maintenance.reason ?? "no reason given")" : "off"
            let progress = Output.progressText(sync.progress)
            let syncText = sync.state.rawValue + (progress.isEmpty || sync.state == .queued ? "" : " \(progress)")
            return DemoReport.right(String(format: "%.1f s", elapsed), 7) + "  "
                + DemoReport.left(maintenanceText, maintenanceWidth) + DemoReport.left(syncText, syncWidth) + "       "
                + DemoReport.right(String(orders.queued), 7) + DemoReport.right(String(orders.running), 8)
                + DemoReport.right(String(orders.succeeded), 10) + DemoReport.right(String(orders.failed), 7)
        }
    }

    /// Prints the summary and the audit trail of the run; returns the verdict.
    static func summarize(_ run: DemoRun, store: QueueStore, auditSince: Date) async throws -> DemoVerdict {
        guard let sync = try await store.jobGet(id: run.syncID) else {
            throw DemoFailure("job \(run.syncID): the sync is no longer in the queue")
        }
        let orders = try await run.orderSummary(store.connection)
        let byWorker = try await run.ordersByWorker(store.connection)
        let audit = try await store.auditList(since: auditSince, jobID: nil, limit: auditLimit)
        // Relative times count from the sync's submission, on the database's clock like every stamp here.
        let zero = sync.createdAt

        print("Summary (clock times UTC; +s = seconds after the sync was submitted)")
        print("  sync     job \(sync.id), \(sync.type) of \(sync.target ?? "-")\(sync.worker.map { " on \($0)" } ?? ""): "
              + sync.state.rawValue + (sync.error.map { " (\($0))" } ?? ""))
        print("           started \(moment(sync.startedAt, from: zero)), finished \(moment(sync.finishedAt, from: zero))")
        print("  orders   jobs \(run.orderIDs.lowerBound)–\(run.orderIDs.upperBound): \(orders.succeeded) of \(orders.orders) succeeded")
        var firstOrder = "first started \(moment(orders.firstStarted, from: zero))"
        if let firstStarted = orders.firstStarted, let syncFinished = sync.finishedAt {
            let gap = firstStarted.timeIntervalSince(syncFinished)
            firstOrder += ", \(seconds(abs(gap))) \(gap >= 0 ? "after" : "BEFORE") the sync finished"
        }
        print("           \(firstOrder); last finished \(moment(orders.lastFinished, from: zero))")
        print("           started while the sync was queued or running: \(orders.startedDuringSync) (the rule allows none)")
        print("           by worker: " + byWorker.map { "\($0.worker) \($0.orders)" }.joined(separator: ", "))
        if let lastEnd = [sync.finishedAt, orders.lastFinished].compactMap({ $0 }).max() {
            print("  total    \(seconds(lastEnd.timeIntervalSince(zero))) from submission until every job had ended")
        }
        print("")
        print("Audit trail of the demo")
        for entry in audit {
            print("  \(clockTime(entry.at))  " + right(relative(entry.at, from: zero), 9) + "  "
                  + left(entry.actor, 18) + left(entry.action, 20) + (entry.jobID.map { "job \($0): " } ?? "") + entry.message)
        }
        if audit.count == auditLimit { print("  … more in 'ucp audit'") }
        print("")

        var problems: [String] = []
        if orders.startedDuringSync > 0 {
            problems.append("\(orders.startedDuringSync) of \(orders.orders) orders started while the infrastructure sync was queued or running")
        }
        if sync.state != .succeeded { problems.append("the sync ended \(sync.state.rawValue)") }
        if orders.succeeded < orders.orders {
            problems.append("\(orders.orders - orders.succeeded) of \(orders.orders) orders did not succeed")
        }
        guard problems.isEmpty else {
            return DemoVerdict(passed: false, line: "FAIL: " + problems.joined(separator: "; ") + ".")
        }
        let orderSpan = orders.firstStarted.flatMap { first in orders.lastFinished.map { $0.timeIntervalSince(first) } }
        return DemoVerdict(passed: true, line: "PASS: the infrastructure sync of \(sync.target ?? "-") ran alone; all "
            + "\(orders.orders) orders waited for it, then succeeded on \(byWorker.count) workers"
            + (orderSpan.map { " in \(seconds($0))" } ?? "") + ".")
    }

    private static let auditLimit = 200

    static func seconds(_ value: Double) -> String {
        String(format: value < 10 ? "%.2f s" : "%.1f s", value)
    }

    /// `HH:MM:SS.mmm` in UTC.
    static func clockTime(_ date: Date) -> String {
        String(PostgresTimestamp.format(date).dropFirst(11).prefix(12))
    }

    private static func relative(_ date: Date, from zero: Date) -> String {
        String(format: "%+.2f s", date.timeIntervalSince(zero))
    }

    private static func moment(_ date: Date?, from zero: Date) -> String {
        guard let date else { return "-" }
        return "\(clockTime(date)) (\(relative(date, from: zero)))"
    }

    static func left(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    static func right(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }
}
