import AXL
import DeviceClients
import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime

/// Change notification (issue 13; seed 004 "Change Notification"): one poll of a Unified CM's change
/// queue (`listChange`, objectList limited to the seed's list). The first poll takes the baseline;
/// later ones read from the stored position while the answer is paged, and apply each page in id
/// order: additions and updates fetched with the type's `get` (an object changed many times in a page
/// is fetched once; changed tags written without a get where they are all the inventory keeps),
/// removals marked by uuid. The position moves only in the transaction that applied the page.
///
/// Each page's changes are followed, in its transaction, by the user records of the domains holding the
/// device (seed: "the user records are also updated to include the newly added services"): the domain
/// synchronization's statements for the users the changed objects touch only.
///
/// Any sign of missed changes (fault 5007, a start no longer in the cache, a first change id newer than
/// the position, another Unified CM version) takes a new baseline and queues a full infrastructure and
/// user synchronization of the device, with the reason in the log and the audit trail. The resync stays
/// pending until an infrastructure and a user synchronization started after it have succeeded: each
/// poll meanwhile queues again the one that failed or was canceled.
public enum ChangeNotification {
    @Sendable
    static func run(_ parameters: ChangeNotificationPoll, _ context: JobContext) async throws {
        guard let name = context.job.target else { throw DeviceJobFailure("change notification: the poll names no device") }
        try await context.database.withConnection { connection in
            try await Poll(device: name, context: context, connection: connection).run()
        }
    }

    /// Before a full synchronization of a Unified CM reads anything: the change-notification baseline,
    /// if the device has none yet, so that the first poll replays what changes during the sync. A device
    /// whose change queue cannot be read is synchronized all the same (the reason goes to its log).
    static func baselineBeforeSync(device: String, axl: AXLClient, version: String, context: JobContext,
                                   connection: Connection, log: (String, String) async throws -> Void) async throws {
        let store = ChangeNotificationStore(connection)
        guard let state = try await store.cnState(device: device), state.on, state.position == nil else { return }
        do {
            let page = try await axl.listChange(start: nil, objectList: AXLCatalog.changeNotificationObjects)
            guard let queueID = page.queueID else { return }
            let position = baselinePosition(page, queueID: queueID)
            try await store.cnBaseline(device: device, position: position,
                                       lastChangeID: page.lastChangeID, cucmVersion: version,
                                       owner: .init(id: context.job.id, attempt: context.job.attempt),
                                       log: "Baseline taken by synchronization job \(context.job.id) before it read: queue \(queueID), \(described(position)) (Unified CM \(version))")
            try await log("info", "Change notification: baseline taken before reading (queue \(queueID), \(described(position)))")
        } catch let error where !(error is JobLostError) && !(error is JobCanceledError) {
            try await log("warning", "Change notification: no baseline taken (\(DeviceJobFailure.reason(error, withOperation: true))); the first poll takes it")
        }
    }

    /// Where a baseline's answer puts the position: after its newest change (else at its next start);
    /// at the queue's start when it numbers nothing. Unified CM's queueInfo ids are all optional (AXL
    /// 12.5) and an empty cache has no oldest or newest change; its next id is not documented (the ids
    /// of a queue need not begin at 1), so a guessed 1 could make the next poll find the first change id
    /// newer than asked and resync for nothing.
    static func baselinePosition(_ page: AXLChangePage, queueID: String) -> ChangePosition {
        if let last = page.lastChangeID { return ChangePosition(queueID: queueID, nextStartChangeID: last + 1) }
        if let next = page.nextStartChangeID { return ChangePosition(queueID: queueID, nextStartChangeID: next) }
        return ChangePosition(queueID: queueID, nextStartChangeID: ChangePosition.queueStart)
    }

    /// "next change 12", or "from the queue's start" (`ChangePosition.queueStart`), for the log.
    static func described(_ position: ChangePosition) -> String {
        position.isQueueStart ? "from the queue's start (it was empty and numbered no change)" : "next change \(position.nextStartChangeID)"
    }

    /// One page from `position`; from the queue's start it is asked without a start, as the first call is.
    static func listChange(_ axl: AXLClient, from position: ChangePosition) async throws -> AXLChangePage {
        try await axl.listChange(start: position.isQueueStart ? nil : (position.queueID, position.nextStartChangeID),
                                 objectList: AXLCatalog.changeNotificationObjects)
    }

