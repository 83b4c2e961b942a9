import Foundation
import Postgres

/// What `ucp status` shows, read in one call: maintenance mode, the running syncs, the queue by
/// state and type, the live workers and the leader. Codable, so a status endpoint can serve it as is.
public struct QueueStatus: Sendable, Codable {
    public struct Count: Sendable, Codable, Equatable {
        public var state: JobState
        public var type: String
        public var count: Int
    }

    public var maintenance: QueueStore.MaintenanceState
    /// Syncs running or canceling, oldest first.
    public var runningSyncs: [Job]
    /// Queued and running jobs, and those finished in the last hour.
    public var queue: [Count]
    public var workers: [QueueStore.LiveWorker]
    public var leader: QueueStore.Leader?
}

extension QueueStore {
    /// The status snapshot; workers count as live when they heartbeated within `workersWithinSeconds`.
    public func statusSnapshot(workersWithinSeconds: Double = 120,
                               leadershipRole: String = Coordinator.leadershipRole) async throws -> QueueStatus {
        QueueStatus(
            maintenance: try await maintenanceState(),
            runningSyncs: try await jobRunningSyncs(),
            queue: try await jobCountByStateAndType().map { QueueStatus.Count(state: $0.state, type: $0.type, count: $0.count) },
            workers: try await workerListLive(withinSeconds: workersWithinSeconds),
            leader: try await leaderGet(role: leadershipRole))
    }
}
