import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime

/// A device's change notification (issue 13): whether it is on, its position in the device's change
/// queue, and how the last poll went.
public struct ChangeNotificationState: Sendable {
    public var device: String
    /// On, by the operator's choice or by default (Unified CM 10.0 and later).
    public var on: Bool
    /// The operator's choice; nil: the default.
    public var enabledSetting: Bool?
    /// Whether the default would be on (a Unified CM of version 10.0 or later).
    public var supported: Bool
    public var firstSyncedAt: Date?
    public var intervalSeconds: Int
    public var cacheSize: Int
    public var queueID: String?
    public var nextStartChangeID: Int64?
    public var cucmVersion: String?
    public var baselineAt: Date?
    public var backlog: Int64?
    public var lastChangeID: Int64?
    public var lastPollJob: Int64?
    public var lastPollStartedAt: Date?
    public var lastPollAt: Date?
    public var lastPollOutcome: String?
    public var lastSuccessAt: Date?
    /// Since when a full synchronization a poll queued (missed changes) is waiting to succeed, and why.
    public var resyncPendingSince: Date?
    public var resyncPendingReason: String?

    /// The position a poll starts from, once a baseline was taken.
    public var position: ChangePosition? {
        guard let queueID, let nextStartChangeID else { return nil }
        return ChangePosition(queueID: queueID, nextStartChangeID: nextStartChangeID)
    }
}

/// Where a device's change queue was read up to: its queue id and the next change id to ask for.
public struct ChangePosition: Sendable, Equatable {
    public var queueID: String
    public var nextStartChangeID: Int64

    /// The queue's start, not a change id (ids begin at 1): the baseline of a queue that was empty and
    /// answered no change id (queueInfo's ids are all optional in AXL 12.5), so the next id is unknown.
    /// The next poll asks without a start: every change then in the queue came after the baseline.
    public static let queueStart: Int64 = 0
    public var isQueueStart: Bool { nextStartChangeID == Self.queueStart }

    public init(queueID: String, nextStartChangeID: Int64) {
        self.queueID = queueID
        self.nextStartChangeID = nextStartChangeID
    }
}

/// What one batch of changes does to the inventory, applied in one transaction with the position.
public struct ChangeBatch: Sendable {
    /// Objects fetched with their `get`, by the sync kind they are kept under.
    public var upserts: [DeviceSyncKind: [DeviceObjectRow]] = [:]
    /// uuids (lower case, no braces) of objects the device removed.
    public var removedUUIDs: [String] = []
    /// Changed tags written without a get: kind, uuid (lower case, no braces), the tags as a JSON object.
    public var patches: [(kind: DeviceSyncKind, uuid: String, json: String)] = []
    /// The position the batch began at, and the one after it.
    public var from: ChangePosition
    public var to: ChangePosition
    public var lastChangeID: Int64?

    public init(from: ChangePosition, to: ChangePosition, lastChangeID: Int64?) {
        self.from = from
        self.to = to
        self.lastChangeID = lastChangeID
    }
}

/// A device whose change notification needs the operator: its backlog nears the change cache's
/// size, or no poll has succeeded for 3 intervals.
public struct ChangeNotificationAlert: Sendable {
    public var device: String
    public var backlog: Bool
    public var overdue: Bool
    public var backlogCount: Int64?
    public var cacheSize: Int
    public var intervalSeconds: Int
    public var lastSuccessAt: Date?
    public var lastOutcome: String?
}

/// Change notification's state per device (`device_change_notification`), the polls' enqueue, their
/// detailed log and the writes of a poll into `device_objects`. Every write a poll makes is fenced
/// on its attempt.
public struct ChangeNotificationStore: Sendable {
    public let connection: Connection

    /// The lines of a device's change-notification log that are kept (the newest).
    public static let logLinesKept = 2000

    public init(_ connection: Connection) {
        self.connection = connection
    }

