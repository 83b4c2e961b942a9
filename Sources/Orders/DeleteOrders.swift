import AXL
import DeviceClients
import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime

/// The delete orders of the LDAP synchronization (issue 15 item 6; seed 004's stale-user actions).
/// The sync queues a request per stale user (`user_delete_orders`, the link: its state and the order
/// that runs it) and an `order.delete_plan` job for it; that job plans a real order of kind delete
/// and queues its `order.run`, so the workers run it as a saga like every order (maintenance holds
/// both). The order's end is copied back to the request, and the next LDAP sync reports it in the
/// seed's words.
///
/// - "Delete user, but keep services" (`delete_user_keep_services`): the seed deletes the user "in
///   Provisioning and CUCM" and keeps its services: removeUser of the end user on each call processor
///   that holds it (none when no call processor does); phones, lines and mailboxes stay on the
///   devices (and as device objects in the inventory); the user record (and its services' links)
///   goes.
/// - "Delete user and all services from Provisioning and CUCM" (`delete_user_and_services`): the
///   phones taken off the user, its primary extension cleared and its Extension Mobility profiles
///   taken out of its phoneProfiles (disassociate), then its mailboxes, its mobility objects, its
///   phones, its lines and the end user removed, in that order; then the user record.
///
/// A user on several call processors (or with mailboxes on several message processors) is one
/// order all the same: each step names its device and talks to it (`OrderDevices.on`); the steps
/// run a call processor at a time (`plan`). A copy UDS added of the end user is left to the
/// directory's removal (DirectorySource), which the order's end queues.
///
/// Every removal reads the object first and removes it by the uuid read, only while it is still the
/// one the plan saw (the inventory's uuid) and still the user's (a phone's owner, a mailbox's
/// extension); one that changed fails the step and is left untouched. An object already gone counts
/// as removed (a lost answer, or someone removed it). Each write is fenced like every step. Delete
/// orders stop at a failed step (on_failure stop): `order retry` goes on; `order rollback` writes the
/// association's before-image back, but does not re-add a removed object — a removal's before-image
/// (the fields read) is on the step for a person, and the rollback ends "needs attention".
public enum DeleteOrders {
    static func register(in registry: inout JobRegistry) throws {
        try registry.register(OrderDeletePlan.self, run: plan)
    }

    /// The order's kind.
    public static let kind = "delete"

