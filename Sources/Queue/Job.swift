import Foundation
import JobCatalog
import Postgres

public enum JobState: String, Sendable, Codable, CaseIterable {
    case queued, running, canceling, succeeded, failed, canceled

    public var isFinal: Bool { self == .succeeded || self == .failed || self == .canceled }
}

public struct JobProgress: Sendable, Codable, Equatable {
    public var done: Int64
    public var total: Int64?
    public var message: String?
    /// When `done`, `total` or `message` last changed (or the job started).
    public var changedAt: Date?
}

/// One row of `jobs`.
public struct Job: Sendable, Codable {
    public var id: Int64
    public var kind: JobKind
    public var type: String
    public var target: String?
    /// The payload as JSON text.
    public var payload: String
    public var state: JobState
    public var priority: Int
    public var runAt: Date
    public var attempt: Int
    public var maxAttempts: Int
    public var dedupKey: String?
    public var syncGroup: String?
    public var worker: String?
    public var leaseExpiresAt: Date?
    public var heartbeatAt: Date?
    public var progress: JobProgress
    public var error: String?
    public var submittedBy: String
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?

    init(row: Row) throws {
        id = try row.decode("id")
        guard let kind = JobKind(rawValue: try row.decode("kind")),
              let state = JobState(rawValue: try row.decode("state"))
        else { throw PostgresError(kind: .decoding, message: "unknown job kind or state") }
        self.kind = kind
        self.state = state
        type = try row.decode("type")
        target = try row.decodeIfPresent("target")
        payload = try row.decode("payload")
        priority = try row.decode("priority")
        runAt = try row.decode("run_at")
        attempt = try row.decode("attempt")
        maxAttempts = try row.decode("max_attempts")
        dedupKey = try row.decodeIfPresent("dedup_key")
        syncGroup = try row.decodeIfPresent("sync_group")
        worker = try row.decodeIfPresent("worker")
        leaseExpiresAt = try row.decodeIfPresent("lease_expires_at")
        heartbeatAt = try row.decodeIfPresent("heartbeat_at")
        progress = JobProgress(done: try row.decode("progress_done"), total: try row.decodeIfPresent("progress_total"),
                               message: try row.decodeIfPresent("progress_message"),
                               changedAt: try row.decodeIfPresent("progress_at"))
        error = try row.decodeIfPresent("error")
        submittedBy = try row.decode("submitted_by")
        createdAt = try row.decode("created_at")
        startedAt = try row.decodeIfPresent("started_at")
        finishedAt = try row.decodeIfPresent("finished_at")
    }
}

/// An entry of the audit trail.
public struct AuditEntry: Sendable {
    public var id: Int64
    public var at: Date
    public var actor: String
    public var action: String
    public var jobID: Int64?
    public var target: String?
    public var message: String

    init(row: Row) throws {
        id = try row.decode("id")
        at = try row.decode("at")
        actor = try row.decode("actor")
        action = try row.decode("action")
        jobID = try row.decodeIfPresent("job_id")
        target = try row.decodeIfPresent("target")
        message = try row.decode("message")
    }
}

/// One line a handler wrote about its run.
public struct JobLogLine: Sendable {
    public var id: Int64
    public var attempt: Int
    public var at: Date
    public var level: String
    public var message: String
}