    public func cnState(device: String) async throws -> ChangeNotificationState? {
        guard let row = try await connection.query(ChangeNotificationSQL.state, [device]).first else { return nil }
        return ChangeNotificationState(
            device: try row.decode("name"), on: try row.decode("on"), enabledSetting: try row.decodeIfPresent("enabled"),
            supported: try row.decode("supported"), firstSyncedAt: try row.decodeIfPresent("first_synced_at"),
            intervalSeconds: try row.decode("interval_seconds"), cacheSize: try row.decode("cache_size"),
            queueID: try row.decodeIfPresent("queue_id"), nextStartChangeID: try row.decodeIfPresent("next_start_change_id"),
            cucmVersion: try row.decodeIfPresent("cucm_version"), baselineAt: try row.decodeIfPresent("baseline_at"),
            backlog: try row.decodeIfPresent("backlog"), lastChangeID: try row.decodeIfPresent("last_change_id"),
            lastPollJob: try row.decodeIfPresent("last_poll_job"), lastPollStartedAt: try row.decodeIfPresent("last_poll_started_at"),
            lastPollAt: try row.decodeIfPresent("last_poll_at"), lastPollOutcome: try row.decodeIfPresent("last_poll_outcome"),
            lastSuccessAt: try row.decodeIfPresent("last_success_at"),
            resyncPendingSince: try row.decodeIfPresent("resync_pending_since"),
            resyncPendingReason: try row.decodeIfPresent("resync_pending_reason"))
    }

    /// The interval's bounds, seconds (the seed polls every 5 minutes).
    public static let intervalRange = 1...86400

    /// The operator's settings, each nil to keep it; `useDefault` puts on/off back to the default.
    /// Refused, naming the field, for an interval out of range or a device that is not a Unified CM.
    public func cnConfigure(device: String, enabled: Bool?, intervalSeconds: Int?, useDefault: Bool = false,
                            actor: String) async throws {
        if let intervalSeconds, !Self.intervalRange.contains(intervalSeconds) {
            throw InputError(field: "interval", problem: "must be from 1 second to 1 day (got \(intervalSeconds) s)")
        }
        guard let state = try await cnState(device: device) else {
            throw InputError(field: "device", problem: "no such device \(InputError.quoted(device))")
        }
        guard state.supported || enabled != true else {
            throw InputError(field: "enable", problem: "change notification needs a Unified CM of version 10.0 or later (seed)")
        }
        try await connection.transaction { session in
            try session.query(ChangeNotificationSQL.configure, [device, enabled, intervalSeconds, useDefault])
            var what: [String] = []
            if useDefault { what.append("on/off back to the default") }
            if let enabled { what.append(enabled ? "enabled" : "disabled") }
            if let intervalSeconds { what.append("interval \(intervalSeconds) s") }
            try QueueStore.InTransaction(session).auditAppend(
                actor: actor, action: "cn.configured", target: device,
                message: "Change notification of '\(device)': \(what.joined(separator: ", "))")
        }
    }

    /// Queues a poll of every device whose change notification is on and due at `now`; returns the devices.
    public func cnPollsEnqueue(actor: String, now: Date? = nil) async throws -> [String] {
        try await connection.query(ChangeNotificationSQL.pollsEnqueue, [actor, now]).map { try $0.decode("device") }
    }

    /// A poll begins: its time (the next is due an interval after it) and the log's new head.
    public func cnPollStarted(device: String, owner: QueueStore.Held, now: Date? = nil) async throws {
        try await connection.transaction { session in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            try session.query(ChangeNotificationSQL.pollStarted, [device, owner.id, now])
            try session.query(ChangeNotificationSQL.logStart, [device, owner.id])
        }
    }

    /// Lines of the device's change-notification log, written by the poll `owner`.
    public func cnLog(device: String, owner: QueueStore.Held, _ lines: [(level: String, message: String)]) async throws {
        try await connection.transaction { session in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            for line in lines { try session.query(ChangeNotificationSQL.logLine, [device, line.level, line.message]) }
        }
    }