    /// Plans the order of one delete request and queues it, in one transaction (a retried job finds
    /// the request linked and does nothing).
    @Sendable
    static func plan(_ parameters: OrderDeletePlan, _ context: JobContext) async throws {
        let actor = "ldap-sync"
        let message = try await context.database.withConnection { connection -> String in
            // The user and its area before the transaction (both stay put: the user is `deleting`).
            let userID: String? = try await connection.transaction { session in
                try OrderInventoryStore.DeleteRequests(session).request(id: parameters.request)?.userID
            }
            guard let userID else { return "Delete request \(parameters.request) is not there any more: nothing to do" }
            let user = try await UserStore(connection).userGet(userID: userID)
            var areaProcessor: String?
            if let user, let name = user.serviceArea {
                areaProcessor = try await ServiceAreaStore(connection).serviceArea(domain: user.domain, name: name)?.settings.callProcessor
            }
            return try await connection.transaction { session -> String in
                // Fenced: an attempt that lost its job writes no order, audit line or removal.
                try QueueStore.InTransaction(session).jobConfirmOwned(context.held)
                let requests = OrderInventoryStore.DeleteRequests(session)
                guard let request = try requests.request(id: parameters.request) else {
                    return "Delete request \(parameters.request) is not there any more: nothing to do"
                }
                if let orderID = request.orderID { return "Delete request \(request.id) is order \(orderID) already" }
                guard request.state == "pending" else { return "Delete request \(request.id) is \(request.state): nothing to do" }
                if let open = try OrderStore.openOrder(session, userID: request.userID) {
                    let problem = "user '\(request.userID)' has open \(open.kind) order \(open.id) (\(open.state.replacingOccurrences(of: "_", with: " "))): resolve it, then delete the user by hand"
                    try requests.refuse(request: request.id, message: problem)
                    return "Delete request \(request.id) refused: \(problem)"
                }
                let targets = try requests.targets(userID: request.userID)
                let onDevices = try requests.userOnDevices(userID: request.userID)
                let plan: Plan
                do {
                    plan = try Self.plan(action: request.action, userID: request.userID, targets: targets, areaProcessor: areaProcessor,
                                         userOnDevices: onDevices.map(\.device),
                                         userUUIDs: Dictionary(onDevices.compactMap { found in found.uuid.map { (found.device, $0) } },
                                                               uniquingKeysWith: { first, _ in first }),
                                         copies: try DirectorySource.copies(of: request.userID, in: session))
                } catch let failure as StepFailure {
                    try requests.refuse(request: request.id, message: failure.description)
                    return "Delete request \(request.id) refused: \(failure.description)"
                }
                let body = OrderStore.json(["kind": Self.kind, "user": request.userID, "action": request.action,
                                            "delete_request": String(request.id), "sync_job": request.syncJobID.map(String.init) ?? ""])
                let id: Int64 = try session.query(OrderSQL.orderInsert, [
                    Self.kind, request.domain, user?.serviceArea ?? "", request.userID, plan.callProcessor ?? "", plan.messageProcessor,
                    nil as String?, "", nil as String?, body, "stop", nil as String?, nil as Int64?, actor,
                ]).first!.decode("id")
                try OrderStore.insertSteps(session, [(id: id, steps: plan.steps)])
                try requests.link(request: request.id, orderID: id)
                let summary = "delete \(request.userID) (\(request.action.replacingOccurrences(of: "_", with: " "))): \(plan.summary)"
                guard !plan.steps.isEmpty else {
                    // Nothing on any device: the order ends at once, the user record with it.
                    try session.query(OrderSQL.orderStateSetOther, [id, "succeeded"])
                    try requests.userRemove(userID: request.userID)
                    try requests.outcome(orderID: id, state: "succeeded", message: nil)
                    try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "order.submitted", target: "order \(id)",
                                                                      message: "Order \(id) succeeded at once: \(summary)")
                    return "Delete request \(request.id) is order \(id): \(summary); succeeded (nothing on the devices)"
                }
                let jobID = try OrderStore.enqueue(session, order: id, action: .apply, actor: actor)
                try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "order.submitted", jobID: jobID, target: "order \(id)",
                                                                  message: "Order \(id) submitted: \(summary)")
                return "Delete request \(request.id) is order \(id) (job \(jobID)): \(summary)"
            }
        }
        try context.logOnSuccess(message)
    }

    /// What a delete order does: its devices and steps.
    public struct Plan: Sendable, Equatable {
        public var callProcessor: String?
        public var messageProcessor: String?
        public var steps: [PlannedStep]
        public var summary: String
    }

    /// Plans a delete order (pure). `targets`: what the inventory holds for the user; `areaProcessor`:
    /// the call processor of the user's area; `userOnDevices`: the call processors whose user sync read
    /// the end user; `userUUIDs`: its uuid on each (the removal leaves an end user re-created since
    /// alone, as every removal does an object that is not the one the plan saw); `copies`: the call
    /// processors where a directory order (UDS) added the end user, each with the home cluster it was
    /// copied from.
    ///
    /// A user on several call processors is removed from each, in one order: per call processor (the
    /// order's first, then by name) its disassociation, mobility objects, phones, lines and end user —
    /// the mailboxes (on whichever message processors) right after the first one's disassociation —,
    /// so a failed step leaves what was done on the processors before it, for `order retry`. The end
    /// user goes from every call processor holding it (its services', its area's, the user syncs'),
    /// but a copy of the order's call processor is the directory's to remove (`DirectorySource.afterOrder`,
    /// once the order took the user off that home cluster): not planned here. The order's call
    /// processor is the copies' home cluster when it has services, else its area's, else the first.
    /// Throws a `StepFailure` (the request's message) for a user with a mailbox but no call processor.
    public static func plan(action: String, userID: String, targets: [UserDeleteTarget], areaProcessor: String?,
                            userOnDevices: [String], userUUIDs: [String: String] = [:], copies: [String: String] = [:]) throws -> Plan {
        let everything = action == "delete_user_and_services"
        // The call processors of the user's phones and lines (whose end user goes with either action).
        let processors = Set(targets.filter { $0.serviceType != "voicemail" }.map(\.device)).sorted()
        let cpTargets = everything ? targets.filter { $0.serviceType != "voicemail" } : []
        let voicemail = everything ? targets.filter { $0.serviceType == "voicemail" } : []
        let homes = Set(copies.values)
        let cp = processors.first(where: homes.contains) ?? processors.first(where: { $0 == areaProcessor }) ?? processors.first
            ?? areaProcessor ?? userOnDevices.first
        guard let cp else {
            guard voicemail.isEmpty else { throw StepFailure("user '\(userID)' has a mailbox but no call processor: delete it by hand") }
            return Plan(callProcessor: nil, messageProcessor: nil, steps: [], summary: "nothing on the devices; the user record")
        }
        // A copy of the order's call processor is the directory's (it keeps the copy's services, if any, for here).
        func directorysCopy(_ device: String) -> Bool { device != cp && copies[device] == cp }
        let others = Set(processors + userOnDevices).subtracting([cp]).filter { processors.contains($0) || !directorysCopy($0) }.sorted()
        var steps: [PlannedStep] = []
        for device in [cp] + others {
            steps += removals(userID: userID, device: device, targets: cpTargets.filter { $0.device == device },
                              endUser: directorysCopy(device) ? nil : userUUIDs[device] ?? "", mailboxes: device == cp ? voicemail : [])
        }
        let phones = cpTargets.filter { $0.serviceType == "phone" }.count, lines = cpTargets.filter { $0.serviceType == "line" }.count
        let mobility = cpTargets.filter { target in Self.mobilityRemovals.contains { $0.0 == target.serviceType } }.count
        let from = ([cp] + others).filter { !directorysCopy($0) }.map { "'\($0)'" }.joined(separator: " and ")
        let summary = everything
            ? "\(phones) phone(s), \(lines) line(s), \(voicemail.count) mailbox(es)\(mobility > 0 ? ", \(mobility) mobility object(s)" : "") and the end user from \(from); the user record"
            : "the end user from \(from) (its services stay); the user record"
        return Plan(callProcessor: cp, messageProcessor: Set(voicemail.map(\.device)).min(), steps: steps, summary: summary)
    }

    /// The steps on one call processor (`device`): the user's phones, lines and profiles taken off
    /// it, `mailboxes` removed, its mobility objects, phones and lines removed, then its end user
    /// (`endUser`: the uuid it is removed by, "" any; nil: left, a copy the directory removes).
    static func removals(userID: String, device: String, targets: [UserDeleteTarget], endUser: String?,
                         mailboxes: [UserDeleteTarget]) -> [PlannedStep] {
        let phones = targets.filter { $0.serviceType == "phone" }
        let lines = targets.filter { $0.serviceType == "line" }
        let profiles = targets.filter { $0.serviceType == "em_access" }
        var steps: [PlannedStep] = []
        if !phones.isEmpty || !lines.isEmpty || !profiles.isEmpty {
            var values = [
                CallField("userid", userID),
                CallField("removeDevices", .fields(phones.map { CallField("device", $0.key) })),
                CallField("removePrimaryExtension", .fields(lines.map { CallField("dirn", .fields(lineKey($0))) })),
            ]
            // The user's list names the profile until it is taken out: removed first, the user would
            // name a profile that is gone (for good, when the order stops before removeUser).
            if !profiles.isEmpty { values.append(CallField("removePhoneProfiles", .fields(profiles.map { CallField("profileName", $0.key) }))) }
            steps.append(PlannedStep(name: .disassociate, device: device, calls: [PlannedCall("updateUser", values)]))
        }
        for box in mailboxes {
            let alias = box.detail["mailbox"] ?? box.key
            var values = [CallField("Alias", alias)]
            if let number = box.detail["number"] { values.append(CallField("DtmfAccessId", number)) }
            steps.append(PlannedStep(name: .removeVoicemail, device: box.device, calls: [
                PlannedCall("DELETE /vmrest/users/\(box.uuid ?? "{ObjectId}")", values),
            ]))
        }
        // Single Number Reach and Extension Mobility: destinations, then their profiles, then device profiles.
        for (type, name, operation, owner) in Self.mobilityRemovals {
            for target in targets where target.serviceType == type {
                var values = [CallField(type == "remote_destination" ? "destination" : "name", target.key)]
                if let owner { values.append(CallField(owner, userID)) }
                if let uuid = target.uuid { values.append(CallField("uuid", uuid)) }
                steps.append(PlannedStep(name: name, device: device, calls: [PlannedCall(operation, values)]))
            }
        }
        for phone in phones {
            var values = [CallField("name", phone.key), CallField("ownerUserName", userID)]
            if let uuid = phone.uuid { values.append(CallField("uuid", uuid)) }
            steps.append(PlannedStep(name: .removePhone, device: device, calls: [PlannedCall("removePhone", values)]))
        }
        for line in lines {
            var values = lineKey(line)
            if let uuid = line.uuid { values.append(CallField("uuid", uuid)) }
            steps.append(PlannedStep(name: .removeLine, device: device, calls: [PlannedCall("removeLine", values)]))
        }
        guard let endUser else { return steps }
        var user = [CallField("userid", userID)]
        if !endUser.isEmpty { user.append(CallField("uuid", endUser)) }
        steps.append(PlannedStep(name: .removeUser, device: device, calls: [PlannedCall("removeUser", user)]))
        return steps
    }

    /// The mobility services a delete order removes: service type, step, operation, and the field
    /// naming the object's user (checked before the removal), if it has one.
    static let mobilityRemovals: [(String, StepName, String, String?)] = [
        ("remote_destination", .removeRemoteDestination, "removeRemoteDestination", "ownerUserId"),
        ("remote_destination_profile", .removeRemoteDestinationProfile, "removeRemoteDestinationProfile", "userId"),
        ("em_access", .removeDeviceProfile, "removeDeviceProfile", nil),
    ]

    /// A line's key as AXL names it: its number and partition (the service's detail, else its key `number/partition`).
    static func lineKey(_ line: UserDeleteTarget) -> [CallField] {
        let parts = line.key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        return [CallField("pattern", line.detail["number"] ?? parts[0]),
                CallField("routePartitionName", line.detail["partition"] ?? (parts.count > 1 ? parts[1] : ""))]
    }

    /// The order's end copied to its request (succeeded, failed — any end but success — or running).
    static func recordOutcome(_ order: Order, in session: Session) throws {
        let state: String
        switch order.state {
        case "succeeded": state = "succeeded"
        case "failed", "rolled_back", "canceled", "needs_attention": state = "failed"
        default: state = "running"
        }
        let message = state == "failed" ? "order \(order.id) \(order.state.replacingOccurrences(of: "_", with: " ")): \(order.error ?? "no reason given")" : nil
        try OrderInventoryStore.DeleteRequests(session).outcome(orderID: order.id, state: state, message: message)
    }
}

