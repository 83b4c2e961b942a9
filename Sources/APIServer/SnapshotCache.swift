import Foundation

/// Answers shared by every request for up to `lifetime`, by key: the status snapshot reads the whole
/// queue (counts by state and type, workers, running syncs), so a dashboard polled by many clients costs
/// PostgreSQL one read per half second, not one per request; the same holds for a page of the job list
/// and for the token a bearer secret names. A request that finds its answer too old reads it anew while
/// the others that arrive meanwhile wait for that same read. At most `capacity` keys are kept.
actor SnapshotCache<Value: Sendable> {
    let lifetime: Duration
    let capacity: Int
    private var cached: [String: (value: Value, at: ContinuousClock.Instant)] = [:]
    private var reading: [String: Task<Value, any Error>] = [:]

    init(lifetime: Duration = .milliseconds(500), capacity: Int = 256) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    func value(_ key: String = "", _ read: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let now = ContinuousClock.now
        if let entry = cached[key], now - entry.at < lifetime { return entry.value }
        if let task = reading[key] { return try await task.value }
        let task = Task { try await read() }
        reading[key] = task
        defer { reading[key] = nil }
        let value = try await task.value
        if cached.count >= capacity { cached.removeAll() }
        cached[key] = (value, ContinuousClock.now)
        return value
    }

    /// Forgets every answer (a token revoked through this server stops working at once here).
    func removeAll() {
        cached.removeAll()
    }
}
