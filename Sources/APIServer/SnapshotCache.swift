import Foundation

/// One encoded answer shared by every request for up to `lifetime` seconds: the status snapshot reads
/// the whole queue (counts by state and type, workers, running syncs), so a dashboard polled by many
/// clients costs PostgreSQL one read per half second, not one per request. A request that finds the
/// answer too old reads it anew while the others that arrive meanwhile wait for that same read.
actor SnapshotCache {
    let lifetime: Duration
    private var cached: (data: Data, at: ContinuousClock.Instant)?
    private var reading: Task<Data, any Error>?

    init(lifetime: Duration = .milliseconds(500)) {
        self.lifetime = lifetime
    }

    func value(_ read: @escaping @Sendable () async throws -> Data) async throws -> Data {
        if let cached, ContinuousClock.now - cached.at < lifetime { return cached.data }
        if let reading { return try await reading.value }
        let task = Task { try await read() }
        reading = task
        defer { reading = nil }
        let data = try await task.value
        cached = (data, ContinuousClock.now)
        return data
    }
}
