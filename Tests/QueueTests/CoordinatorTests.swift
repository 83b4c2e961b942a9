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

    // A worker paused inside a fenced write keeps its job's row locked, so the rescue (which skips
    // locked rows) cannot end the job. The leader ends that worker's sessions once the lease has run
    // out: the late write rolls back and the next round rescues the job. A healthy worker's open
    // transaction is left alone.
    func testAPausedWorkersLockIsBrokenAndItsJobRescued() async throws {
        let leader = coordinator("c1")
        try await leader.runOnce()
        let lostID = try await store.jobEnqueue(.init(kind: .order, type: "noop", actor: "t")).id
        let lost = try await store.jobClaim(worker: "w", slots: 1, leaseSeconds: 30, now: clock.now)[0]
        clock.advance(by: 20)
        let healthy = try await store.jobEnqueue(.init(kind: .order, type: "noop", actor: "t")).id
        let kept = try await store.jobClaim(worker: "w2", slots: 1, leaseSeconds: 30, now: clock.now)[0]
        XCTAssertEqual(kept.id, healthy)

        /// A fenced transaction of `worker` for `job`, held open (the worker "paused") until released.
        func fencedWrite(worker: String, job: Job, locked: DispatchSemaphore, release: DispatchSemaphore) -> Task<Void, any Error> {
            let connection = Connection(database.app.named(Worker.sessionNamePrefix + worker))
            return Task {
                try await connection.transaction { session in
                    let owned = QueueStore.InTransaction(session)
                    try owned.jobConfirmOwned(.init(id: job.id, attempt: job.attempt))
                    try owned.auditAppend(actor: worker, action: "test.late_write", jobID: job.id, message: "late")
                    locked.signal()
                    release.wait()
                }
            }
        }
        let lostLocked = DispatchSemaphore(value: 0), keptLocked = DispatchSemaphore(value: 0)
        let releaseLost = DispatchSemaphore(value: 0), releaseKept = DispatchSemaphore(value: 0)
        let lostWrite = fencedWrite(worker: "w", job: lost, locked: lostLocked, release: releaseLost)
        let keptWrite = fencedWrite(worker: "w2", job: kept, locked: keptLocked, release: releaseKept)
        XCTAssertEqual(lostLocked.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(keptLocked.wait(timeout: .now() + 10), .success)

        clock.advance(by: 11)  // w's lease ran out 1 s ago; w2's holds
        try await leader.runOnce()
        await assertEqual(try await store.jobGet(id: lostID)?.state, .running, "the locked row was skipped")
        releaseLost.signal()
        do {
            try await lostWrite.value
            XCTFail("the paused worker's write committed after its lease ran out")
        } catch {}
        clock.advance(by: 5)  // the rescue's next round
        try await leader.runOnce()
        await assertEqual(try await store.jobGet(id: lostID)?.state, .queued, "rescued once the lock was gone")
        releaseKept.signal()
        let keptOutcome = await keptWrite.result
        XCTAssertNoThrow(try keptOutcome.get(), "the healthy worker's write commits")
        await assertEqual(try await store.jobGet(id: healthy)?.state, .running)
        let lateWrites = try await store.auditList(since: nil, jobID: nil, limit: 100).filter { $0.action == "test.late_write" }
        XCTAssertEqual(lateWrites.map(\.actor), ["w2"], "only the healthy worker's write stands")
    }

}
