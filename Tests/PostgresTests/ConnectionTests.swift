import Foundation
import Postgres
import TestSupport
import XCTest

final class ConnectionTests: XCTestCase {
    func database() async throws -> Connection {
        Connection(try await TestServer.freshDatabase().owner)
    }

    func testParametersAndDecodingRoundTrip() async throws {
        let connection = try await database()
        let date = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let text = "it's \"quoted\"\ttab\nnewline \\ backslash — ünïcödé"
        let row = try await connection.query(
            Statement("roundtrip", "SELECT $1::text AS t, $2::bigint AS i, $3::float8 AS d, $4::bool AS b, $5::timestamptz AS ts, $6::text AS n, $7::bigint[] AS a, $8::text[] AS s"),
            [text, Int64(-9_000_000_000), 2.5, true, date, String?.none, PostgresIntArray([1, 2, 3]),
             PostgresTextArray(["a,b", "c\"d", nil])]).first
        let decoded = try XCTUnwrap(row)
        XCTAssertEqual(try decoded.decode("t", as: String.self), text)
        XCTAssertEqual(try decoded.decode("i", as: Int64.self), -9_000_000_000)
        XCTAssertEqual(try decoded.decode("d", as: Double.self), 2.5)
        XCTAssertEqual(try decoded.decode("b", as: Bool.self), true)
        XCTAssertEqual(try decoded.decode("ts", as: Date.self).timeIntervalSince1970, date.timeIntervalSince1970, accuracy: 0.000001)
        XCTAssertNil(try decoded.decodeIfPresent("n", as: String.self))
        XCTAssertEqual(try decoded.decode("a", as: String.self), "{1,2,3}")
        XCTAssertEqual(try decoded.decode("s", as: String.self), "{\"a,b\",\"c\\\"d\",NULL}")
        XCTAssertThrowsError(try decoded.decode("t", as: Int.self))
    }

    func testErrorsCarryTheirSQLState() async throws {
        let connection = try await database()
        try await connection.withSession { try $0.execute("CREATE TABLE t (id int PRIMARY KEY)") }
        try await connection.query(Statement("", "INSERT INTO t VALUES (1)"))
        do {
            try await connection.query(Statement("", "INSERT INTO t VALUES (1)"))
            XCTFail("duplicate key accepted")
        } catch let error as PostgresError {
            XCTAssertEqual(error.kind, .uniqueViolation)
            XCTAssertEqual(error.sqlState, "23505")
            XCTAssertEqual(error.constraint, "t_pkey", "the violated constraint, for callers that turn their own into input errors")
            XCTAssertFalse(error.description.contains("INSERT"), "the description must not leak SQL")
        }

        // Lock not available: a second session cannot take a row lock the first holds.
        let holder = Connection(connection.configuration)
        let waiter = Connection(connection.configuration)
        try await holder.withSession { session in
            try session.execute("BEGIN")
            try session.execute("SELECT * FROM t WHERE id = 1 FOR UPDATE")
        }
        do {
            try await waiter.withSession { session in
                try session.execute("SET lock_timeout = '100ms'")
                try session.execute("UPDATE t SET id = 2 WHERE id = 1")
            }
            XCTFail("lock was available")
        } catch let error as PostgresError {
            XCTAssertEqual(error.kind, .lockNotAvailable)
        }
        try await holder.withSession { try $0.execute("ROLLBACK") }

        // Serialization failure: two repeatable-read transactions update the same row.
        try await holder.withSession { session in
            try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            try session.execute("SELECT * FROM t")
        }
        try await waiter.withSession { try $0.execute("UPDATE t SET id = 3 WHERE id = 1") }
        do {
            try await holder.withSession { try $0.execute("UPDATE t SET id = 4 WHERE id = 1") }
            XCTFail("no serialization failure")
        } catch let error as PostgresError {
            XCTAssertEqual(error.kind, .serializationFailure)
            XCTAssertTrue(error.isTransient)
        }
        try await holder.withSession { try $0.execute("ROLLBACK") }
    }