extension OrderSaga {
    // MARK: delete orders

    mutating func forwardDelete(_ step: inout OrderStep, resumed: Bool) async throws {
        switch step.name {
        case .disassociate: try await forwardDisassociate(&step)
        case .removeVoicemail: try await forwardRemoveVoicemail(&step)
        default: try await forwardRemove(&step)
        }
    }

    /// The user's phones taken off its devices, its primary extension cleared when it is one of the
    /// lines the order removes, and its Extension Mobility profiles taken out of its phoneProfiles
    /// (and its defaultProfile cleared when it is one of them: no reference to a removed profile):
    /// read, reduced, written whole (the before-image kept for undo). The profiles' list is read and
    /// written only by a step that takes a profile out.
    mutating func forwardDisassociate(_ step: inout OrderStep) async throws {
        let call = step.calls[0]
        let userid = call.values.text("userid") ?? ""
        let phones = Set((call.values["removeDevices"]?.children ?? []).compactMap { $0.value.text?.lowercased() })
        let lines = (call.values["removePrimaryExtension"]?.children ?? []).map { $0.value }
        let profiles = call.values["removePhoneProfiles"].map { Set($0.children.compactMap { $0.value.text?.lowercased() }) }
        guard let user = try await get("getUser", keys: [("userid", userid)], item: "user",
                                       tags: Self.disassociationTags(withProfiles: profiles != nil)) else {
            return  // no end user: nothing is associated
        }
        let current = Self.disassociationImage(user, withProfiles: profiles != nil)
        let devices = (current["associatedDevices"]?.children ?? []).compactMap { $0.value.text }
        let remaining = devices.filter { !phones.contains($0.lowercased()) }
        var primary = current["primaryExtension"] ?? .fields([])
        if lines.contains(where: { $0.children.text("pattern") == primary.children.text("pattern")
                && ($0.children.text("routePartitionName") ?? "") == (primary.children.text("routePartitionName") ?? "") }) {
            primary = .fields([CallField("pattern", ""), CallField("routePartitionName", "")])
        }
        var after = [CallField("associatedDevices", .fields(remaining.map { CallField("device", $0) })), CallField("primaryExtension", primary)]
        if let profiles {
            let listed = (current["phoneProfiles"]?.children ?? []).compactMap { $0.value.text }
            after.append(CallField("phoneProfiles", .fields(listed.filter { !profiles.contains($0.lowercased()) }.map { CallField("profileName", $0) })))
            let preferred = current.text("defaultProfile") ?? ""
            after.append(CallField("defaultProfile", profiles.contains(preferred.lowercased()) ? "" : preferred))
        }
        if step.beforeImage == nil || !Self.sameDisassociation(current, after) { step.beforeImage = current }
        step.afterImage = after
        if Self.sameDisassociation(current, after) { return }
        try await fence(&step)
        try await write(PlannedCall("updateUser", [CallField("userid", userid)] + after))
    }