    /// uuids are compared without braces and case (the change feed and the lists may spell them apart).
    static func normalized(_ uuid: String) -> String {
        uuid.trimmingCharacters(in: CharacterSet(charactersIn: "{}")).lowercased()
    }

    /// Whether a listChange fault says changes were missed: 5007 (the queue id no longer matches: the
    /// AXL service restarted), or a fault about the start change id or the queue (an id evicted from
    /// the cache; its code is not documented, orders brief §C). Any other fault — a busy Unified CM
    /// among them — is not: the poll fails, and the next one asks from the same position.
    static func saysChangesMissed(_ fault: AXLFault) -> Bool {
        fault.code == 5007
            || ["startChangeId", "queueId", "change id", "change cache"].contains { fault.message.localizedCaseInsensitiveContains($0) }
    }

    /// Why a poll found changes missed, in the words of the log and the audit trail.
    struct MissedChanges: Error {
        let reason: String
    }
}

/// One poll of one device.
private final class Poll: @unchecked Sendable {
    let device: String
    let context: JobContext
    let connection: Connection
    let store: ChangeNotificationStore
    /// Changes read, by type and action (`Phone`: `a` 2, `u` 5 …), for the log and the counts.
    var counts: [String: [String: Int]] = [:]
    var gets = 0
    var applied = ChangeNotificationStore.ApplyResult()
    var ignoredTypes: Set<String> = []
    /// Where the poll's time went, seconds: connecting (device, version), listChange, gets, database.
    var timing: [String: Double] = [:]
    /// The domains whose user records follow this device's changes (read when the poll starts).
    var recordDomains: [DomainSynchronization.Settings] = []

    /// Runs `body`, adding its time to `phase` (and to `detail`, a part of it the outcome names).
    func timed<T>(_ phase: String, detail: String? = nil, _ body: () async throws -> T) async rethrows -> T {
        let started = ContinuousClock.now
        defer {
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            timing[phase, default: 0] += seconds
            if let detail { timing[detail, default: 0] += seconds }
        }
        return try await body()
    }

    init(device: String, context: JobContext, connection: Connection) {
        self.device = device
        self.context = context
        self.connection = connection
        store = ChangeNotificationStore(connection)
    }

    var owner: QueueStore.Held { .init(id: context.job.id, attempt: context.job.attempt) }

    /// When the handler began: the outcome gives the poll's whole time beside its phases.
    let began = ContinuousClock.now

    func run() async throws {
        guard let state = try await store.cnState(device: device) else {
            throw DeviceJobFailure("device '\(device)': no such device")
        }
        guard state.on else {
            try await context.log("change notification of '\(device)' is off: nothing polled")
            return
        }
        // Seed 004: no write-back to LDAP during change notification. A write-back checks for a
        // running poll when it starts; a poll that starts during one waits for the next interval (its
        // position does not move, so nothing is missed).
        let domains = try await DomainStore(connection).domainsOfCallProcessor(device)
        if let writeBack = try await QueueStore(connection).jobUnfinished(types: [WriteBackRun.jobType], targets: domains, runningOnly: true).first {
            // Counted as a poll, so that the next comes an interval later (not at every coordinator tick).
            let outcome = "Change notification of '\(device)' postponed: the write back to LDAP of domain '\(writeBack.target ?? "?")' "
                + "(job \(writeBack.id)) is running; the next poll reads the changes"
            try await store.cnPollPostponed(device: device, owner: owner, outcome: outcome)
            try await context.log(outcome)
            return
        }
        try await store.cnPollStarted(device: device, owner: owner)
        try await log("info", "Change notification of '\(device)' started (job \(context.job.id))")
        var backlog: Int64?
        let outcome: String
        do {
            if state.resyncPendingSince != nil { try await followPendingResync() }  // else nothing to follow: no transaction
            let axl = try await timed("connect") {
                try await DeviceConnections.open(name: device, connection: connection, concurrency: 4).keptAXL(context: context)
            }
            // The version and the first page are asked at once, while the database reads the domains
            // (wall time the longest of them, not their sum). The page is used only once the version is
            // known to be the baseline's: another version resyncs and the page is dropped unread.
            // Before the first page is asked for: its changes are applied only over what is older (`apply`).
            let firstReadAt = try await timed("database", detail: "present") { try await store.cnNow() }
            async let versionAnswer = Self.measured { try await axl.ccmVersion() }
            async let firstPage = prefetch(state, axl: axl)
            try await timed("database", detail: "domains") { try await readRecordDomains(domains) }
            let (version, versionSeconds) = try await versionAnswer.get()
            timing["connect", default: 0] += versionSeconds
            backlog = try await poll(state, axl: axl, version: version, firstPage: await firstPage.map { ($0, firstReadAt) })
            outcome = "Completed. " + summary()
            try await store.cnPollFinished(device: device, owner: owner, succeeded: true, outcome: outcome, backlog: backlog,
                                           counts: flatCounts())
        } catch {
            let canceled = (try? context.checkCancellation()) == nil
            let message = canceled ? "Canceled." : "Failed: \(DeviceJobFailure.reason(error, withOperation: true))"
            try? await store.cnPollFinished(device: device, owner: owner, succeeded: false, outcome: message, backlog: backlog,
                                            counts: flatCounts())
            try context.checkCancellation()
            if let failure = error as? DeviceJobFailure { throw failure }
            throw DeviceJobFailure("change notification of '\(device)' failed: \(DeviceJobFailure.reason(error, withOperation: true))")
        }
        // Outside the catch: a cancel noticed here comes after the poll applied and recorded its changes,
        // so the poll's outcome stays "Completed" (the job still ends canceled, as asked).
        try await context.progress(done: Int64(totalChanges), total: Int64(totalChanges), message: outcome)
    }

