import Foundation
import Runtime

/// The filters of `ucp jobs list` and `GET /api/v1/jobs`, checked in one place: both refuse the same
/// input with the same line.
public struct JobFilter: Sendable, Equatable {
    public var state: JobState?
    public var type: String?
    public var limit: Int
    public var beforeID: Int64?

    public static let limits = 1...10_000

    /// `type` must already be a known job type (the caller knows the contracts, stand-ins included).
    public init(state: String?, type: String?, limit: Int, beforeID: Int64? = nil) throws {
        if let state {
            guard let parsed = JobState(rawValue: state) else {
                throw InputError(field: "state", problem: "must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", ")) (got \(InputError.quoted(state)))")
            }
            self.state = parsed
        }
        guard Self.limits.contains(limit) else { throw InputError(field: "limit", problem: "must be from 1 to 10000") }
        if let beforeID, beforeID < 1 { throw InputError(field: "before", problem: "must be a job id, 1 or more") }
        self.type = type
        self.limit = limit
        self.beforeID = beforeID
    }
}

/// The filters of `ucp audit` and `GET /api/v1/audit`, checked in one place.
public struct AuditFilter: Sendable, Equatable {
    /// How far back from now, in seconds, on the database's clock (`auditList` reads it).
    public var sinceSeconds: Double?
    public var jobID: Int64?
    public var limit: Int
    public var afterID: Int64?
    public var actor: String?
    public var action: String?

    /// `since` is a duration back from now (15m, 2h, 7d).
    public init(since: String?, jobID: Int64?, limit: Int, afterID: Int64? = nil, actor: String? = nil,
                action: String? = nil) throws {
        if let since {
            sinceSeconds = try DurationText.seconds(since, field: "since")
        }
        guard (1...100_000).contains(limit) else { throw InputError(field: "limit", problem: "must be from 1 to 100000") }
        if let afterID, afterID < 0 { throw InputError(field: "after", problem: "must be an audit entry id, 0 or more") }
        self.jobID = jobID
        self.limit = limit
        self.afterID = afterID
        self.actor = actor
        self.action = action
    }
}

extension QueueStore.StopStuckParams {
    /// The operator's Stop Stuck Synchronization (`ucp jobs stop-stuck`, `POST /api/v1/jobs/{id}/stop-stuck`):
    /// `idle` is how long its progress must have stood still (90s, 15m, …).
    public static func operatorRequest(id: Int64, actor: String, idle: String) throws -> Self {
        let idleSeconds = try DurationText.seconds(idle, field: "idle")
        return .init(id: id, actor: actor, minimumIdleSeconds: idleSeconds, action: "sync.stop_stuck",
                     message: "Stop Stuck Synchronization requested by \(actor): synchronization stopped")
    }
}