    /// Takes a baseline (no resync: the first poll of a device, or a sync that starts before any poll).
    public func cnBaseline(device: String, position: ChangePosition, lastChangeID: Int64?, cucmVersion: String,
                           owner: QueueStore.Held, log: String) async throws {
        try await connection.transaction { session in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            try session.query(ChangeNotificationSQL.baseline,
                              [device, position.queueID, position.nextStartChangeID, lastChangeID, cucmVersion])
            try session.query(ChangeNotificationSQL.logEnsure, [device, owner.id])
            try session.query(ChangeNotificationSQL.logLine, [device, "info", log])
        }
    }

    /// Changes were missed: in one transaction, a new baseline (taken before the full sync starts, so
    /// what changes during it is replayed after), the resync marked pending (`cnResyncFollowUp`), the
    /// reason in the log and the audit trail, and an infrastructure and a user synchronization of the
    /// device queued (one of each at most). Returns the jobs of the two syncs.
    public func cnResync(device: String, position: ChangePosition, lastChangeID: Int64?, cucmVersion: String,
                         reason: String, owner: QueueStore.Held, actor: String) async throws -> [Int64] {
        try await connection.transaction { session in
            let queue = QueueStore.InTransaction(session)
            try queue.jobConfirmOwned(owner)
            try session.query(ChangeNotificationSQL.baseline,
                              [device, position.queueID, position.nextStartChangeID, lastChangeID, cucmVersion])
            try session.query(ChangeNotificationSQL.resyncMark, [device, reason])
            var jobs: [Int64] = []
            for type in [SyncType.infra, SyncType.user] {
                let (id, _) = try queue.jobEnqueue(.init(type.contract, target: device, dedupKey: type.key(target: device), actor: actor))
                jobs.append(id)
            }
            let message = "Change notification of '\(device)' missed changes (\(reason)): full synchronization queued (jobs \(jobs.map(String.init).joined(separator: ", "))), new baseline at change \(position.nextStartChangeID) of queue \(position.queueID)"
            try session.query(ChangeNotificationSQL.logEnsure, [device, owner.id])
            try session.query(ChangeNotificationSQL.logLine, [device, "warning", message])
            try queue.auditAppend(actor: actor, action: "cn.resync", jobID: owner.id, target: device, message: message)
            return jobs
        }
    }

    /// Where a pending resync stands after `cnResyncFollowUp`.
    public struct ResyncFollowUp: Sendable {
        public var since: Date
        public var reason: String
        /// Both syncs read everything since the mark: it is cleared.
        public var done: Bool
        /// The syncs queued again now (none read everything since the mark, none queued or running), by type.
        public var queued: [(type: SyncType, job: Int64)] = []
        /// The syncs queued or running already, by type.
        public var waiting: [(type: SyncType, job: Int64)] = []
    }

    /// A poll's look at the device's pending resync, if any, in one transaction fenced on `owner`:
    /// cleared once an infrastructure and a user synchronization that started after the mark have each
    /// read everything (`cnResyncSyncRead`, which clears it as the second ends); otherwise each missing
    /// one (none read everything since, none queued or running: it failed, was canceled or could not
    /// read some types) is queued again, and the log says so. Nil: no resync pending.
    public func cnResyncFollowUp(device: String, owner: QueueStore.Held, actor: String) async throws -> ResyncFollowUp? {
        try await connection.transaction { session in
            let queue = QueueStore.InTransaction(session)
            try queue.jobConfirmOwned(owner)
            guard let row = try session.query(ChangeNotificationSQL.resyncPending, [device]).first else { return nil }
            var followUp = ResyncFollowUp(since: try row.decode("since"), reason: try row.decode("reason"), done: false)
            let types = [SyncType.infra, SyncType.user]
            let read: Set<SyncType> = Set(try [(SyncType.infra, "infra_read"), (.user, "user_read")].filter { try row.decode($0.1, as: Bool.self) }.map(\.0))
            let unfinished = try queue.jobUnfinished(types: types.map(\.jobType), target: device)
            for type in types where !read.contains(type) {
                if let job = unfinished.first(where: { $0.type == type.jobType }) {
                    followUp.waiting.append((type, job.id))
                } else {
                    let (id, _) = try queue.jobEnqueue(.init(type.contract, target: device, dedupKey: type.key(target: device), actor: actor))
                    followUp.queued.append((type, id))
                }
            }
            let since = ISO8601DateFormatter().string(from: followUp.since)
            let message: String
            if followUp.queued.isEmpty && followUp.waiting.isEmpty {
                followUp.done = true
                try session.query(ChangeNotificationSQL.resyncClear, [device])
                message = "The full synchronization of '\(device)' pending since \(since) (\(followUp.reason)) has succeeded: no resync pending"
            } else {
                let parts = followUp.queued.map { "\($0.type.title) queued again (job \($0.job)): the last one failed, was canceled or could not read every type" }
                    + followUp.waiting.map { "\($0.type.title) waiting (job \($0.job))" }
                message = "Full synchronization of '\(device)' pending since \(since) (\(followUp.reason)): \(parts.joined(separator: "; "))"
            }
            try session.query(ChangeNotificationSQL.logLine, [device, followUp.queued.isEmpty ? "info" : "warning", message])
            if !followUp.queued.isEmpty {
                try queue.auditAppend(actor: actor, action: "cn.resync", jobID: owner.id, target: device, message: message)
            }
            return followUp
        }
    }

