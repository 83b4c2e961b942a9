import Foundation
import JobCatalog
import Postgres
import Queue
import Sync

/// The handler of `order.run`: the attempt takes the order over (fencing any earlier attempt out),
/// then applies it from its cursor, rolls it back, or — a cancel order — undoes its add order.
public enum OrderJobs {
    public static func register(in registry: inout JobRegistry) throws {
        try registry.register(OrderRun.self, run: run)
        try DeleteOrders.register(in: &registry)
        try DirectorySource.register(in: &registry)
    }

    /// Connections a worker keeps to a device for its order jobs, shared by the orders it runs at
    /// once and kept from one order to the next (`DeviceConnections.keptAXL`; the same number as
    /// change notification's, so both share one set). The writes are bounded by the device's
    /// `max_writes_in_flight` over every worker (DeviceWriteGate).
    public static let deviceConcurrency = 4

    @Sendable
    static func run(_ parameters: OrderRun, _ context: JobContext) async throws {
        let owner = QueueStore.Held(id: context.job.id, attempt: context.job.attempt)
        let ended = try await context.database.withConnection { connection -> Order in
            // Taken over, with its steps, in one round trip.
            let rows = try await connection.query(OrderSQL.orderTakeOverWithSteps, [parameters.order, owner.id, Int32(owner.attempt)])
            guard let order = try rows.first.map(Order.init(row:)) else {
                throw JobLostError()
            }
            let steps = try rows.filter { try $0.decodeIfPresent("step_position", as: Int32.self) != nil }.map { try OrderStep(row: $0, prefix: "step_") }
            if Order.finalStates.contains(order.state) || Order.stoppedStates.contains(order.state) {
                // An earlier attempt ended the order and died (or failed) before its follow-ups: they are
                // made again (each is idempotent), so none is lost. An order that stopped (failed, needs
                // attention) is left to the operator: `order retry` and `order rollback` mark it
                // submitted or rolling_back before they queue its job, so only a repeat of the attempt
                // that stopped it gets here, and running the saga again would undo the stop (re-apply
                // a stopped order, re-provision what a rollback removed).
                try await context.log("Order \(order.id) is \(order.state): nothing to do but its follow-ups")
                try await followUps(order, steps: steps, owner: owner, connection: connection)
                return order
            }
            let store = OrderStore(connection)
            // The call processor and the message processor (and the devices of steps elsewhere: a
            // delete order of a user on several), read in one round trip.
            let primary = [order.callProcessor] + (order.messageProcessor.map { [$0] } ?? [])
            var elsewhere: [String] = []
            for step in steps where !primary.contains(step.device) && !elsewhere.contains(step.device) { elsewhere.append(step.device) }
            let opened = try await DeviceConnections.openAll(names: primary + elsewhere, connection: connection, concurrency: deviceConcurrency)
            let processor = opened[order.callProcessor]!
            let unity = order.messageProcessor.flatMap { opened[$0] }
            var devices = OrderDevices(axl: processor.keptAXLForOrders(context: context), cupi: unity?.keptCUPI(context: context),
                                       axlBound: Self.bound(processor), cupiBound: unity.map(Self.bound))
            for name in elsewhere {
                guard let other = opened[name] else { continue }
                var these = devices
                if other.device.kind == .messageProcessor {
                    (these.cupi, these.cupiBound) = (other.keptCUPI(context: context), Self.bound(other))
                } else {
                    (these.axl, these.axlBound) = (other.keptAXLForOrders(context: context), Self.bound(other))
                }
                devices.others[name] = these
            }
            var saga = OrderSaga(order: order, steps: steps, database: connection, owner: owner, devices: devices,
                                 // Lost, or canceled by an operator: either way no further device write.
                                 checkOwnership: { try context.checkCancellation() },
                                 note: { context.logger.info("\($0)") },
                                 pause: { try await context.sleep(seconds: $0) })
            do {
                do {
                    if order.kind == "cancel", let addID = order.cancels {
                        guard let add = try await store.order(id: addID) else { throw OrderStore.noSuchOrder(addID) }
                        try await saga.cancel(add, addSteps: try await store.steps(orderID: addID))
                    } else if parameters.action == .rollback || order.state == "rolling_back" {
                        try await saga.rollback(cause: order.error)
                    } else {
                        try await saga.apply()
                    }
                } catch let canceled where canceled is JobCanceledError || Self.canceledByOperator(context) {
                    // `order cancel` (or `job cancel`) of a running order: it stops at its next fence (a
                    // device call in flight is answered and recorded first) and ends where it stopped,
                    // fenced like every write (the attempt owns the job while it is canceling): canceled
                    // when nothing was sent yet, else failed, for `order rollback` or `order retry`.
                    let started = saga.steps.contains { $0.state != "pending" }
                    let at = saga.steps.first { $0.state == "sending" || $0.state == "pending" }.map {
                        " \($0.state == "sending" ? "during" : "before") step \($0.position) (\($0.name.rawValue))"
                    } ?? ""
                    let error = started ? "canceled by an operator while it ran\(at): \(order.nextSteps)" : nil
                    saga.log("Order \(order.id) canceled by an operator while it ran\(at)")
                    try await saga.setState(started ? "failed" : "canceled", error: error)
                    var ended = order
                    ended.state = started ? "failed" : "canceled"
                    ended.error = error
                    try await followUps(ended, steps: saga.steps, owner: owner, connection: connection)
                    throw canceled
                }
            } catch {
                // A write slot still held (the attempt ended between a fence and its next statement) is let go.
                await saga.releaseSlots()
                throw error
            }
            await saga.releaseSlots()
            // The order as the saga left it (what it wrote last; read back only when it wrote no state).
            var ended = order
            if let written = saga.written {
                ended.state = written.state
                ended.error = written.error
            } else {
                ended = try await store.order(id: order.id) ?? order
            }
            try await followUps(ended, steps: saga.steps, owner: owner, connection: connection)
            return ended
        }
        switch ended.state {
        case "succeeded", "canceled":
            try context.logOnSuccess("Order \(ended.id) \(ended.state)")
        default:
            throw DeviceJobFailure("order \(ended.id) \(ended.state.replacingOccurrences(of: "_", with: " ")): \(ended.error ?? "no reason given")")
        }
    }
}

