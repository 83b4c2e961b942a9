import AXL
import DeviceClients
import Foundation
import Inventory
import Postgres
import Queue
import Runtime

/// A step that cannot go on: its message is the step's (and the order's) error, one line.
public struct StepFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// How an undo ended.
enum UndoOutcome: Equatable {
    /// Written back or removed (or nothing was left to undo).
    case undone
    /// The object shows what it showed before the step's write: that write never took effect.
    case unchanged
    /// The object no longer shows what the order wrote: left untouched, a person must look.
    /// `reason`: why, when it is not the step's usual one.
    case conflict(reason: String? = nil)
    /// Nothing to undo: the step adopted what was there, or runs after the pivot.
    case skipped

    /// The step's state after it (and the word the log says).
    var state: String {
        switch self {
        case .undone, .unchanged: return "undone"
        case .conflict: return "conflict"
        case .skipped: return "skipped"
        }
    }
}

/// The devices an order talks to.
public struct OrderDevices: Sendable {
    public var axl: AXLClient
    public var cupi: CUPIClient?
    /// The write bounds of the call processor and of the message processor (their
    /// `max_writes_in_flight`), held over every worker right around each write.
    public var axlBound: DeviceWriteBound
    public var cupiBound: DeviceWriteBound?
    /// The devices of the steps on another call processor or message processor than the order's (a
    /// delete order of a user on several), by name: each with its own client and write bound.
    public var others: [String: OrderDevices] = [:]

    public init(axl: AXLClient, cupi: CUPIClient?, axlBound: DeviceWriteBound, cupiBound: DeviceWriteBound?) {
        self.axl = axl
        self.cupi = cupi
        self.axlBound = axlBound
        self.cupiBound = cupiBound
    }

    /// The devices a step on `device` talks to.
    public func on(_ device: String?) -> OrderDevices {
        device.flatMap { others[$0] } ?? self
    }

    /// The bound of the device `call` writes to.
    public func bound(of call: PlannedCall) -> DeviceWriteBound {
        Self.isCUPI(call) ? cupiBound ?? axlBound : axlBound
    }

    static func isCUPI(_ call: PlannedCall) -> Bool {
        call.operation.hasPrefix("POST ") || call.operation.hasPrefix("DELETE ")
    }
}

/// One order applied as a saga (DESIGN.md §7; orders-brief §A.0): each step reads first (a step
/// already in effect is recognised, a lost answer's object adopted by its marker), keeps the
/// before-image of what an update changes, is fenced on the job's attempt right before every device
/// write (its state `sending` is the persisted cursor), and has an undo that writes the before-image
/// back only while the object still shows what the order wrote, and removes only what the order
/// created.
public struct OrderSaga {
    public let order: Order
    public private(set) var steps: [OrderStep]
    let database: Connection
    let owner: QueueStore.Held
    let allDevices: OrderDevices
    /// The device of the step the saga runs or undoes: its calls go to that device.
    var stepDevice: String?
    var devices: OrderDevices { allDevices.on(stepDevice) }
    /// Right before every device write: throws when the attempt lost the job (JobContext.checkOwnership).
    let checkOwnership: @Sendable () throws -> Void
    /// Shows a line of the job's log in the worker's own log at once; the job's log gets it with
    /// the next fenced transaction (`log`).
    let note: @Sendable (String) -> Void
    /// Waits between tries of a step whose answer was lost (JobContext.sleep).
    let pause: @Sendable (Double) async throws -> Void

    /// Tries of one step whose request got no answer (the pre-check of the next try recognises a
    /// write that took effect).
    static let lostAnswerTries = 3
    /// Tries of the phone reset within one attempt.
    static let resetTries = 3

    public init(order: Order, steps: [OrderStep], database: Connection, owner: QueueStore.Held, devices: OrderDevices,
                checkOwnership: @escaping @Sendable () throws -> Void, note: @escaping @Sendable (String) -> Void,
                pause: @escaping @Sendable (Double) async throws -> Void) {
        self.order = order
        self.steps = steps
        self.database = database
        self.owner = owner
        self.allDevices = devices
        self.checkOwnership = checkOwnership
        self.note = note
        self.pause = pause
    }

    // MARK: persistence

    /// What the saga recorded but has not written yet: a step's `done` (and its log lines) waits
    /// for the next fenced transaction — normally the next step's `sending`, after that step's
    /// pre-read — so a step costs one commit, not two plus one per log line. A worker that dies
    /// before it is written leaves the step `sending`: the next attempt's pre-check recognises
    /// the write that took effect (adopts its own object, keeps the stored before-image), as it
    /// does after a death between the write and its answer.
    var unsaved: [OrderStep] = []
    var unlogged: [String] = []
    /// The order's state to write with the next transaction (`running`: with the first step's fence).
    var unsavedState: (state: String, error: String?)?

    /// Writes the step (with whatever waits to be written: steps, state, log lines) in one
    /// transaction fenced on the job's attempt (the queue's fence and the order's owner).
    mutating func save(_ step: OrderStep) async throws {
        unsaved.append(step)
        try await commit()
    }

    /// Records the step now; it is written with the next transaction.
    mutating func saveLater(_ step: OrderStep) {
        unsaved.append(step)
    }

    /// A line of the job's log: shown at once, written with the next transaction (a line is in the
    /// job's log exactly when what it tells is stored).
    mutating func log(_ line: String) {
        note(line)
        unlogged.append(line)
    }

    /// The order's state (with whatever waits to be written), fenced the same way.
    mutating func setState(_ state: String, error: String? = nil) async throws {
        unsavedState = (state, error)
        try await commit()
    }

    /// One fenced round trip (`OrderSQL.sagaCommit`): the job's row held (a rescue waits or wins),
    /// then the order's state, the steps and the log lines that wait, all fenced on the order's
    /// owner — nothing is written unless the attempt owns both —; and the write slot the last write
    /// held released. `more` runs after it, in one transaction with it. Throws `JobLostError` when
    /// the attempt no longer owns the order.
    mutating func commit(_ more: (@Sendable (Session) throws -> Void)? = nil) async throws {
        var latest: [Int: OrderStep] = [:]
        for step in unsaved { latest[step.position] = step }
        let steps = latest.values.sorted { $0.position < $1.position }
        let state = unsavedState, lines = unlogged
        let owner = owner, fenceOrder = fenceOrderID ?? order.id
        let release = slots.pending
        slots.pending = nil
        let parameters: [any PostgresEncodable] = [
            fenceOrder, owner.id, Int32(owner.attempt), state?.state, state?.error,
            PostgresIntArray(steps.map { Int64($0.position) }), PostgresTextArray(steps.map(\.state)),
            PostgresTextArray(steps.map { $0.beforeImage.map(OrderStore.json) }), PostgresTextArray(steps.map { $0.afterImage.map(OrderStore.json) }),
            PostgresTextArray(steps.map(\.createdUUID)), PostgresTextArray(steps.map { $0.adopted ? "t" : "f" }),
            PostgresIntArray(steps.map { Int64($0.attempts) }), PostgresTextArray(steps.map(\.error)),
            PostgresTextArray(lines), release?.bound.device, release.map { Int32($0.slot) },
            PostgresTextArray(steps.map { $0.undoFailed ? "t" : "f" }),
        ]
        let fenced: Bool, saved: Int, jobState: String?
        do {
            (fenced, saved, jobState) = try await database.withSession { session in
                func run() throws -> (Bool, Int, String?) {
                    let row = try session.query(OrderSQL.sagaCommit, parameters).first!
                    let fenced = try row.decode("fenced", as: Int64.self) > 0
                    let saved = Int(try row.decode("saved", as: Int64.self))
                    if fenced, let more { try more(session) }
                    return (fenced, saved, try row.decodeIfPresent("job_state", as: String.self))
                }
                return more == nil ? try run() : try session.transaction { _ in try run() }
            }
        } catch {
            // Whether the failed statement released the slot is not known: released again (a
            // session lost meanwhile held none).
            if let release { _ = try? await database.query(DeviceWriteSQL.slotRelease, [release.bound.device, Int32(release.slot)]) }
            throw error
        }
        guard fenced, saved == steps.count else { throw JobLostError() }
        jobCanceling = jobState == "canceling"
        if let state { written = state }
        unsaved = []
        unlogged = []
        unsavedState = nil
    }

    /// Whether the job was canceling when the saga last wrote: an operator canceled it (seen at
    /// once, not at the worker's next heartbeat).
    var jobCanceling = false

    /// The order's state and error as the saga last wrote them (nil: it wrote none).
    public private(set) var written: (state: String, error: String?)?

    /// The order the saga's statements are fenced on: its own, or the cancel order that runs its undos.
    var fenceOrderID: Int64?
    /// The write slots the saga holds (shared with a cancel order's inner saga).
    var slots = SagaSlots()

    /// Releases the slot the last write held, if it still is (before a device call or a wait that
    /// comes ahead of the saga's next statement).
    func releasePending() async throws {
        guard let held = slots.pending else { return }
        slots.pending = nil
        try await database.query(DeviceWriteSQL.slotRelease, [held.bound.device, Int32(held.slot)])
    }

