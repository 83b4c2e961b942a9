import Foundation
import Postgres

/// The database server's clock: the one clock the processes on every host share (DESIGN.md §4). A time
/// relative to now that a command or the API works out — a job's run-at delay, the audit's look-back,
/// a schedule's next run and the start of one added without a start — is reckoned from it, never from
/// the host's own clock, which may be off.
public enum DatabaseClock {
    static let now = Statement("database_clock_now", "SELECT now() AS now")

    /// The database's time (its transaction's start, inside a transaction).
    public static func now(_ connection: Connection) async throws -> Date {
        guard let row = try await connection.query(Self.now).first else {
            throw PostgresError(kind: .other, message: "the database's time could not be read")
        }
        return try row.decode("now")
    }
}
