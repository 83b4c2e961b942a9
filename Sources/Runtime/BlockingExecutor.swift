import Dispatch

/// Where blocking C calls run (libpq, libldap, libcurl, child processes): on threads of their own,
/// never on Swift's cooperative pool, whose few threads a blocked call would take from every task.
///
/// A serial executor runs one call at a time, in order: the state its calls touch (a connection
/// handle) needs no lock. `BlockingExecutor.shared` runs independent calls side by side.
public final class BlockingExecutor: Sendable {
    private let queue: DispatchQueue

    /// A serial executor (an overcommit queue: a thread of its own while a call blocks).
    public init(label: String) {
        queue = DispatchQueue(label: label)
    }

    private init(concurrentLabel label: String) {
        queue = DispatchQueue(label: label, attributes: .concurrent)
    }

    /// For calls that share nothing (a mail sent, a child process waited for).
    public static let shared = BlockingExecutor(concurrentLabel: "ucp.blocking")

    /// Runs `body` on the executor and returns what it made. The value is handed over to the caller,
    /// which owns it from then on (a handle, a page of rows).
    public func run<T>(_ body: @escaping () throws -> T) async throws -> T {
        nonisolated(unsafe) let body = body
        let result: Result<HandedOver<T>, Error> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { HandedOver(value: try body()) }) }
        }
        return try result.get().value
    }

    /// Runs `body` on the executor, for work that cannot fail (closing a handle).
    public func run(_ body: @escaping () -> Void) async {
        nonisolated(unsafe) let body = body
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                body()
                continuation.resume()
            }
        }
    }

    /// Queues `body` on the executor without waiting for it (it still runs in order after the calls before).
    public func submit(_ body: @escaping () -> Void) {
        nonisolated(unsafe) let body = body
        queue.async { body() }
    }

    /// Runs `body` on the executor and blocks the calling thread until it ends: for code that
    /// already runs on a thread of its own.
    public func runBlocking<T>(_ body: () throws -> T) rethrows -> T {
        try queue.sync(execute: body)
    }
}

/// A value made on an executor's thread, passed to the one caller waiting for it.
private struct HandedOver<T>: @unchecked Sendable {
    let value: T
}