    /// What an AXL request answered (or threw), and how long it took.
    typealias Answer<T> = Result<(T, Double), any Error>

    static func measured<T: Sendable>(_ body: () async throws -> T) async -> Answer<T> {
        let started = ContinuousClock.now
        do {
            let value = try await body()
            return .success((value, (ContinuousClock.now - started) / .seconds(1)))
        } catch {
            return .failure(error)
        }
    }

    /// The first page from the stored position, asked beside the version; nil without a position.
    func prefetch(_ state: ChangeNotificationState, axl: AXLClient) async -> Answer<AXLChangePage>? {
        guard let position = state.position else { return nil }
        return await Self.measured { try await ChangeNotification.listChange(axl, from: position) }
    }

    /// The domains holding the device's users, with their rules; one without a required rule is left
    /// out (a domain synchronization would refuse it), the reason in the log.
    func readRecordDomains(_ domains: [String]) async throws {
        for domain in domains {
            do {
                recordDomains.append(try await DomainSynchronization.Settings.read(domain: domain, database: connection))
            } catch let error as InputError {
                try await log("warning", "User records of domain '\(domain)' do not follow the changes: \(error.problem)")
            }
        }
    }

    /// Reads and applies every change since the position; returns the backlog found at the start.
    /// `firstPage`: the first page, asked for after `readAt` (`cnNow`).
    func poll(_ state: ChangeNotificationState, axl: AXLClient, version: String,
              firstPage: (answer: Answer<AXLChangePage>, readAt: String)?) async throws -> Int64? {
        guard var position = state.position else {
            // Synchronized without a baseline (before change notification was on, or the sync could not
            // take one): what changed since that sync is unknown, so it is read again in full.
            let reason = state.firstSyncedAt == nil ? nil
                : "no baseline was taken before the device's last full synchronization: changes since it are unknown"
            try await baseline(axl: axl, version: version, reason: reason)
            if let reason { resyncReason = reason }
            return 0
        }
        if let known = state.cucmVersion, known != version {
            try await resync(axl: axl, version: version,
                             reason: "the Unified CM version changed from \(known) to \(version): an upgrade; seed: after upgrading, synchronize again")
            return nil
        }
        var backlog: Int64?
        var pages = 0
        var prefetched = firstPage
        while true {
            try context.checkCancellation()
            let page: AXLChangePage
            let readAt: String
            do {
                if let first = prefetched {
                    prefetched = nil
                    let seconds: Double
                    readAt = first.readAt
                    (page, seconds) = try first.answer.get()
                    timing["listChange", default: 0] += seconds
                } else {
                    readAt = try await timed("database", detail: "present") { try await store.cnNow() }
                    page = try await timed("listChange") { try await ChangeNotification.listChange(axl, from: position) }
                }
            } catch let fault as AXLFault where ChangeNotification.saysChangesMissed(fault) {
                let restarted = fault.message.localizedCaseInsensitiveContains("queueId")
                let reason = restarted
                    ? "fault \(fault.code): \(fault.message) (queue \(position.queueID): the AXL service restarted)"
                    : "fault \(fault.code) for start change id \(position.nextStartChangeID): \(fault.message) (no longer in the change cache)"
                try await resync(axl: axl, version: version, reason: reason)
                return backlog
            }
            // Any other fault (or error) fails the poll: the next one asks again from the same position.
            if let queueID = page.queueID, queueID != position.queueID {
                try await resync(axl: axl, version: version,
                                 reason: "the change queue id changed from \(position.queueID) to \(queueID): the AXL service restarted")
                return backlog
            }
            if pages == 0, !position.isQueueStart, let first = page.firstChangeID, first > position.nextStartChangeID {
                try await resync(axl: axl, version: version,
                                 reason: "the first change id in the cache (\(first)) is newer than the position asked for (\(position.nextStartChangeID)): changes were evicted unread")
                return backlog
            }
            // From the queue's start every change in the cache came after the baseline, unless the cache
            // filled since: then the oldest may have been evicted.
            if position.isQueueStart, let first = page.firstChangeID, let last = page.lastChangeID, last - first + 1 >= Int64(state.cacheSize) {
                try await resync(axl: axl, version: version,
                                 reason: "the change queue was empty at the baseline and holds \(last - first + 1) changes now, as many as its cache keeps (\(state.cacheSize)): changes may have been evicted unread")
                return backlog
            }
            if backlog == nil, let last = page.lastChangeID {
                backlog = max(0, last - (position.isQueueStart ? page.firstChangeID ?? 1 : position.nextStartChangeID) + 1)
            }
            guard let next = page.nextStartChangeID else {
                // An empty queue may answer no change id at all: nothing to read, the position stays.
                guard page.changes.isEmpty else { throw DeviceJobFailure("listChange answered changes without queueInfo/nextStartChangeId") }
                return backlog ?? 0
            }
            let to = ChangePosition(queueID: position.queueID, nextStartChangeID: max(next, position.nextStartChangeID))
            try await apply(page.changes, from: position, to: to, lastChangeID: page.lastChangeID, readAt: readAt, axl: axl)
            let advanced = to.nextStartChangeID > position.nextStartChangeID
            position = to
            pages += 1
            // Paged: ask again at once (a page that moved nothing on ends the poll rather than loop).
            guard page.isPaged, advanced else { break }
        }
        return backlog
    }

