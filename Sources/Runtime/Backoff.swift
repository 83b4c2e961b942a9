import Foundation

/// Exponential backoff with full jitter, for reconnecting and for retrying transient failures.
public struct Backoff: Sendable {
    public var initial: Double
    public var maximum: Double
    public private(set) var attempt: Int = 0

    public init(initial: Double = 0.05, maximum: Double = 5) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next try, growing with each call.
    public mutating func nextDelay() -> Double {
        let ceiling = min(maximum, initial * pow(2, Double(min(attempt, 30))))
        attempt += 1
        return Double.random(in: ceiling / 2 ... ceiling)
    }

    public mutating func reset() { attempt = 0 }

    /// Sleeps for the next delay.
    public mutating func wait() async throws {
        let seconds = nextDelay()
        try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
    }
}