    func testLostConnectionIsReportedThenReopened() async throws {
        let connection = try await database()
        let killer = Connection(connection.configuration)
        let pid: Int = try await connection.query(Statement("", "SELECT pg_backend_pid() AS pid")).first!.decode("pid")
        // Lost in the middle of a statement: the caller hears of it, as a lost connection.
        async let sleeping: Void = {
            _ = try await connection.query(Statement("", "SELECT pg_sleep(10)"))
        }()
        // Terminated once the statement is running (not a guess at how long sending it takes).
        let running = try await eventually(timeout: 30) {
            try await !killer.query(Statement("", "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep%'"), [pid]).isEmpty
        }
        XCTAssertTrue(running, "the statement never ran")
        try await killer.query(Statement("", "SELECT pg_terminate_backend($1)"), [pid])
        do {
            try await sleeping
            XCTFail("a statement on a terminated session succeeded")
        } catch let error as PostgresError {
            XCTAssertEqual(error.kind, .connectionLost)
            XCTAssertTrue(error.isTransient)
        }
        // The next use connects again by itself.
        let secondPid: Int = try await connection.query(Statement("", "SELECT pg_backend_pid() AS pid")).first!.decode("pid")
        XCTAssertNotEqual(secondPid, pid)
        // Closed while idle: noticed before the next statement is sent, which then just works.
        try await killer.query(Statement("", "SELECT pg_terminate_backend($1)"), [secondPid])
        // Once the server process is gone its socket is closed, which the connection notices.
        let gone = try await eventually(timeout: 30) {
            try await killer.query(Statement("", "SELECT 1 FROM pg_stat_activity WHERE pid = $1"), [secondPid]).isEmpty
        }
        XCTAssertTrue(gone, "the terminated session never ended")
        let thirdPid: Int = try await connection.query(Statement("", "SELECT pg_backend_pid() AS pid")).first!.decode("pid")
        XCTAssertNotEqual(thirdPid, secondPid)
        // Each replacement is a new server session, which the session number tells (LISTEN is lost).
        await assertEqual(try await connection.withSession { $0.serverSessionNumber }, 3)
    }

    func testMalformedConnectionStringIsRefused() {
        XCTAssertThrowsError(try ConnectionConfiguration(conninfo: "host=x port")) { error in
            XCTAssertEqual((error as? PostgresError)?.kind, .invalidConfiguration)
            XCTAssertTrue("\(error)".contains("DATABASE_URL"))
        }
        XCTAssertThrowsError(try ConnectionConfiguration(conninfo: "postgresql://u@h/db?nosuchoption=1"))
        // Found by fuzzing: libpq echoes the bad token raw, and a newline in it cut the refusal.
        XCTAssertThrowsError(try ConnectionConfiguration(conninfo: "postgresql://%zz\n:5432/db")) { error in
            XCTAssertFalse("\(error)".contains("\n"), "\(error)")
            XCTAssertTrue("\(error)".contains("DATABASE_URL: "), "\(error)")
        }
        XCTAssertNoThrow(try ConnectionConfiguration(conninfo: "postgresql://u:secret@h:5433/db"))
        // libpq quotes the bad part, here the password: the refusal leaves it out.
        XCTAssertThrowsError(try ConnectionConfiguration(conninfo: "postgresql://ucp:Sup3r%zzSecret@localhost/ucp")) { error in
            XCTAssertEqual("\(error)", "PostgreSQL: DATABASE_URL: invalid percent-encoded token: \"…\"")
        }
        XCTAssertThrowsError(try ConnectionConfiguration(conninfo: "host=x password=Sup3rSecret port")) { error in
            XCTAssertFalse("\(error)".contains("Sup3rSecret"), "\(error)")
            XCTAssertTrue("\(error)".contains("\"=\""), "\(error)")
        }
        // Ports are checked when the URL is parsed, not at connect time.
        for (url, port) in [("postgresql://localhost:99999/db", "99999"), ("postgresql://user@:notaport/db", "notaport"),
                            ("postgresql://h1:5432,h2:0/db", "0"), ("host=h port=-1", "-1")] {
            XCTAssertThrowsError(try ConnectionConfiguration(conninfo: url), url) { error in
                XCTAssertEqual("\(error)", "DATABASE_URL: port '\(port)' must be a whole number from 1 to 65535")
            }
        }
        XCTAssertNoThrow(try ConnectionConfiguration(conninfo: "postgresql://h1:5432,h2:65535/db"))
        XCTAssertNoThrow(try ConnectionConfiguration(conninfo: "postgresql://h1,h2/db"))
        let configuration = try? ConnectionConfiguration(conninfo: "postgresql://u:secret@h:5433/db")
        XCTAssertFalse("\(configuration!)".contains("secret"), "the password must never be printed")
    }

