import Inventory
import Postgres
import Queue
import Sync

/// Automatic provisioning's orders (Sources/Sync/AutomaticProvisioning.swift) as ordinary orders:
/// planned, refused and submitted by `OrderStore` like `ucp order submit --key`, run by the workers
/// like any order. A user with a line gets an add order; one with no line service a push order of
/// the services that need no line (`submitWithoutLine`).
public struct AutomaticProvisioningOrders: ProvisioningOrders {
    public init() {}

    static func request(_ order: ProvisioningOrder) -> OrderRequest {
        var number: String?
        if case .number(let chosen) = order.line { number = OrderPlanner.directoryNumber(chosen) }
        var request = OrderRequest(domain: order.domain, serviceArea: order.serviceArea, user: order.user, line: number,
                                   phoneName: order.phoneName, phoneModel: order.services.phoneModel, voicemail: order.services.voicemail,
                                   file: "automatic provisioning")
        // The LDAP number (masked or not) is the user's wherever it lies, not only in the area's blocks.
        if number != nil { request.lineFromDirectory = true }
        request.extensionMobility = order.services.extensionMobility
        request.imPresence = order.services.imPresence
        return request
    }

    public func submit(_ order: ProvisioningOrder, connection: Connection, actor: String, owner: QueueStore.Held?) async throws -> ProvisioningSubmitted {
        let store = OrderStore(connection)
        let submitted: OrderStore.Submitted
        if case .none(let reason) = order.line {
            submitted = try await store.submitWithoutLine(Self.request(order), reason: reason, key: order.key, actor: actor, owner: owner)
        } else {
            // A rerun of the sync may choose another number for the same user record: its key still names that order.
            submitted = try await store.submit(Self.request(order), key: order.key, actor: actor, owner: owner, anyRequestForKey: true)
        }
        return ProvisioningSubmitted(orderID: submitted.order.id, line: submitted.order.line ?? "", created: submitted.created)
    }
}

extension OrderStore {
    /// The steps of an add order that need no line: the user pushed to Unified CM, its credential
    /// policy, IM and Presence (a setting of the user). The phone carries the line, voicemail is
    /// reached at it, the Extension Mobility profile and Single Number Reach hold it.
    static let stepsWithoutLine: Set<StepName> = [.user, .credentialPolicy, .imPresence]

    /// The order of a user automatic provisioning gives no line service (seed 004: "does not provision
    /// Line service for the user"): a push order holding the add order's own steps for the services
    /// that need no line (`stepsWithoutLine`), checked as the add order checks them (the user and its
    /// domain, the credential policy, the service profile and the home cluster) and stored as it is:
    /// its key, the user's lock and open-order check, fenced on `owner`. Like a push order it records
    /// IM and Presence in the user's services and places the user in the area when it succeeds; it
    /// writes no number back to LDAP (there is none).
    func submitWithoutLine(_ request: OrderRequest, reason: String, key: String, actor: String, owner: QueueStore.Held?) async throws -> Submitted {
        if let existing = try await connection.query(OrderSQL.orderByKey, [key]).first.map(Order.init(row:)) {
            return Submitted(order: existing, jobID: existing.jobID, created: false)
        }
        var request = request
        request.voicemail = false
        request.extensionMobility = false
        let (area, user) = try await areaAndUser(request)
        if let policy = request.credentialPolicy, let problem = try await credentialPolicyProblem(policy, device: area.callProcessor) {
            throw request.refusal("credential_policy", problem)
        }
        _ = try await mobilityProblems(request, user: user, device: area.callProcessor)
        let onDevice = try await OrderInventoryStore(connection).objectPresent(device: area.callProcessor, type: "User", key: user.userID)
        let inputs = PlanInputs(area: area, user: user, userOnDevice: onDevice, line: "", partition: "")
        let body = Self.json(["kind": "push", "user": user.userID, "service_area": area.name, "from": user.serviceArea ?? "",
                              "file": request.file, "without_line": reason])
        return try await connection.transaction { session in
            if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
            try session.query(OrderSQL.planningLock, [area.callProcessor])
            try session.query(OrderSQL.keyLock, [key])
            if let existing = try session.query(OrderSQL.orderByKey, [key]).first.map(Order.init(row:)) {
                return Submitted(order: existing, jobID: existing.jobID, created: false)
            }
            if let open = try Self.openOrder(session, userID: user.userID) {
                throw request.refusal("user", "'\(user.userID)' " + Self.openOrderProblem(open))
            }
            let id: Int64 = try session.query(OrderSQL.orderInsert, [
                "push", user.domain, area.name, user.userID, area.callProcessor, nil as String?, nil as String?, "", nil as String?,
                body, "rollback", key, nil as Int64?, actor,
            ]).first!.decode("id")
            let steps = OrderPlanner.steps(request, inputs, orderID: id).filter { Self.stepsWithoutLine.contains($0.name) }
            try Self.insertSteps(session, [(id: id, steps: steps)])
            let (jobID, order) = try Self.enqueueReturning(session, order: id, action: .apply, actor: actor)
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "order.submitted", jobID: jobID, target: "order \(id)",
                                                              message: "Order \(id) submitted: push \(user.userID) to '\(area.callProcessor)' in '\(area.name)' "
                                                                  + "without a line (\(reason)): \(steps.map(\.name.rawValue).joined(separator: ", "))")
            return Submitted(order: order, jobID: jobID, created: true)
        }
    }
}
