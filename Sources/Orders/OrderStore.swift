import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime

/// A stored order.
public struct Order: Sendable, Equatable {
    public var id: Int64
    /// add or cancel.
    public var kind: String
    public var domain: String
    public var serviceArea: String
    public var userID: String
    public var callProcessor: String
    public var messageProcessor: String?
    public var line: String?
    public var linePartition: String
    public var phone: String?
    /// The order file as checked (JSON).
    public var request: String
    public var onFailure: String
    /// submitted, running, succeeded, failed, rolling_back, rolled_back, canceled, needs_attention.
    public var state: String
    public var submitKey: String?
    public var cancels: Int64?
    public var jobID: Int64?
    public var jobAttempt: Int
    public var error: String?
    public var submittedBy: String
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?

    init(row: Row) throws {
        id = try row.decode("id")
        kind = try row.decode("kind")
        domain = try row.decode("domain")
        serviceArea = try row.decode("service_area")
        userID = try row.decode("user_id")
        callProcessor = try row.decode("call_processor")
        messageProcessor = try row.decodeIfPresent("message_processor")
        line = try row.decodeIfPresent("line")
        linePartition = try row.decode("line_partition")
        phone = try row.decodeIfPresent("phone")
        request = try row.decode("request")
        onFailure = try row.decode("on_failure")
        state = try row.decode("state")
        submitKey = try row.decodeIfPresent("submit_key")
        cancels = try row.decodeIfPresent("cancels")
        jobID = try row.decodeIfPresent("job_id")
        jobAttempt = Int(try row.decode("job_attempt") as Int32)
        error = try row.decodeIfPresent("error")
        submittedBy = try row.decode("submitted_by")
        createdAt = try row.decode("created_at")
        startedAt = try row.decodeIfPresent("started_at")
        finishedAt = try row.decodeIfPresent("finished_at")
    }

    /// States an order does not leave by itself.
    public static let finalStates: Set<String> = ["succeeded", "rolled_back", "canceled"]
    /// States an order stopped in part way: it waits for an operator (`order retry`, `order rollback`).
    public static let stoppedStates: Set<String> = ["failed", "needs_attention"]
    public var isFinished: Bool { Self.finalStates.contains(state) || Self.stoppedStates.contains(state) }

    /// What an operator does next with this order once it stopped part way (it ends failed, or is
    /// failed or needs attention): the one wording of every message that leaves an order so. Only a
    /// failed order can be retried, so one that needs attention is offered the rollback alone — but a
    /// cancel order, which has no rollback: retried once the drift is resolved, it checks it again.
    public var nextSteps: String {
        if kind == "cancel" {
            return (state == "needs_attention" ? "once the drift is resolved, " : "") + "`ucp order retry \(id)` goes on removing what the add order made"
        }
        let rollback = "`ucp order rollback \(id)` undoes what it did"
        return state == "needs_attention" ? rollback : rollback + ", `ucp order retry \(id)` goes on"
    }
}

/// A stored step of an order.
public struct OrderStep: Sendable, Equatable {
    public var orderID: Int64
    public var position: Int
    public var name: StepName
    public var device: String
    public var calls: [PlannedCall]
    /// pending, sending, done, failed, undone, conflict, skipped.
    public var state: String
    /// The fields an update changes, as read before it; and as the order wrote them.
    public var beforeImage: [CallField]?
    public var afterImage: [CallField]?
    public var createdUUID: String?
    public var adopted: Bool
    public var attempts: Int
    public var startedAt: Date?
    public var finishedAt: Date?
    public var error: String?
    /// Its undo failed (OrderSaga.undoFailed; `failed`, the error says why): a rollback tries it
    /// again, where a step whose forward write failed is judged by what it may have written.
    public var undoFailed: Bool

    /// `prefix`: the columns' names start with it (`step_`: a step read with its order in one row).
    init(row: Row, prefix: String = "") throws {
        orderID = try row.decode(prefix + "order_id")
        position = Int(try row.decode(prefix + "position") as Int32)
        let nameText: String = try row.decode(prefix + "name")
        guard let name = StepName(rawValue: nameText) else { throw InputError(field: "order step", problem: "unknown step '\(nameText)'") }
        self.name = name
        device = try row.decode(prefix + "device")
        calls = try JSONDecoder().decode([PlannedCall].self, from: Data((try row.decode(prefix + "call") as String).utf8))
        state = try row.decode(prefix + "state")
        beforeImage = try (try row.decodeIfPresent(prefix + "before_image") as String?).map { try JSONDecoder().decode([CallField].self, from: Data($0.utf8)) }
        afterImage = try (try row.decodeIfPresent(prefix + "after_image") as String?).map { try JSONDecoder().decode([CallField].self, from: Data($0.utf8)) }
        createdUUID = try row.decodeIfPresent(prefix + "created_uuid")
        adopted = try row.decode(prefix + "adopted")
        attempts = Int(try row.decode(prefix + "attempts") as Int32)
        startedAt = try row.decodeIfPresent(prefix + "started_at")
        finishedAt = try row.decodeIfPresent(prefix + "finished_at")
        error = try row.decodeIfPresent(prefix + "error")
        undoFailed = try row.decode(prefix + "undo_failed")
    }

    public var isUndoable: Bool { name != .reset }
}