    /// What the disassociation reads of the user: its devices and primary extension, and its
    /// phoneProfiles and defaultProfile when the step takes a profile out.
    static func disassociationTags(withProfiles: Bool) -> [String] {
        ["associatedDevices", "primaryExtension"] + (withProfiles ? ["phoneProfiles", "defaultProfile"] : [])
    }

    static func disassociationImage(_ user: DeviceValue, withProfiles: Bool) -> [CallField] {
        guard withProfiles else { return associationImage(user) }
        let profiles = user.child("phoneProfiles")?.children("profileName").compactMap(\.text) ?? []
        return associationImage(user) + [CallField("phoneProfiles", .fields(profiles.map { CallField("profileName", $0) })),
                                         CallField("defaultProfile", user.child("defaultProfile")?.text ?? "")]
    }

    /// Two disassociation images alike: the association alike, and the same profiles (in any order,
    /// without case) and default profile when they hold them (an image stored before the default
    /// was kept has none: not compared).
    static func sameDisassociation(_ a: [CallField], _ b: [CallField]) -> Bool {
        func profiles(_ image: [CallField]) -> Set<String>? {
            image["phoneProfiles"].map { Set($0.children.compactMap { $0.value.text?.lowercased() }) }
        }
        let defaults = [a, b].compactMap { $0.text("defaultProfile")?.lowercased() }
        return sameAssociation(a, b) && profiles(a) == profiles(b) && (defaults.count < 2 || defaults[0] == defaults[1])
    }

