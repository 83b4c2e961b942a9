import Runtime
import Synchronization
import Transport

/// A device's connections: `count` lanes, each a serial `BlockingExecutor` (never Swift's
/// cooperative pool) with one reused libcurl handle, so every lane keeps
/// its connection and session cookie alive across requests. A request takes a free lane, waiting
/// for one when all are busy: that is the per-device concurrency limit. Each lane also keeps a
/// `Scratch` of the client's (a parser reused from one answer to the next).
final class ConnectionLanes<Scratch: AnyObject>: Sendable {
    private final class Lane: @unchecked Sendable {
        let executor: BlockingExecutor
        // Touched only on `executor`.
        var connection: HTTPClientConnection?
        var scratch: Scratch?

        init(index: Int) {
            executor = BlockingExecutor(label: "ucp.device.lane.\(index)")
        }
    }

    private struct Free {
        var idle: [Int]
        var waiters: [CheckedContinuation<Int, Never>] = []
    }

    let configuration: HTTPConfiguration
    private let makeScratch: @Sendable () -> Scratch
    private let lanes: [Lane]
    private let free: Mutex<Free>

    init(count: Int, configuration: HTTPConfiguration, scratch: @escaping @Sendable () -> Scratch) {
        self.configuration = configuration
        makeScratch = scratch
        lanes = (0..<max(1, count)).map(Lane.init(index:))
        free = Mutex(Free(idle: Array((0..<max(1, count)).reversed())))
    }

    var count: Int { lanes.count }

    /// Runs `body` with a lane's connection and scratch on that lane's thread.
    func run<T: Sendable>(_ body: @escaping @Sendable (HTTPClientConnection, Scratch) throws -> T) async throws -> T {
        let index = await acquire()
        defer { release(index) }
        let lane = lanes[index]
        let (configuration, makeScratch) = (configuration, makeScratch)
        return try await lane.executor.run {
            if lane.connection == nil { lane.connection = try HTTPClientConnection(configuration) }
            if lane.scratch == nil { lane.scratch = makeScratch() }
            return try body(lane.connection!, lane.scratch!)
        }
    }

    private func acquire() async -> Int {
        let taken: Int? = free.withLock { $0.idle.popLast() }
        if let taken { return taken }
        return await withCheckedContinuation { continuation in
            let handed: Int? = free.withLock { state in
                if let index = state.idle.popLast() { return index }
                state.waiters.append(continuation)
                return nil
            }
            if let handed { continuation.resume(returning: handed) }
        }
    }

    private func release(_ index: Int) {
        let waiter: CheckedContinuation<Int, Never>? = free.withLock { state in
            if state.waiters.isEmpty {
                state.idle.append(index)
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume(returning: index)
    }
}

extension HTTPClientConnection {
    /// One request whose answer is read whole, at most `limit` bytes: reading stops there and the
    /// answer is the `malformed` error naming `operation`.
    func performWhole(_ method: Method, url: String, headers: [String], body: [UInt8], abort: @escaping () -> Bool,
                      limit: Int, operation: String) throws -> (status: Int, body: [UInt8]) {
        var received: [UInt8] = []
        do {
            let status = try perform(method, url: url, headers: headers, body: body, abort: abort) { chunk in
                guard received.count + chunk.count <= limit else { return false }
                received.append(contentsOf: chunk)
                return true
            }
            return (status, received)
        } catch is HTTPReceiverStopped {
            throw DeviceClientError.answerTooLarge(operation, limit: limit, httpStatus: responseCode)
        }
    }
}