    /// The end of a device's infrastructure or user synchronization (job `job`, `kind` infra or user)
    /// that succeeded; `unread`: the types it could not read. If a resync is pending and the sync
    /// started after the mark, its log says so; one that read everything is recorded, and the mark
    /// cleared if the other kind has read everything too. Fenced on `owner`. True: it cleared the mark.
    @discardableResult
    public func cnResyncSyncRead(device: String, kind: DeviceSyncKind, job: Int64, unread: [String],
                                 owner: QueueStore.Held) async throws -> Bool {
        try await connection.transaction { session in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            guard unread.isEmpty else {
                guard let row = try session.query(ChangeNotificationSQL.resyncPending, [device]).first else { return false }
                let started = try session.query(ChangeNotificationSQL.syncStartedSince, [device, kind.rawValue, job, try row.decode("since", as: Date.self)])
                guard !started.isEmpty else { return false }
                try session.query(ChangeNotificationSQL.logEnsure, [device, job])
                try session.query(ChangeNotificationSQL.logLine, [device, "warning",
                    "The \(kind.title.lowercased()) (job \(job)) of the full synchronization pending since the missed changes (\(try row.decode("reason", as: String.self))) "
                    + "could not read \(unread.joined(separator: ", ")): still pending; the next poll queues it again"])
                return false
            }
            guard let row = try session.query(ChangeNotificationSQL.resyncRead, [device, kind.rawValue, job]).first,
                  try row.decode("both_read", as: Bool.self) else { return false }
            try session.query(ChangeNotificationSQL.resyncClear, [device])
            let since = ISO8601DateFormatter().string(from: try row.decode("since", as: Date.self))
            try session.query(ChangeNotificationSQL.logEnsure, [device, job])
            try session.query(ChangeNotificationSQL.logLine, [device, "info",
                "The full synchronization of '\(device)' pending since \(since) (\(try row.decode("reason", as: String.self))) has read everything "
                + "(the \(kind.title.lowercased()), job \(job), ended last): no resync pending"])
            return true
        }
    }

    /// A poll postponed (a write-back of a domain on the device runs): counted as a poll that read
    /// nothing, so the next is due an interval later rather than at the coordinator's next tick; its
    /// line in the log, which is trimmed as after any poll. Fenced on `owner`.
    public func cnPollPostponed(device: String, owner: QueueStore.Held, outcome: String, now: Date? = nil) async throws {
        try await connection.transaction { session in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            try session.query(ChangeNotificationSQL.pollStarted, [device, owner.id, now])
            try session.query(ChangeNotificationSQL.pollFinished, [device, owner.id, outcome, false, nil as Int64?])
            try session.query(ChangeNotificationSQL.logEnsure, [device, owner.id])
            try session.query(ChangeNotificationSQL.logLine, [device, "info", outcome])
            try session.query(ChangeNotificationSQL.logTrim, [device, Self.logLinesKept])
        }
    }

