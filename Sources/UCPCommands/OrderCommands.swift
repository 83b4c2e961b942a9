import APIServer
import ArgumentParser
import Foundation
import Orders
import Postgres
import Queue
import Runtime

struct OrderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order",
        abstract: "Orders: one user's services provisioned on Unified CM and Unity Connection as a saga.",
        discussion: """
            An order file (YAML) names the domain, the service area, the user, the phone (name, model), \
            optionally the line (else the next free number of the area's block) and voicemail (yes/no). \
            `plan` prints the exact calls; `submit` stores that plan and queues its job (kind order: \
            maintenance mode holds it back). The whole file is checked before anything is written.
            """,
        subcommands: [Plan.self, Submit.self, Batch.self, List.self, Show.self, Retry.self, Rollback.self, Cancel.self])

    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the calls an order file would make, with their values. Writes nothing.")
        @Option(name: .shortAndLong, help: "The order file (YAML).") var file: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let request = try OrderFile.read(path: file)
            let plan = try await OrderStore(Connection(try await Database.open())).plan(request)
            if json {
                print(try Output.json(plan.steps.enumerated().map { Representation.plannedStep(position: $0.offset + 1, $0.element) }))
                return
            }
            print("order: add \(plan.inputs.user.userID) in service area '\(plan.inputs.area.name)' of domain '\(request.domain)'"
                  + ", line \(plan.inputs.line)\(plan.inputs.partition.isEmpty ? "" : " in \(plan.inputs.partition)"), phone \(request.phoneName)")
            for line in OrderOutput.planLines(plan.steps) { print(line) }
        }
    }

    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store an order file's plan and queue its job.")
        @Option(name: .shortAndLong, help: "The order file (YAML).") var file: String
        @Option(help: "An idempotency key: the same key with the same order again returns the first order; with another order it is refused.") var key: String?
        @Flag(help: "Wait for the order to end, showing its steps; exit 0 succeeded, 1 otherwise.") var wait = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            if let key, key.isEmpty || key.count > 200 { throw InputError(field: "key", problem: "must be 1 to 200 characters") }
            let request = try OrderFile.read(path: file)
            let connection = Connection(try await Database.open())
            let submitted = try await OrderStore(connection).submit(request, key: key, actor: global.actorName)
            let order = submitted.order
            print("order \(order.id) \(submitted.created ? "submitted" : "already submitted with this key")"
                  + " (job \(order.jobID.map(String.init) ?? "-")): add \(order.userID), line \(order.line ?? "-"), phone \(order.phone ?? "-")")
            if wait { try await OrderOutput.wait(for: order.id, connection: connection) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List orders, newest first.")
        @Option(help: "Only orders in this state.") var state: String?
        @Option(help: "Only this user's orders.") var user: String?
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            guard (1...10000).contains(limit) else { throw InputError(field: "limit", problem: "must be from 1 to 10000") }
            let orders = try await OrderStore(Connection(try await Database.open())).list(state: state, user: user, limit: limit)
            if json {
                print(try Output.json(orders.map(Representation.order)))
                return
            }
            print(pad("ID", 8) + pad("KIND", 8) + pad("STATE", 17) + pad("USER", 18) + pad("LINE", 10) + pad("PHONE", 18) + "SERVICE AREA")
            for order in orders {
                print(pad(String(order.id), 8) + pad(order.kind, 8) + pad(order.state, 17) + pad(order.userID, 18) + pad(order.line ?? "-", 10)
                      + pad(order.phone ?? "-", 18) + order.serviceArea)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an order and each step: its state, call, timing and error.")
        @Argument(help: "The order's id.") var id: Int64
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = OrderStore(Connection(try await Database.open()))
            guard let order = try await store.order(id: id) else { throw OrderStore.noSuchOrder(id) }
            let steps = try await store.steps(orderID: id)
            let writeBack = try await store.writeBack(orderID: id)
            if json {
                print(try Output.json(Representation.orderDetail(order, steps: steps, writeBack: writeBack)))
                return
            }
            var job: Job?
            if let jobID = order.jobID { job = try await QueueStore(store.connection).jobGet(id: jobID) }
            for line in OrderOutput.lines(order, steps, job: job) { print(line) }
            if let writeBack { print("  write-back: \(writeBack.message)") }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a failed order at its failed step, or a cancel order that needs attention once its drift is resolved.")
        @OptionGroup var action: QueuedAgain

        func run() async throws {
            try await action.run(rollback: false)
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Undo the done steps of a failed order (or one that needs attention, once resolved).")
        @OptionGroup var action: QueuedAgain

        func run() async throws {
            try await action.run(rollback: true)
        }
    }

    /// `order retry` and `order rollback`: the order's job queued again by the store, one line, and the wait.
    struct QueuedAgain: ParsableArguments {
        @Argument(help: "The order's id.") var id: Int64
        @Flag(help: "Wait for the order to end.") var wait = false
        @OptionGroup var global: GlobalOptions

        func run(rollback: Bool) async throws {
            let connection = Connection(try await Database.open())
            let store = OrderStore(connection)
            let job = rollback ? try await store.rollback(id: id, actor: global.actorName) : try await store.retry(id: id, actor: global.actorName)
            print(rollback ? "order \(id) rollback queued (job \(job))" : "order \(id) retried (job \(job))")
            if wait { try await OrderOutput.wait(for: id, connection: connection, rollback: rollback) }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel an order: a succeeded add order is undone by a cancel order; a queued one is withdrawn; a running one stops before its next device write and ends failed.")
        @Argument(help: "The order's id.") var id: Int64
        @Flag(help: "Wait for the cancel order (or the stopping order) to end.") var wait = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let connection = Connection(try await Database.open())
            switch try await OrderStore(connection).cancel(id: id, actor: global.actorName) {
            case .undo(let order, let job):
                print("order \(order.id) submitted (job \(job)): cancel order \(id)")
                if wait { try await OrderOutput.wait(for: order.id, connection: connection) }
            case .withdrawn(let order):
                print("order \(id) \(order.state.replacingOccurrences(of: "_", with: " ")): withdrawn before it ran" + (order.error.map { " (\($0))" } ?? ""))
            case .stopping(let order):
                print("order \(id) is running: it stops before its next device write (the call in flight is answered first) and ends failed "
                      + "(canceled if it had sent nothing); then \(order.nextSteps)")
                if wait { try await OrderOutput.wait(for: id, connection: connection) }
            }
        }
    }
}

/// How orders are shown: the table of steps, JSON, and the wait with progress.
enum OrderOutput {
    /// A plan's calls, one a line, numbered by step.
    static func planLines(_ steps: [PlannedStep]) -> [String] {
        steps.enumerated().flatMap { index, step in
            step.calls.map { "\(index + 1). \(pad(step.name.rawValue, stepNameWidth))\(pad(step.device, 14))\($0.rendered)" }
        }
    }

    /// `job`: the order's latest job, for an open order whose attempt ended without ending it.
    static func lines(_ order: Order, _ steps: [OrderStep], job: Job? = nil) -> [String] {
        var lines = ["order \(order.id): \(order.kind) \(order.userID) in '\(order.serviceArea)' of '\(order.domain)'"
                     + (order.cancels.map { " (cancels order \($0))" } ?? "") + " — \(order.state)"]
        if let line = order.line { lines.append("  line \(line)\(order.linePartition.isEmpty ? "" : " in \(order.linePartition)"), phone \(order.phone ?? "-")") }
        if let error = order.error { lines.append("  error: \(error)") }
        if let waiting = retryWait(order, job: job) { lines.append(waiting) }
        for step in steps {
            var took = ""
            if let started = step.startedAt, let finished = step.finishedAt {
                took = String(format: " %.0f ms", max(0, finished.timeIntervalSince(started)) * 1000)
            }
            var text = "  \(step.position). " + pad(step.name.rawValue, stepNameWidth) + pad(step.state, 10) + pad(step.device, 14)
            text += step.calls.map(\.rendered).joined(separator: "; ") + took
            if step.adopted { text += " (adopted)" }
            if step.undoFailed { text += " (undo failed)" }
            if let uuid = step.createdUUID { text += " uuid \(uuid)" }
            if let error = step.error { text += " — \(error)" }
            lines.append(text)
        }
        return lines
    }

    /// An open order whose job's attempt ended on what is no step's failure (the database lost, the
    /// worker gone): the order still reads as it was, and its job waits for its next attempt.
    static func retryWait(_ order: Order, job: Job?) -> String? {
        guard ["submitted", "running", "rolling_back"].contains(order.state), let job, job.state == .queued, job.attempt > 0 else { return nil }
        return "  waiting for a retry: attempt \(job.attempt) of job \(job.id) ended (\(job.error ?? "no reason given")); "
            + "attempt \(job.attempt + 1) of \(job.maxAttempts) from \(Output.shortTime(job.runAt))"
    }

    /// Waits for the order to end, printing each step as it changes; exit 1 unless it succeeded (or,
    /// for a rollback, rolled back).
    static func wait(for id: Int64, connection: Connection, rollback: Bool = false) async throws {
        let store = OrderStore(connection)
        var shown: [Int: String] = [:]
        while true {
            guard let order = try await store.order(id: id) else { throw OrderStore.noSuchOrder(id) }
            for step in try await store.steps(orderID: id) where shown[step.position] != step.state {
                shown[step.position] = step.state
                if step.state != "pending" { print("  step \(step.position) \(step.name.rawValue): \(step.state)\(step.error.map { " — \($0)" } ?? "")") }
            }
            if ["succeeded", "failed", "rolled_back", "canceled", "needs_attention"].contains(order.state) {
                if let writeBack = try await store.writeBack(orderID: id) { print("  write-back: \(writeBack.message)") }
                print("order \(id) \(order.state.replacingOccurrences(of: "_", with: " "))\(order.error.map { ": \($0)" } ?? "")")
                if order.state == "succeeded" || (rollback && order.state == "rolled_back") { return }
                throw ExitCode(1)
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
    }
}

/// The step column of plans and order details: as wide as the longest step name, so rows stay aligned.
let stepNameWidth = StepName.allCases.map(\.rawValue.count).max()! + 1
