import ArgumentParser
import Foundation
import Orders
import Postgres
import Queue
import Runtime

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List, show, cancel and stop jobs.",
        subcommands: [List.self, Show.self, Log.self, Cancel.self, StopStuck.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")

        @Option(help: "Only jobs in this state: queued, running, canceling, succeeded, failed, canceled.")
        var state: String?
        @Option(help: "Only jobs of this type.")
        var type: String?
        @Option(help: "At most this many (1 to 10000).")
        var limit: Int = 50
        @Flag(help: "Print JSON.")
        var json = false

        func run() async throws {
            let filter = try JobFilter(state: state, type: type, limit: limit)
            if let type { _ = try JobTypes.contract(named: type) }
            let store = QueueStore(Connection(try await Database.open()))
            let jobs = try await store.jobList(filter)
            if json {
                print(try Output.json(jobs.map(Output.jobJSON)))
                return
            }
            print(pad("ID", 8) + pad("TYPE", 14) + pad("TARGET", 18) + pad("STATE", 11) + pad("TRY", 5) + pad("WORKER", 24) + "PROGRESS / ERROR")
            for job in jobs {
                let detail = job.state.isFinal && job.state != .succeeded ? (job.error ?? "") : Output.progressText(job.progress)
                print(pad(String(job.id), 8) + pad(job.type, 14) + pad(job.target ?? "-", 18) + pad(job.state.rawValue, 11)
                      + pad(String(job.attempt), 5) + pad(job.worker ?? "-", 24) + detail)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job.")
        @Argument(help: "The job id.") var id: Int64
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = QueueStore(Connection(try await Database.open()))
            guard let job = try await store.jobGet(id: id) else { throw InputError(field: "job \(id)", problem: "no such job") }
            if json {
                print(try Output.json(Output.jobJSON(job)))
                return
            }
            let lines: [(String, String)] = [
                ("id", String(job.id)), ("type", job.type), ("kind", job.kind.rawValue), ("target", job.target ?? "-"),
                ("state", job.state.rawValue), ("attempt", "\(job.attempt) of \(job.maxAttempts)"),
                ("worker", job.worker ?? "-"), ("payload", job.payload), ("priority", String(job.priority)),
                ("submitted by", job.submittedBy), ("created", Output.shortTime(job.createdAt)),
                ("run at", Output.shortTime(job.runAt)), ("started", Output.shortTime(job.startedAt)),
                ("finished", Output.shortTime(job.finishedAt)), ("progress", Output.progressText(job.progress)),
                ("progress changed", Output.shortTime(job.progress.changedAt)), ("error", job.error ?? "-"),
                ("outcome", Output.outcome(job)),
            ]
            for (label, value) in lines { print(pad(label + ":", 18) + value) }
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a job's detailed log.")
        @Argument(help: "The job id.") var id: Int64
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = QueueStore(Connection(try await Database.open()))
            guard try await store.jobGet(id: id) != nil else { throw InputError(field: "job \(id)", problem: "no such job") }
            if json {
                let lines = try await store.jobLogRead(id: id)
                print(try Output.json(lines.map { ["id": $0.id, "attempt": $0.attempt, "at": Output.iso($0.at), "level": $0.level, "message": $0.message] }))
                return
            }
            // A page at a time: a sync's log of 10^5 lines is printed as read, never held whole.
            var after: Int64?
            repeat {
                let lines = try await store.jobLogRead(id: id, after: after, limit: 10_000)
                for line in lines { print("\(Output.shortTime(line.at)) attempt \(line.attempt) \(line.level): \(line.message)") }
                after = lines.count == 10_000 ? lines.last!.id : nil
            } while after != nil
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a job: a queued one ends at once, a running one stops at its next heartbeat or progress report.")
        @Argument(help: "The job id.") var id: Int64
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            // Through the orders: an order whose queued job is canceled is withdrawn with it.
            let store = OrderStore(Connection(try await Database.open()))
            let state = try await store.jobCancel(id: id, actor: global.actorName)
            print(state == .canceled ? "job \(id) canceled" : "job \(id) canceling: its handler stops at its next heartbeat")
        }
    }

    struct StopStuck: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stop-stuck",
            abstract: "End a running synchronization that is not progressing; refused for one that progresses.")
        @Argument(help: "The job id.") var id: Int64
        @Option(help: "How long its progress must not have changed (default 60s).")
        var idle: String = "60s"
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let params = try QueueStore.StopStuckParams.operatorRequest(id: id, actor: global.actorName, idle: idle)
            let store = QueueStore(Connection(try await Database.open()))
            let job = try await store.jobStopStuck(params)
            print("job \(job.id) stopped (\(job.type) of \(job.target ?? "-")): \(job.error ?? "")")
        }
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