    /// What `cnApply` did.
    public struct ApplyResult: Sendable {
        public var upserted = 0
        public var inserted = 0
        public var removed = 0
        public var patched = 0
        /// Users whose records were followed (`follow`), and the records it changed.
        public var usersFollowed = 0
        public var recordsChanged = 0
        /// Seconds `follow` took.
        public var followSeconds = 0.0
        public init() {}
    }

    /// What follows the objects a batch wrote, in its transaction (the user records of the domains
    /// holding them): the users it followed, the records it changed, lines for the log.
    public typealias FollowUp = (Session) throws -> (users: Int, changed: Int, lines: [(level: String, message: String)])

    /// The database's clock now (its text, exact): taken before a page is asked for, for `cnApply`.
    public func cnNow() async throws -> String {
        try await connection.query(ChangeNotificationSQL.now).first!.decode("now")
    }

    /// A comma-separated list of uuids (`string_agg`) in column `name`; none when NULL.
    static func uuidList(_ row: Row, _ name: String) throws -> [String] {
        (try row.decodeIfPresent(name, as: String.self) ?? "").split(separator: ",").map(String.init)
    }

    /// An object of the batch the inventory holds newer than the page (an order wrote it since it was read):
    /// nothing was applied; the poll fetches these again and applies the page anew.
    public struct NewerInInventory: Error, Sendable {
        public let uuids: Set<String>
    }

    /// Applies one batch and moves the position past it, in one transaction fenced on `owner`: a poll
    /// that dies before the commit leaves the position where it was, and the next one replays the batch.
    /// `follow` runs after the objects are written, before the position moves. `readAt` (`cnNow` before
    /// the page was asked for: its changed tags and its gets are both later): an object written after it
    /// is not overwritten by the batch — the batch is refused whole with `NewerInInventory`. The objects
    /// of `refetched` (uuids) were fetched again after `refetchedAt`, which stands for them instead.
    public func cnApply(device: String, batch: ChangeBatch, owner: QueueStore.Held, readAt: String,
                        refetched: Set<String> = [], refetchedAt: String? = nil,
                        log: [(level: String, message: String)], follow: FollowUp? = nil) async throws -> ApplyResult {
        try await connection.transaction { session in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            var result = ApplyResult()
            var newer: Set<String> = []
            for kind in DeviceSyncKind.allCases {
                guard let rows = batch.upserts[kind], !rows.isEmpty else { continue }
                try session.query(DeviceObjectSQL.incomingCreate)
                try session.query(ChangeNotificationSQL.incomingClear)
                try session.copyIn(DeviceObjectSQL.incomingCopy, rows: rows.lazy.map { [$0.type, $0.key, $0.uuid, $0.attributes] })
                try session.query(ChangeNotificationSQL.renamedRemove, [device, kind.rawValue, owner.id])
                let row = try session.query(ChangeNotificationSQL.upsertUnlessNewer, [
                    device, kind.rawValue, owner.id, readAt, PostgresTextArray(refetched.sorted()), refetchedAt,
                ]).first!
                result.inserted += try row.decode("inserted") as Int
                result.upserted += try row.decode("total") as Int
                newer.formUnion(try Self.uuidList(row, "newer"))
            }
            if !batch.patches.isEmpty {
                let row = try session.query(ChangeNotificationSQL.patch, [
                    device, PostgresTextArray(batch.patches.map(\.kind.rawValue)), PostgresTextArray(batch.patches.map(\.uuid)),
                    PostgresTextArray(batch.patches.map(\.json)), owner.id, readAt,
                ]).first!
                result.patched = try row.decode("patched")
                newer.formUnion(try Self.uuidList(row, "newer"))
            }
            // Rolled back whole: the position does not move past what was not applied.
            guard newer.isEmpty else { throw NewerInInventory(uuids: newer) }
            if !batch.removedUUIDs.isEmpty {
                result.removed = try session.query(ChangeNotificationSQL.removeByUUID,
                                                   [device, PostgresTextArray(batch.removedUUIDs), owner.id]).first!.decode("removed")
            }
            var followed: [(level: String, message: String)] = []
            if let follow {
                let started = ContinuousClock.now
                let outcome = try follow(session)
                result.followSeconds = (ContinuousClock.now - started) / .seconds(1)
                result.usersFollowed = outcome.users
                result.recordsChanged = outcome.changed
                followed = outcome.lines
            }
            let moved = try session.query(ChangeNotificationSQL.advance, [
                device, batch.from.queueID, batch.from.nextStartChangeID, batch.to.nextStartChangeID, batch.lastChangeID,
            ])
            guard !moved.isEmpty else {
                throw PostgresError(kind: .decoding, message: "change notification of '\(device)': the position moved under this poll")
            }
            let lines = log + followed
            if !lines.isEmpty {
                // One statement for the page's lines (the user records' can be a few hundred).
                try session.query(ChangeNotificationSQL.logLines, [device, PostgresTextArray(lines.map(\.level)),
                                                                    PostgresTextArray(lines.map(\.message))])
            }
            return result
        }
    }