    /// Lets go of the slot the saga may still hold: the attempt ends (an error, a lost job) right
    /// after a write.
    public func releaseSlots() async {
        try? await releasePending()
    }

    /// Right before a device write: the attempt still owns the job (locally and in the database),
    /// and the step is stored as `sending` with its images — the cursor a later attempt resumes at —
    /// in one statement with what waits to be written (the step before's `done`).
    mutating func fence(_ step: inout OrderStep) async throws {
        try checkOwnership()
        if jobCanceling { throw JobCanceledError() }
        step.state = "sending"
        step.attempts += 1
        try await save(step)
        steps[index(step)] = step
        if jobCanceling {
            // Canceled meanwhile: nothing is sent, and the step goes back to pending with the order's end.
            step.state = "pending"
            step.attempts -= 1
            saveLater(step)
            steps[index(step)] = step
            throw JobCanceledError()
        }
    }

    func index(_ step: OrderStep) -> Int { steps.firstIndex { $0.position == step.position }! }

    /// False when a cancel order runs this order's undos: the cancel order's own step (saved as
    /// `sending` before each undo) is the cursor, and this order's steps are left as they were.
    var stepsOwned = true

    /// The fence right before an undo's device write.
    mutating func fenceUndo(_ step: OrderStep) async throws {
        if stepsOwned {
            var fenced = step
            try await fence(&fenced)
        } else {
            try checkOwnership()
            try await commit()
            if jobCanceling { throw JobCanceledError() }
        }
    }

    // MARK: apply

    /// Runs the steps not done yet, in order. A failed step rolls the earlier ones back (or stops,
    /// for `on_failure: stop`); the end is recorded with the user's services.
    public mutating func apply() async throws {
        if try await cancelUnwantedCopy() { return }
        unsavedState = ("running", nil)  // written with the first step's fence
        for position in steps.indices where !["done", "skipped"].contains(steps[position].state) {
            var step = steps[position]
            do {
                try await forwardWithRetries(&step)
            } catch let error where Self.isStepFailure(error) {
                let reason = Self.reason(error)
                step.state = "failed"
                step.error = reason
                saveLater(step)  // with the order's state, next
                steps[position] = step
                log("Step \(step.position) (\(step.name.rawValue)) failed: \(reason)")
                if step.name == .reset || order.onFailure == "stop" {
                    try await setState("failed", error: "step \(step.name.rawValue): \(reason)")
                } else {
                    try await rollback(cause: "step \(step.name.rawValue): \(reason)")
                }
                return
            }
            steps[position] = step
        }
        if order.kind == "delete" {
            try await finishDelete()
        } else if order.kind == DirectorySource.kind {
            try await finishDirectory()
        } else {
            try await finish()
        }
    }

    /// Errors that end a step (the device said no, or never answered, or answered what is not
    /// AXL); everything else (lost job, cancellation, the database) ends the attempt and leaves the
    /// cursor where it is. The device clients turn a broken answer into `DeviceClientError`; a raw
    /// `XMLParseError` can only come from a device's answer too, so it fails the step as well
    /// (a next attempt would meet the same answer).
    static func isStepFailure(_ error: Error) -> Bool {
        switch error {
        case is StepFailure, is AXLFault, is XMLParseError: return true
        case let client as DeviceClientError: return client.kind != .canceled
        default: return false
        }
    }

    static func reason(_ error: Error) -> String {
        switch error {
        case let client as DeviceClientError: return client.description
        default: return "\(error)"
        }
    }

    mutating func forwardWithRetries(_ step: inout OrderStep) async throws {
        var tries = 0
        while true {
            tries += 1
            do {
                try await forward(&step)
                if step.state != "skipped" {  // a removal that leaves the object (DeleteOrders) keeps its reason
                    step.state = "done"
                    step.error = nil
                }
                saveLater(step)  // with the next step's fence (or the order's end)
                log("Step \(step.position) (\(step.name.rawValue)) \(step.state)\(step.adopted ? ": adopted what was there" : "")")
                return
            } catch let error as DeviceClientError where error.kind == .transport && tries < Self.lostAnswerTries {
                // No answer: the write may have taken effect. The next try's pre-check tells.
                log("Step \(step.position) (\(step.name.rawValue)): no answer (\(error.message)); trying again")
                try await pause(0.2 * Double(tries))
            } catch let error as AXLFault where step.name == .reset && tries < Self.resetTries {
                log("Step \(step.position) (reset): \(error); trying again")
                try await pause(0.2 * Double(tries))
            }
        }
    }

    mutating func forward(_ step: inout OrderStep) async throws {
        let resumed = step.state == "sending"
        stepDevice = step.device
        switch step.name {
        case .user: try await forwardUser(&step)
        case .udsUser: try await forwardDirectoryUser(&step)
        case .associate: try await forwardAssociate(&step)
        case .voicemail: try await forwardVoicemail(&step)
        case .lineVoicemail: try await forwardLineVoicemail(&step)
        case .movePhone: try await forwardMovePhone(&step)
        case .credentialPolicy, .moveLine, .snrUser, .imPresence, .conferenceNow, .udsHome:
            let (operation, item, keys) = Self.updateTarget(step.name)
            try await forwardUpdate(&step, get: operation, item: item, keyCount: keys)
        case .emService: try await forwardService(&step)
        case .emPhone, .emUser: try await forwardList(&step)
        case .line, .phone, .emProfile, .snrProfile, .snrDestination:
            try await forwardCreate(&step, resumed: resumed, lookup: Self.markedAdd(step.name)!)
        case .reset:
            try await fence(&step)
            try await write(step.calls[0])
        case .disassociate, .removeVoicemail, .removePhone, .removeLine, .removeUser, .removeRemoteDestination,
             .removeRemoteDestinationProfile, .removeDeviceProfile:
            try await forwardDelete(&step, resumed: resumed)
        }
    }

    // MARK: the steps

    mutating func forwardUser(_ step: inout OrderStep) async throws {
        let call = step.calls[0]
        if call.operation == "getUser" {
            let userid = call.values.text("userid") ?? ""
            guard try await get("getUser", keys: [("userid", userid)], item: "user", tags: ["lastName"]) != nil else {
                throw StepFailure("user '\(userid)' is not on \(step.device) any more")
            }
            step.adopted = true
            return
        }
        // Ours only when it shows every field the add wrote (not only the names).
        try await addEndUser(&step, ownIf: { Self.showsEveryField($0, of: call) })
    }

    /// The user as read shows every field of the planned addUser `call`.
    static func showsEveryField(_ user: DeviceValue, of call: PlannedCall) -> Bool {
        let fields = call.values["user"]?.children ?? []
        return image(of: user, like: fields) == fields
    }

    /// An addUser (the add order's `user`, a directory copy's `uds_user`). An end user has no
    /// description to carry the order's marker, so a user found under the userid (by the pre-check,
    /// or revealed by a duplicate answer) is this order's own only when the order itself may have
    /// added it — a try of this step was fenced and sent (`attempts` > 0: stored `sending`, left
    /// `failed` or reset to pending by a retry; or the duplicate answers this try's own add, which
    /// libcurl may have sent twice) — and `ownIf` accepts it (nil: never, a copy's rule). Anything
    /// else is someone else's user, adopted as the plan adopts a user that is there at plan time
    /// (its `getUser` step): no uuid recorded, so no undo removes it. A user someone else added
    /// meanwhile with the very same fields cannot be told apart: the price of having no marker.
    mutating func addEndUser(_ step: inout OrderStep, ownIf: ((DeviceValue) -> Bool)?) async throws {
        let fields = step.calls[0].values["user"]?.children ?? []
        let userid = fields.text("userid") ?? ""
        let tags = fields.map(\.name)
        func claim(_ found: DeviceValue, how: String, duplicate: Bool = false) {
            if let ownIf, ownIf(found) {
                step.createdUUID = Self.uuid(found)
                log("Step \(step.position) (\(step.name.rawValue)): '\(userid)' is on \(step.device) \(how) and shows every field this order's add wrote: "
                    + "taken as this order's own")
            } else {
                step.adopted = true
                log("Step \(step.position) (\(step.name.rawValue)): '\(userid)' is on \(step.device) \(how); not proven this order's"
                    + (duplicate ? "" : " (an end user carries no order marker)") + ": adopted, left alone by undo")
            }
        }
        if let found = try await get("getUser", keys: [("userid", userid)], item: "user", tags: tags) {
            if step.attempts > 0 { claim(found, how: "after an earlier try of this step's add (its answer lost or refused)") } else { step.adopted = true }
            return
        }
        try await fence(&step)
        do {
            if let uuid = Self.answeredUUID(try await write(step.calls[0])) {
                step.createdUUID = uuid
            } else {
                guard let found = try await get("getUser", keys: [("userid", userid)], item: "user", tags: tags) else { throw Self.noUUID(step) }
                claim(found, how: "after this add (its answer held no uuid)")
            }
        } catch let fault as AXLFault where fault.code == -239 {
            guard let found = try await get("getUser", keys: [("userid", userid)], item: "user", tags: tags) else { throw fault }
            claim(found, how: "already (a duplicate answer)", duplicate: true)
        }
    }

