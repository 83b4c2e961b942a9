import Foundation
import Postgres

/// The time a firing round (schedules, domains' own LDAP intervals) judges due times by: the time a
/// test passes (its test clock's), else the database server's clock — one clock for every
/// coordinator host, never the process's own (DESIGN.md §4). Read once per round.
enum FiringTime {
    static let now = Statement("firing_time_now", "SELECT now() AS now")

    /// `now` when given, else the database's time.
    static func resolve(_ now: Date?, on connection: Connection) async throws -> Date {
        if let now { return now }
        guard let row = try await connection.query(Self.now).first else {
            throw PostgresError(kind: .other, message: "the database's time could not be read")
        }
        return try row.decode("now")
    }
}