extension OrderJobs {
    /// A device's write bound: its `max_writes_in_flight` over every worker.
    static func bound(_ opened: DeviceConnections) -> DeviceWriteBound {
        DeviceWriteBound(device: opened.device.name, limit: opened.device.maxWritesInFlight)
    }

    /// Whether the attempt ended because an operator canceled the job (not lost, not stopping).
    static func canceledByOperator(_ context: JobContext) -> Bool {
        do {
            try context.checkCancellation()
            return false
        } catch {
            return error is JobCanceledError
        }
    }

    /// What an order's end asks of the rest: a delete order's outcome on its delete request, and the
    /// directory's copies (UDS) of its user. Each may run again for the same end (a job's next
    /// attempt makes them again when the one that ended the order died first).
    /// Fenced on the attempt (`owner`) that ended the order, like its other writes.
    static func followUps(_ ended: Order, steps: [OrderStep], owner: QueueStore.Held, connection: Connection) async throws {
        try await connection.transaction { session in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            try followUps(ended, steps: steps, in: session)
        }
    }

    /// The follow-ups in the caller's transaction: where the order is withdrawn (no job attempt
    /// comes after to make them again), in the one that withdraws it.
    static func followUps(_ ended: Order, steps: [OrderStep], in session: Session) throws {
        if ended.kind == "delete" { try DeleteOrders.recordOutcome(ended, in: session) }
        try DirectorySource.afterOrder(ended, steps: steps, in: session)
    }
}
