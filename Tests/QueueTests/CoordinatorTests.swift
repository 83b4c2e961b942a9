import Foundation
import Logging
import Postgres
import Queue
import Runtime
import TestSupport
import XCTest

/// The coordinator's rounds, called one by one on a test clock: leadership, lease rescue and pruning
/// judged by the time the test plays.
final class CoordinatorTests: XCTestCase {
    var database: TestDatabase!
    var store: QueueStore!
    /// A minute ahead of the database's clock: what a test enqueues is due at the coordinator's time.
    var clock: ManualTimeSource!

    override func setUp() async throws {
        database = try await TestServer.freshDatabase()
        store = database.store()
        clock = ManualTimeSource(now: Date().addingTimeInterval(60))
    }

    func coordinator(_ name: String) -> Coordinator {
        var configuration = CoordinatorConfiguration(name: name)
        configuration.leaderLeaseSeconds = 20  // the lease row is written for 15 s
        return Coordinator(configuration: configuration, database: database.app, logger: Logger(label: "test"),
                           clock: clock)
    }

    func testTheLeaderRescuesExpiredLeasesAndAStandbyTakesOverWhenItsLeaseRunsOut() async throws {
        let first = coordinator("c1")
        let second = coordinator("c2")
        try await first.runOnce()
        try await second.runOnce()
        XCTAssertTrue(first.isLeading)
        XCTAssertFalse(second.isLeading)

        let orderID = try await store.jobEnqueue(.init(kind: .order, type: "noop", actor: "t")).id
        _ = try await store.jobClaim(worker: "w", slots: 1, leaseSeconds: 30, now: clock.now)
        clock.advance(by: 10)
        try await first.runOnce()
        await assertEqual(try await store.jobGet(id: orderID)?.state, .running, "the job's lease holds")
        clock.advance(by: 21)
        try await first.runOnce()
        await assertEqual(try await store.jobGet(id: orderID)?.state, .queued, "rescued by the leader")
        await assertEqual(try await store.jobGet(id: orderID)?.error, "worker lost")

        // The leader falls silent: the standby takes over once the lease it renewed last runs out.
        clock.advance(by: 14)
        try await second.runOnce()
        XCTAssertFalse(second.isLeading)
        clock.advance(by: 2)
        try await second.runOnce()
        XCTAssertTrue(second.isLeading)
        try await first.runOnce()
        XCTAssertFalse(first.isLeading, "the old leader stands by")
        let elected = try await store.auditList(since: nil, jobID: nil, limit: 100).filter { $0.action == "coordinator.leader" }
        XCTAssertEqual(elected.map(\.actor), ["c1", "c2"])
    }

    func testTheLeaderPrunesOldJobsAndWorkersByItsClock() async throws {
        let leader = coordinator("c1")
        _ = try await store.jobEnqueue(.init(kind: .order, type: "noop", actor: "t"))
        let job = try await store.jobClaim(worker: "w", slots: 1, leaseSeconds: 30, now: clock.now)[0]
        await assertEqual(try await store.jobEnd(.init(id: job.id, attempt: job.attempt), outcome: .succeeded, actor: "w"),
                          .succeeded)
        try await store.workerRegister(name: "w", host: "h", pid: 1, concurrency: 1)
        try await store.workerStopped(name: "w")
        func counts() async throws -> (jobs: Int, workers: Int) {
            let owner = Connection(database.owner)
            let rows = try await owner.query(Statement("", """
                SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM workers) AS workers
                """))
            return (try rows[0].decode("jobs"), try rows[0].decode("workers"))
        }
        try await leader.runOnce()
        await assertEqual(try await counts().jobs, 1, "kept for the retention (7 days)")
        clock.advance(by: 8 * 86400)
        try await leader.runOnce()
        XCTAssertTrue(leader.isLeading)
        let after = try await counts()
        XCTAssertEqual(after.jobs, 0)
        XCTAssertEqual(after.workers, 0)
    }
}