    /// The uuid an add's answer holds; nil when it holds none (an empty `<return/>`): then the add
    /// is as one whose answer was lost, its object looked up as the step's pre-check would (an
    /// empty uuid is never stored: an undo would send a removal of uuid '').
    static func answeredUUID(_ answer: String?) -> String? {
        answer.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// An add answered without the new object's uuid, whose object the lookup did not find either.
    static func noUUID(_ step: OrderStep) -> StepFailure {
        StepFailure("\(step.calls[0].operation) on \(step.device) was answered without the new object's uuid, and no object of this order is found under its key")
    }

    /// An add of an object the device may have already: `found` (the pre-check's read) is this
    /// order's own when `ours` says so (created: its undo removes it), else adopted (left alone);
    /// when nothing was found, the add is fenced and sent, and a duplicate answer means what
    /// `find` reads now is the order's, if `afterDuplicate` says so — else, with `adoptOnDuplicate`
    /// (another order added it meanwhile), adopted.
    mutating func addOrAdopt(_ step: inout OrderStep, found: DeviceValue?, ours: (DeviceValue) -> Bool, afterDuplicate: (DeviceValue) -> Bool,
                             adoptOnDuplicate: Bool = false, find: () async throws -> DeviceValue?) async throws {
        if let found {
            if ours(found) { step.createdUUID = Self.uuid(found) } else { step.adopted = true }
            return
        }
        try await fence(&step)
        do {
            if let uuid = Self.answeredUUID(try await write(step.calls[0])) {
                step.createdUUID = uuid
            } else {
                guard let found = try await find(), afterDuplicate(found), let uuid = Self.uuid(found) else { throw Self.noUUID(step) }
                step.createdUUID = uuid
            }
        } catch let fault as AXLFault where fault.code == -239 {
            guard let found = try await find() else { throw fault }
            if afterDuplicate(found) {
                step.createdUUID = Self.uuid(found)
            } else if adoptOnDuplicate {
                step.adopted = true
            } else {
                throw fault
            }
        }
    }

    /// How a step that adds an object carrying the order's marker finds that object again: the AXL
    /// item, its get, the field with the marker, and the object's keys from the planned values.
    struct MarkedAdd {
        var item: String
        var get: String
        var markerField = "description"
        var keys: @Sendable ([CallField]) -> [(String, String)]
    }

    static func markedAdd(_ name: StepName) -> MarkedAdd? {
        let byName: @Sendable ([CallField]) -> [(String, String)] = { [("name", $0.text("name") ?? "")] }
        switch name {
        case .line:
            return MarkedAdd(item: "line", get: "getLine") { fields in
                [("pattern", fields.text("pattern") ?? ""), ("routePartitionName", fields.text("routePartitionName") ?? "")]
            }
        case .phone: return MarkedAdd(item: "phone", get: "getPhone", keys: byName)
        case .emProfile: return MarkedAdd(item: "deviceProfile", get: "getDeviceProfile", keys: byName)
        case .snrProfile: return MarkedAdd(item: "remoteDestinationProfile", get: "getRemoteDestinationProfile", keys: byName)
        case .snrDestination:
            // Keyed by its number; it has no description, so its name carries the marker.
            return MarkedAdd(item: "remoteDestination", get: "getRemoteDestination", markerField: "name") { [("destination", $0.text("destination") ?? "")] }
        default: return nil
        }
    }

    /// The uuid of the object `step` adds, if the device has it with this order's marker; nil when
    /// the device has none; throws when it has one that is not this order's.
    func findOwnAdd(_ step: OrderStep, _ lookup: MarkedAdd) async throws -> String? {
        let fields = step.calls[0].values[lookup.item]?.children ?? []
        let marker = OrderPlanner.marker(order.id)
        guard let found = try await get(lookup.get, keys: lookup.keys(fields), item: lookup.item, tags: [lookup.markerField]) else { return nil }
        guard (found.child(lookup.markerField)?.text ?? "").hasPrefix(marker + " ") else {
            throw StepFailure("\(lookup.item) \(lookup.keys(fields).map(\.1).filter { !$0.isEmpty }.joined(separator: " in ")) exists on \(step.device) and is not this order's")
        }
        return Self.uuid(found)
    }

    /// An add whose object carries the order's marker in its description: after a lost answer the
    /// object found with the marker is this order's (adopted as created); one without it is not.
    mutating func forwardCreate(_ step: inout OrderStep, resumed: Bool, lookup: MarkedAdd) async throws {
        if resumed, let uuid = try await findOwnAdd(step, lookup) {
            step.createdUUID = uuid
            return
        }
        try await fence(&step)
        do {
            if let uuid = Self.answeredUUID(try await write(step.calls[0])) {
                step.createdUUID = uuid
            } else {
                guard let uuid = try await findOwnAdd(step, lookup) else { throw Self.noUUID(step) }
                step.createdUUID = uuid
            }
        } catch let fault as AXLFault where fault.code == -239 {
            guard let uuid = try await findOwnAdd(step, lookup) else { throw fault }
            step.createdUUID = uuid
        }
    }

    mutating func forwardAssociate(_ step: inout OrderStep) async throws {
        let call = step.calls[0]
        let userid = call.values.text("userid") ?? ""
        let phones = call.values["associatedDevices"]?.children.compactMap { $0.value.text } ?? []
        guard let user = try await get("getUser", keys: [("userid", userid)], item: "user", tags: ["associatedDevices", "primaryExtension"]) else {
            throw StepFailure("user '\(userid)' is not on \(step.device)")
        }
        let current = Self.associationImage(user)
        let devices = current["associatedDevices"]?.children.compactMap { $0.value.text } ?? []
        var extended = devices
        for phone in phones where !devices.contains(where: { $0.lowercased() == phone.lowercased() }) { extended.append(phone) }
        let after: [CallField] = [
            CallField("associatedDevices", .fields(extended.map { CallField("device", $0) })),
            CallField("primaryExtension", call.values["primaryExtension"] ?? .fields([])),
        ]
        try await update(&step, current: current, after: after, shown: Self.sameAssociation(current, after),
                         PlannedCall("updateUser", [CallField("userid", userid)] + after))
    }

    /// The end of an update step: the images kept (the object as read is the before-image, but a
    /// try after a lost answer keeps the first one), then `call` fenced and written unless the
    /// object already shows the after-image.
    mutating func update(_ step: inout OrderStep, current: [CallField], after: [CallField], shown: Bool, _ call: PlannedCall) async throws {
        if step.beforeImage == nil || !shown { step.beforeImage = current }
        step.afterImage = after
        if shown { return }
        try await fence(&step)
        try await write(call)
    }

    /// A Unity Connection user from the area's template. It carries no order marker, so a mailbox
    /// found under the alias is this order's own only when the order itself may have made it: a try
    /// of this step was fenced and sent (`attempts` > 0, as `addEndUser`), or the duplicate answers
    /// this try's own create (libcurl may send it twice) after the pre-check found none. A mailbox
    /// there before the first try is someone else's: the step stops rather than adopt it — recorded
    /// as created, an undo would delete it with its messages; adopted without its id, the order would
    /// claim a mailbox it did not make from the area's template. A person decides.
    mutating func forwardVoicemail(_ step: inout OrderStep) async throws {
        let call = step.calls[0]
        let alias = call.values.text("Alias") ?? "", dtmf = call.values.text("DtmfAccessId") ?? ""
        func claim(_ found: DeviceItem) throws {
            guard found.text("DtmfAccessId") == dtmf else {
                throw StepFailure("Unity Connection user '\(alias)' exists on \(step.device) with another extension (\(found.text("DtmfAccessId") ?? "none"))")
            }
            step.createdUUID = found.text("ObjectId")
        }
        if let found = try await mailbox(alias) {
            guard step.attempts > 0 else {
                throw StepFailure("a mailbox with alias '\(alias)' already exists on \(step.device); it is not this order's")
            }
            try claim(found)
            return
        }
        try await fence(&step)
        do {
            if let id = Self.answeredUUID(try await write(call)) {
                step.createdUUID = id
            } else {
                guard let found = try await mailbox(alias) else { throw Self.noUUID(step) }
                try claim(found)
            }
        } catch let error as DeviceClientError where error.httpStatus == 400 && error.message.hasPrefix("DUPLICATE_ENTRY") {
            guard let found = try await mailbox(alias) else { throw error }
            try claim(found)
        }
    }

    mutating func forwardLineVoicemail(_ step: inout OrderStep) async throws {
        try await forwardUpdate(&step, get: "getLine", item: "line", keyCount: 2)
    }

    /// What an update step changes: the get that reads it, the item the answer holds, and how many
    /// leading values of its call are the key (the rest are the fields it sets).
    static func updateTarget(_ name: StepName) -> (get: String, item: String, keyCount: Int) {
        switch name {
        case .credentialPolicy, .snrUser, .imPresence, .conferenceNow, .udsHome: return ("getUser", "user", 1)
        case .movePhone: return ("getPhone", "phone", 1)
        default: return ("getLine", "line", 2)
        }
    }

    /// The object an update step changes, for drift: later undos leave a drifted object alone.
    static func updatedObject(_ name: StepName) -> StepName {
        switch name {
        case .credentialPolicy, .associate, .emUser, .snrUser, .imPresence, .conferenceNow: return .user
        case .udsHome: return .udsUser
        case .movePhone, .emPhone: return .phone
        default: return .line
        }
    }

    /// An update: the fields it sets are read first and kept as the before-image (a try after a lost
    /// answer keeps the first one), then written unless the object already shows them.
    mutating func forwardUpdate(_ step: inout OrderStep, get operation: String, item: String, keyCount: Int) async throws {
        let call = step.calls[0]
        let keys = call.values.prefix(keyCount).map { ($0.name, $0.value.text ?? "") }
        let planned = Array(call.values.dropFirst(keyCount))
        guard let object = try await get(operation, keys: keys, item: item, tags: planned.map(\.name)) else {
            throw StepFailure("\(item) \(keys[0].1) is not on \(step.device)")
        }
        let current = Self.image(of: object, like: planned)
        try await update(&step, current: current, after: planned, shown: current == planned, call)
    }

    /// A moved user's phone (a change order): the area's device settings, and its mask on the
    /// planned appearances. The phone's lines are read and written whole (updatePhone replaces the
    /// list): each appearance as read, the planned ones with the mask; before-image the lines as
    /// read. An appearance the plan names that the phone no longer shows stops the step before it writes.
    mutating func forwardMovePhone(_ step: inout OrderStep) async throws {
        let call = step.calls[0]
        let key = call.values[0], name = key.value.text ?? ""
        let planned = Array(call.values.dropFirst())
        guard let phone = try await get("getPhone", keys: [(key.name, name)], item: "phone", tags: planned.map(\.name)) else {
            throw StepFailure("phone \(name) is not on \(step.device)")
        }
        let current = Self.image(of: phone, like: planned)
        var after = planned
        if let index = planned.firstIndex(where: { $0.name == "lines" }) {
            var lines = current["lines"]?.children ?? []
            for appearance in planned[index].value.children {
                let wanted = appearance.value.children
                let matching = lines.indices.filter { Self.sameAppearance(lines[$0].value.children, wanted) }
                guard !matching.isEmpty, let mask = wanted.text("e164Mask") else {
                    let dirn = wanted["dirn"]?.children ?? []
                    throw StepFailure("phone \(name) on \(step.device) no longer shows line \(dirn.text("pattern") ?? "")"
                                      + "\((dirn.text("routePartitionName") ?? "").isEmpty ? "" : " in " + dirn.text("routePartitionName")!) as planned")
                }
                for position in matching { lines[position] = CallField("line", .fields(Self.masked(lines[position].value.children, mask))) }
            }
            after[index] = CallField("lines", .fields(lines))
        }
        try await update(&step, current: current, after: after, shown: current == after, PlannedCall(call.operation, [key] + after))
    }

    /// A phone's line as read is the planned appearance: the same number and partition (and index, when planned).
    static func sameAppearance(_ line: [CallField], _ planned: [CallField]) -> Bool {
        line["dirn"]?.children.text("pattern") == planned["dirn"]?.children.text("pattern")
            && (line["dirn"]?.children.text("routePartitionName") ?? "") == (planned["dirn"]?.children.text("routePartitionName") ?? "")
            && (planned.text("index").map { $0 == line.text("index") } ?? true)
    }

    /// The elements of XPhoneLine before e164Mask (AXLSoap.xsd 12.5), where a mask is put into an appearance that has none.
    static let phoneLineBeforeMask: Set<String> = ["index", "label", "display", "dirn", "ringSetting", "consecutiveRingSetting",
                                                   "ringSettingIdlePickupAlert", "ringSettingActivePickupAlert", "displayAscii"]

    /// An appearance as read with its e164Mask set to `mask`, in the schema's place.
    static func masked(_ line: [CallField], _ mask: String) -> [CallField] {
        var line = line
        if let at = line.firstIndex(where: { $0.name == "e164Mask" }) {
            line[at] = CallField("e164Mask", mask)
        } else {
            let at = (line.lastIndex { phoneLineBeforeMask.contains($0.name) }).map { $0 + 1 } ?? line.count
            line.insert(CallField("e164Mask", mask), at: at)
        }
        return line
    }

    /// The undo of an update: the before-image written back while the object still shows what the
    /// step wrote; a conflict (left untouched) when it shows something else. Nothing to write when
    /// the object is one the order created (its own undo removes it) or the step changed nothing.
    mutating func undoUpdate(_ step: OrderStep, drifted: inout Set<StepName>) async throws -> UndoOutcome {
        guard let after = step.afterImage, let before = step.beforeImage else { return .undone }
        let (operation, item, keyCount) = Self.updateTarget(step.name)
        let object = Self.updatedObject(step.name)
        let keyFields = Array(step.calls[0].values.prefix(keyCount))
        guard let found = try await get(operation, keys: keyFields.map { ($0.name, $0.value.text ?? "") }, item: item, tags: after.map(\.name)) else {
            return .undone
        }
        guard Self.image(of: found, like: after) == after else {
            // Stopped between its fence and its write (a cancel, a death): the object as it was read.
            if step.state == "sending", Self.image(of: found, like: before) == before { return .unchanged }
            drifted.insert(object)
            return .conflict()
        }
        if created(object) != nil || before == after { return .undone }
        try await fenceUndo(step)
        try await write(PlannedCall(step.calls[0].operation, keyFields + before))
        return .undone
    }

    // MARK: Extension Mobility

    /// The login service (orders-brief §A.1 9a): found by its name first — one with the
    /// EMAppServlet URL is used as it is (adopted, or this order's own after a lost answer: its
    /// marker); one by that name serving something else stops the step; else it is added. Shared
    /// infrastructure: no undo removes it.
    mutating func forwardService(_ step: inout OrderStep) async throws {
        let call = step.calls[0]
        let name = call.values["ipPhoneServices"]?.children.text("serviceName") ?? ""
        let marker = OrderPlanner.marker(order.id)
        let device = step.device, devices = devices
        @Sendable func find() async throws -> DeviceValue? {
            guard let found = try await devices.get("getIpPhoneServices", keys: [("serviceName", name)], item: "ipPhoneServices",
                                            tags: ["serviceDescription", "serviceUrl"]) else { return nil }
            let url = found.child("serviceUrl")?.text ?? ""
            guard url.lowercased().contains("/emapp/emappservlet") else {
                throw StepFailure("IP phone service '\(name)' on \(device) is not the Extension Mobility login service (its URL is '\(url)')")
            }
            return found
        }
        // Orders of one call processor may find none at once: the first add wins, the others adopt it.
        let ours = { (service: DeviceValue) in (service.child("serviceDescription")?.text ?? "").hasPrefix(marker + " ") }
        try await addOrAdopt(&step, found: try await find(), ours: ours, afterDuplicate: ours, adoptOnDuplicate: true, find: find)
    }

    /// What a list step changes: the get, its item, and the list it replaces whole (the phone's
    /// services, the user's phoneProfiles).
    static func listTarget(_ name: StepName) -> (get: String, item: String, list: String) {
        name == .emPhone ? ("getPhone", "phone", "services") : ("getUser", "user", "phoneProfiles")
    }

    /// An entry of a list: a service by its telecasterServiceName, a profile by its name; without case.
    static func entryKey(_ entry: CallField) -> String {
        (entry.value.text ?? entry.value.children.text("telecasterServiceName") ?? "").lowercased()
    }

    /// The planned fields as `object` shows them: the list's entries as read (a service with its
    /// name and url), the other fields' values (an unset boolean as its default, false).
    static func listImage(_ object: DeviceValue, like planned: [CallField], list: String) -> [CallField] {
        planned.map { field in
            guard field.name == list else {
                let text = object.child(field.name)?.text ?? ""
                return CallField(field.name, text.isEmpty && ["true", "false"].contains(field.value.text ?? "") ? "false" : text)
            }
            let entryName = list == "services" ? "service" : "profileName"
            return CallField(list, .fields((object.child(list)?.children(entryName) ?? []).map { entry in
                if let text = entry.text { return CallField(entryName, text) }
                return CallField(entryName, .fields(["telecasterServiceName", "name", "url"].compactMap { tag in
                    entry.child(tag)?.text.flatMap { $0.isEmpty ? nil : CallField(tag, $0) }
                }))
            }))
        }
    }

    /// Two images of a list step alike: the same entries (in any order) and the same other values.
    static func sameList(_ a: [CallField], _ b: [CallField], list: String) -> Bool {
        guard a.map(\.name) == b.map(\.name) else { return false }
        return zip(a, b).allSatisfy { x, y in
            x.name == list ? Set(x.value.children.map(entryKey)) == Set(y.value.children.map(entryKey)) : x.value.text?.lowercased() == y.value.text?.lowercased()
        }
    }

    /// The list as read, extended with the planned entries it lacks; the other fields as planned.
    static func extended(_ current: [CallField], with planned: [CallField], list: String) -> [CallField] {
        zip(current, planned).map { now, plan in
            guard plan.name == list else { return plan }
            let have = Set(now.value.children.map(entryKey))
            return CallField(list, .fields(now.value.children + plan.value.children.filter { !have.contains(entryKey($0)) }))
        }
    }

    /// A list replaced whole (orders-brief §A.0 5): read, extended, written; the list as read is the
    /// before-image (a try after a lost answer keeps the first one).
    mutating func forwardList(_ step: inout OrderStep) async throws {
        let call = step.calls[0]
        let (operation, item, list) = Self.listTarget(step.name)
        let key = call.values[0]
        let planned = Array(call.values.dropFirst())
        guard let object = try await get(operation, keys: [(key.name, key.value.text ?? "")], item: item, tags: planned.map(\.name)) else {
            throw StepFailure("\(item) '\(key.value.text ?? "")' is not on \(step.device)")
        }
        let current = Self.listImage(object, like: planned, list: list)
        let after = Self.extended(current, with: planned, list: list)
        try await update(&step, current: current, after: after, shown: Self.sameList(current, after, list: list), PlannedCall(call.operation, [key] + after))
    }

    /// The undo of a list step: the list as it was written back while the object still shows what
    /// the step wrote (else a conflict, left untouched); nothing to write on an object the order
    /// created (its own undo removes it) or when the step changed nothing.
    mutating func undoList(_ step: OrderStep, drifted: inout Set<StepName>) async throws -> UndoOutcome {
        guard let after = step.afterImage, let before = step.beforeImage else { return .undone }
        let (operation, item, list) = Self.listTarget(step.name)
        let key = step.calls[0].values[0]
        let object = Self.updatedObject(step.name)
        guard let found = try await get(operation, keys: [(key.name, key.value.text ?? "")], item: item, tags: after.map(\.name)) else {
            return .undone
        }
        guard Self.sameList(Self.listImage(found, like: after, list: list), after, list: list) else {
            if step.state == "sending", Self.sameList(Self.listImage(found, like: before, list: list), before, list: list) { return .unchanged }
            drifted.insert(object)
            return .conflict()
        }
        if created(object) != nil || Self.sameList(before, after, list: list) { return .undone }
        try await fenceUndo(step)
        try await write(PlannedCall(step.calls[0].operation, [key] + before))
        return .undone
    }

    // MARK: undo

    /// Undoes the done steps in reverse: before-images written back while the object still shows
    /// what the order wrote, created objects removed by uuid. Ends rolled back, or "needs attention"
    /// when an object drifted (it is left untouched, with everything of the order on it), or failed
    /// when the device refused an undo (`undoFailed`: `order rollback` tries it again).
    public mutating func rollback(cause: String?) async throws {
        try await setState("rolling_back", error: cause)
        // A rollback that starts again (its attempt died before the end) keeps the conflicts it found:
        // those steps are not visited again (`order rollback` resets them to be checked anew), and
        // their objects stay drifted for the undos after them.
        var conflicts: [String] = steps.filter { $0.state == "conflict" }.reversed().map { Self.conflictNote($0) }
        var drifted = Set(steps.filter { $0.state == "conflict" }.compactMap { Self.driftedObject(of: $0.name) })
        for position in steps.indices.reversed() where ["done", "sending", "failed"].contains(steps[position].state) {
            var step = steps[position]
            stepDevice = step.device
            let forwardFailed = step.state == "failed" && !step.undoFailed
            if step.undoFailed || (forwardFailed && Self.mayHaveTakenEffect(step)) {
                // Its undo (or its forward write, whose answer was lost on every try) was fenced and
                // may have taken effect: as a step stopped at its fence, an object that shows its
                // before-image is left, one that shows what the step wrote is written back.
                step.state = "sending"
            }
            do {
                if step.state != "done", step.createdUUID == nil, let lookup = Self.markedAdd(step.name) {
                    // An add whose answer never came (abandoned by a cancel, or lost on every try): what
                    // the device has under its key is this order's when it carries the marker.
                    do {
                        step.createdUUID = try await findOwnAdd(step, lookup)
                    } catch is StepFailure {
                        // Someone else's: not ours to remove.
                    }
                }
                if step.name == .user, step.state != "done", step.createdUUID == nil, step.attempts > 0, step.calls[0].operation == "addUser" {
                    // The same for the user's add, which carries no marker: its own by every field it wrote (`addEndUser`).
                    let fields = step.calls[0].values["user"]?.children ?? []
                    if let found = try await get("getUser", keys: [("userid", fields.text("userid") ?? "")], item: "user", tags: fields.map(\.name)),
                       Self.showsEveryField(found, of: step.calls[0]) {
                        step.createdUUID = Self.uuid(found)
                    }
                }
                if step.name == .voicemail, step.state != "done", step.createdUUID == nil, step.attempts > 0 {
                    // The same for the mailbox, by its alias and extension (`forwardVoicemail`'s rule).
                    let values = step.calls[0].values
                    if let found = try await mailbox(values.text("Alias") ?? ""), found.text("DtmfAccessId") == values.text("DtmfAccessId") {
                        step.createdUUID = found.text("ObjectId")
                    }
                }
                // A failed step that never sent its write, and is no such add, wrote nothing.
                guard step.state != "failed" || step.createdUUID != nil else { continue }
                let outcome = try await undo(step, drifted: &drifted)
                // A forward failure stays on record when the undo found that it had changed nothing.
                step.state = forwardFailed && [.unchanged, .skipped].contains(outcome) ? "failed" : outcome.state
                step.undoFailed = false
                if case .conflict(let reason) = outcome {
                    step.error = reason ?? Self.undoConflictReason(step)
                    conflicts.append(Self.conflictNote(step))
                }
            } catch let error where Self.isStepFailure(error) {
                // As the fence left it (`sending`, its try counted), with what was learnt of it.
                var failed = steps[position]
                failed.createdUUID = step.createdUUID
                try await undoFailed(&failed, error, drift: conflicts)
                return
            }
            log("Undo of step \(step.position) (\(step.name.rawValue)): \(step.state)")
            try await save(step)
            steps[position] = step
        }
        if conflicts.isEmpty {
            try await setState("rolled_back", error: cause)
        } else {
            try await setState("needs_attention", error: ([cause].compactMap { $0 } + [Self.driftNote(conflicts)]).joined(separator: "; "))
        }
    }

    /// Whether a step whose forward write failed may have changed the device: a try was fenced and
    /// sent (`attempts` > 0) or an update kept its before-image — its answer may have been lost on
    /// every try. A delete order's removals are not re-added by an undo: they are left as failed.
    static func mayHaveTakenEffect(_ step: OrderStep) -> Bool {
        guard !isRemoval(step.name) else { return false }
        return step.attempts > 0 || step.beforeImage != nil
    }

    static func isRemoval(_ name: StepName) -> Bool {
        switch name {
        case .disassociate, .removeVoicemail, .removePhone, .removeLine, .removeUser, .removeRemoteDestination,
             .removeRemoteDestinationProfile, .removeDeviceProfile:
            return true
        default:
            return false
        }
    }

    /// How the order's error names a step the undo left in conflict.
    static func conflictNote(_ step: OrderStep) -> String {
        "step \(step.name.rawValue) (\(step.error ?? undoConflictReason(step)))"
    }

    static func driftNote(_ conflicts: [String]) -> String {
        "drift: " + conflicts.joined(separator: "; ")
    }

    /// The object a conflict of this step marks drifted (later undos leave it alone too, `undo`):
    /// the object an update changed; nil for a step that adds or removes an object, whose conflict
    /// concerns that object alone.
    static func driftedObject(of name: StepName) -> StepName? {
        switch name {
        case .associate, .emPhone, .emUser, .lineVoicemail, .credentialPolicy, .movePhone, .moveLine, .snrUser, .imPresence, .conferenceNow, .udsHome:
            return updatedObject(name)
        default:
            return nil
        }
    }

    /// What a step's error starts with when its undo failed: the message only — the step's
    /// `undoFailed` says so (nothing decides on the text).
    static let undoFailedPrefix = "undo failed: "

    /// An undo the device refused or never answered (a step failure), of a rollback or a cancel
    /// order, in one place: the step recorded failed with why, and the order ended failed naming the
    /// undo (with the drift met before it) — `--wait` returns, and `order rollback` (or `order retry`
    /// of a cancel order) tries it again.
    mutating func undoFailed(_ step: inout OrderStep, _ error: Error, drift: [String] = []) async throws {
        let reason = Self.reason(error)
        step.state = "failed"
        step.undoFailed = true
        step.error = Self.undoFailedPrefix + reason
        saveLater(step)  // with the order's state, next
        steps[index(step)] = step
        log("Undo of step \(step.position) (\(step.name.rawValue)) failed: \(reason)")
        let error = ["undo of step \(step.name.rawValue): \(reason)"] + (drift.isEmpty ? [] : [Self.driftNote(drift)])
        try await setState("failed", error: error.joined(separator: "; "))
    }

    /// The step that created the object `name` is on: the user for associate, the line for line_voicemail.
    func created(_ name: StepName) -> OrderStep? {
        steps.first { $0.name == name && $0.createdUUID != nil && (["done", "sending", "conflict"].contains($0.state) || $0.undoFailed) }
    }

    /// Undoes one step of this order. `drifted` gathers the objects found changed: later undos
    /// leave them alone too.
    mutating func undo(_ step: OrderStep, drifted: inout Set<StepName>) async throws -> UndoOutcome {
        stepDevice = step.device
        switch step.name {
        case .reset, .emService:
            // The reset runs after the pivot; the login service is shared infrastructure.
            return .skipped
        case .emPhone, .emUser:
            return try await undoList(step, drifted: &drifted)
        case .user, .line, .phone, .voicemail, .emProfile, .snrProfile, .snrDestination, .udsUser:
            guard let uuid = step.createdUUID else { return .skipped }
            if drifted.contains(step.name) { return .conflict() }
            guard let call = Self.undoCall(step, among: steps) else { return .skipped }
            // The order's own phones and profiles are undone before its line: a device still carrying
            // it is someone else's (whose calls its removal would break), or the order's own phone left
            // in conflict. Either way the line stays for a person to judge.
            if step.name == .line, let carriers = try await devicesCarrying(lineUUID: uuid), !carriers.isEmpty {
                return .conflict(reason: "the line is on \(Self.named(carriers)) on \(step.device) now: not removed")
            }
            if step.name == .user, let others = try await othersOnUser(uuid: uuid) {
                return .conflict(reason: "user '\(order.userID)' on \(step.device) holds what is not this order's now (\(others)): not removed")
            }
            try await fenceUndo(step)
            do {
                try await write(call)
            } catch let fault as AXLFault where fault.code == 5007 {
            } catch let error as DeviceClientError where error.httpStatus == 404 {
            }
            return .undone
        case .associate:
            guard let after = step.afterImage, let before = step.beforeImage else { return .undone }
            let userid = step.calls[0].values.text("userid") ?? ""
            guard let user = try await get("getUser", keys: [("userid", userid)], item: "user", tags: ["associatedDevices", "primaryExtension"]) else {
                return .undone
            }
            guard Self.sameAssociation(Self.associationImage(user), after) else {
                if step.state == "sending", Self.sameAssociation(Self.associationImage(user), before) { return .unchanged }
                drifted.insert(.user)
                return .conflict()
            }
            if created(.user) != nil || Self.sameAssociation(before, after) { return .undone }
            try await fenceUndo(step)
            try await write(PlannedCall("updateUser", [CallField("userid", userid)] + before))
            return .undone
        case .lineVoicemail, .credentialPolicy, .movePhone, .moveLine, .snrUser, .imPresence, .conferenceNow, .udsHome:
            return try await undoUpdate(step, drifted: &drifted)
        case .disassociate, .removeVoicemail, .removePhone, .removeLine, .removeUser, .removeRemoteDestination,
             .removeRemoteDestinationProfile, .removeDeviceProfile:
            return try await undoDelete(step)
        }
    }

    /// What the user this order created holds now that is not this order's — a device or a primary
    /// extension another order (one that adopted the user later) or a person gave it: removing the
    /// user would take them along. nil when it holds only this order's phone and line (or nothing,
    /// or it is gone).
    func othersOnUser(uuid: String) async throws -> String? {
        guard let user = try await get("getUser", keys: [("uuid", uuid)], item: "user", tags: ["associatedDevices", "primaryExtension"]) else {
            return nil
        }
        let image = Self.associationImage(user)
        let devices = (image["associatedDevices"]?.children.compactMap { $0.value.text } ?? [])
            .filter { !$0.isEmpty && $0.lowercased() != order.phone?.lowercased() }
        let primary = image["primaryExtension"]?.children ?? []
        let pattern = primary.text("pattern") ?? "", partition = primary.text("routePartitionName") ?? ""
        var others: [String] = []
        if !devices.isEmpty { others.append(Self.named(devices)) }
        if !pattern.isEmpty, pattern != order.line || partition != order.linePartition {
            others.append("primary extension \(pattern)\(partition.isEmpty ? "" : " in " + partition)")
        }
        return others.isEmpty ? nil : others.joined(separator: ", ")
    }

    /// The call that undoes a done step of an add order (what a cancel order plans); nil when there
    /// is nothing to undo on the device.
    public static func undoCall(_ step: OrderStep, among steps: [OrderStep]) -> PlannedCall? {
        let userCreated = steps.contains { $0.name == .user && $0.createdUUID != nil }
        let lineCreated = steps.contains { $0.name == .line && $0.createdUUID != nil }
        let phoneCreated = steps.contains { $0.name == .phone && $0.createdUUID != nil }
        switch step.name {
        case .reset, .emService: return nil
        case .emProfile: return step.createdUUID.map { PlannedCall("removeDeviceProfile", [CallField("uuid", $0)]) }
        case .snrProfile: return step.createdUUID.map { PlannedCall("removeRemoteDestinationProfile", [CallField("uuid", $0)]) }
        case .snrDestination: return step.createdUUID.map { PlannedCall("removeRemoteDestination", [CallField("uuid", $0)]) }
        case .emPhone:
            guard !phoneCreated, let before = step.beforeImage else { return nil }
            return PlannedCall("updatePhone", Array(step.calls[0].values.prefix(1)) + before)
        case .emUser, .snrUser, .imPresence, .conferenceNow:
            guard !userCreated, let before = step.beforeImage else { return nil }
            return PlannedCall("updateUser", Array(step.calls[0].values.prefix(1)) + before)
        case .user, .udsUser: return step.createdUUID.map { PlannedCall("removeUser", [CallField("uuid", $0)]) }
        case .udsHome:
            guard !steps.contains(where: { $0.name == .udsUser && $0.createdUUID != nil }), let before = step.beforeImage else { return nil }
            return PlannedCall("updateUser", Array(step.calls[0].values.prefix(1)) + before)
        case .line: return step.createdUUID.map { PlannedCall("removeLine", [CallField("uuid", $0)]) }
        case .phone: return step.createdUUID.map { PlannedCall("removePhone", [CallField("uuid", $0)]) }
        case .voicemail: return step.createdUUID.map { PlannedCall("DELETE /vmrest/users/\($0)", []) }
        case .associate:
            guard !userCreated, let before = step.beforeImage else { return nil }
            return PlannedCall("updateUser", [CallField("userid", step.calls[0].values.text("userid") ?? "")] + before)
        case .lineVoicemail:
            guard !lineCreated, let before = step.beforeImage else { return nil }
            return PlannedCall("updateLine", Array(step.calls[0].values.prefix(2)) + before)
        case .credentialPolicy:
            guard !userCreated, let before = step.beforeImage else { return nil }
            return PlannedCall("updateUser", Array(step.calls[0].values.prefix(1)) + before)
        case .movePhone, .moveLine:
            guard let before = step.beforeImage else { return nil }
            return PlannedCall(step.calls[0].operation, Array(step.calls[0].values.prefix(updateTarget(step.name).keyCount)) + before)
        case .disassociate, .removeVoicemail, .removePhone, .removeLine, .removeUser, .removeRemoteDestination,
             .removeRemoteDestinationProfile, .removeDeviceProfile:
            return nil  // only add orders are canceled
        }
    }

    // MARK: cancel orders

    /// A cancel order: each of its steps undoes the add order's step of the same name (with the
    /// same drift checks). Ends succeeded (the add order canceled, its services gone from the
    /// inventory) or "needs attention".
    public mutating func cancel(_ add: Order, addSteps: [OrderStep]) async throws {
        try await setState("running")
        var saga = OrderSaga(order: add, steps: addSteps, database: database, owner: owner, devices: allDevices,
                             checkOwnership: checkOwnership, note: note, pause: pause)
        saga.stepsOwned = false
        saga.fenceOrderID = order.id
        saga.slots = slots
        var drifted: Set<StepName> = []
        var conflicts: [String] = []
        for position in steps.indices where steps[position].state != "done" {
            var step = steps[position]
            guard let addStep = addSteps.first(where: { $0.name == step.name }) else { continue }
            try checkOwnership()
            step.state = "sending"
            step.attempts += 1
            try await save(step)
            do {
                switch try await saga.undoForCancel(addStep, drifted: &drifted) {
                case .conflict(let reason):
                    step.state = "conflict"
                    step.error = reason ?? "changed on \(step.device) since order \(add.id) wrote it: left untouched"
                    conflicts.append(Self.conflictNote(step))
                default:
                    step.state = "done"
                }
            } catch let error where Self.isStepFailure(error) {
                try await undoFailed(&step, error, drift: conflicts)
                return
            }
            log("Cancel step \(step.position) (\(step.name.rawValue)): \(step.state)")
            try await save(step)
            steps[position] = step
        }
        guard conflicts.isEmpty else {
            try await setState("needs_attention", error: Self.driftNote(conflicts))
            return
        }
        let services = OrderSaga.services(of: add, steps: addSteps)
        unsavedState = ("succeeded", nil)
        try await commit { session in
            try session.query(OrderSQL.orderStateSetOther, [add.id, "canceled"])
            try OrderInventoryStore.InTransaction(session).objectsRemoved(services)
        }
    }

    /// The add order's undo of one step, run by its cancel order (which holds the fence).
    mutating func undoForCancel(_ step: OrderStep, drifted: inout Set<StepName>) async throws -> UndoOutcome {
        try await undo(step, drifted: &drifted)
    }

    // MARK: the end

    /// Records success: the order succeeded and the user's services are in the inventory, placed in
    /// the order's area — in one transaction fenced on the job, with the last steps' `done`.
    mutating func finish() async throws {
        let services = Self.services(of: order, steps: steps)
        let owner = owner, order = order
        // The last action: the primary number written back to LDAP (WriteBack.swift); never fails the order.
        let database = database, checkOwnership = checkOwnership
        let writeBack = await WriteBack.afterOrder(order, database: database, beforeWriting: {
            try await releasePending()
            // Fenced like a device write: a lost attempt writes no stale number to the directory.
            try checkOwnership()
            try await database.withSession { try QueueStore.InTransaction($0).jobConfirmOwned(owner) }
        })
        if let writeBack { log(writeBack.message) }
        unsavedState = ("succeeded", nil)
        log("Order \(order.id) succeeded")
        try await commit { session in
            try writeBack?.record(orderID: order.id, in: session)
            try OrderInventoryStore.InTransaction(session).servicesRecordAndUserPlaced(services, userID: order.userID, domain: order.domain,
                                                                                       serviceArea: order.serviceArea, jobID: owner.id,
                                                                                       moved: order.kind == "change")
        }
    }

    /// The services an add order made (and those a move changed), as the user syncs would read them.
    static func services(of order: Order, steps: [OrderStep]) -> [OrderedService] {
        var services: [OrderedService] = []
        func json(_ object: [String: String]) -> String { OrderStore.json(object) }
        if let line = steps.first(where: { $0.name == .line }), let fields = line.calls.first?.values["line"]?.children {
            let pattern = fields.text("pattern") ?? "", partition = fields.text("routePartitionName") ?? ""
            var attributes: [String: String] = [:]
            for field in fields { if let text = field.value.text { attributes[field.name] = text } }
            if let voicemail = steps.first(where: { $0.name == .lineVoicemail }), let profile = voicemail.calls.first?.values.text("voiceMailProfileName") {
                attributes["voiceMailProfileName"] = profile
            }
            services.append(OrderedService(serviceType: "line", device: order.callProcessor, objectType: "Line", objectKey: "\(pattern)/\(partition)",
                                           uuid: line.createdUUID, attributes: json(attributes),
                                           detail: json(["number": pattern, "partition": partition].filter { !$0.value.isEmpty })))
        }
        if let phone = steps.first(where: { $0.name == .phone }), let fields = phone.calls.first?.values["phone"]?.children {
            var attributes: [String: String] = [:]
            for field in fields { if let text = field.value.text, !text.isEmpty { attributes[field.name] = text } }
            attributes["model"] = attributes["product"]
            let name = fields.text("name") ?? ""
            // With its lines as the user sync reads them (a move finds the user's appearances there).
            let object = DeviceItem(uuid: nil, fields: attributes.sorted { $0.key < $1.key }.map { ($0.key, DeviceValue.text($0.value)) }
                                        + [("lines", deviceValue(fields["lines"] ?? .fields([])))])
            services.append(OrderedService(serviceType: "phone", device: order.callProcessor, objectType: "Phone", objectKey: name,
                                           uuid: phone.createdUUID, attributes: object.json,
                                           detail: json(["name": name, "product": attributes["product"] ?? "", "device_pool": attributes["devicePoolName"] ?? "",
                                                         "location": attributes["locationName"] ?? "", "description": attributes["description"] ?? ""])))
        }
        // Extension Mobility access: the device profile, as the infrastructure sync reads it (its
        // services left out: the domain sync counts a profile without any as EM access, and the
        // next infrastructure sync reads them). Single Number Reach: the remote destination profile
        // and the destination, as the user sync reads them.
        if let profile = steps.first(where: { $0.name == .emProfile }), let fields = profile.calls.first?.values["deviceProfile"]?.children {
            let name = fields.text("name") ?? ""
            let attributes = Dictionary(uniqueKeysWithValues: ["name", "description", "product", "protocol", "phoneTemplateName", "loginUserId"]
                .compactMap { tag in fields.text(tag).map { (tag, $0) } })
            var service = OrderedService(serviceType: "em_access", device: order.callProcessor, objectType: "DeviceProfile", objectKey: name,
                                         uuid: profile.createdUUID, attributes: json(attributes),
                                         detail: json(["name": name, "product": attributes["product"] ?? "", "description": attributes["description"] ?? ""]))
            service.syncKind = "infra"
            services.append(service)
        }
        // Each as (step, item, service type, inventory type, key, the attributes kept, detail → attribute).
        let mobility: [(StepName, String, String, String, String, [String], [(String, String)])] = [
            (.snrProfile, "remoteDestinationProfile", "remote_destination_profile", "RemoteDestinationProfile", "name",
             ["name", "description", "callingSearchSpaceName", "devicePoolName", "userId"],
             [("name", "name"), ("device_pool", "devicePoolName"), ("description", "description")]),
            (.snrDestination, "remoteDestination", "remote_destination", "RemoteDestination", "destination",
             ["name", "destination", "remoteDestinationProfileName", "isMobilePhone", "enableMobileConnect"],
             [("destination", "destination"), ("name", "name"), ("profile", "remoteDestinationProfileName"), ("mobile_phone", "isMobilePhone")]),
        ]
        for (name, item, serviceType, objectType, key, kept, detail) in mobility {
            guard let step = steps.first(where: { $0.name == name }), let fields = step.calls.first?.values[item]?.children else { continue }
            let attributes = Dictionary(uniqueKeysWithValues: kept.compactMap { tag in fields.text(tag).map { (tag, $0) } })
            let shown = Dictionary(uniqueKeysWithValues: detail.compactMap { label, tag in fields.text(tag).flatMap { $0.isEmpty ? nil : (label, $0) } })
            services.append(OrderedService(serviceType: serviceType, device: order.callProcessor, objectType: objectType, objectKey: fields.text(key) ?? "",
                                           uuid: step.createdUUID, attributes: json(attributes), detail: json(shown)))
        }
        if let presence = steps.first(where: { $0.name == .imPresence }), let service = imPresenceService(of: order, presence, among: steps) {
            services.append(service)
        }
        if let voicemail = steps.first(where: { $0.name == .voicemail }), let device = order.messageProcessor, let call = voicemail.calls.first {
            let alias = call.values.text("Alias") ?? "", dtmf = call.values.text("DtmfAccessId") ?? ""
            var attributes: [String: String] = ["Alias": alias, "DtmfAccessId": dtmf]
            if let id = voicemail.createdUUID { attributes["ObjectId"] = id }
            services.append(OrderedService(serviceType: "voicemail", device: device, objectType: "VoiceMailInfo", objectKey: alias,
                                           uuid: voicemail.createdUUID, attributes: json(attributes), detail: json(["mailbox": alias, "number": dtmf])))
        }
        return services + movedServices(of: order, steps: steps)
    }

    /// The phones and lines a move changed (a change order's move_phone and move_line steps),
    /// recorded as an object an order changed but did not make: the fields its step left on it (its
    /// after-image, those a user sync reads: the settings, a phone's lines whole) written over what
    /// the inventory holds, and the detail they give (the domain sync's names) written over the
    /// service's. A change order is never canceled (a rollback undoes it), so no detail before.
    static func movedServices(of order: Order, steps: [OrderStep]) -> [OrderedService] {
        steps.compactMap { step in
            let (serviceType, objectType, detailOf): (String, String, [(String, String)])
            switch step.name {
            case .movePhone: (serviceType, objectType, detailOf) = ("phone", "Phone", [("device_pool", "devicePoolName"), ("location", "locationName")])
            case .moveLine: (serviceType, objectType, detailOf) = ("line", "Line", [("voicemail_profile", "voiceMailProfileName")])
            default: return nil
            }
            guard let after = step.afterImage, let before = step.beforeImage,
                  let type = AXLCatalog.callProcessorUser.first(where: { $0.inventoryType == objectType }) else { return nil }
            let read = Set(type.returnedTags + type.getTags)
            func object(_ image: [CallField]) -> String {
                DeviceItem(uuid: nil, fields: image.filter { read.contains($0.name) }.map { ($0.name, deviceValue($0.value)) }).json
            }
            let keys = step.calls[0].values.prefix(updateTarget(step.name).keyCount).map { $0.value.text ?? "" }
            var detail = step.name == .movePhone ? ["name": keys[0]] : ["number": keys[0], "partition": keys[1]].filter { !$0.value.isEmpty }
            for (label, tag) in detailOf { if let value = after.text(tag), !value.isEmpty { detail[label] = value } }
            var service = OrderedService(serviceType: serviceType, device: order.callProcessor, objectType: objectType,
                                         objectKey: keys.joined(separator: "/"), uuid: nil, attributes: object(after), detail: OrderStore.json(detail))
            service.attributesBefore = object(before)
            return service
        }
    }

    /// IM and Presence (seed 000 step 10) as the domain sync records it: a service of the user's
    /// account on the call processor while that is the user's home cluster. An account the order
    /// added is recorded as it wrote it (a cancel removes it); one it adopted keeps what the sync
    /// read with the fields the step wrote over them, the step's before-image kept for a cancel.
    static func imPresenceService(of order: Order, _ step: OrderStep, among steps: [OrderStep]) -> OrderedService? {
        guard let call = step.calls.first, let userid = call.values.text("userid") else { return nil }
        func texts(_ fields: [CallField]) -> [String: String] {
            Dictionary(fields.compactMap { field in field.value.text.map { (field.name, $0) } }, uniquingKeysWith: { $1 })
        }
        var written = texts(Array(call.values.dropFirst()))
        guard let detail = imPresenceDetail(written) else { return nil }
        let added = steps.first { $0.name == .user && $0.createdUUID != nil }
        if let added, let fields = added.calls.first?.values["user"]?.children {
            written.merge(texts(fields)) { mine, _ in mine }
        }
        var service = OrderedService(serviceType: "im_presence", device: order.callProcessor, objectType: "User", objectKey: userid,
                                     uuid: added?.createdUUID, attributes: OrderStore.json(written), detail: detail)
        if added == nil {
            let before = texts(step.beforeImage ?? [])
            service.attributesBefore = OrderStore.json(before)
            service.detailBefore = imPresenceDetail(before)
        }
        return service
    }

    /// The detail of IM and Presence that a user account's fields give, the domain sync's
    /// (DomainSyncSQL.devicesDerive): nil unless this call processor is the user's home cluster.
    static func imPresenceDetail(_ account: [String: String]) -> String? {
        guard account["homeCluster"] == "true" else { return nil }
        var detail: [String: Any] = ["home_cluster": true, "im_presence_enabled": account["imAndPresenceEnable"] == "true"]
        if let profile = account["serviceProfile"], !profile.isEmpty { detail["service_profile"] = profile }
        return String(decoding: try! JSONSerialization.data(withJSONObject: detail, options: [.sortedKeys]), as: UTF8.self)
    }

    // MARK: device calls

    /// A get by key; nil when the device says the object is not there (5007).
    func get(_ operation: String, keys: [(String, String)], item: String, tags: [String]) async throws -> DeviceValue? {
        try await releasePending()
        return try await devices.get(operation, keys: keys, item: item, tags: tags)
    }

    /// The devices (phones, device profiles, remote destination profiles) that carry the line,
    /// from its read-only `associatedDevices`; nil when the line is gone.
    func devicesCarrying(lineUUID uuid: String) async throws -> [String]? {
        guard let line = try await get("getLine", keys: [("uuid", uuid)], item: "line", tags: ["associatedDevices"]) else { return nil }
        return Self.devices(on: line)
    }

    static func devices(on line: DeviceValue) -> [String] {
        line.child("associatedDevices")?.children("device").compactMap(\.text).filter { !$0.isEmpty } ?? []
    }

    static func named(_ devices: [String]) -> String {
        (devices.count == 1 ? "device " : "devices ") + devices.map { "'\($0)'" }.joined(separator: ", ")
    }

    /// The Unity Connection user with `alias`, if any.
    func mailbox(_ alias: String) async throws -> DeviceItem? {
        guard let cupi = devices.cupi else { throw StepFailure("the order has no message processor") }
        // An empty alias would ask for the users without one: a planned call without its alias is broken.
        guard !alias.isEmpty else { throw StepFailure("the step's Unity Connection user has no alias") }
        try await releasePending()
        return try await cupi.find("users", element: "User", column: "Alias", is: alias).first
    }

    /// One planned write, sent once (a lost answer is for the step's pre-check), holding one of the
    /// device's write slots over every worker. Returns the uuid an add answered (the ObjectId of a
    /// Unity Connection user).
    @discardableResult
    func write(_ call: PlannedCall) async throws -> String? {
        try await releasePending()
        let devices = devices, bound = devices.bound(of: call), database = database
        let (slot, answer) = try await DeviceWriteGate.shared.withLocalSlot(bound) { () -> (Int, String?) in
            let slot = try await DeviceWriteGate.acquire(bound, database: database)
            do {
                return (slot, try await devices.send(call))
            } catch {
                try? await DeviceWriteGate.release(bound, slot: slot, database: database)
                throw error
            }
        }
        // The slot is held on until the saga's next statement releases it (or a release of its own
        // before a device call or a wait that comes first); this worker's place is free already.
        slots.pending = SagaSlots.Held(bound: bound, slot: slot)
        return answer
    }
}

extension OrderDevices {
    /// A get by key; nil when the device says the object is not there (5007).
    public func get(_ operation: String, keys: [(String, String)], item: String, tags: [String]) async throws -> DeviceValue? {
        do {
            let answer = try await axl.exchange(operation) { writer in
                for (name, value) in keys { if value.isEmpty { writer.empty(name) } else { writer.element(name, value) } }
                writer.open("returnedTags")
                // A boolean tag cannot be empty (its type's pattern): it carries a placeholder, as the syncs' lists do.
                for tag in tags { if Self.booleanTags.contains(tag) { writer.element(tag, "true") } else { writer.empty(tag) } }
                writer.close("returnedTags")
            }
            return answer.child(item)
        } catch let fault as AXLFault where fault.code == 5007 {
            return nil
        }
    }

