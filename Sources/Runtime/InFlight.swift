/// One piece of work running beside its owner: a page written while the next is read, the next
/// page fetched while this one is handled. `start` waits for the previous piece first, so at most
/// one is ever in flight and memory holds two pages at most. The owner must `finish` or `cancel`
/// before it goes away: the work is never left running unobserved.
public struct InFlight<Value: Sendable>: ~Copyable {
    private var task: Task<Value, Error>?

    public init() {}

    public var isEmpty: Bool { task == nil }

    /// Waits for the piece in flight (returning its value, nil when there was none), then starts `work`.
    public mutating func start(_ work: @escaping @Sendable () async throws -> Value) async throws -> Value? {
        let previous = try await finish()
        task = Task(operation: work)
        return previous
    }

    /// Waits for the piece in flight; nil when there was none.
    public mutating func finish() async throws -> Value? {
        guard let running = task else { return nil }
        task = nil
        return try await running.value
    }

    /// Cancels the piece in flight and waits for it to stop, whatever its outcome.
    public mutating func cancel() async {
        task?.cancel()
        _ = try? await task?.value
        task = nil
    }
}
