import Foundation
import Postgres
import PostgresCluster
import Queue
import Schema
import TestSupport
import XCTest

/// A primary and a synchronous streaming standby, each a private cluster; a coordinator and two
/// workers reach them through one multi-host `DATABASE_URL` with `target_session_attrs=read-write`.
/// The standby is promoted under load; the processes find the new primary by themselves, and every
/// job ends succeeded, none lost, none run to completion by two attempts.
final class FailoverTests: XCTestCase {
    /// The pair, the processes on it, and the orders of a run.
    final class Pair: @unchecked Sendable {
        let primary: LocalCluster
        let standby: LocalCluster
        /// The multi-host URL every process (and the test's own enqueuing) uses.
        let url: String
        let processes: UCPProcesses
        let database: TestDatabase
        let store: QueueStore
        /// The login role on each server directly, for the test's checks.
        let onPrimary: Connection
        let onStandby: Connection

        init(test name: String) async throws {
            let base = NSTemporaryDirectory() + "ucp-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            // The database's name also names the processes' log folder: one of the test's own.
            let databaseName = name.replacingOccurrences(of: "-", with: "_")
            primary = LocalCluster(directory: base + "-a", database: databaseName)
            standby = LocalCluster(directory: base + "-b", database: databaseName)
            do {
                let owner = try primary.start()
                // Once promoted, the standby has no standby of its own to wait for.
                let standbyOwner = try standby.startStandby(of: primary, settings: ["synchronous_standby_names": "''"])
                onPrimary = Connection(owner)
                onStandby = Connection(standbyOwner)
                // Synchronous replication, once the standby streams (until then a commit would wait for
                // it): a commit returns once the standby has flushed it, so what a process was told is
                // written survives the promotion. `'*'`: whichever standby streams.
                try await onPrimary.withSession { session in
                    try session.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
                    try session.execute("ALTER SYSTEM SET synchronous_commit = 'on'")
                    try session.execute("SELECT pg_reload_conf()")
                }
                url = "postgresql:///\(databaseName)?host=\(primary.host),\(standby.host)&port=5432&user=\(owner.user ?? "postgres")"
                    + "&target_session_attrs=read-write"
                let multiHost = try ConnectionConfiguration(conninfo: url)
                database = TestDatabase(name: databaseName, owner: multiHost)
                processes = try UCPProcesses(database: database, environment: ["DATABASE_URL": url])
                store = database.store()
            } catch {
                standby.destroy()
                primary.destroy()
                throw error
            }
        }

        /// Waits until the primary's commits wait for the standby, then migrates the schema.
        func migrateOnceSynchronous() async throws {
            let synchronous = try await eventually(timeout: 30, interval: 0.2) {
                let streaming: Int = try await self.onPrimary.query(Statement("", """
                    SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = 'sync'
                    """)).first!.decode("n")
                return streaming == 1
            }
            XCTAssertTrue(synchronous, "the standby streams synchronously")
            _ = try await Migrator(directory: PackagePaths.root + "/migrations").apply(onPrimary, actor: "test")
        }

        func startProcesses() throws {
            try processes.start("coordinator", ["coordinator", "--name", "c1", "--rescue-interval", "1s"])
            // A lease well above the outage of a promotion: jobs in flight keep their attempt. A claim the
            // crash cut off before its answer came back is rescued once the lease runs out.
            for name in ["w1", "w2"] {
                try processes.start(name, ["worker", "--stand-in-jobs", "--name", name, "--concurrency", "8", "--lease", "15s"])
            }
        }

        /// Logging no-op orders; every tenth lasts 2 s, so some are in flight whenever the server goes.
        func enqueueOrders(_ count: Int, through store: QueueStore) async throws {
            let orders = (0..<count).map { index in
                QueueStore.EnqueueParams(kind: .order, type: "noop",
                                         payload: "{\"seconds\":\(index % 10 == 0 ? 2 : 0.1),\"log\":true}", actor: "t")
            }
            let enqueued = try await store.jobEnqueueMany(orders)
            XCTAssertEqual(enqueued, count)
        }

        func succeeded(on connection: Connection) async throws -> Int {
            try await connection.query(Statement("", "SELECT count(*) AS n FROM jobs WHERE state = 'succeeded'")).first!.decode("n")
        }