    /// A highly available pair is reached through a multi-host URL: every form libpq takes passes,
    /// as is, and what libpq would only refuse when connecting is refused when read, naming DATABASE_URL.
    func testMultiHostURLs() throws {
        let accepted: [(String, String)] = [
            ("postgresql://h1:5432,h2:5433/db?target_session_attrs=read-write",
             "PostgreSQL db on h1 port 5432 or h2 port 5433 (read-write)"),
            ("postgresql:///db?host=/dir1,/dir2&port=5432,5433&target_session_attrs=read-write",
             "PostgreSQL db on socket /dir1 port 5432 or socket /dir2 port 5433 (read-write)"),
            ("host=/dir1,/dir2 port=5432 dbname=db user=u target_session_attrs=primary",
             "PostgreSQL db on socket /dir1 port 5432 or socket /dir2 port 5432 as u (primary)"),
            ("postgresql://u@h1,h2:5433/db", "PostgreSQL db on h1 or h2 port 5433 as u"),
            ("postgresql://h1:5432/db", "PostgreSQL db on h1 port 5432"),
        ]
        for (url, description) in accepted {
            XCTAssertEqual(try ConnectionConfiguration(conninfo: url).description, description, url)
        }
        let attributes = "any, read-write, read-only, primary, standby, prefer-standby"
        let refused: [(String, String)] = [
            ("postgresql://h1:5432,h2:99999/db?target_session_attrs=read-write", "port '99999' must be a whole number from 1 to 65535"),
            ("postgresql:///db?host=/d1,/d2&port=5432,x", "port 'x' must be a whole number from 1 to 65535"),
            ("postgresql:///db?host=/d1,/d2&port=5432,5433,5434", "lists 2 hosts and 3 ports; give one port for all hosts or one per host"),
            ("host=h1,h2,h3 port=1,2", "lists 3 hosts and 2 ports; give one port for all hosts or one per host"),
            ("host=h1,h2 hostaddr=127.0.0.1", "lists 2 hosts and 1 host address; give one address per host"),
            ("postgresql://h1,h2/db?target_session_attrs=readwrite", "target_session_attrs 'readwrite' must be one of \(attributes)"),
        ]
        for (url, problem) in refused {
            XCTAssertThrowsError(try ConnectionConfiguration(conninfo: url), url) { error in
                XCTAssertEqual("\(error)", "DATABASE_URL: \(problem)")
            }
        }
    }

    /// libpq tries the hosts in order: a server that is not there is passed over.
    func testMultiHostURLConnectsToTheServerThatAnswers() async throws {
        let server = try TestServer.configuration()
        let socket = try XCTUnwrap(server.host)
        var parts = ["host=/nonexistent-ucp-socket,\(socket)", "dbname=postgres", "target_session_attrs=read-write"]
        if let port = server.port { parts.append("port=\(port)") }
        if let user = server.user { parts.append("user=\(user)") }
        let connection = Connection(try ConnectionConfiguration(conninfo: parts.joined(separator: " ")))
        let answer: Int = try await connection.query(Statement("", "SELECT 1 AS one")).first!.decode("one")
        XCTAssertEqual(answer, 1)
    }

    /// libpq reports each host it tried on a line of its own: the error is one line naming both.
    func testAFailedConnectionIsReportedOnOneLine() async throws {
        let connection = Connection(try ConnectionConfiguration(conninfo: "host=/nonexistent-ucp-a,/nonexistent-ucp-b dbname=postgres connect_timeout=2"))
        do {
            _ = try await connection.query(Statement("", "SELECT 1"))
            XCTFail("connected to no server")
        } catch let error as PostgresError {
            XCTAssertEqual(error.kind, .connectionLost)
            XCTAssertFalse(error.description.contains("\n"), error.description)
            XCTAssertTrue(error.description.contains("nonexistent-ucp-a") && error.description.contains("nonexistent-ucp-b"), error.description)
        }
    }