    /// An image without the names of the phones and profiles this order removed (no reference to
    /// something gone is written back).
    func withoutRemoved(_ image: [CallField]) -> [CallField] {
        func removed(_ name: StepName) -> Set<String> {
            Set(steps.filter { $0.name == name && ["done", "conflict", "skipped"].contains($0.state) }
                .compactMap { $0.calls.first?.values.text("name")?.lowercased() })
        }
        let gone = ["associatedDevices": removed(.removePhone), "phoneProfiles": removed(.removeDeviceProfile)]
        return image.map { field in
            if field.name == "defaultProfile", let name = field.value.text, gone["phoneProfiles"]!.contains(name.lowercased()) {
                return CallField(field.name, "")
            }
            guard let names = gone[field.name] else { return field }
            return CallField(field.name, .fields(field.value.children.filter { !names.contains($0.value.text?.lowercased() ?? "") }))
        }
    }

    /// What a removal reads: the get, the item, the key and the fields kept as its before-image.
    static func removalTarget(_ name: StepName, _ values: [CallField]) -> (get: String, item: String, keys: [(String, String)], tags: [String]) {
        switch name {
        case .removePhone:
            return ("getPhone", "phone", [("name", values.text("name") ?? "")],
                    ["name", "description", "product", "ownerUserName", "devicePoolName", "callingSearchSpaceName", "locationName"])
        case .removeLine:
            return ("getLine", "line", [("pattern", values.text("pattern") ?? ""), ("routePartitionName", values.text("routePartitionName") ?? "")],
                    ["pattern", "routePartitionName", "description", "alertingName", "shareLineAppearanceCssName", "voiceMailProfileName"])
        case .removeRemoteDestination:
            return ("getRemoteDestination", "remoteDestination", [("destination", values.text("destination") ?? "")],
                    ["name", "destination", "ownerUserId", "remoteDestinationProfileName", "isMobilePhone", "enableMobileConnect"])
        case .removeRemoteDestinationProfile:
            return ("getRemoteDestinationProfile", "remoteDestinationProfile", [("name", values.text("name") ?? "")],
                    ["name", "description", "userId", "devicePoolName", "callingSearchSpaceName"])
        case .removeDeviceProfile:
            return ("getDeviceProfile", "deviceProfile", [("name", values.text("name") ?? "")], ["name", "description", "product", "protocol"])
        default:
            return ("getUser", "user", [("userid", values.text("userid") ?? "")],
                    ["firstName", "lastName", "userid", "mailid", "department", "presenceGroupName"])  // XUser's order (AXLSoap.xsd 12.5)
        }
    }

