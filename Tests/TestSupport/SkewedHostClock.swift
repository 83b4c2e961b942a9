import Foundation
import Postgres
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

extension TestDatabase {
    /// Moves this database's clock `offset` seconds (whole) from the host's, as if the database ran on a
    /// host whose clock is that far off: `now()` in every session opened afterwards — the processes' and
    /// the tests' — is the server's time moved by the offset (a schema first on the database's search
    /// path shadows `pg_catalog.now`). Column defaults (`DEFAULT now()`) keep the server's own time.
    public func skewClock(by offset: Int) async throws {
        try await Connection(owner).withSession { session in
            // DDL takes no parameters; the offset is a whole number and the name is made of digits only.
            try session.execute("""
                CREATE SCHEMA skewed_clock;
                GRANT USAGE ON SCHEMA skewed_clock TO PUBLIC;
                CREATE FUNCTION skewed_clock.now() RETURNS timestamptz LANGUAGE sql STABLE
                    AS 'SELECT pg_catalog.now() + make_interval(secs => \(offset))';
                ALTER DATABASE \(name) SET search_path = skewed_clock, public, pg_catalog;
                """)
        }
    }
}
