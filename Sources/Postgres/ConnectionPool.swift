/// A bounded set of connections shared by the tasks of one process.
public actor ConnectionPool {
    public nonisolated let configuration: ConnectionConfiguration
    public nonisolated let maximum: Int
    private var idle: [Connection] = []
    private var created = 0
    private var waiters: [CheckedContinuation<Connection, Never>] = []

    public init(_ configuration: ConnectionConfiguration, maximum: Int) {
        precondition(maximum > 0)
        self.configuration = configuration
        self.maximum = maximum
    }

    /// Lends a connection to `body` and takes it back afterwards.
    public nonisolated func withConnection<T: Sendable>(_ body: (Connection) async throws -> T) async throws -> T {
        let connection = await acquire()
        do {
            let value = try await body(connection)
            await release(connection)
            return value
        } catch {
            await release(connection)
            throw error
        }
    }

    private func acquire() async -> Connection {
        if let connection = idle.popLast() { return connection }
        if created < maximum {
            created += 1
            return Connection(configuration)
        }
        return await withCheckedContinuation { waiters.append($0) }
    }

    private func release(_ connection: Connection) {
        if !waiters.isEmpty {
            waiters.removeFirst().resume(returning: connection)
        } else {
            idle.append(connection)
        }
    }

    /// Closes the idle connections.
    public func closeAll() async {
        for connection in idle { await connection.close() }
        idle.removeAll()
    }
}