    /// The baseline: the queue's id and the change after its newest, so that the next poll reads what
    /// changes from now on. Taken before any full synchronization it goes with.
    func baseline(axl: AXLClient, version: String, reason: String?) async throws {
        let page = try await axl.listChange(start: nil, objectList: AXLCatalog.changeNotificationObjects)
        guard let queueID = page.queueID else {
            throw DeviceJobFailure("listChange answered without queueInfo/queueId: cannot take a baseline")
        }
        let position = ChangeNotification.baselinePosition(page, queueID: queueID)
        if let reason {
            let jobs = try await store.cnResync(device: device, position: position, lastChangeID: page.lastChangeID,
                                                cucmVersion: version, reason: reason, owner: owner, actor: "job \(context.job.id)")
            try await context.log("missed changes (\(reason)): full synchronization queued (jobs \(jobs.map(String.init).joined(separator: ", ")))",
                                  level: .warning)
        } else {
            try await store.cnBaseline(device: device, position: position, lastChangeID: page.lastChangeID, cucmVersion: version,
                                       owner: owner, log: "Baseline taken: queue \(queueID), \(ChangeNotification.described(position)) (Unified CM \(version))")
        }
    }

    /// A resync queued by an earlier poll that has not succeeded yet: the syncs that failed or were
    /// canceled are queued again (the store's rule), said in the job's log; cleared once both succeeded.
    func followPendingResync() async throws {
        guard let pending = try await store.cnResyncFollowUp(device: device, owner: owner, actor: "job \(context.job.id)") else { return }
        if pending.done {
            try await context.log("the full synchronization pending since the missed changes (\(pending.reason)) has succeeded")
        } else if !pending.queued.isEmpty {
            resyncReason = "pending since the earlier poll (\(pending.reason)); queued again: "
                + pending.queued.map { "\($0.type.title) (job \($0.job))" }.joined(separator: ", ")
            try await context.log("missed changes (\(pending.reason)): the full synchronization failed or was canceled; queued again (jobs "
                                  + pending.queued.map { String($0.job) }.joined(separator: ", ") + ")", level: .warning)
        }
    }