    /// The boolean fields the steps read (typed `axlapi:boolean` in AXLSoap.xsd 12.5).
    static let booleanTags: Set<String> = ["enableExtensionMobility", "enableMobility", "homeCluster", "imAndPresenceEnable",
                                           "enableUserToHostConferenceNow"]

    /// The write itself (AXL, or CUPI for a Unity Connection user), as planned: no gate, no fence
    /// (the saga's `write` holds them; the benchmark's bare client calls this directly).
    public func send(_ call: PlannedCall) async throws -> String? {
        if Self.isCUPI(call) {
            guard let cupi else { throw StepFailure("the order has no message processor") }
            let parts = call.operation.split(separator: " ", maxSplits: 1).map(String.init)
            let resource = parts[1].hasPrefix("/vmrest/") ? String(parts[1].dropFirst("/vmrest/".count)) : parts[1]
            let (path, query) = resource.firstIndex(of: "?").map { (String(resource[..<$0]), String(resource[resource.index(after: $0)...])) }
                ?? (resource, nil)
            var body: [String: String]?
            if parts[0] == "POST" { body = Dictionary(call.values.compactMap { field in field.value.text.map { (field.name, $0) } }, uniquingKeysWith: { $1 }) }
            let (_, answer) = try await cupi.exchange(parts[0] == "POST" ? .post : .delete, path, query: query, json: body)
            // The answer of a create is the new user's URI: /vmrest/users/<ObjectId>.
            let uri = String(decoding: answer, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return uri.split(separator: "/").last.map(String.init)
        }
        let answer = try await axl.exchange(call.operation, resend: false) { writer in call.values.write(to: &writer) }
        return answer.text
    }
}

extension OrderSaga {
    // MARK: images

