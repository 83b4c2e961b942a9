import Foundation
import Postgres
import Queue

/// Which synchronization read an object: infrastructure or user (seed 004).
public enum DeviceSyncKind: String, Sendable, CaseIterable, Codable {
    case infra, user

    public var title: String { self == .infra ? "Infrastructure synchronization" : "User synchronization" }
}

/// One object read from a device, as a sync hands it to the inventory.
public struct DeviceObjectRow: Sendable {
    public var type: String
    public var key: String
    public var uuid: String?
    /// The object's fields as one JSON object.
    public var attributes: String

    public init(type: String, key: String, uuid: String?, attributes: String) {
        self.type = type
        self.key = key
        self.uuid = uuid
        self.attributes = attributes
    }
}

/// One stored object of `device_objects`.
public struct DeviceObject: Sendable {
    public var type: String
    public var kind: DeviceSyncKind
    public var key: String
    public var uuid: String?
    public var attributes: String
    public var firstSeen: Date
    public var lastSeen: Date
    public var removedAt: Date?
}

/// How many objects of a type a device has now, and how many were marked removed.
public struct DeviceObjectCount: Sendable, Equatable {
    public var type: String
    public var kind: DeviceSyncKind
    public var present: Int
    public var removed: Int

    public init(type: String, kind: DeviceSyncKind, present: Int, removed: Int) {
        self.type = type
        self.kind = kind
        self.present = present
        self.removed = removed
    }
}

/// The detailed log of a device's latest sync of one kind.
public struct DeviceSyncLog: Sendable {
    public var jobID: Int64
    public var startedAt: Date
    public var finishedAt: Date?
    public var state: String
    public var outcome: String?
    public var counts: [String: Int]
    public var lines: [(at: Date, level: String, message: String)]
}