    /// A removal on Unified CM: the object read; gone already counts as removed; one that is not the
    /// object the plan saw (another uuid) or no longer the user's (a phone's owner) fails the step,
    /// left untouched; else removed by the uuid read.
    mutating func forwardRemove(_ step: inout OrderStep) async throws {
        let call = step.calls[0]
        let (operation, item, keys, tags) = Self.removalTarget(step.name, call.values)
        let name = keys.map(\.1).filter { !$0.isEmpty }.joined(separator: " in ")
        let lineRemoval = step.name == .removeLine
        guard let found = try await get(operation, keys: keys, item: item, tags: tags + (lineRemoval ? ["associatedDevices"] : [])) else {
            log("Step \(step.position) (\(step.name.rawValue)): \(item) \(name) is not on \(step.device): nothing to remove")
            return
        }
        let uuid = Self.uuid(found)
        if let planned = call.values.text("uuid"), let uuid, Self.bareUUID(planned) != Self.bareUUID(uuid) {
            throw StepFailure("\(item) \(name) on \(step.device) is not the one the plan saw (uuid \(uuid), planned \(planned)): left untouched")
        }
        for tag in ["ownerUserName", "ownerUserId", "userId"] {
            if let owner = call.values.text(tag), let found = found.child(tag)?.text, !found.isEmpty, found.lowercased() != owner.lowercased() {
                throw StepFailure("\(item) \(name) on \(step.device) belongs to '\(found)' now, not '\(owner)': left untouched")
            }
        }
        // The user's phones and profiles went in the steps before: a device still carrying the line
        // shares it with someone else, whose calls its removal would break. Left, and said so.
        if lineRemoval, case let carriers = Self.devices(on: found), !carriers.isEmpty {
            step.state = "skipped"
            step.error = "\(item) \(name) on \(step.device) is shared: still on \(Self.named(carriers)); left in place"
            log("Step \(step.position) (remove_line): \(step.error!)")
            return
        }
        step.beforeImage = Self.image(of: found, like: tags.map { CallField($0, "") }) + (uuid.map { [CallField("uuid", $0)] } ?? [])
        try await fence(&step)
        let removal = uuid.map { PlannedCall(call.operation, [CallField("uuid", $0)]) }
            ?? PlannedCall(call.operation, keys.map { CallField($0.0, $0.1) })
        do {
            try await write(removal)
        } catch let fault as AXLFault where fault.code == 5007 {
            // Gone between the read and the write: removed all the same.
        }
    }