    /// A write refused because the server is read-only (SQLSTATE 25006: a failover demoted it, or it
    /// was fenced off) counts as a lost connection: the session is dropped, and the next use makes a
    /// new one, which `target_session_attrs=read-write` would place on the primary.
    func testAWriteRefusedAsReadOnlyDropsTheSession() async throws {
        let connection = try await database()
        try await connection.withSession { try $0.execute("CREATE TABLE t (id int)") }
        let pid: Int = try await connection.query(Statement("", "SELECT pg_backend_pid() AS pid")).first!.decode("pid")
        // The session turns read-only, as every session of a server fenced with ALTER SYSTEM would.
        try await connection.withSession { try $0.execute("SET default_transaction_read_only = on") }
        do {
            try await connection.query(Statement("", "INSERT INTO t VALUES (1)"))
            XCTFail("a write on a read-only session succeeded")
        } catch let error as PostgresError {
            XCTAssertEqual(error.sqlState, "25006")
            XCTAssertEqual(error.kind, .connectionLost)
            XCTAssertTrue(error.isTransient)
        }
        let again: Int = try await connection.query(Statement("", "SELECT pg_backend_pid() AS pid")).first!.decode("pid")
        XCTAssertNotEqual(again, pid, "the read-only session was dropped")
        // Inside a transaction too.
        try await connection.withSession { try $0.execute("SET default_transaction_read_only = on") }
        do {
            _ = try await connection.transaction { try $0.query(Statement("", "INSERT INTO t VALUES (2)")) }
            XCTFail("a write on a read-only session succeeded")
        } catch let error as PostgresError {
            XCTAssertEqual(error.kind, .connectionLost)
        }
        // The new session writes.
        try await connection.query(Statement("", "INSERT INTO t VALUES (3)"))
        let rows: Int = try await connection.query(Statement("", "SELECT count(*) AS n FROM t")).first!.decode("n")
        XCTAssertEqual(rows, 1)
        let last: Int = try await connection.query(Statement("", "SELECT pg_backend_pid() AS pid")).first!.decode("pid")
        XCTAssertNotEqual(last, again)
    }

    func testTransactionRollsBackOnError() async throws {
        let connection = try await database()
        try await connection.withSession { try $0.execute("CREATE TABLE t (id int PRIMARY KEY)") }
        do {
            try await connection.transaction { session in
                try session.query(Statement("", "INSERT INTO t VALUES (1)"))
                try session.query(Statement("", "INSERT INTO t VALUES (1)"))
            }
            XCTFail("transaction committed")
        } catch {}
        let count: Int = try await connection.query(Statement("", "SELECT count(*) AS n FROM t")).first!.decode("n")
        XCTAssertEqual(count, 0)
    }

    func testCopyInLoadsRowsWithSpecialCharacters() async throws {
        let connection = try await database()
        try await connection.withSession { try $0.execute("CREATE TABLE t (id int, name text)") }
        let rows = (0..<20_000).map { index -> [String?] in
            [String(index), index % 1000 == 0 ? nil : "name\t\(index)\n\\ \"x\""]
        }
        let copied = try await connection.withSession { session in
            try session.copyIn(Statement("", "COPY t (id, name) FROM STDIN"), rows: rows)
        }
        XCTAssertEqual(copied, 20_000)
        let row = try await connection.query(Statement("", """
            SELECT count(*) AS n, count(name) AS named, max(name) FILTER (WHERE id = 7) AS seven FROM t
            """)).first!
        XCTAssertEqual(try row.decode("n", as: Int.self), 20_000)
        XCTAssertEqual(try row.decode("named", as: Int.self), 19_980)
        XCTAssertEqual(try row.decode("seven", as: String.self), "name\t7\n\\ \"x\"")
    }

    func testListenReceivesNotifications() async throws {
        let connection = try await database()
        let listener = Connection(connection.configuration)
        try await listener.withSession { try $0.listen("ucp_test") }
        let none = try await listener.withSession { try $0.waitForNotifications(timeout: 0.1) }
        XCTAssertTrue(none.isEmpty)
        try await connection.query(Statement("", "SELECT pg_notify('ucp_test', 'hello')"))
        let received = try await listener.withSession { try $0.waitForNotifications(timeout: 2) }
        XCTAssertEqual(received.map(\.payload), ["hello"])
    }

    func testPoolBoundsConnections() async throws {
        let configuration = try await TestServer.freshDatabase().owner
        let pool = ConnectionPool(configuration, maximum: 2)
        let pids = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await pool.withConnection { connection in
                        try await connection.query(Statement("", "SELECT pg_backend_pid() AS pid, pg_sleep(0.05)")).first!.decode("pid")
                    }
                }
            }
            var seen = Set<Int>()
            for try await pid in group { seen.insert(pid) }
            return seen
        }
        XCTAssertLessThanOrEqual(pids.count, 2)
    }
}