        /// Checks on the new primary: every job final and succeeded, none lost, each run to completion
        /// by exactly one attempt — the one recorded as its success — and the processes at work there.
        func assertAllDone(expected: Int, promotedAt: Date, file: StaticString = #filePath, line: UInt = #line) async throws {
            let done = try await eventually(timeout: 120, interval: 0.5) {
                let unfinished: Int = try await self.onStandby.query(Statement("", """
                    SELECT count(*) AS n FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'canceled')
                    """)).first!.decode("n")
                return unfinished == 0
            }
            XCTAssertTrue(done, "every job ends in a final state", file: file, line: line)
            let summary = try await onStandby.query(Statement("", """
                WITH finished AS (
                    SELECT job_id, count(DISTINCT attempt) AS attempts, max(attempt) AS attempt
                      FROM job_logs WHERE message = 'noop finished' GROUP BY job_id)
                SELECT (SELECT count(*) FROM jobs) AS jobs,
                       (SELECT count(*) FROM jobs WHERE state = 'succeeded') AS succeeded,
                       (SELECT count(*) FROM finished WHERE attempts > 1) AS completed_twice,
                       (SELECT count(*) FROM jobs j WHERE NOT EXISTS (
                            SELECT 1 FROM finished f WHERE f.job_id = j.id AND f.attempt = j.attempt)) AS success_not_run,
                       (SELECT count(*) FROM jobs WHERE attempt > 1) AS run_again,
                       (SELECT count(*) FROM workers WHERE heartbeat_at > $1) AS workers_beating,
                       (SELECT count(*) FROM leadership WHERE holder = 'c1' AND expires_at > $1) AS leading,
                       pg_is_in_recovery() AS standby
                """), [promotedAt]).first!
            let runAgain: Int = try summary.decode("run_again")
            let context = "(\(runAgain) job(s) ran a second attempt)"
            print("failover: jobs=\(try summary.decode("jobs", as: Int.self)) succeeded=\(try summary.decode("succeeded", as: Int.self)) "
                  + "completed_twice=\(try summary.decode("completed_twice", as: Int.self)) run_again=\(runAgain) "
                  + "final_after=\(String(format: "%.1f", Date().timeIntervalSince(promotedAt)))s logs=\(processes.logDirectory)")
            XCTAssertEqual(try summary.decode("jobs", as: Int.self), expected, "no job is lost \(context)", file: file, line: line)
            XCTAssertEqual(try summary.decode("succeeded", as: Int.self), expected, "every job succeeded \(context)", file: file, line: line)
            XCTAssertEqual(try summary.decode("completed_twice", as: Int.self), 0,
                           "no job's handler ran to completion in two attempts \(context)", file: file, line: line)
            XCTAssertEqual(try summary.decode("success_not_run", as: Int.self), 0,
                           "each success is that of the attempt that ran to completion \(context)", file: file, line: line)
            XCTAssertEqual(try summary.decode("workers_beating", as: Int.self), 2,
                           "both workers send heartbeats to the new primary", file: file, line: line)
            XCTAssertEqual(try summary.decode("leading", as: Int.self), 1, "the coordinator leads on the new primary",
                           file: file, line: line)
            XCTAssertEqual(try summary.decode("standby", as: Bool.self), false, file: file, line: line)
        }

        func destroy() {
            processes.stopAll()
            standby.destroy()
            primary.destroy()
        }
    }

    /// The primary crashes (`pg_ctl stop -m immediate`) while orders run; the standby is promoted.
    func testProcessesFollowThePromotedStandbyWhenThePrimaryCrashes() async throws {
        let pair = try await Pair(test: "failover-crash")
        defer { pair.destroy() }
        try await pair.migrateOnceSynchronous()
        try pair.startProcesses()
        try await pair.enqueueOrders(300, through: pair.store)
        await assertTrue(try await eventually(timeout: 60) { try await pair.succeeded(on: pair.onPrimary) >= 60 },
                         "orders run on the primary")

        try pair.primary.stop(mode: "immediate")
        // The outage: no server takes writes until the failover promotes the standby, seconds later.
        try await Task.sleep(nanoseconds: 3_000_000_000)
        try pair.standby.promote()
        let promotedAt = Date()
        // More work through the same URL: a new session lands on the new primary.
        try await pair.enqueueOrders(100, through: pair.database.store())
        try await pair.assertAllDone(expected: 400, promotedAt: promotedAt)
        for worker in ["w1", "w2"] {
            let log = pair.processes.log(worker)
            let outage = ["claim failed", "heartbeat failed", "recording finished jobs failed", "job log line not written"]
            XCTAssertTrue(outage.contains(where: log.contains), "\(worker) went through the outage")
        }
    }

    /// The primary is fenced off (made read-only, as a failover tool does before it promotes) and stays
    /// up: the processes' sessions stay connected to it, and their writes are refused (SQLSTATE 25006).
    /// They must drop those sessions and find the promoted standby, with nothing lost or run twice.
    func testSessionsOnAServerMadeReadOnlyMoveToTheNewPrimary() async throws {
        let pair = try await Pair(test: "failover-fence")
        defer { pair.destroy() }
        try await pair.migrateOnceSynchronous()
        try pair.startProcesses()
        try await pair.enqueueOrders(300, through: pair.store)
        await assertTrue(try await eventually(timeout: 60) { try await pair.succeeded(on: pair.onPrimary) >= 60 },
                         "orders run on the primary")

        // ALTER SYSTEM runs outside a transaction; the reload reaches every session, which then starts
        // each transaction read-only. Promote only once every transaction begun before the fence has
        // ended: a write committed after the promotion would wait for a standby that no longer streams.
        let fencedAt: Date = try await pair.onPrimary.withSession { session in
            try session.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            try session.execute("SELECT pg_reload_conf()")
            return try session.query(Statement("", "SELECT clock_timestamp() AS at")).first!.decode("at")
        }
        await assertTrue(try await eventually(timeout: 30) {
            let open: Int = try await pair.onPrimary.query(Statement("", """
                SELECT count(*) AS n FROM pg_stat_activity
                 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND xact_start < $1
                """), [fencedAt]).first!.decode("n")
            return open == 0
        }, "the transactions begun before the fence end")
        try pair.standby.promote()
        let promotedAt = Date()
        try await pair.enqueueOrders(100, through: pair.database.store())
        try await pair.assertAllDone(expected: 400, promotedAt: promotedAt)
        // No session of the processes stays behind on the fenced server, not even one that only
        // listens for notifications (the test's own first session is closed first).
        await pair.store.connection.close()
        await assertTrue(try await eventually(timeout: 30, interval: 0.5) {
            let left: Int = try await pair.onPrimary.query(Statement("", """
                SELECT count(*) AS n FROM pg_stat_activity
                 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = current_database()
                """)).first!.decode("n")
            return left == 0
        }, "every session left the fenced server")
    }
}
