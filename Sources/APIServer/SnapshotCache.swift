import Foundation

/// Answers shared by every request, by key: the status snapshot reads the whole queue (counts by state
/// and type, workers, running syncs), so a dashboard polled by many clients costs PostgreSQL one read
/// per half second, not one per request; the same holds for a page of the job list and for the token a
/// bearer secret names.
///
/// An answer younger than `lifetime` is served as it is. An older one, up to `staleness`, is still
/// served while one read of a newer one runs in the background (so no request waits for that read
/// on a busy database); older than that, or none yet, the request waits for the read, shared with
/// every request that arrives meanwhile. At most `capacity` keys are kept.
actor SnapshotCache<Value: Sendable> {
    let lifetime: Duration
    let staleness: Duration
    let capacity: Int
    private var cached: [String: (value: Value, at: ContinuousClock.Instant)] = [:]
    /// The read running for a key, by number: a read clears only its own entry.
    private var reading: [String: (number: Int, task: Task<Value, any Error>)] = [:]
    private var reads = 0
    /// Bumped by `removeAll()`: a read begun before it does not store its answer.
    private var generation = 0

    init(lifetime: Duration = .milliseconds(500), staleness: Duration = .seconds(5), capacity: Int = 256) {
        self.lifetime = lifetime
        self.staleness = staleness
        self.capacity = capacity
    }

    func value(_ key: String = "", _ read: @escaping @Sendable () async throws -> Value) async throws -> Value {
        if let entry = cached[key] {
            let age = ContinuousClock.now - entry.at
            if age < lifetime { return entry.value }
            if age < staleness {
                if reading[key] == nil { refresh(key, read) }
                return entry.value
            }
        }
        if let running = reading[key] { return try await running.task.value }
        return try await refresh(key, read).value
    }

    /// The read's task is isolated to this actor, so it stores its answer before its waiters get it:
    /// a caller that has an answer and asks again sees that answer cached (or, once too old, a new
    /// read), never the finished read again.
    @discardableResult
    private func refresh(_ key: String, _ read: @escaping @Sendable () async throws -> Value) -> Task<Value, any Error> {
        reads += 1
        let number = reads, started = generation
        let task = Task {
            do {
                let value = try await read()
                self.finish(key, number: number, generation: started, value: value)
                return value
            } catch {
                self.finish(key, number: number, generation: started, value: nil)
                throw error
            }
        }
        reading[key] = (number, task)
        return task
    }

    private func finish(_ key: String, number: Int, generation started: Int, value: Value?) {
        if reading[key]?.number == number { reading[key] = nil }
        guard started == generation, let value else { return }
        if cached.count >= capacity { cached.removeAll() }
        cached[key] = (value, ContinuousClock.now)
    }

    /// Forgets every answer (a token revoked through this server stops working at once here).
    func removeAll() {
        cached.removeAll()
        reading.removeAll()
        generation += 1
    }
}
