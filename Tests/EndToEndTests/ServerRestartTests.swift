import Foundation
import JobCatalog
import Postgres
import PostgresCluster
import Queue
import Schema
import TestSupport
import XCTest

/// PostgreSQL goes away for five seconds under load: the processes reconnect by themselves.
final class ServerRestartTests: XCTestCase {
    func testProcessesSurviveAFiveSecondOutage() async throws {
        // A cluster of this test's own, since it is stopped and started.
        let folder = NSTemporaryDirectory() + "ucp-restart-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let cluster = LocalCluster(directory: folder, database: "ucp")
        defer { cluster.destroy() }
        let owner = try cluster.start()
        _ = try await Migrator(directory: PackagePaths.root + "/migrations").apply(Connection(owner), actor: "test")
        let database = TestDatabase(name: "ucp", owner: owner)
        let store = database.store()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("coordinator", ["coordinator", "--name", "c1", "--rescue-interval", "1s"])
        try processes.start("w1", ["worker", "--stand-in-jobs", "--name", "w1", "--concurrency", "8", "--stand-in-sync", "*=seconds:1"])
        try processes.start("w2", ["worker", "--stand-in-jobs", "--name", "w2", "--concurrency", "8", "--stand-in-sync", "*=seconds:1"])

        let orders = (0..<400).map { _ in
            QueueStore.EnqueueParams(kind: .order, type: "noop", payload: "{\"seconds\":0.05,\"log\":true}", actor: "t")
        }
        _ = try await store.jobEnqueueMany(orders)
        for index in 0..<3 {
            _ = try await store.jobEnqueue(.init(DomainSync.self, target: "d\(index)", actor: "t"))
        }
        // Under load: orders are being worked on when the server goes.
        let busy = try await eventually(timeout: 30) {
            try await store.jobList(state: .succeeded, type: "noop", limit: 20).count >= 20
        }
        XCTAssertTrue(busy)
        try cluster.stop(mode: "fast")
        try await Task.sleep(nanoseconds: 5_000_000_000)
        try cluster.start()

        let connection = Connection(owner)
        let done = try await eventually(timeout: 120, interval: 0.5) {
            let unfinished: Int = try await connection.query(Statement("", """
                SELECT count(*) AS n FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'canceled')
                """)).first!.decode("n")
            return unfinished == 0
        }
        XCTAssertTrue(done, "every job ends in a final state")
        let summary = try await connection.query(Statement("", """
            SELECT (SELECT count(*) FROM jobs) AS jobs,
                   (SELECT count(*) FROM jobs WHERE type = 'noop' AND state = 'succeeded') AS orders_succeeded,
                   (SELECT count(*) FROM (SELECT job_id FROM job_logs WHERE message = 'noop finished'
                                           GROUP BY job_id HAVING count(*) > 1) twice) AS ran_twice,
                   (SELECT count(*) FROM jobs j WHERE j.type = 'noop' AND NOT EXISTS (
                        SELECT 1 FROM job_logs l WHERE l.job_id = j.id AND l.message = 'noop finished')) AS never_finished
            """)).first!
        XCTAssertEqual(try summary.decode("jobs", as: Int.self), 403, "no job is lost")
        XCTAssertEqual(try summary.decode("orders_succeeded", as: Int.self), 400)
        XCTAssertEqual(try summary.decode("ran_twice", as: Int.self), 0, "no order ran twice to success")
        XCTAssertEqual(try summary.decode("never_finished", as: Int.self), 0)
        // The processes are still alive and serve new work.
        let after = try await store.jobEnqueue(.init(kind: .order, type: "noop", actor: "t")).id
        await assertTrue(try await eventually(timeout: 10) { try await store.jobGet(id: after)?.state == .succeeded })
        await assertTrue(try await eventually(timeout: 10) { try await store.leaderGet(role: "coordinator")?.holder == "c1" })
    }
}