    /// The user's Unity Connection user removed while it is the one the plan saw (its ObjectId) and
    /// still has the user's extension; gone already counts as removed.
    mutating func forwardRemoveVoicemail(_ step: inout OrderStep) async throws {
        let call = step.calls[0]
        let alias = call.values.text("Alias") ?? ""
        guard let found = try await mailbox(alias) else {
            log("Step \(step.position) (remove_voicemail): Unity Connection user '\(alias)' is not on \(step.device): nothing to remove")
            return
        }
        let objectID = found.text("ObjectId") ?? ""
        let planned = String(call.operation.split(separator: "/").last ?? "")
        if planned != "{ObjectId}", Self.bareUUID(planned) != Self.bareUUID(objectID) {
            throw StepFailure("Unity Connection user '\(alias)' on \(step.device) is not the one the plan saw (ObjectId \(objectID)): left untouched")
        }
        if let dtmf = call.values.text("DtmfAccessId"), found.text("DtmfAccessId") != dtmf {
            throw StepFailure("Unity Connection user '\(alias)' on \(step.device) has another extension now (\(found.text("DtmfAccessId") ?? "none")): left untouched")
        }
        step.beforeImage = ["Alias", "DtmfAccessId", "FirstName", "LastName", "ObjectId"].map { CallField($0, found.text($0) ?? "") }
        try await fence(&step)
        do {
            try await write(PlannedCall("DELETE /vmrest/users/\(objectID)", []))
        } catch let error as DeviceClientError where error.httpStatus == 404 {
            // Gone between the read and the write.
        }
    }

    static func mobilityRemoval(_ name: StepName) -> (String, StepName, String, String?) {
        DeleteOrders.mobilityRemovals.first { $0.1 == name }!
    }

    /// The inventory's object type of what a mobility removal removes.
    static func inventoryType(_ name: StepName) -> String {
        switch name {
        case .removeRemoteDestination: return "RemoteDestination"
        case .removeRemoteDestinationProfile: return "RemoteDestinationProfile"
        default: return "DeviceProfile"
        }
    }

