import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime

/// A job asked for by its type and payload (`ucp submit job`, the low-level form of every submit): its
/// target is what the type's contract says it names — a device or a domain, given with `--target` or as
/// the payload's field of that name — and is checked against the inventory and keyed as the typed
/// submission of the same job does it (a sync as `SyncSubmission`, a poll as the coordinator), so no
/// device sync goes out without its device (migration 023's one-sync-per-device index does not hold
/// for a NULL target) and no second one of a target is queued.
public struct JobSubmission: Sendable {
    public var params: QueueStore.EnqueueParams
    public var targetKind: JobTargetKind

    /// Checks every field before anything is read or written; `target` is the `--target` option.
    public init(contract: any JobParameters.Type, payload: String, target: String?, priority: Int, runAt: Date?,
                key: String?, actor: String) throws {
        let object = try Self.payloadObject(payload)
        _ = try contract.decode(payload: payload)
        guard (-32768...32767).contains(priority) else {
            throw InputError(field: "priority", problem: "must be from -32768 to 32767 (got \(priority))")
        }
        if let key, key.isEmpty || key.count > 200 {
            throw InputError(field: "key", problem: "must be 1 to 200 characters")
        }
        if contract.jobType == WriteBackRun.jobType {
            // Its refusals (write-back attribute, directory, busy syncs) are the Orders module's.
            throw InputError(field: "job type", problem: "\(WriteBackRun.jobType) is queued by `ucp domain write-back DOMAIN`, which checks the domain first")
        }
        let target = try Self.target(of: contract, payload: object, option: target)
        params = QueueStore.EnqueueParams(contract, target: target, payload: payload, priority: priority, runAt: runAt,
                                          dedupKey: try Self.dedupKey(of: contract, payload: payload, target: target, option: key),
                                          actor: actor)
        targetKind = contract.targetKind
    }

    /// The de-duplication key: a sync's own (`SyncSubmission.ownKey`, as `submit sync` queues it) and a
    /// poll's (the coordinator's), so that no second one of the target is queued beside it whichever
    /// way it was submitted — a `--key` other than that one is refused; `--key` for any other job.
    static func dedupKey(of contract: any JobParameters.Type, payload: String, target: String?, option: String?) throws -> String? {
        let own: String?
        if let sync = contract as? any SyncParameters.Type, let target {
            own = SyncSubmission.ownKey(try sync.decode(payload: payload), target: target)
        } else if contract == ChangeNotificationPoll.self, let target {
            own = ChangeNotificationPoll.dedupKey(device: target)
        } else {
            own = nil
        }
        guard let own else { return option }
        if let option, option != own {
            throw InputError(field: "key", problem: "a \(contract.jobType) job's key is its own, \(InputError.quoted(own)) (give none)")
        }
        return own
    }

    /// The target: for a job of a device or a domain, `--target` or the payload's `device` (`domain`)
    /// field — required, and the two must agree; otherwise `--target` as given, if any.
    static func target(of contract: any JobParameters.Type, payload: [String: Any], option: String?) throws -> String? {
        let field = contract.targetKind.rawValue
        guard contract.targetKind != .other else {
            if let option { try DeviceValidation.name(option, field: "target") }
            return option
        }
        var named: String?
        if let value = payload[field] {
            guard let text = value as? String else { throw InputError(field: "payload", problem: "field '\(field)': must be a \(field) name (a string)") }
            named = text
        }
        if let option, let named, option != named {
            throw InputError(field: "target", problem: "\(InputError.quoted(option)) disagrees with the payload's \(field) \(InputError.quoted(named)); give the \(field) once")
        }
        guard let name = option ?? named else {
            throw InputError(field: "target", problem: "a \(contract.jobType) job acts on a \(field): give --target NAME (or \"\(field)\" in the payload)")
        }
        try DeviceValidation.name(name, field: field)
        return name
    }

