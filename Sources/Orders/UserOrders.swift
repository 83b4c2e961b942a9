import Foundation
import Inventory
import Postgres
import Queue
import Runtime

/// The plan of a user order (`ucp user move|push`): a change order that re-applies a service area's
/// settings to a moved user's phones and lines, or a push of the user to Unified CM. `place`: a move
/// that needs no device call (the user has no services there to change).
public struct UserOrderPlan: Sendable {
    /// change, push or place.
    public var kind: String
    public var user: User
    public var area: ServiceAreaDraft
    /// The area the user is moved from (nil: domain level).
    public var from: String?
    public var steps: [PlannedStep]
    /// What the order does, one line.
    public var summary: String
}

extension OrderStore {
    /// `ucp user move USER --service-area A` planned (seed 000 step 3; orders-brief §A.3). A user
    /// without services on devices is only placed; one with services becomes a change order — only
    /// within one call processor (and message processor): a move across them is refused.
    public func planMove(userID: String, serviceArea: String) async throws -> UserOrderPlan {
        let users = UserStore(connection)
        guard let user = try await users.userGet(userID: userID) else { throw UserStore.noSuchUser(userID) }
        let area = try await Self.area(connection, domain: user.domain, name: serviceArea, field: "service-area")
        guard user.serviceArea != area.name else {
            return UserOrderPlan(kind: "place", user: user, area: area, from: user.serviceArea, steps: [],
                                 summary: "\(user.userID) is already in service area '\(area.name)': nothing to do")
        }
        let services = try await users.userServices(userID: user.userID)
        let from = user.serviceArea ?? services.compactMap(\.serviceArea).first
        var phoneNames: [String] = [], lines: [(pattern: String, partition: String)] = [], voicemail = false
        for service in services {
            if service.type == "voicemail" {
                guard service.device == area.messageProcessor else {
                    throw InputError(field: "service-area", problem: "'\(area.name)' uses message processor \(area.messageProcessor.map { "'\($0)'" } ?? "none"), but the voicemail of '\(user.userID)' is on '\(service.device)': a move keeps the mailbox, so the message processor must stay the same")
                }
                voicemail = true
                continue
            }
            guard service.device == area.callProcessor else {
                throw InputError(field: "service-area", problem: "'\(area.name)' uses call processor '\(area.callProcessor)', but '\(user.userID)' has a \(service.type) on '\(service.device)': moving across call processors is not supported (it would re-provision every service on the other cluster)")
            }
            if service.type == "phone" { phoneNames.append(service.key) }
            if service.type == "line" {
                let detail = (try? JSONSerialization.jsonObject(with: Data(service.detail.utf8))) as? [String: Any] ?? [:]
                if let number = detail["number"] as? String { lines.append((number, detail["partition"] as? String ?? "")) }
            }
        }
        // Each phone's appearances of the user's lines, as the inventory read them (their index); a
        // phone whose lines it does not know: the user's lines, found on the phone by number.
        let known = try await OrderInventoryStore(connection).phoneLines(device: area.callProcessor, phones: phoneNames)
        let phones = phoneNames.map { name in
            let read = known.filter { $0.phone.lowercased() == name.lowercased() }
            let appearances = read.isEmpty
                ? lines.map { OrderPlanner.Appearance(index: nil, pattern: $0.pattern, partition: $0.partition) }
                : read.filter { line in lines.contains { $0.pattern == line.pattern && $0.partition == line.partition } }
                    .map { OrderPlanner.Appearance(index: $0.index, pattern: $0.pattern, partition: $0.partition) }
            return OrderPlanner.MovedPhone(name: name, appearances: appearances)
        }
        let steps = OrderPlanner.moveSteps(to: area, phones: phones, lines: lines, voicemail: voicemail)
        let fromText = from.map { "'\($0)'" } ?? "domain level"
        guard !steps.isEmpty else {
            return UserOrderPlan(kind: "place", user: user, area: area, from: from, steps: [],
                                 summary: "move \(user.userID) from \(fromText) to '\(area.name)': placement only (no phone or line to change)")
        }
        let linesChanged = area.lineCSS == nil && !voicemail ? 0 : lines.count
        let mask = area.externalMask.map { "external mask '\($0)' on the phones' appearances of the user's lines" }
            ?? "external masks left as they are (the area sets none)"
        return UserOrderPlan(kind: "change", user: user, area: area, from: from, steps: steps,
                             summary: "change \(user.userID): move from \(fromText) to '\(area.name)', re-applying its settings to "
                                 + "\(phones.count) phone(s) and \(linesChanged) line(s) on '\(area.callProcessor)'; \(mask)"
                                 + (voicemail ? "; voicemail profile '\(area.voicemailProfile ?? OrderPlanner.defaultVoicemailProfile)' and call forwards to voicemail on the lines" : ""))
    }