    /// Refreshes the statistics of `device_objects` once a device sync has written it, so that the
    /// polls' lookups by uuid are planned on its real size rather than on what autovacuum last saw.
    public func cnStatisticsRefresh() async throws {
        try await connection.query(ChangeNotificationSQL.statisticsRefresh)
    }

    /// Which of these uuids (lower case, no braces) the inventory holds, by uuid: the kinds and types.
    public func cnPresent(device: String, uuids: [String]) async throws -> [String: [(kind: DeviceSyncKind, type: String, key: String)]] {
        guard !uuids.isEmpty else { return [:] }
        var found: [String: [(kind: DeviceSyncKind, type: String, key: String)]] = [:]
        for row in try await connection.query(ChangeNotificationSQL.present, [device, PostgresTextArray(uuids)]) {
            guard let kind = DeviceSyncKind(rawValue: try row.decode("sync_kind")) else { continue }
            found[try row.decode("uuid"), default: []].append((kind, try row.decode("object_type"), try row.decode("object_key")))
        }
        return found
    }

    /// The end of a poll: its outcome, the backlog it found, the log's last line; fenced on `owner`.
    public func cnPollFinished(device: String, owner: QueueStore.Held, succeeded: Bool, outcome: String,
                               backlog: Int64?, counts: [String: Int]) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let countsText = String(decoding: try encoder.encode(counts), as: UTF8.self)
        try await connection.transaction { session in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            try session.query(ChangeNotificationSQL.pollFinished, [device, owner.id, outcome, succeeded, backlog])
            try session.query(ChangeNotificationSQL.logLine, [device, succeeded ? "info" : "error", outcome])
            try session.query(ChangeNotificationSQL.logFinish, [device, owner.id, succeeded ? "succeeded" : "failed", outcome, countsText])
            try session.query(ChangeNotificationSQL.logTrim, [device, Self.logLinesKept])
        }
    }

    /// The device's change-notification log: the latest poll's start, end and outcome, and the lines
    /// of the recent polls.
    public func cnLogGet(device: String) async throws -> DeviceSyncLog? {
        try await DeviceObjectStore(connection).syncLogGet(device: device, kind: "cn")
    }

    /// The devices that need an alert now (`now`: nil for the database's clock), each marked so that
    /// an episode alerts once. The caller queues the alerts in the same transaction.
    public struct InTransaction {
        let session: Session
        public init(_ session: Session) { self.session = session }

        public func cnAlertsDue(now: Date? = nil) throws -> [ChangeNotificationAlert] {
            try session.query(ChangeNotificationSQL.alertsDue, [now]).map { row in
                ChangeNotificationAlert(
                    device: try row.decode("device"), backlog: try row.decode("backlog_due"), overdue: try row.decode("overdue_due"),
                    backlogCount: try row.decodeIfPresent("backlog"), cacheSize: try row.decode("cache_size"),
                    intervalSeconds: try row.decode("interval_seconds"), lastSuccessAt: try row.decodeIfPresent("last_success_at"),
                    lastOutcome: try row.decodeIfPresent("last_poll_outcome"))
            }
        }
    }
}