    static func uuid(_ item: DeviceValue) -> String? { item.child("@uuid")?.text }

    /// The user's devices and primary extension, as a get returned them.
    static func associationImage(_ user: DeviceValue) -> [CallField] {
        let devices = user.child("associatedDevices")?.children("device").compactMap(\.text) ?? []
        let primary = user.child("primaryExtension")
        return [
            CallField("associatedDevices", .fields(devices.map { CallField("device", $0) })),
            CallField("primaryExtension", .fields([CallField("pattern", primary?.child("pattern")?.text ?? ""),
                                                   CallField("routePartitionName", primary?.child("routePartitionName")?.text ?? "")])),
        ]
    }

    /// A value as read, as a call writes it back (the uuids of references left out: the names say it).
    static func callValue(_ value: DeviceValue) -> CallValue {
        guard case .node(let children) = value else { return .text(value.text ?? "") }
        return .fields(children.filter { !$0.0.hasPrefix("@") }.map { CallField($0.0, callValue($0.1)) })
    }

    /// A planned value as a sync would have read it (for the inventory's JSON of an object).
    static func deviceValue(_ value: CallValue) -> DeviceValue {
        switch value {
        case .text(let text): return .text(text)
        case .fields(let fields): return .node(fields.map { ($0.name, deviceValue($0.value)) })
        }
    }