    /// `ucp user push USER` planned (seed 000 step 4, with step 2's credential policy): addUser, or
    /// the user Unified CM already has adopted. The area (the user's placement unless named) gives the
    /// call processor.
    public func planPush(userID: String, serviceArea: String?, credentialPolicy: String?) async throws -> UserOrderPlan {
        guard let user = try await UserStore(connection).userGet(userID: userID) else { throw UserStore.noSuchUser(userID) }
        guard let name = serviceArea ?? user.serviceArea else {
            throw InputError(field: "service-area", problem: "user '\(user.userID)' is not placed in a service area: name one, or move the user first (ucp user move \(user.userID) --service-area AREA)")
        }
        let area = try await Self.area(connection, domain: user.domain, name: name, field: "service-area")
        if let credentialPolicy {
            if let problem = try await credentialPolicyProblem(credentialPolicy, device: area.callProcessor) {
                throw InputError(field: "credential-policy", problem: problem)
            }
        }
        let onDevice = try await OrderInventoryStore(connection).objectPresent(device: area.callProcessor, type: "User", key: user.userID)
        let steps = OrderPlanner.userSteps(user, onDevice: onDevice, credentialPolicy: credentialPolicy, device: area.callProcessor)
        return UserOrderPlan(kind: "push", user: user, area: area, from: user.serviceArea, steps: steps,
                             summary: "push \(user.userID) to '\(area.callProcessor)' (service area '\(area.name)'): "
                                 + (onDevice ? "adopt the user Unified CM has" : "add the user")
                                 + (credentialPolicy.map { ", credential policy '\($0)'" } ?? ""))
    }

    /// Why `name` cannot be the credential policy of a user on `device`, or nil. The name's syntax
    /// always; the policy itself when the inventory holds the device's credential policies (an
    /// infrastructure synchronization that reads them) — else Unified CM checks it on the update.
    func credentialPolicyProblem(_ name: String, device: String) async throws -> String? {
        if let problem = OrderFile.credentialPolicyProblem(name) { return problem }
        let inventory = OrderInventoryStore(connection)
        guard try await inventory.objectTypePresent(device: device, type: "CredentialPolicy") else { return nil }
        guard try await inventory.objectPresent(device: device, type: "CredentialPolicy", key: name) else {
            return "no credential policy '\(name)' on '\(device)' (as its infrastructure synchronization read it)"
        }
        return nil
    }

    static func area(_ connection: Connection, domain: String, name: String, field: String) async throws -> ServiceAreaDraft {
        guard let area = try await ServiceAreaStore(connection).serviceArea(domain: domain, name: name)?.settings else {
            throw InputError(field: field, problem: "no service area '\(name)' in domain '\(domain)' (the user's domain)")
        }
        return area
    }

    /// Stores a change or push order and queues its job, in one transaction; refused while the user
    /// has another open order (two orders of one user would fight over the same objects).
    public func submit(_ plan: UserOrderPlan, actor: String) async throws -> Submitted {
        precondition(["change", "push"].contains(plan.kind), "only change and push orders are stored")
        let area = plan.area, user = plan.user
        let request = Self.json(["kind": plan.kind, "user": user.userID, "service_area": area.name, "from": plan.from ?? ""])
        return try await connection.transaction { session in
            try session.query(OrderSQL.planningLock, [area.callProcessor])
            if let open = try Self.openOrder(session, userID: user.userID) {
                throw InputError(field: "user '\(user.userID)'", problem: Self.openOrderProblem(open))
            }
            let id: Int64 = try session.query(OrderSQL.orderInsert, [
                plan.kind, user.domain, area.name, user.userID, area.callProcessor, nil as String?, nil as String?, "", nil as String?,
                request, "rollback", nil as String?, nil as Int64?, actor,
            ]).first!.decode("id")
            try Self.insertSteps(session, [(id: id, steps: plan.steps)])
            let jobID = try Self.enqueue(session, order: id, action: .apply, actor: actor)
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "order.submitted", jobID: jobID, target: "order \(id)",
                                                              message: "Order \(id) submitted: \(plan.summary)")
            let order = try Order(row: try session.query(OrderSQL.orderGet, [id]).first!)
            return Submitted(order: order, jobID: jobID, created: true)
        }
    }
}
