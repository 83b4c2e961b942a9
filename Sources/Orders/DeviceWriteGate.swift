import Foundation

/// Bounds the writes of orders to one device in flight at once, across the orders a worker runs
/// (issue 14: "writes to one device are bounded, default 2 in flight"). Waiters are served in order.
public actor DeviceWriteGate {
    public static let shared = DeviceWriteGate()
    /// Writes in flight per device.
    public static let defaultLimit = 2

    private var inFlight: [String: Int] = [:]
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    private let limit: Int

    public init(limit: Int = DeviceWriteGate.defaultLimit) {
        self.limit = max(1, limit)
    }

    func enter(_ device: String) async {
        if inFlight[device, default: 0] < limit {
            inFlight[device, default: 0] += 1
            return
        }
        await withCheckedContinuation { waiters[device, default: []].append($0) }
    }

    func leave(_ device: String) {
        if var queue = waiters[device], !queue.isEmpty {
            let next = queue.removeFirst()
            waiters[device] = queue
            next.resume()  // the slot passes to the next waiter
        } else {
            inFlight[device, default: 1] -= 1
        }
    }

    /// Runs `body` holding one of the device's write slots.
    public nonisolated func withSlot<T: Sendable>(_ device: String, _ body: () async throws -> T) async throws -> T {
        await enter(device)
        do {
            let value = try await body()
            await leave(device)
            return value
        } catch {
            await leave(device)
            throw error
        }
    }
}
