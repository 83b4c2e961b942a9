import Foundation
import Postgres
import Queue
import ScheduleRules
import TestSupport
import XCTest

/// Times relative to now that `ucp` works out are reckoned on the database's clock, as firing is, not
/// on the host's: each test moves the database's clock a day ahead of this host's (`skewClock`), so a
/// time taken from the host's clock shows up a day off.
final class DatabaseClockTests: XCTestCase {
    static let day = 86400

    /// A fresh database a day ahead of the host, the processes using it, and a connection to it.
    func skewed() async throws -> (UCPProcesses, Connection) {
        let database = try await TestServer.freshDatabase()
        try await database.skewClock(by: Self.day)
        let connection = Connection(database.owner)
        let ahead: Double = try await connection.query(Statement("", "SELECT extract(epoch FROM now() - clock_timestamp())::float8 AS s"))
            .first!.decode("s")
        XCTAssertEqual(ahead, Double(Self.day), accuracy: 60, "the database's clock is a day ahead")
        return (try UCPProcesses(database: database), connection)
    }

    /// Seconds from the database's now to `sql`'s value `t` (a timestamptz).
    func secondsFromNow(_ connection: Connection, _ sql: String) async throws -> Double {
        try await connection.query(Statement("", "SELECT extract(epoch FROM (\(sql)) - now())::float8 AS s")).first!.decode("s")
    }

    func testARunAtDelayCountsFromTheDatabasesNow() async throws {
        let (ucp, connection) = try await skewed()
        let submitted = try ucp.run(["submit", "job", "noop", "--run-at", "10m"])
        XCTAssertEqual(submitted.status, 0, submitted.stderr)
        let due = try await secondsFromNow(connection, "SELECT run_at FROM jobs")
        XCTAssertEqual(due, 600, accuracy: 60, "the job is due 10 minutes after the database's now")
    }

    func testTheAuditsLookBackCountsFromTheDatabasesNow() async throws {
        let (ucp, connection) = try await skewed()
        try await connection.query(Statement("", """
            INSERT INTO audit_log (at, actor, action, message)
            VALUES (now() - interval '10 minutes', 't', 'test.recent', 'ten minutes ago'),
                   (now() - interval '20 minutes', 't', 'test.older', 'twenty minutes ago')
            """))
        let listed = try ucp.run(["audit", "--since", "15m", "--json"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let entries = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]], listed.stdout)
        XCTAssertEqual(entries.compactMap { $0["action"] as? String }.filter { $0.hasPrefix("test.") }, ["test.recent"])
    }

    /// A schedule added without a start starts at the database's now; the next run `schedule list` and
    /// `show` give is judged at the database's now (the due time not fired yet, not the start).
    func testAScheduleStartsAndRunsNextByTheDatabasesClock() async throws {
        let (ucp, connection) = try await skewed()
        let added = try ucp.run(["schedule", "add", "--name", "Now", "--every", "1d", "--builder", "cp", "--time-zone", "UTC"])
        XCTAssertEqual(added.status, 0, added.stderr)
        let started = try await secondsFromNow(connection, "SELECT start_at FROM schedules WHERE name = 'Now'")
        XCTAssertEqual(started, 0, accuracy: 60, "it starts at the database's now")

        // Hourly from 90 minutes ago by the database's clock, never fired: its run of an hour after the
        // start is due (by the host's clock, a day behind, the start would still be ahead).
        let start: String = try await connection.query(Statement("", """
            SELECT to_char(date_trunc('minute', now() - interval '90 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS t
            """)).first!.decode("t")
        let hourly = try ucp.run(["schedule", "add", "--name", "Hourly", "--every", "1h", "--start", start, "--builder", "cp",
                                  "--time-zone", "UTC"])
        XCTAssertEqual(hourly.status, 0, hourly.stderr)
        let startAt: Date = try await connection.query(Statement("", "SELECT start_at FROM schedules WHERE name = 'Hourly'")).first!.decode("start_at")
        let due = ScheduleStart.format(startAt.addingTimeInterval(3600), timeZone: TimeZone(identifier: "UTC")!)
        let listed = try ucp.run(["schedule", "list", "--json"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let schedules = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]], listed.stdout)
        let listedHourly = try XCTUnwrap(schedules.first { $0["name"] as? String == "Hourly" }, listed.stdout)
        XCTAssertEqual(listedHourly["next_run_at"] as? String, PostgresTimestamp.format(startAt.addingTimeInterval(3600)), listed.stdout)
        let shown = try ucp.run(["schedule", "show", "Hourly"])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("next run") && shown.stdout.contains(due), shown.stdout)
    }
}
