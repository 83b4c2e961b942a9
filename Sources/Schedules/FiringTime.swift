import Foundation
import Postgres
import Queue

/// The time a firing round (schedules, domains' own LDAP intervals) judges due times by: the time a
/// test passes (its test clock's), else the database server's clock — one clock for every
/// coordinator host, never the process's own (DESIGN.md §4). Read once per round.
enum FiringTime {
    /// `now` when given, else the database's time.
    static func resolve(_ now: Date?, on connection: Connection) async throws -> Date {
        if let now { return now }
        return try await DatabaseClock.now(connection)
    }
}
