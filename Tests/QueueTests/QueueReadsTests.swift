import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime
import TestSupport
import XCTest

/// The queue's reads that other modules use instead of their own SQL on `jobs` (schedule runs,
/// domain removal, the demo, the benchmark), and the status snapshot of `ucp status`.
final class QueueReadsTests: XCTestCase {
    var database: TestDatabase!
    var store: QueueStore!

    override func setUp() async throws {
        database = try await TestServer.freshDatabase()
        store = database.store()
    }

    func enqueue(_ kind: JobKind, _ type: String, target: String? = nil, actor: String = "test",
                 scheduleRunID: Int64? = nil) async throws -> Int64 {
        try await store.jobEnqueue(.init(kind: kind, type: type, target: target, actor: actor, scheduleRunID: scheduleRunID)).id
    }

    func testStatusSnapshotHoldsWhatStatusPrintsAndEncodes() async throws {
        let sync = try await enqueue(.sync, "sync.ldap", target: "Sales")
        _ = try await enqueue(.order, "noop")
        _ = try await store.jobClaim(worker: "w1", slots: 1, leaseSeconds: 30)
        try await store.workerRegister(name: "w1", host: "h", pid: 1, concurrency: 4)
        await assertTrue(try await store.leaderAttemptElect(role: Coordinator.leadershipRole, holder: "c1", leaseSeconds: 30))
        try await store.maintenanceSet(on: true, actor: "test")

        let status = try await store.statusSnapshot()
        XCTAssertTrue(status.maintenance.active)
        XCTAssertEqual(status.runningSyncs.map(\.id), [sync])
        XCTAssertEqual(status.queue.map { "\($0.state.rawValue) \($0.type) \($0.count)" }.sorted(),
                       ["queued noop 1", "running sync.ldap 1"])
        XCTAssertEqual(status.workers.map(\.name), ["w1"])
        XCTAssertEqual(status.workers.first?.running, 1)
        XCTAssertEqual(status.leader?.holder, "c1")

        let decoded = try JSONDecoder().decode(QueueStatus.self, from: try JSONEncoder().encode(status))
        XCTAssertEqual(decoded.runningSyncs.first?.target, "Sales")
        XCTAssertEqual(decoded.queue, status.queue)
        XCTAssertEqual(decoded.leader?.holder, "c1")
    }

    func testSyncsByScheduleRunAreTheRunsSyncsInOrder() async throws {
        let first = try await enqueue(.deviceSync, "sync.infra", target: "cucm", scheduleRunID: 7)
        let second = try await enqueue(.sync, "sync.ldap", target: "Sales", scheduleRunID: 7)
        _ = try await enqueue(.task, "schedule.run", scheduleRunID: 7)
        _ = try await enqueue(.sync, "sync.ldap", target: "Other", scheduleRunID: 8)
        await assertEqual(try await store.jobSyncsByScheduleRun(id: 7).map(\.id), [first, second])
    }

    func testUnfinishedByTargetFindsAQueuedOrRunningJobOnly() async throws {
        let connection = Connection(database.app)
        func unfinished() async throws -> Int64? {
            try await connection.withSession { try QueueStore.InTransaction($0).jobUnfinishedByTarget(kind: .sync, target: "Sales")?.id }
        }
        await assertNil(try await unfinished())
        let id = try await enqueue(.sync, "sync.ldap", target: "Sales")
        await assertEqual(try await unfinished(), id)
        _ = try await store.jobCancel(id: id, actor: "test")
        await assertNil(try await unfinished(), "a canceled sync has ended")
    }

    func testRangeReadsOfTheDemo() async throws {
        let sync = try await enqueue(.deviceSync, "sync.infra", target: "dev")
        _ = try await enqueue(.order, "noop", target: "dev", actor: "someone else")
        var ids: [Int64] = []
        for _ in 0..<3 { ids.append(try await enqueue(.order, "noop", target: "dev", actor: "demo")) }
        guard let range = try await store.jobRangeLocate(afterID: sync, type: "noop", target: "dev", submittedBy: "demo", count: 3) else {
            return XCTFail("the three orders were not found")
        }
        XCTAssertEqual(range.ids, ids[0]...ids[2])
        await assertNil(try await store.jobRangeLocate(afterID: sync, type: "noop", target: "dev", submittedBy: "demo", count: 4))

        await assertEqual(try await store.jobRangeCountByState(range), [.queued: 3])
        let claimed = try await store.jobClaim(worker: "w", slots: 10, leaseSeconds: 30)
        XCTAssertEqual(claimed.first?.id, sync, "the sync goes first; maintenance mode holds the orders")
        let summary = try await store.jobRangeSummary(range, comparedWith: sync)
        XCTAssertEqual(summary.jobs, 3)
        XCTAssertEqual(summary.succeeded, 0)
        XCTAssertEqual(summary.startedBefore, 0)
        XCTAssertNil(summary.firstStarted)
        let byWorker = try await store.jobRangeCountByWorker(range)
        XCTAssertEqual(byWorker.map(\.worker), ["no worker"])
        XCTAssertEqual(byWorker.map(\.jobs), [3])
    }

    func testBenchmarkReads() async throws {
        let owner = QueueStore(Connection(database.owner))
        await assertEqual(try await owner.jobEnqueueCopies(.init(kind: .order, type: "noop", actor: "bench"), count: 50), 50)
        try await owner.jobTableVacuum()
        await assertEqual(try await store.jobCountUnfinished(), 50)
        await assertEqual(try await store.jobCount(state: .queued), 50)
        let claimed = try await store.jobClaim(worker: "w", slots: 5, leaseSeconds: 30)
        let done = try await store.jobSucceedMany(claimed.map { .init(id: $0.id, attempt: $0.attempt) })
        XCTAssertEqual(done.count, 5)
        await assertEqual(try await store.jobCount(state: .succeeded), 5)
        await assertEqual(try await store.jobCountUnfinished(), 45)
        let latencies = try await store.jobStartLatencies(afterID: 0)
        XCTAssertEqual(latencies.count, 5)
        XCTAssertTrue(latencies.allSatisfy { $0 >= 0 })
        do {
            _ = try await owner.jobEnqueueCopies(.init(kind: .sync, type: "sync.ldap", actor: "bench"), count: 2)
            XCTFail("syncs are not copied")
        } catch let error as InputError {
            XCTAssertTrue("\(error)".contains("sync.ldap is not one"), "\(error)")
        }
    }

    /// The script pgbench runs is the worker's own claim and finish (it was typed out in the
    /// benchmark before; this is that text).
    func testPgbenchScriptIsTheWorkersClaimAndFinish() {
        XCTAssertEqual(QueueStore.pgbenchClaimFinishScript(batch: 200), """
            -- ucp bench queue: the worker's claim (200 slots) and its batched finish
            -- (QueueSQL.jobClaim and QueueSQL.jobSucceedMany), two transactions per batch as in the worker.
            SELECT coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(attempt), '{}') AS attempts
              FROM (SELECT * FROM ucp_claim('pgbench-' || :client_id, 200, 30, NULL::timestamptz)) AS claimed \\gset
            UPDATE jobs SET state = 'succeeded', finished_at = clock_timestamp(), lease_expires_at = NULL, error = NULL
              FROM unnest(:ids::bigint[], :attempts::integer[]) AS done(id, attempt)
             WHERE jobs.id = done.id AND jobs.attempt = done.attempt AND jobs.state IN ('running', 'canceling')
               AND jobs.kind IN ('order', 'task')
            RETURNING jobs.id;

            """)
    }
}