    func resync(axl: AXLClient, version: String, reason: String) async throws {
        try await baseline(axl: axl, version: version, reason: reason)
        resyncReason = reason
    }

    var resyncReason: String?

    // MARK: applying a page

    /// What the changes of one page leave to do for one object, in id order.
    enum Pending {
        case fetch
        case remove
        /// Changed tags only (doGet false): the new values, the latest last.
        case patch([AXLChange.ChangedTag])
    }

    /// `readAt` (`cnNow` before the page was asked for): the page's changed tags, and its gets, are
    /// newer than nothing written after it — an order's write to one of its objects after it is kept,
    /// and the object fetched again. (A stamp taken after listChange let a changed tag overwrite an
    /// order's newer write until the order's own change came in on a later page or poll.)
    func apply(_ changes: [AXLChange], from: ChangePosition, to: ChangePosition, lastChangeID: Int64?, readAt: String,
               axl: AXLClient) async throws {
        var order: [String] = []
        var pending: [String: (type: String, work: Pending)] = [:]
        for change in changes.sorted(by: { $0.id < $1.id }) {
            counts[change.type, default: [:]][change.action, default: 0] += 1
            guard AXLCatalog.changeTarget(change.type) != nil else {
                ignoredTypes.insert(change.type)
                continue
            }
            let uuid = ChangeNotification.normalized(change.uuid)
            let previous = pending[uuid]?.work
            if previous == nil { order.append(uuid) }
            let work: Pending
            switch (change.action, previous) {
            case ("r", _): work = .remove
            case ("u", .patch(let tags)) where !change.doGet: work = .patch(tags + change.changedTags)
            case ("u", nil) where !change.doGet: work = .patch(change.changedTags)
            default: work = .fetch
            }
            pending[uuid] = (change.type, work)
        }
        var batch = ChangeBatch(from: from, to: to, lastChangeID: lastChangeID)
        // The gets of the objects that need one whatever the inventory holds (added, doGet) go out at
        // once, while the database says which patches it can take.
        var fetches: [(uuid: String, type: String)] = order.compactMap { uuid in
            guard let (type, work) = pending[uuid], case .fetch = work, AXLCatalog.changeTarget(type) != nil else { return nil }
            return (uuid, type)
        }
        let getsStarted = ContinuousClock.now
        async let fetchedFirst = Self.measured { [fetches] in try await self.fetch(fetches, axl: axl) }
        // Patches only for objects the inventory holds under every kind that keeps the type; else a get.
        let patchable = order.filter { uuid in if case .patch = pending[uuid]?.work { return true } else { return false } }
        let present = try await timed("database", detail: "present") { try await store.cnPresent(device: device, uuids: patchable) }
        let keepAnalog = try await timed("database", detail: "present") {
            try await SettingsStore(connection).settingGet(DeviceSync.analogPhoneSetting, as: Bool.self) ?? false
        }
        var refetches: [(uuid: String, type: String)] = []
        for uuid in order {
            guard let (type, work) = pending[uuid], let target = AXLCatalog.changeTarget(type) else { continue }
            switch work {
            case .remove:
                batch.removedUUIDs.append(uuid)
            case .fetch:
                continue
            case .patch(let tags):
                let heldKinds = Set((present[uuid] ?? []).map(\.kind))
                let keyChanged = target.kept.contains { kept in tags.contains { kept.keyTags.contains($0.name) || kept.getTags.contains($0.name) } }
                guard !keyChanged, target.kept.allSatisfy({ heldKinds.contains(DeviceSyncKind(rawValue: $0.sync.rawValue) ?? .infra) }) else {
                    refetches.append((uuid, type))
                    continue
                }
                for kept in target.kept {
                    var fields: [(String, DeviceValue)] = []
                    for tag in tags where kept.returnedTags.contains(tag.name) {
                        fields.removeAll { $0.0 == tag.name }
                        fields.append((tag.name, .text(tag.value)))
                    }
                    guard !fields.isEmpty else { continue }
                    batch.patches.append((DeviceSyncKind(rawValue: kept.sync.rawValue) ?? .infra, uuid, DeviceItem(uuid: nil, fields: fields).json))
                }
            }
        }
        let fetchedMore = try await fetch(refetches, axl: axl)
        let fetched = try await fetchedFirst.get().0 + fetchedMore
        timing["gets", default: 0] += (ContinuousClock.now - getsStarted) / .seconds(1)
        fetches += refetches
        gets += fetches.count
        func add(_ fetched: [(String, DeviceItem?)], to batch: inout ChangeBatch) {
            for (uuid, item) in fetched {
                guard let type = pending[uuid]?.type, let target = AXLCatalog.changeTarget(type) else { continue }
                guard let item else {
                    // Gone between the change and the get: removed.
                    batch.removedUUIDs.append(uuid)
                    continue
                }
                for kept in target.kept {
                    if kept.inventoryType == "Phone", !keepAnalog, DeviceSync.isAnalogPhone(item) { continue }
                    let tags = Set(kept.returnedTags + kept.getTags)
                    let projected = DeviceItem(uuid: item.uuid, fields: item.fields.filter { tags.contains($0.0) })
                    let kind = DeviceSyncKind(rawValue: kept.sync.rawValue) ?? .infra
                    batch.upserts[kind, default: []].append(
                        DeviceObjectRow(type: kept.inventoryType, key: projected.key(kept.keyTags), uuid: item.uuid ?? uuid,
                                        attributes: projected.json))
                }
            }
        }
        add(fetched, to: &batch)
        let firstID = from.isQueueStart ? changes.map(\.id).min() ?? to.nextStartChangeID : from.nextStartChangeID
        let line = "Applied changes \(firstID)…\(to.nextStartChangeID - 1): \(changes.count) read, \(fetches.count) fetched, \(batch.patches.count) patched without a get, \(batch.removedUUIDs.count) removed"
        var log: [(level: String, message: String)] = changes.isEmpty ? [] : [("info", line)]
        let started = ContinuousClock.now
        var result = ChangeNotificationStore.ApplyResult()
        var rounds = 0
        // The objects fetched again after an order wrote them, and when (each round fetches all of them again).
        var refetched: Set<String> = []
        var refetchedAt: String?
        while true {
            do {
                result = try await store.cnApply(device: device, batch: batch, owner: owner, readAt: readAt,
                                                 refetched: refetched, refetchedAt: refetchedAt, log: log,
                                                 follow: followUserRecords(changed: order))
                break
            } catch let newer as ChangeNotificationStore.NewerInInventory {
                // An order wrote some of these objects after the page was asked for (its own writes, or
                // after them): applying the page's tags or gets would take the inventory and the user
                // records back to before it. They are fetched again — now after what the order wrote —
                // and the page applied anew.
                rounds += 1
                guard rounds <= 3 else {
                    throw DeviceJobFailure("change notification of '\(device)': \(newer.uuids.count) objects were written in the inventory again "
                                           + "while the page was applied, three times; the next poll applies the page")
                }
                refetched.formUnion(newer.uuids)
                refetchedAt = try await store.cnNow()
                let again = refetched.sorted().compactMap { uuid in pending[uuid].map { (uuid: uuid, type: $0.type) } }
                let fetchedAgain = try await fetch(again, axl: axl)
                gets += again.count
                for kind in Array(batch.upserts.keys) {
                    batch.upserts[kind]?.removeAll { refetched.contains(ChangeNotification.normalized($0.uuid ?? "")) }
                }
                batch.patches.removeAll { refetched.contains($0.uuid) }
                add(fetchedAgain, to: &batch)
                log.append(("info", "Fetched \(again.count) objects again: an order wrote them in the inventory after the page was asked for"))
            }
        }
        let elapsed = (ContinuousClock.now - started) / .seconds(1)
        timing["records", default: 0] += result.followSeconds
        timing["database", default: 0] += elapsed - result.followSeconds
        timing["apply", default: 0] += elapsed - result.followSeconds
        applied.upserted += result.upserted
        applied.inserted += result.inserted
        applied.removed += result.removed
        applied.patched += result.patched
        applied.usersFollowed += result.usersFollowed
        applied.recordsChanged += result.recordsChanged
        try await context.progress(done: Int64(totalChanges), total: nil, message: "applied changes up to \(to.nextStartChangeID - 1)")
    }

