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
            "calls": step.calls.map(\.rendered), "attempts": step.attempts, "adopted": step.adopted, "undo_failed": step.undoFailed,
            "created_uuid": optional(step.createdUUID), "error": optional(step.error),
            "before_image": optional(step.beforeImage?.rendered), "after_image": optional(step.afterImage?.rendered),
            "started_at": iso(step.startedAt), "finished_at": iso(step.finishedAt),
        ]
    }

    /// A planned step as `ucp order plan --json` prints it.
    package static func plannedStep(position: Int, _ step: PlannedStep) -> [String: Any] {
        ["position": position, "name": step.name.rawValue, "device": step.device, "calls": step.calls.map(\.rendered)]
    }

    /// `order show --json`: the order with its steps, and what its write-back to LDAP did (null before it ran).
    package static func orderDetail(_ order: Order, steps: [OrderStep], writeBack: WriteBackOutcome? = nil) -> [String: Any] {
        var object = Self.order(order)
        object["steps"] = steps.map(orderStep)
        object["write_back"] = writeBack.map(Self.writeBack) ?? NSNull()
        return object
    }

    /// An order's write-back to LDAP: the outcome, whether it was written, the one line, and what and where.
    package static func writeBack(_ outcome: WriteBackOutcome) -> [String: Any] {
        ["outcome": outcome.kind.rawValue, "written": outcome.written, "message": outcome.message,
         "attribute": outcome.attribute ?? NSNull(), "value": outcome.value ?? NSNull(), "entry_dn": outcome.entryDN ?? NSNull(),
         "at": iso(outcome.at)]
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
                return try Representation.encode(Representation.orderDetail(order, steps: try await store.steps(orderID: id),
                                                                            writeBack: try await store.writeBack(orderID: id)))
            }
            return APICall.json(data)
        },
        // `ucp order plan -f FILE --json`: the body is the order file (JSON is YAML), read by the same parser.
        Endpoint("POST", "/api/v1/orders/plan") { call in
            let request = try orderRequest(try await call.bodyBytes())
            let plan = try await namedInBody { try await call.withConnection { try await OrderStore($0).plan(request) } }
            return try call.json(plan.steps.enumerated().map { Representation.plannedStep(position: $0.offset + 1, $0.element) })
        },
        // `ucp order submit -f FILE [--key K]`, the key from `Idempotency-Key`, answered as `POST /api/v1/syncs` answers.
        Endpoint("POST", "/api/v1/orders") { call in
            try await idempotent(call, path: "/api/v1/orders") { bytes in
                let request = try orderRequest(bytes)
                return try await call.withConnection { connection -> (HTTPResponse.Status, Data) in
                    let store = OrderStore(connection)
                    let submitted = try await namedInBody {
                        do {
                            return try await store.submit(request, key: call.request.header("Idempotency-Key"), actor: call.actor)
                        } catch let reused as InputError where reused.field == OrderStore.keyField {
                            // The key came in the header (another client's, or the command line's): refused as a
                            // key reused with another body is (`idempotent`).
                            throw Problem(status: .conflict, detail: "Idempotency-Key: \(reused.problem)", field: "Idempotency-Key")
                        }
                    }
                    let order = submitted.order
                    let object = Representation.orderDetail(order, steps: try await store.steps(orderID: order.id))
                    return (submitted.created ? .accepted : .ok, try Representation.encode(["created": submitted.created, "order": object]))
                }
            }
        },
        Endpoint("POST", "/api/v1/orders/{id}/retry") { call in
            try await orderAction(call) { store, id in _ = try await store.retry(id: id, actor: call.actor); return id }
        },
        Endpoint("POST", "/api/v1/orders/{id}/rollback") { call in
            try await orderAction(call) { store, id in _ = try await store.rollback(id: id, actor: call.actor); return id }
        },
        Endpoint("POST", "/api/v1/orders/{id}/cancel") { call in
            // The cancel order of a succeeded add order, else the order itself (withdrawn, or stopping).
            try await orderAction(call) { store, id in try await store.cancel(id: id, actor: call.actor).order.id }
        },
    ]

    /// An order file sent as the body: the command line's parser and checks, the body named as the file.
    static func orderRequest(_ bytes: [UInt8]) throws -> OrderRequest {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw InputError(field: "body", problem: "must be UTF-8 text") }
        return try OrderFile.parse(text, file: "body")
    }

    /// A user, domain or service area the body names that does not exist is bad input (400), not a
    /// missing resource at the request's path (404).
    static func namedInBody<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as InputError {
            var problem = Problem(error)
            if problem.status == .notFound { problem.status = .badRequest }
            throw problem
        }
    }

    /// `order retry|rollback|cancel ID`: `act` returns the order that now runs (the same one, or the
    /// cancel order a cancel makes), answered with its steps and its job.
    static func orderAction(_ call: APICall, _ act: @escaping @Sendable (OrderStore, Int64) async throws -> Int64) async throws -> Response {
        let id = try call.id(field: "order id")
        _ = try await call.body(fields: [])
        let data = try await call.withConnection { connection -> Data in
            let store = OrderStore(connection)
            let queued = try await act(store, id)
            guard let order = try await store.order(id: queued) else { throw OrderStore.noSuchOrder(queued) }
            return try Representation.encode(Representation.orderDetail(order, steps: try await store.steps(orderID: queued)))
        }
        return APICall.json(data, status: .accepted)
    }
}