    static func bareUUID(_ text: String) -> String {
        text.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "{}"))
    }

    /// The undo of a delete order's step: the association's before-image written back while the user
    /// still shows what the step wrote (a conflict, left untouched, when it shows something else),
    /// without the phones and profiles the order removed; a removal is not re-added — it stays a
    /// conflict for a person, its before-image on the step.
    mutating func undoDelete(_ step: OrderStep) async throws -> UndoOutcome {
        guard step.name == .disassociate else { return step.beforeImage == nil ? .skipped : .conflict() }
        guard let after = step.afterImage, let stored = step.beforeImage else { return .undone }
        let userid = step.calls[0].values.text("userid") ?? ""
        let withProfiles = after["phoneProfiles"] != nil
        guard let user = try await get("getUser", keys: [("userid", userid)], item: "user",
                                       tags: Self.disassociationTags(withProfiles: withProfiles)) else {
            return .conflict()
        }
        guard Self.sameDisassociation(Self.disassociationImage(user, withProfiles: withProfiles), after) else { return .conflict() }
        let before = withoutRemoved(stored)
        if Self.sameDisassociation(before, after) { return .undone }
        try await fenceUndo(step)
        try await write(PlannedCall("updateUser", [CallField("userid", userid)] + before))
        return .undone
    }

    /// Why an undo left a step untouched, for the step and the order.
    static func undoConflictReason(_ step: OrderStep) -> String {
        switch step.name {
        case .removeVoicemail, .removePhone, .removeLine, .removeUser, .removeRemoteDestination, .removeRemoteDestinationProfile, .removeDeviceProfile:
            return "removed from \(step.device) by the delete order: not re-added (what it removed is the step's before-image)"
        default:
            return "changed on \(step.device) since the order wrote it: left untouched"
        }
    }

    /// Records a delete order's success, in one fenced transaction with its last step: the objects it
    /// removed gone from the inventory, the user record removed (its services' links with it), the
    /// request succeeded.
    mutating func finishDelete() async throws {
        let order = order
        var removed: [OrderedService] = []
        var usersRemoved: [String] = []
        for step in steps where step.state == "done" {
            let values = step.calls.first?.values ?? []
            switch step.name {
            case .removePhone:
                removed.append(OrderedService(serviceType: "phone", device: step.device, objectType: "Phone", objectKey: values.text("name") ?? "",
                                              uuid: nil, attributes: "{}", detail: "{}"))
            case .removeLine:
                let key = "\(values.text("pattern") ?? "")/\(values.text("routePartitionName") ?? "")"
                removed.append(OrderedService(serviceType: "line", device: step.device, objectType: "Line", objectKey: key,
                                              uuid: nil, attributes: "{}", detail: "{}"))
            case .removeVoicemail:
                removed.append(OrderedService(serviceType: "voicemail", device: step.device, objectType: "VoiceMailInfo",
                                              objectKey: values.text("Alias") ?? "", uuid: nil, attributes: "{}", detail: "{}"))
            case .removeRemoteDestination, .removeRemoteDestinationProfile, .removeDeviceProfile:
                let (type, _, _, _) = Self.mobilityRemoval(step.name)
                removed.append(OrderedService(serviceType: type, device: step.device, objectType: Self.inventoryType(step.name),
                                              objectKey: values.text("destination") ?? values.text("name") ?? "", uuid: nil, attributes: "{}", detail: "{}"))
            case .removeUser:
                usersRemoved.append(step.device)
            default:
                break
            }
        }
        unsavedState = ("succeeded", nil)
        log("Order \(order.id) succeeded: user '\(order.userID)' deleted")
        let removedNow = removed, usersGone = usersRemoved
        try await commit { session in
            try OrderInventoryStore.InTransaction(session).objectsRemoved(removedNow)
            let requests = OrderInventoryStore.DeleteRequests(session)
            for device in usersGone { try requests.userObjectRemoved(device: device, userID: order.userID) }
            try requests.userRemove(userID: order.userID)
            try requests.outcome(orderID: order.id, state: "succeeded", message: nil)
        }
    }
}
