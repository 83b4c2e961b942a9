import Foundation
import HTTPAPI
import Hummingbird
import Orders
import Postgres
import Runtime

/// An order and its steps as `ucp order list|show --json` print them and the API answers them.
extension Representation {
    package static func order(_ order: Order) -> [String: Any] {
        [
            "id": order.id, "kind": order.kind, "domain": order.domain, "service_area": order.serviceArea, "user": order.userID,
            "call_processor": order.callProcessor, "message_processor": optional(order.messageProcessor), "state": order.state,
            "submitted_by": order.submittedBy, "line": optional(order.line), "line_partition": order.linePartition,
            "phone": optional(order.phone), "on_failure": order.onFailure, "job_id": optional(order.jobID),
            "cancels": optional(order.cancels), "error": optional(order.error), "submit_key": optional(order.submitKey),
            "created_at": iso(order.createdAt), "started_at": iso(order.startedAt), "finished_at": iso(order.finishedAt),
        ]
    }

    package static func orderStep(_ step: OrderStep) -> [String: Any] {
        [
            "position": step.position, "name": step.name.rawValue, "device": step.device, "state": step.state,
            "calls": step.calls.map(\.rendered), "attempts": step.attempts, "adopted": step.adopted,
            "created_uuid": optional(step.createdUUID), "error": optional(step.error),
            "before_image": optional(step.beforeImage?.rendered), "after_image": optional(step.afterImage?.rendered),
            "started_at": iso(step.startedAt), "finished_at": iso(step.finishedAt),
        ]
    }

    /// `order show --json`: the order with its steps.
    package static func orderDetail(_ order: Order, steps: [OrderStep]) -> [String: Any] {
        var object = Self.order(order)
        object["steps"] = steps.map(orderStep)
        return object
    }
}

extension Endpoints {
    static let orderStates = ["submitted", "running", "succeeded", "failed", "rolling_back", "rolled_back", "canceled", "needs_attention"]

    /// `ucp order …` over HTTP: the same store, checks and refusals as the commands.
    static let orders: [Endpoint] = [
        Endpoint("GET", "/api/v1/orders") { call in
            let state = try call.query("state")
            if let state, !orderStates.contains(state) {
                throw InputError(field: "state", problem: "must be one of \(orderStates.joined(separator: ", ")) (got \(InputError.quoted(state)))")
            }
            let limit = try call.queryInt("limit") ?? 50
            guard (1...10000).contains(limit) else { throw InputError(field: "limit", problem: "must be from 1 to 10000") }
            let before = try call.queryInt64("before")
            if let before, before < 1 { throw InputError(field: "before", problem: "must be a whole number, 1 or more") }
            let orders = try await call.withConnection {
                try await OrderStore($0).list(state: state, user: try call.query("user"), limit: limit, before: before)
            }
            let next: Any = orders.count == limit ? orders.last!.id : NSNull()
            return try call.json(["orders": orders.map(Representation.order), "next_before": next])
        },
        Endpoint("GET", "/api/v1/orders/{id}") { call in
            let id = try call.id(field: "order id")
            let data = try await call.withConnection { connection -> Data in
                let store = OrderStore(connection)
                guard let order = try await store.order(id: id) else { throw OrderStore.noSuchOrder(id) }
                return try Representation.encode(Representation.orderDetail(order, steps: try await store.steps(orderID: id)))
            }
            return APICall.json(data)
        },
    ]
}
