import APIServer
import ArgumentParser
import Foundation
import Postgres
import Queue

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Maintenance mode, running syncs, queue depth, live workers and the leader.")

    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let database = try await Database.open()
        let status = try await QueueStore(Connection(database)).statusSnapshot(workersWithinSeconds: 120)
        let (maintenance, syncs, counts, workers, leader) =
            (status.maintenance, status.runningSyncs, status.queue, status.workers, status.leader)
        if json {
            let object = Representation.status(status, database: "\(database)")
            print(try Output.json(object))
            return
        }
        print("database:     \(database)")
        print("maintenance:  \(maintenance.active ? "ON — \(maintenance.reason ?? "")" : "off")")
        print("leader:       \(leader.map { "\($0.holder) (since \(Output.shortTime($0.electedAt)))" } ?? "none")")
        print("running syncs:\(syncs.isEmpty ? " none" : "")")
        for job in syncs {
            print("  job \(job.id) \(job.type) of \(job.target ?? "-") on \(job.worker ?? "-"): \(Output.progressText(job.progress))")
        }
        print("queue (pending, and finished in the last hour):\(counts.isEmpty ? " empty" : "")")
        for count in counts { print("  " + pad(count.state.rawValue, 11) + pad(count.type, 14) + String(count.count)) }
        print("workers:\(workers.isEmpty ? " none alive" : "")")
        for worker in workers {
            print("  " + pad(worker.name, 28) + "running \(worker.running)/\(worker.concurrency), heartbeat \(String(format: "%.1f", worker.heartbeatAgeSeconds)) s ago")
        }
    }
}