    /// Two association images alike: the same devices (in any order, without case) and primary extension.
    static func sameAssociation(_ a: [CallField], _ b: [CallField]) -> Bool {
        func devices(_ image: [CallField]) -> Set<String> {
            Set(image["associatedDevices"]?.children.compactMap { $0.value.text?.lowercased() } ?? [])
        }
        return devices(a) == devices(b) && a["primaryExtension"] == b["primaryExtension"]
    }

    /// The fields of `object` named in `planned`, shaped like it (a nested field: the children named
    /// there; a phone's lines: every appearance whole, as read).
    static func image(of object: DeviceValue, like planned: [CallField]) -> [CallField] {
        planned.map { field in
            if field.name == "lines" {
                return CallField("lines", .fields((object.child("lines")?.children("line") ?? []).map { CallField("line", callValue($0)) }))
            }
            switch field.value {
            case .text(let planned):
                // An unset boolean reads empty: it is its default, false (an empty one is no boolean to write back).
                let text = object.child(field.name)?.text ?? ""
                return CallField(field.name, text.isEmpty && ["true", "false"].contains(planned) ? "false" : text)
            case .fields(let children):
                let found = object.child(field.name)
                return CallField(field.name, .fields(children.map { CallField($0.name, found?.child($0.name)?.text ?? "") }))
            }
        }
    }
}
