import APIServer
import ArgumentParser
import Foundation
import Postgres
import Queue

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Read the audit trail, oldest first.")

    @Option(help: "Only entries newer than this (e.g. 15m, 2h, 7d).") var since: String?
    @Option(help: "Only entries about this job.") var job: Int64?
    @Option(help: "At most this many (1 to 100000).") var limit: Int = 1000
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let filter = try AuditFilter(since: since, jobID: job, limit: limit)
        let store = QueueStore(Connection(try await Database.open()))
        let entries = try await store.auditList(filter)
        if json {
            print(try Output.json(entries.map(Representation.audit)))
            return
        }
        for entry in entries {
            print("\(Output.shortTime(entry.at))  \(pad(entry.actor, 22))\(pad(entry.action, 22))\(entry.jobID.map { "job \($0): " } ?? "")\(entry.message)")
        }
    }
}
