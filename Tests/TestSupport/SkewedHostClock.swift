import Foundation
import Runtime

/// A host whose clock is `offset` seconds off the database server's: what it decides by its own
/// clock (`now`, `sleep`) runs on the system clock moved by the offset, while its store calls leave
/// the time to the database, as a service's do (`sqlNow` nil). A time such a host writes from its
/// own clock shows up `offset` seconds off.
public struct SkewedHostClock: TimeSource {
    public let offset: Double

    public init(offset: Double) {
        self.offset = offset
    }

    public var now: Date { Date().addingTimeInterval(offset) }
    public var sqlNow: Date? { nil }

    public func sleep(seconds: Double) async throws {
        try await SystemTimeSource().sleep(seconds: seconds)
    }
}