    /// The user records the changed objects (uuids) touch, brought to what the device holds now in
    /// every domain holding the device's users: run in the transaction that applies the page.
    func followUserRecords(changed uuids: [String]) -> ChangeNotificationStore.FollowUp? {
        guard !uuids.isEmpty, !recordDomains.isEmpty else { return nil }
        let device = device, domains = recordDomains
        return { session in
            let keys = try DomainSyncStore.InTransaction(session).domainSyncAffectedUsers(device: device, uuids: uuids)
            guard !keys.isEmpty else { return (0, 0, []) }
            var changed = 0
            var lines: [(level: String, message: String)] = []
            for settings in domains {
                let (result, logged) = try DomainSynchronization.followUsers(session, settings: settings, userKeys: keys)
                let written = result.usersCreated + result.usersUpdated + result.servicesAdded + result.servicesChanged + result.servicesRemoved
                changed += written
                lines.append(("info", "User records of domain '\(settings.domain)': \(keys.count) users followed, \(result.plan.users) of them in the domain: "
                    + "users \(result.usersCreated) created, \(result.usersUpdated) updated; services \(result.servicesAdded) added, "
                    + "\(result.servicesChanged) updated, \(result.servicesRemoved) removed, \(result.servicesUnplaced) unplaced"))
                lines += logged.map { ("info", $0) }
            }
            return (keys.count, changed, lines)
        }
    }