/// A plan: the order's checked request, what the inventory said, and the steps.
public struct OrderPlan: Sendable {
    public var request: OrderRequest
    public var inputs: PlanInputs
    public var steps: [PlannedStep]
}

/// The orders' store: planning against the inventory, submission (order, steps and job in one
/// transaction), reads, and the operator's retry, rollback and cancel.
public struct OrderStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    // MARK: planning

    /// Checks the request against the inventory and plans it (the number: the one asked, or the next
    /// free one). Writes nothing. Every refusal names the field and the file's line.
    public func plan(_ request: OrderRequest) async throws -> OrderPlan {
        try await plan(request, chooseNumber: true)
    }

    /// `chooseNumber` false: the checks only, the number left to the caller (submit chooses it
    /// under the planning lock; choosing it here too would be read for nothing).
    func plan(_ request: OrderRequest, chooseNumber: Bool) async throws -> OrderPlan {
        let inventory = OrderInventoryStore(connection)
        let (area, user) = try await areaAndUser(request)
        // (A submission checks it again under the planning lock, in its transaction.)
        if chooseNumber, let open = try await connection.withSession({ session in
            try Self.openOrder(session, userID: user.userID)
        }) {
            throw request.refusal("user", "'\(user.userID)' " + Self.openOrderProblem(open))
        }
        guard let model = PhoneModel.named(request.phoneModel) else {
            throw request.refusal("phone.model", "unknown phone model '\(request.phoneModel)' (known: \(PhoneModel.known.keys.sorted().joined(separator: ", ")))")
        }
        if let problem = model.nameProblem(request.phoneName) { throw request.refusal("phone.name", problem) }
        if let policy = request.credentialPolicy, let problem = try await credentialPolicyProblem(policy, device: area.callProcessor) {
            throw request.refusal("credential_policy", problem)
        }
        if request.voicemail {
            guard area.messageProcessor != nil, area.unityTemplate != nil else {
                throw request.refusal("voicemail", "service area '\(area.name)' has no message processor with a Unity template")
            }
        }
        let cp = area.callProcessor
        // The phone and the user on the call processor, read at once.
        let present = try await inventory.objectsPresent(device: cp, [("Phone", request.phoneName), ("User", user.userID)])
        if present[0] {
            throw request.refusal("phone.name", "phone '\(request.phoneName)' already exists on '\(cp)'")
        }
        if let held = try await connection.query(OrderSQL.phoneHeld, [cp, request.phoneName]).first {
            throw request.refusal("phone.name", "phone '\(request.phoneName)' is held by open order \(try held.decode("id", as: Int64.self))")
        }
        let userOnDevice = present[1]
        let address = try await mobilityProblems(request, user: user, device: cp)
        guard !area.dnBlocks.isEmpty || (request.line != nil && request.lineFromDirectory == true) else {
            throw request.refusal(request.line == nil ? "service_area" : "line", "service area '\(area.name)' has no directory number block")
        }
        let connection = connection
        guard chooseNumber else {
            return OrderPlan(request: request, inputs: PlanInputs(area: area, user: user, userOnDevice: userOnDevice, line: "", partition: "",
                                                                  callProcessorAddress: address), steps: [])
        }
        let (number, partition) = try await connection.withSession { session in
            try Self.chooseNumber(session, request, area)
        }
        let inputs = PlanInputs(area: area, user: user, userOnDevice: userOnDevice, line: number, partition: partition,
                                callProcessorAddress: address)
        return OrderPlan(request: request, inputs: inputs, steps: OrderPlanner.steps(request, inputs, orderID: nil))
    }

    /// The request's service area and user, as the inventory has them; refused when the domain, the
    /// area or the user is missing, or the user is in another domain.
    func areaAndUser(_ request: OrderRequest) async throws -> (ServiceAreaDraft, User) {
        guard try await DomainStore(connection).domain(named: request.domain) != nil else {
            throw request.refusal("domain", "no such domain '\(request.domain)'")
        }
        guard let area = try await ServiceAreaStore(connection).serviceArea(domain: request.domain, name: request.serviceArea)?.settings else {
            throw request.refusal("service_area", "no service area '\(request.serviceArea)' in domain '\(request.domain)'")
        }
        guard let user = try await UserStore(connection).userGet(userID: request.user) else {
            throw request.refusal("user", "no such user '\(request.user)' in the inventory (synchronize it first)")
        }
        guard user.domain == request.domain else {
            throw request.refusal("user", "'\(user.userID)' is in domain '\(user.domain)', not '\(request.domain)'")
        }
        return (area, user)
    }

    /// Refuses Extension Mobility or Single Number Reach whose objects the call processor already has
    /// (as its syncs read it): the user's device profile, remote destination profile, the number as
    /// a remote destination; IM and Presence with a service profile the call processor lacks, or for
    /// a user another call processor of the inventory is the home cluster of; Conference Now on a call
    /// processor without a Conference Now number. Returns the call processor's address (the login service's URL host).
    func mobilityProblems(_ request: OrderRequest, user: User, device cp: String) async throws -> String {
        let inventory = OrderInventoryStore(connection)
        if request.extensionMobility {
            let profile = OrderPlanner.deviceProfileName(user.userID)
            if try await inventory.objectPresent(device: cp, type: "DeviceProfile", key: profile) {
                throw request.refusal("extension_mobility", "device profile '\(profile)' already exists on '\(cp)'")
            }
        }
        if let destination = request.singleNumberReach {
            let profile = OrderPlanner.remoteDestinationProfileName(user.userID)
            if try await inventory.objectPresent(device: cp, type: "RemoteDestinationProfile", key: profile) {
                throw request.refusal("single_number_reach", "remote destination profile '\(profile)' already exists on '\(cp)' (one per user)")
            }
            if try await inventory.objectPresent(device: cp, type: "RemoteDestination", key: destination) {
                throw request.refusal("single_number_reach.destination", "\(destination) is already a remote destination on '\(cp)'")
            }
        }
        if let profile = request.imPresence {
            let inventory = OrderInventoryStore(connection)
            if try await inventory.objectTypePresent(device: cp, type: "UCServiceProfile"),
               !(try await inventory.objectPresent(device: cp, type: "UCServiceProfile", key: profile)) {
                throw request.refusal("im_and_presence.service_profile", "no service profile '\(profile)' on '\(cp)' (as its infrastructure synchronization read it)")
            }
            let others = try await inventory.homeClusters(userID: user.userID, except: cp)
            if !others.isEmpty {
                throw request.refusal("im_and_presence", "'\(others.joined(separator: "', '"))' is already the home cluster of '\(user.userID)' (IM and Presence needs exactly one)")
            }
        }
        if request.conferenceNow != nil, !(try await inventory.objectTypePresent(device: cp, type: "ConferenceNow")) {
            // A user can host Conference Now only where a Conference Now number exists (addConferenceNow, infrastructure).
            throw request.refusal("conference_now", "'\(cp)' has no Conference Now number (as its infrastructure synchronization read it): add one on Unified CM and synchronize its infrastructure")
        }
        guard request.extensionMobility else { return "" }
        return try await DeviceStore(connection).deviceGet(name: cp)?.settings.address ?? ""
    }

    /// The number asked (in a block, free; an LDAP number anywhere, free) or the next free one: not
    /// in use on the device, in the inventory, or held by another open order. `claim` (a submission,
    /// in its transaction): the number is chosen under its own lock, held until the transaction ends,
    /// and read free after it was taken — submissions of one call processor run side by side, and
    /// two never store one number.
    static func chooseNumber(_ session: Session, _ request: OrderRequest, _ area: ServiceAreaDraft, claim: Bool = false) throws -> (String, String) {
        func taken(_ block: DNBlock) throws -> Set<String> { try numbersTaken(session, area, block) }
        let cp = area.callProcessor
        if let line = request.line {
            // An LDAP number outside the blocks goes where new lines go: the area's first partition.
            guard let partition = OrderPlanner.block(of: line, in: area.dnBlocks)?.partition
                    ?? (request.lineFromDirectory == true ? area.partitions.first ?? "" : nil) else {
                throw request.refusal("line", "\(line) is outside the blocks of service area '\(area.name)' (\(area.dnBlocks.map(\.text).joined(separator: ", ")))")
            }
            // Another submission of this number ends first (its order is then seen as holding it).
            if claim { try session.query(OrderSQL.numberLock, [cp, partition, line]) }
            guard !(try taken(DNBlock(partition: partition, first: line, last: line))).contains(line) else {
                throw request.refusal("line", "\(line) is already in use on '\(area.callProcessor)' or held by an open order")
            }
            return (line, partition)
        }
        var failure: Error?
        // The numbers taken, read once per block (by partition and range).
        func at(_ block: DNBlock) -> String { block.partition + "\u{0}" + block.text }
        var known: [String: Set<String>] = [:]
        for block in area.dnBlocks where known[at(block)] == nil {
            do { known[at(block)] = try taken(block) } catch { failure = error }
        }
        if let failure { throw failure }
        let full = { request.refusal("service_area", "every number of the blocks of '\(area.name)' is in use") }
        guard claim else {
            guard let chosen = OrderPlanner.nextFreeNumber(area.dnBlocks, taken: { known[at($0)] ?? [] }) else { throw full() }
            return chosen
        }
        // The lowest free numbers are tried in order; one whose lock another submission holds is
        // skipped (it is storing that number), and one found held once its lock is ours was stored
        // by a submission that ended meanwhile.
        var skipped: [String: Set<String>] = [:]  // by partition
        while true {
            let candidates = OrderPlanner.freeNumbers(area.dnBlocks, limit: 64) { block in
                known[at(block), default: []].union(skipped[block.partition] ?? [])
            }
            guard !candidates.isEmpty else { throw full() }
            let rows = try session.query(OrderSQL.numberTryLock, [cp, PostgresTextArray(candidates.map(\.partition)),
                                                                  PostgresTextArray(candidates.map(\.number))])
            guard let row = rows.first else {
                // All of them are being stored by others: the next ones.
                for candidate in candidates { skipped[candidate.partition, default: []].insert(candidate.number) }
                continue
            }
            let number: String = try row.decode("number"), partition: String = try row.decode("partition")
            if !(try session.query(OrderSQL.numberHeld, [cp, partition, number]).first?.decode("held", as: Bool.self) ?? false) {
                return (number, partition)
            }
            // Candidates before the one taken are held by other submissions: skipped too.
            for candidate in candidates {
                skipped[candidate.partition, default: []].insert(candidate.number)
                if candidate.number == number && candidate.partition == partition { break }
            }
        }
    }

    /// The numbers of `block` in use on the area's call processor or in the inventory, or held by an
    /// open order (what `chooseNumber` skips; `ucp order batch` claims numbers ahead of it).
    static func numbersTaken(_ session: Session, _ area: ServiceAreaDraft, _ block: DNBlock) throws -> Set<String> {
        let held: [String] = try session.query(OrderSQL.numbersHeld, [area.callProcessor, block.partition]).map { try $0.decode("line") }
        return try OrderInventoryStore.InTransaction(session).numbersInUse(device: area.callProcessor, block: block).union(held)
    }

    // MARK: submission

    public struct Submitted: Sendable {
        public var order: Order
        public var jobID: Int64?
        /// False when `--key` named an order submitted before (nothing new was written).
        public var created: Bool
    }

    /// Stores the plan of `request` and queues its job, in one transaction; the number is chosen
    /// again under the call processor's planning lock, so two orders never hold one number.
    /// `key`: an order submitted before with it is returned (nothing written); refused when it was
    /// submitted for another request, unless `anyRequestForKey` (automatic provisioning: its key
    /// names a user record's generation, and a rerun may choose another number for it).
    /// `owner`: a job submitting on its own behalf (an LDAP sync's automatic provisioning); the
    /// transaction is fenced on its attempt.
    public func submit(_ request: OrderRequest, key: String?, actor: String, owner: QueueStore.Held? = nil,
                       anyRequestForKey: Bool = false) async throws -> Submitted {
        let requestJSON = Self.json(request)
        if let key, let existing = try Self.keyed(try await connection.query(OrderSQL.orderByKeyForRequest, [key, requestJSON]),
                                                  key: key, anyRequest: anyRequestForKey) {
            return existing
        }
        let plan = try await plan(request, chooseNumber: false)
        let area = plan.inputs.area
        do {
            return try await submitPlanned(request, plan, requestJSON: requestJSON, key: key, actor: actor, owner: owner,
                                           anyRequestForKey: anyRequestForKey)
        } catch let error as PostgresError where error.kind == .uniqueViolation && error.constraint == "orders_open_phone" {
            // The phone was free when planned; another submission took it meanwhile (the planning
            // lock is shared between add orders): refused like a phone held at planning.
            throw request.refusal("phone.name", "\(InputError.quoted(request.phoneName)) is held by another open order of '\(area.callProcessor)', submitted at the same moment")
        }
    }

    private func submitPlanned(_ request: OrderRequest, _ plan: OrderPlan, requestJSON: String, key: String?, actor: String,
                               owner: QueueStore.Held?, anyRequestForKey: Bool) async throws -> Submitted {
        let area = plan.inputs.area
        return try await connection.transaction { session in
            if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
            try session.query(OrderSQL.planningLockShared, [area.callProcessor])
            // Two submissions of one key: the second waits for the first, then finds its order.
            if let key { try session.query(OrderSQL.keyLock, [key]) }
            if let key, let existing = try Self.keyed(try session.query(OrderSQL.orderByKeyForRequest, [key, requestJSON]),
                                                      key: key, anyRequest: anyRequestForKey) {
                return existing
            }
            if let open = try Self.openOrder(session, userID: plan.inputs.user.userID) {
                throw request.refusal("user", "'\(plan.inputs.user.userID)' " + Self.openOrderProblem(open))
            }
            let (number, partition) = try Self.chooseNumber(session, request, area, claim: true)
            var inputs = plan.inputs
            inputs.line = number
            inputs.partition = partition
            let id: Int64 = try session.query(OrderSQL.orderInsert, [
                "add", request.domain, request.serviceArea, plan.inputs.user.userID, area.callProcessor, area.messageProcessor,
                number, partition, request.phoneName, requestJSON, request.onFailure, key, nil as Int64?, actor,
            ]).first!.decode("id")
            try Self.insertSteps(session, [(id: id, steps: OrderPlanner.steps(request, inputs, orderID: id))])
            let (jobID, order) = try Self.enqueueReturning(session, order: id, action: .apply, actor: actor)
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "order.submitted", jobID: jobID, target: "order \(id)",
                                                              message: "Order \(id) submitted: add \(plan.inputs.user.userID) in '\(area.name)', line \(number), phone \(request.phoneName)")
            return Submitted(order: order, jobID: jobID, created: true)
        }
    }

    /// The order submitted before with `key` (`rows`: `OrderSQL.orderByKeyForRequest`), or nil.
    /// Refused when it was for another request (unless `anyRequest`): the operator would otherwise
    /// get an unrelated order back as if it were theirs.
    static func keyed(_ rows: Rows, key: String, anyRequest: Bool) throws -> Submitted? {
        guard let row = rows.first else { return nil }
        let existing = try Order(row: row)
        if !anyRequest, !(try row.decode("same_request", as: Bool.self)) { throw keyReused(key, by: existing) }
        return Submitted(order: existing, jobID: existing.jobID, created: false)
    }

    /// The field a reused key's refusal names (the API names its header instead).
    public static let keyField = "key"

    static func keyReused(_ key: String, by order: Order) -> InputError {
        InputError(field: keyField, problem: "\(InputError.quoted(key)) was already used by order \(order.id) for another request (one key, one request)")
    }

    /// The user's newest open order but a directory copy, read under the user's lock (`userLock`,
    /// held until the caller's transaction ends), or nil. A new order of the user is refused while
    /// one is open, whatever the kinds: two add orders of one user would both extend the user's
    /// device list read before the other wrote it, and a move, push or delete changes what an add
    /// builds on.
    static func openOrder(_ session: Session, userID: String) throws -> Order? {
        try session.query(OrderSQL.userLock, [userID])
        return try session.query(OrderSQL.userOpenOrder, [userID]).first.map(Order.init(row:))
    }

    /// Why a new order of the user is refused while `open` is open: two orders of one user would
    /// fight over the same objects.
    static func openOrderProblem(_ open: Order) -> String {
        "has open \(open.kind) order \(open.id) (\(open.state.replacingOccurrences(of: "_", with: " "))): let it end, or resolve it first"
    }

    static func enqueue(_ session: Session, order: Int64, action: OrderRun.Action, actor: String) throws -> Int64 {
        try enqueueReturning(session, order: order, action: action, actor: actor).jobID
    }

    /// Queues the order's job; returns it and the order as it now is.
    static func enqueueReturning(_ session: Session, order: Int64, action: OrderRun.Action, actor: String) throws -> (jobID: Int64, order: Order) {
        let (jobID, _) = try QueueStore.InTransaction(session).jobEnqueue(try runJob(order: order, action: action, actor: actor))
        return (jobID, try Order(row: try session.query(OrderSQL.orderJobSet, [order, jobID]).first!))
    }

    /// The order's `order.run` job.
    static func runJob(order: Int64, action: OrderRun.Action, actor: String) throws -> QueueStore.EnqueueParams {
        try QueueStore.EnqueueParams(OrderRun(order: order, action: action), target: "order \(order)", actor: actor)
    }

    /// An order to store with its steps (`insertMany`): the columns of `OrderSQL.orderInsert`.
    struct NewOrder {
        var kind: String
        var domain: String
        var serviceArea: String
        var userID: String
        var callProcessor: String
        var messageProcessor: String? = nil
        var line: String? = nil
        var partition = ""
        var phone: String? = nil
        var request: String
        var onFailure = "rollback"
        var submitKey: String?
        var cancels: Int64? = nil
        var steps: [PlannedStep]
    }

    /// Stores orders with their steps and queues each one's `order.run` (apply), in the caller's
    /// transaction: a fixed number of statements however many orders (bulk data moves set-based).
    /// Returns each order's id and job, in the order given.
    static func insertMany(_ session: Session, _ orders: [NewOrder], actor: String) throws -> [(id: Int64, jobID: Int64)] {
        guard !orders.isEmpty else { return [] }
        let ids = try session.query(OrderSQL.orderInsertMany, [
            PostgresTextArray(orders.map(\.kind)), PostgresTextArray(orders.map(\.domain)), PostgresTextArray(orders.map(\.serviceArea)),
            PostgresTextArray(orders.map(\.userID)), PostgresTextArray(orders.map(\.callProcessor)),
            PostgresTextArray(orders.map(\.messageProcessor)), PostgresTextArray(orders.map(\.line)), PostgresTextArray(orders.map(\.partition)),
            PostgresTextArray(orders.map(\.phone)), PostgresTextArray(orders.map(\.request)), PostgresTextArray(orders.map(\.onFailure)),
            PostgresTextArray(orders.map(\.submitKey)), PostgresTextArray(orders.map { $0.cancels.map(String.init) }),
            PostgresTextArray(orders.map { _ in actor }),
        ]).map { try $0.decode("id", as: Int64.self) }
        try insertSteps(session, zip(ids, orders).map { (id: $0, steps: $1.steps) })
        let jobIDs = try QueueStore.InTransaction(session).jobEnqueueManyReturningIDs(try ids.map { try runJob(order: $0, action: .apply, actor: actor) })
        try session.query(OrderSQL.orderJobSetMany, [PostgresIntArray(ids), PostgresIntArray(jobIDs)])
        return zip(ids, jobIDs).map { (id: $0, jobID: $1) }
    }

    /// Stores the steps of one order or many in one statement, each order's from position 1.
    static func insertSteps(_ session: Session, _ orders: [(id: Int64, steps: [PlannedStep])]) throws {
        let steps = orders.flatMap { order in order.steps.enumerated().map { (order: order.id, position: Int64($0.offset + 1), step: $0.element) } }
        guard !steps.isEmpty else { return }
        try session.query(OrderSQL.stepInsertMany, [
            PostgresIntArray(steps.map(\.order)), PostgresIntArray(steps.map(\.position)), PostgresTextArray(steps.map(\.step.name.rawValue)),
            PostgresTextArray(steps.map(\.step.device)), PostgresTextArray(steps.map { json($0.step.calls) }),
        ])
    }

    // MARK: reads

    public func order(id: Int64) async throws -> Order? {
        try await connection.query(OrderSQL.orderGet, [id]).first.map(Order.init(row:))
    }

    public func steps(orderID: Int64) async throws -> [OrderStep] {
        try await connection.query(OrderSQL.stepList, [orderID]).map { try OrderStep(row: $0) }
    }

    static func steps(orderID: Int64, in session: Session) throws -> [OrderStep] {
        try session.query(OrderSQL.stepList, [orderID]).map { try OrderStep(row: $0) }
    }

    /// Newest first; `before`: only orders older than that id (the next page of a keyset).
    public func list(state: String? = nil, user: String? = nil, limit: Int = 100, before: Int64? = nil) async throws -> [Order] {
        let page: [any PostgresEncodable] = [Int64(limit), before]
        let rows: Rows
        switch (state, user) {
        case (nil, nil): rows = try await connection.query(OrderSQL.orderList, page)
        case (let state?, nil): rows = try await connection.query(OrderSQL.orderListByState, page + [state])
        case (_, let user?): rows = try await connection.query(OrderSQL.orderListByUser, page + [user, state])
        }
        return try rows.map(Order.init(row:))
    }

    /// An order with how many of its steps are through (done or skipped), for the status page.
    public struct Progress: Sendable {
        public var order: Order
        public var stepsDone: Int
        public var stepsTotal: Int
        public var updatedAt: Date
    }

    /// The latest orders, newest first, with their step counts, in one read.
    public func recent(limit: Int) async throws -> [Progress] {
        try await connection.query(OrderSQL.orderRecent, [Int64(limit)]).map { row in
            Progress(order: try Order(row: row), stepsDone: Int(try row.decode("steps_done") as Int64),
                     stepsTotal: Int(try row.decode("steps_total") as Int64), updatedAt: try row.decode("updated_at"))
        }
    }

    public static func noSuchOrder(_ id: Int64) -> InputError { InputError(field: "order \(id)", problem: "no such order") }

    // MARK: the operator's actions

    /// `order retry ID`: a failed order resumes at its failed step. Returns the job.
    public func retry(id: Int64, actor: String) async throws -> Int64 {
        try await requeue(id, actor: actor, action: .apply, mark: OrderSQL.orderRetryMark, reset: OrderSQL.stepFailedReset,
                          only: "only a failed order (or a cancel order that needs attention) can be retried", audit: ("order.retried", "Order \(id) retried from its failed step"))
    }

    /// `order rollback ID`: undoes a failed order (or one that needed attention, once a person
    /// resolved the conflict). Returns the job.
    public func rollback(id: Int64, actor: String) async throws -> Int64 {
        try await requeue(id, actor: actor, action: .rollback, mark: OrderSQL.orderRollbackMark, reset: OrderSQL.stepConflictsReset,
                          only: "only a failed order or one that needs attention can be rolled back",
                          audit: ("order.rollback", "Order \(id) rollback requested")) { order in
            // A cancel order's steps are removals: undoing them would re-add what the operator asked
            // to remove (its job would only run the removals again).
            guard order.kind == "cancel" else { return nil }
            return "is a cancel order; only a failed order of another kind can be rolled back "
                + "(undoing removals would add again what was removed): \(order.nextSteps)"
        }
    }

    /// Retry and rollback: the order marked for `action` (refused with `only` unless `mark` takes
    /// it), its steps reset by `reset`, a job queued and audited — in one transaction.
    private func requeue(_ id: Int64, actor: String, action: OrderRun.Action, mark: Statement, reset: Statement, only: String,
                         audit: (action: String, message: String), refusal: @escaping (Order) -> String? = { _ in nil }) async throws -> Int64 {
        try await connection.transaction { session in
            guard let order = try session.query(OrderSQL.orderGet, [id]).first.map(Order.init(row:)) else { throw Self.noSuchOrder(id) }
            if let problem = refusal(order) { throw InputError(field: "order \(id)", problem: problem) }
            guard !(try session.query(mark, [id])).isEmpty else {
                throw InputError(field: "order \(id)", problem: "is \(order.state); \(only)")
            }
            try session.query(reset, [id])
            let jobID = try Self.enqueue(session, order: id, action: action, actor: actor)
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: audit.action, jobID: jobID, target: "order \(id)",
                                                              message: audit.message)
            return jobID
        }
    }

    /// What `order cancel` did.
    public enum Cancellation: Sendable {
        /// A succeeded add order: a cancel order (its job) removes what it made.
        case undo(cancelOrder: Order, jobID: Int64)
        /// The order's job had not started: withdrawn (canceled; failed when an earlier attempt had
        /// written something, which `order rollback` undoes).
        case withdrawn(Order)
        /// The order's job runs: it stops before its next device write and the order ends failed.
        case stopping(Order)

        /// The order the operator should look at next.
        public var order: Order {
            switch self {
            case .undo(let order, _), .withdrawn(let order), .stopping(let order): return order
            }
        }
    }

    /// `order cancel ID`: a succeeded add order is undone by a cancel order; an order that is queued
    /// is withdrawn before it writes anything; one that runs is stopped at its next device write
    /// (its job canceled: the saga records it canceled, or failed for `order rollback` or `order
    /// retry` once it wrote something). An order of the synchronizations (delete, directory copy)
    /// and anything else (failed, needing attention, ended) is refused.
    public func cancel(id: Int64, actor: String) async throws -> Cancellation {
        let cancellation = try await connection.transaction { session -> Cancellation in
            guard let seen = try session.query(OrderSQL.orderGet, [id]).first.map(Order.init(row:)) else { throw Self.noSuchOrder(id) }
            // The job's row before the order's, the order in which the saga's fenced writes take them.
            let queue = QueueStore.InTransaction(session)
            let jobState = try seen.jobID.flatMap { try queue.jobStateLocked(id: $0) }
            guard let order = try session.query(OrderSQL.orderGetLocked, [id]).first.map(Order.init(row:)), order.jobID == seen.jobID else {
                throw InputError(field: "order \(id)", problem: "changed meanwhile (a new job was queued for it); look at it again")
            }
            if order.kind == "add", order.state == "succeeded" {
                let (cancelOrder, jobID) = try Self.queueCancelOrder(session, of: order, actor: actor)
                return .undo(cancelOrder: cancelOrder, jobID: jobID)
            }
            let open = ["submitted", "running", "rolling_back"].contains(order.state)
            if open, let refusal = Self.notWithdrawable(order) { throw InputError(field: "order \(id)", problem: refusal) }
            guard open, let jobID = order.jobID else {
                let hint = Order.stoppedStates.contains(order.state) ? "; " + order.nextSteps : ""
                throw InputError(field: "order \(id)", problem: "is \(Self.article(order.kind)) \(order.kind) order that is \(order.state.replacingOccurrences(of: "_", with: " ")); "
                                 + "only a succeeded add order, or an order that is queued or running, can be canceled\(hint)")
            }
            switch jobState {
            case .queued?:
                _ = try queue.jobCancel(id: jobID, actor: actor)
                return .withdrawn(try Self.withdraw(session, order: order, actor: actor, reason: nil))
            case .running?, .canceling?:
                _ = try queue.jobCancel(id: jobID, actor: actor)
                return .stopping(order)
            case let ended:
                // Its job ended with the order still open (a worker that stopped or died while the job
                // was canceling): the order follows its job, as the coordinator's sweep would make it.
                return .withdrawn(try Self.withdrawAfterJob(session, order: order, jobState: ended?.rawValue ?? "gone", actor: actor))
            }
        }
        return cancellation
    }

    /// Why an open order is not withdrawn by a cancel: the synchronizations' own orders (an LDAP
    /// sync's delete, a directory copy or removal) would leave their request or copy half done.
    static func notWithdrawable(_ order: Order) -> String? {
        switch order.kind {
        case DeleteOrders.kind: return "is a delete order of the LDAP synchronization; it runs to its end (then `ucp order retry` or `rollback` if it failed)"
        case DirectorySource.kind: return "is a directory copy order (UDS); it runs to its end"
        default: return nil
        }
    }

    static func article(_ word: String) -> String { word.first.map { "aeiou".contains($0) } == true ? "an" : "a" }

    /// `jobs cancel ID` (command line and API): the queue's cancel, and when the job is an open
    /// order's, what `order cancel` does to that order in the same transaction: a queued job's
    /// order is withdrawn, so a canceled job never leaves its order open (holding its number and
    /// phone, and the user's next order) for good. Refused for the synchronizations' own orders.
    public func jobCancel(id: Int64, actor: String) async throws -> JobState {
        try await connection.transaction { session -> JobState in
            let queue = QueueStore.InTransaction(session)
            _ = try queue.jobStateLocked(id: id)  // the job's row before the order's, as the saga takes them
            let order = try session.query(OrderSQL.orderOfJobLocked, [id]).first.map(Order.init(row:))
            if let order, let refusal = Self.notWithdrawable(order) {
                throw InputError(field: "job \(id)", problem: "runs order \(order.id), which \(refusal)")
            }
            let state = try queue.jobCancel(id: id, actor: actor)
            if state == .canceled, let order { _ = try Self.withdraw(session, order: order, actor: actor, reason: nil) }
            return state
        }
    }

    /// Ends an open order whose job was canceled before it started (or ended without it): canceled
    /// when none of its steps was ever sent, else failed (an earlier attempt wrote something: a retry
    /// or a rollback was withdrawn), with the audit line. `reason`: why, when not a queued job's cancel.
    /// `failed`: failed whatever was sent (its job failed: nobody canceled it).
    /// Its follow-ups are made in the same transaction: no attempt of the ended job comes after to make them.
    static func withdraw(_ session: Session, order: Order, actor: String, reason: String?, failed: Bool = false) throws -> Order {
        let steps = try Self.steps(orderID: order.id, in: session)
        let wrote = steps.contains { $0.state != "pending" }
        let why = reason ?? "canceled before its \(order.state == "rolling_back" ? "rollback" : wrote ? "retry" : "first attempt") ran"
        let error = wrote || failed ? "\(why): \(order.nextSteps)" : nil
        guard let ended = try session.query(OrderSQL.orderWithdraw, [order.id, wrote || failed ? "failed" : "canceled", error]).first.map(Order.init(row:)) else {
            return order
        }
        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "order.canceled", jobID: order.jobID, target: "order \(order.id)",
                                                          message: "Order \(order.id) of \(order.userID) withdrawn (\(why)): \(ended.state)")
        try OrderJobs.followUps(ended, steps: steps, in: session)
        return ended
    }

    /// Withdraws an open order whose job `jobState` ended (`gone`: pruned) before the order did:
    /// failed with what to do next when the job failed (the rescue ended its last attempt), else as
    /// a withdrawn order (canceled, or failed when something was sent).
    static func withdrawAfterJob(_ session: Session, order: Order, jobState: String, actor: String) throws -> Order {
        try withdraw(session, order: order, actor: actor, reason: "its job \(order.jobID.map(String.init) ?? "-") ended (\(jobState)) before the order did",
                     failed: jobState == JobState.failed.rawValue)
    }

    /// The coordinator's sweep (`EndedJobOrdersDuty`): withdraws the open orders whose job ended
    /// first — a worker that stopped or died while the job was canceling, or the lease rescue ending
    /// its last attempt — as `order cancel` would, so no order waits for an operator to notice.
    /// Each in its own transaction, the job's row locked before the order's (as the saga takes
    /// them), both read again there. Returns the orders withdrawn; an order whose withdrawal fails
    /// (its follow-ups with it) stays open for the next sweep and does not hold back the others:
    /// the failures are thrown together once every order was tried.
    public func withdrawOrdersOfEndedJobs(actor: String, limit: Int = 500) async throws -> [Order] {
        var withdrawn: [Order] = []
        var failures: [String] = []
        for row in try await connection.query(OrderSQL.orderOpenOfEndedJob, [Int64(limit)]) {
            let seen = try Order(row: row)
            guard let jobID = seen.jobID else { continue }
            do {
                let ended = try await connection.transaction { session -> Order? in
                    let jobState = try QueueStore.InTransaction(session).jobStateLocked(id: jobID)
                    guard jobState.map({ [.succeeded, .failed, .canceled].contains($0) }) ?? true,
                          let order = try session.query(OrderSQL.orderGetLocked, [seen.id]).first.map(Order.init(row:)),
                          order.jobID == jobID, ["submitted", "running", "rolling_back"].contains(order.state) else { return nil }
                    return try Self.withdrawAfterJob(session, order: order, jobState: jobState?.rawValue ?? "gone", actor: actor)
                }
                if let ended { withdrawn.append(ended) }
            } catch let error as PostgresError {
                failures.append("order \(seen.id): \(error)")
            }
        }
        guard failures.isEmpty else { throw SweepFailures(withdrawn: withdrawn.count, failures: failures) }
        return withdrawn
    }

    /// Orders the sweep could not withdraw this round (each stays open for the next).
    public struct SweepFailures: Error, CustomStringConvertible {
        public let withdrawn: Int
        public let failures: [String]
        public var description: String {
            "\(failures.count) open order(s) of ended jobs not withdrawn (\(withdrawn) withdrawn): " + failures.joined(separator: "; ")
        }
    }

    /// Queues the cancel order of a succeeded add order: the undos of its steps done, newest first.
    static func queueCancelOrder(_ session: Session, of add: Order, actor: String) throws -> (order: Order, jobID: Int64) {
        let id = add.id
        if let open = try session.query(OrderSQL.cancelOpen, [id]).first {
            throw InputError(field: "order \(id)", problem: "cancel order \(try open.decode("id", as: Int64.self)) is already open")
        }
        // Refused, not queued behind it, while another order of the user is open (as a new order of
        // the user is): that order builds on what this one made (the user's device list, the user
        // itself), so undoing it now would take from under it; once it ended, the operator cancels
        // knowing what it did — a cancel waiting behind an order that may fail or need attention
        // would run on a user that has changed since it was asked for.
        if let open = try Self.openOrder(session, userID: add.userID) {
            throw InputError(field: "order \(id)", problem: "user '\(add.userID)' " + Self.openOrderProblem(open))
        }
        let steps = try session.query(OrderSQL.stepList, [id]).map { try OrderStep(row: $0) }
        let cancelID: Int64 = try session.query(OrderSQL.orderInsert, [
            "cancel", add.domain, add.serviceArea, add.userID, add.callProcessor, add.messageProcessor, add.line, add.linePartition,
            add.phone, "{}", "stop", nil as String?, id, actor,
        ]).first!.decode("id")
        let undos = steps.reversed().filter { $0.isUndoable && $0.state == "done" }.compactMap { step in
            OrderSaga.undoCall(step, among: steps).map { PlannedStep(name: step.name, device: step.device, calls: [$0]) }
        }
        try Self.insertSteps(session, [(id: cancelID, steps: undos)])
        let jobID = try Self.enqueue(session, order: cancelID, action: .apply, actor: actor)
        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "order.submitted", jobID: jobID, target: "order \(cancelID)",
                                                          message: "Order \(cancelID) submitted: cancel order \(id) of \(add.userID)")
        return (try Order(row: try session.query(OrderSQL.orderGet, [cancelID]).first!), jobID)
    }
}

extension OrderSQL {
    /// The latest orders with their steps through and in all. $1 limit.
    static let orderRecent = Statement("order_recent", """
        SELECT \(columns), o.updated_at,
               (SELECT count(*) FROM order_steps s WHERE s.order_id = o.id AND s.state IN ('done', 'skipped')) AS steps_done,
               (SELECT count(*) FROM order_steps s WHERE s.order_id = o.id) AS steps_total
          FROM orders o ORDER BY o.id DESC LIMIT $1
        """)
}