/// The inventory of what syncs read (`device_objects`) and their detailed logs (migrations/008).
/// Pages go in with COPY into a session's staging table and one set-based upsert, never row by row.
public struct DeviceObjectStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    public struct UpsertResult: Sendable {
        public var inserted: Int
        public var total: Int
    }

    /// Stores a batch of objects `job` read; they count as seen by that job (and present again if
    /// they had been marked removed).
    @discardableResult
    /// `owner`: the attempt writing, when a job writes; the write rolls back once it no longer owns
    /// the job.
    public func deviceObjectsUpsert(device: String, kind: DeviceSyncKind, job: Int64, owner: QueueStore.Held? = nil,
                                    _ rows: [DeviceObjectRow]) async throws -> UpsertResult {
        guard !rows.isEmpty else { return UpsertResult(inserted: 0, total: 0) }
        return try await connection.transaction { session in
            if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
            try session.query(DeviceObjectSQL.incomingCreate)
            try session.copyIn(DeviceObjectSQL.incomingCopy, rows: rows.lazy.map { [$0.type, $0.key, $0.uuid, $0.attributes] })
            let row = try session.query(DeviceObjectSQL.deviceObjectsUpsert, [device, kind.rawValue, job]).first!
            return UpsertResult(inserted: try row.decode("inserted"), total: try row.decode("total"))
        }
    }

    /// An object of the inventory a sync has not seen yet: its key and uuid.
    public struct UnseenObject: Sendable {
        public var key: String
        public var uuid: String?
    }

    /// A page of the objects of `type` that `job` has not seen, by key after `after`; with `uuids`,
    /// only those among them (a second list pass's page).
    public func deviceObjectsUnseen(device: String, kind: DeviceSyncKind, type: String, job: Int64, after: String = "",
                                    limit: Int, among uuids: [String]? = nil) async throws -> [UnseenObject] {
        try await connection.query(DeviceObjectSQL.deviceObjectsUnseen,
                                   [device, kind.rawValue, type, job, after, limit, uuids.map { PostgresTextArray($0) }]).map { row in
            UnseenObject(key: try row.decode("object_key"), uuid: try row.decodeIfPresent("uuid"))
        }
    }

    /// How many objects of `type` `job` has not seen.
    public func deviceObjectsUnseenCount(device: String, kind: DeviceSyncKind, type: String, job: Int64) async throws -> Int {
        try await connection.query(DeviceObjectSQL.deviceObjectsUnseenCount, [device, kind.rawValue, type, job]).first!.decode("unseen")
    }

    /// Marks removed the objects of `type` that `job` did not see; returns how many.
    public func deviceObjectsMarkRemoved(device: String, kind: DeviceSyncKind, type: String, job: Int64,
                                         owner: QueueStore.Held? = nil) async throws -> Int {
        try await connection.transaction { session in
            if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
            return try session.query(DeviceObjectSQL.deviceObjectsMarkRemoved, [device, kind.rawValue, type, job]).first!.decode("removed")
        }
    }

    public func deviceObjectCounts(device: String, type: String? = nil, kind: DeviceSyncKind? = nil) async throws -> [DeviceObjectCount] {
        try await connection.query(DeviceObjectSQL.deviceObjectCounts, [device, type, kind?.rawValue]).map { row in
            DeviceObjectCount(type: try row.decode("object_type"), kind: DeviceSyncKind(rawValue: try row.decode("sync_kind")) ?? .infra,
                              present: try row.decode("present"), removed: try row.decode("removed"))
        }
    }

    public func deviceObjectList(device: String, type: String? = nil, kind: DeviceSyncKind? = nil,
                                 includeRemoved: Bool = false, limit: Int = 1000) async throws -> [DeviceObject] {
        try await connection.query(DeviceObjectSQL.deviceObjectList, [device, type, kind?.rawValue, includeRemoved, limit]).map { row in
            DeviceObject(type: try row.decode("object_type"), kind: DeviceSyncKind(rawValue: try row.decode("sync_kind")) ?? .infra,
                         key: try row.decode("object_key"), uuid: try row.decodeIfPresent("uuid"),
                         attributes: try row.decode("attributes"), firstSeen: try row.decode("first_seen"),
                         lastSeen: try row.decode("last_seen"), removedAt: try row.decodeIfPresent("removed_at"))
        }
    }

    // MARK: detailed logs

    /// The objects per type the last sync of this kind read (the next sync's progress estimate).
    public func deviceSyncPreviousCounts(device: String, kind: DeviceSyncKind) async throws -> [String: Int] {
        guard let text: String = try await connection.query(DeviceObjectSQL.syncLogPreviousCounts, [device, kind.rawValue])
            .first?.decode("counts") else { return [:] }
        return (try? JSONDecoder().decode([String: Int].self, from: Data(text.utf8))) ?? [:]
    }

    /// Starts the detailed log of a sync, replacing the previous one of the device and kind.
    /// `owner`: the attempt writing; this write, like every line and the finish, rolls back once the
    /// attempt no longer owns the job (a paused worker's late lines never reach the log).
    public func deviceSyncLogStart(device: String, kind: DeviceSyncKind, job: Int64, owner: QueueStore.Held? = nil) async throws {
        try await connection.transaction { session in
            if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
            try session.query(DeviceObjectSQL.syncLogDelete, [device, kind.rawValue])
            try session.query(DeviceObjectSQL.syncLogStart, [device, kind.rawValue, job])
        }
    }

    public func deviceSyncLogAppend(device: String, kind: DeviceSyncKind, level: String, message: String,
                                    owner: QueueStore.Held? = nil) async throws {
        try await connection.transaction { session in
            if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
            try session.query(DeviceObjectSQL.syncLogLine, [device, kind.rawValue, level, message])
        }
    }

    public func deviceSyncLogFinish(device: String, kind: DeviceSyncKind, job: Int64, state: String, outcome: String?,
                                    counts: [String: Int], owner: QueueStore.Held? = nil) async throws {
        let countsText = try Self.countsText(counts)
        try await connection.transaction { session in
            if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
            try session.query(DeviceObjectSQL.syncLogFinish, [device, kind.rawValue, job, state, outcome, countsText])
        }
    }

    /// The end of a successful sync, in one transaction fenced on `owner`: the log's outcome, the
    /// device's first synchronization time, and the audit line of what the sync stored.
    public func deviceSyncSucceeded(device: String, kind: DeviceSyncKind, job: Int64, outcome: String,
                                    counts: [String: Int], audit: String, owner: QueueStore.Held? = nil) async throws {
        let countsText = try Self.countsText(counts)
        try await connection.transaction { session in
            let queue = QueueStore.InTransaction(session)
            if let owner { try queue.jobConfirmOwned(owner) }
            try session.query(DeviceObjectSQL.syncLogFinish, [device, kind.rawValue, job, "succeeded", outcome, countsText])
            try session.query(DeviceSQL.deviceMarkSynchronized, [device, nil as Date?])
            try queue.auditAppend(actor: "job \(job)", action: "inventory.synchronized", target: device, message: audit)
        }
    }

    private static func countsText(_ counts: [String: Int]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(counts), as: UTF8.self)
    }

    /// The latest log of the device and kind. A log still "running" whose job no longer runs was cut
    /// off (its worker was lost, or it was stopped without finishing): it is shown as `interrupted`
    /// with the job's reason, since the attempt that wrote it can no longer finish it.
    public func deviceSyncLogGet(device: String, kind: DeviceSyncKind) async throws -> DeviceSyncLog? {
        try await syncLogGet(device: device, kind: kind.rawValue)
    }

    /// The log of `kind` as stored: `infra`, `user`, or `cn` (change notification's recent polls).
    func syncLogGet(device: String, kind: String) async throws -> DeviceSyncLog? {
        guard let row = try await connection.query(DeviceObjectSQL.syncLogGet, [device, kind]).first else { return nil }
        let countsText: String = try row.decode("counts")
        let lines = try await connection.query(DeviceObjectSQL.syncLogLines, [device, kind]).map { line in
            (at: try line.decode("at", as: Date.self), level: try line.decode("level", as: String.self),
             message: try line.decode("message", as: String.self))
        }
        let jobID: Int64 = try row.decode("job_id")
        var state: String = try row.decode("state")
        var outcome: String? = try row.decodeIfPresent("outcome")
        if state == "running", let job = try await QueueStore(connection).jobGet(id: jobID),
           job.state != .running, job.state != .canceling {
            state = "interrupted"
            outcome = "Interrupted: \(job.error ?? "the job is \(job.state.rawValue)")."
        }
        return DeviceSyncLog(jobID: jobID, startedAt: try row.decode("started_at"),
                             finishedAt: try row.decodeIfPresent("finished_at"), state: state,
                             outcome: outcome,
                             counts: (try? JSONDecoder().decode([String: Int].self, from: Data(countsText.utf8))) ?? [:],
                             lines: lines)
    }
}