    /// The payload as a JSON object, refused with the reason: not JSON (a number out of a double's
    /// range says so), not an object, or a string holding NUL, which PostgreSQL's jsonb cannot store.
    static func payloadObject(_ payload: String) throws -> [String: Any] {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(payload.utf8))
        } catch {
            let reason = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "cannot be parsed"
            if reason.hasPrefix("Number "), let number = reason.split(separator: " ").dropFirst().first, reason.contains("not representable") {
                throw InputError(field: "payload", problem: "the number \(InputError.quoted(String(number))) is out of range (at most about 1.8e308 either way)")
            }
            throw InputError(field: "payload", problem: "is not JSON: \(reason.hasSuffix(".") ? String(reason.dropLast()) : reason)")
        }
        guard let object = parsed as? [String: Any] else {
            throw InputError(field: "payload", problem: "must be a JSON object, e.g. '{\"seconds\": 2}'")
        }
        if let path = Self.pathOfNUL(in: object, path: []) {
            let place = path.isEmpty ? "" : "field '\(path.joined(separator: "."))': "
            throw InputError(field: "payload", problem: "\(place)must not contain the NUL character (\\u0000)")
        }
        return object
    }

    /// Where the first string or key holding NUL is (its keys and indexes), or nil.
    static func pathOfNUL(in value: Any, path: [String]) -> [String]? {
        switch value {
        case let text as String:
            return text.unicodeScalars.contains("\u{0}") ? path : nil
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                if key.unicodeScalars.contains("\u{0}") { return path + [InputError.escaped(key)] }
                if let found = pathOfNUL(in: object[key]!, path: path + [InputError.escaped(key)]) { return found }
            }
            return nil
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                if let found = pathOfNUL(in: element, path: path + [String(index)]) { return found }
            }
            return nil
        default:
            return nil
        }
    }

    /// Checks the inventory and queues the job: a sync's checks and locks are `SyncSubmission`'s (the
    /// device or domain exists, no write back in the way, a domain sync can place someone), made as
    /// `submit sync` makes them; a poll's are the coordinator's (`checkPoll`); another job of a device
    /// or a domain needs it to exist (else it would only fail on a worker).
    public func enqueue(_ connection: Connection) async throws -> (id: Int64, created: Bool) {
        if let target = params.target, let syncType = SyncType(jobType: params.type) {
            return try await SyncSubmission.submitting(syncType, target: target, connection: connection) { refusal in
                if let refusal { throw refusal }
                return try await QueueStore(connection).jobEnqueue(params)
            }
        }
        if let target = params.target {
            if params.type == ChangeNotificationPoll.jobType {
                try await Self.checkPoll(device: target, connection)
            } else {
                try await Self.checkExists(targetKind, target: target, connection)
            }
        }
        return try await QueueStore(connection).jobEnqueue(params)
    }

    /// A poll of change notification is queued by hand under the coordinator's rules
    /// (`ucp_cn_polls_enqueue`, migration 023), but for the interval: a Unified CM of version 10.0 or
    /// later whose change notification is on (`ucp_cn_on`, as `ucp device cn` shows it), synchronized
    /// once (a poll follows what a synchronization read), with no poll of it running — one queued is
    /// the one the key finds (`dedupKey`).
    static func checkPoll(device: String, _ connection: Connection) async throws {
        guard let state = try await ChangeNotificationStore(connection).cnState(device: device) else { throw DeviceStore.noSuchDevice(device) }
        let field = "device '\(device)'"
        guard state.supported else {
            throw InputError(field: field, problem: "change notification needs a Unified CM of version 10.0 or later (seed)")
        }
        guard state.on else {
            throw InputError(field: field, problem: "its change notification is off (ucp device cn \(device) --enable)")
        }
        guard state.firstSyncedAt != nil else {
            throw InputError(field: field, problem: "has not been synchronized yet: change notification follows what a synchronization read "
                             + "(ucp submit sync infra|user --device \(device))")
        }
        if let running = try await QueueStore(connection).jobUnfinished(types: [ChangeNotificationPoll.jobType], targets: [device],
                                                                         runningOnly: true).first {
            throw InputError(field: field, problem: "a poll of its change notification (job \(running.id)) is \(running.state.rawValue); "
                             + "the next is queued once it has ended")
        }
    }

    /// The device or domain a job acts on is in the inventory.
    static func checkExists(_ kind: JobTargetKind, target: String, _ connection: Connection) async throws {
        switch kind {
        case .device:
            guard try await DeviceStore(connection).deviceGet(name: target) != nil else { throw DeviceStore.noSuchDevice(target) }
        case .domain:
            guard try await DomainStore(connection).domain(named: target) != nil else { throw DomainStore.noSuchDomain(target) }
        case .other:
            return
        }
    }
}