    /// The `get` of each object, several in flight (the client's lanes bound them); nil for one gone.
    func fetch(_ objects: [(uuid: String, type: String)], axl: AXLClient) async throws -> [(String, DeviceItem?)] {
        guard !objects.isEmpty else { return [] }
        return try await withThrowingTaskGroup(of: (String, DeviceItem?).self) { group in
            var results: [(String, DeviceItem?)] = []
            var inFlight = 0
            for object in objects {
                guard let target = AXLCatalog.changeTarget(object.type) else { continue }
                if inFlight >= axl.endpoint.concurrency, let result = try await group.next() {
                    results.append(result)
                    inFlight -= 1
                }
                group.addTask {
                    // The feed's uuid, braced as AXL writes them.
                    let braced = "{" + object.uuid.uppercased() + "}"
                    return (object.uuid, try await axl.get(target.fetch, uuid: braced)?.item)
                }
                inFlight += 1
            }
            for try await result in group { results.append(result) }
            return results
        }
    }

    // MARK: the log

    var totalChanges: Int { counts.values.flatMap(\.values).reduce(0, +) }

    func flatCounts() -> [String: Int] {
        var flat: [String: Int] = [:]
        for (type, actions) in counts { for (action, count) in actions { flat["\(type).\(action)"] = count } }
        return flat
    }

    /// "12 changes (Phone: 2 added, 1 updated; User: 1 removed); 3 objects fetched …".
    func summary() -> String {
        let names = ["a": "added", "u": "updated", "r": "removed"]
        let byType = counts.keys.sorted().map { type in
            let actions = ["a", "u", "r"].compactMap { action in counts[type]?[action].map { "\($0) \(names[action]!)" } }
            return "\(type): \(actions.joined(separator: ", "))"
        }
        var text = "\(totalChanges) changes"
        if !byType.isEmpty { text += " (\(byType.joined(separator: "; ")))" }
        text += "; \(gets) fetched, \(applied.upserted) stored (\(applied.inserted) new), \(applied.patched) updated from changed tags, \(applied.removed) marked removed"
        if !recordDomains.isEmpty {
            text += "; user records: \(applied.usersFollowed) users followed, \(applied.recordsChanged) changes"
        }
        if !ignoredTypes.isEmpty { text += "; not kept in the inventory: \(ignoredTypes.sorted().joined(separator: ", "))" }
        if let resyncReason { text += ". Full synchronization queued: \(resyncReason)" }
        func ms(_ phase: String) -> Int { Int((timing[phase] ?? 0) * 1000) }
        var phases = ["connect", "listChange", "gets", "database", "records"].map { "\($0) \(ms($0)) ms" }
        phases[3] += " (domains \(ms("domains")), lookups \(ms("present")), applying \(ms("apply")))"
        let total = Int((ContinuousClock.now - began) / .milliseconds(1))
        return text + ". Timing: " + phases.joined(separator: ", ") + " (overlapping); in all \(total) ms"
    }

    func log(_ level: String, _ message: String) async throws {
        try await store.cnLog(device: device, owner: owner, [(level, message)])
        try await context.log(message, level: level == "error" ? .error : level == "warning" ? .warning : .info)
    }
}
