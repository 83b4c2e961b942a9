import DirectoryFixtures
import Foundation

/// A private slapd for one test class: a temporary folder under /tmp, free loopback ports, the
/// generated directory (or the users a test gives), stopped and removed by `destroy()`.
public final class SlapdServer: @unchecked Sendable {
    public let slapd: Slapd

    /// Starts slapd with `users` (default: the first 50 generated users); with `tls`, also on an ldaps:// port.
    public init(users: [FixtureUser] = (1...50).map(DirectoryFixture.user), tls: Bool = false) throws {
        let folder = "/tmp/ucp-slapd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        slapd = Slapd(directory: folder, port: try Slapd.freeLoopbackPort(), tlsPort: tls ? try Slapd.freeLoopbackPort() : nil)
        do {
            try slapd.create(users: users)
            try slapd.start()
        } catch {
            slapd.destroy()
            throw error
        }
    }

    public var url: String { slapd.url }
    public var port: Int { slapd.port }

    /// Replaces the directory's users (slapd restarts on the same port).
    public func reload(users: [FixtureUser]) throws { try slapd.reload(users: users) }

    public func destroy() { slapd.destroy() }
}
