import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime
import TestSupport
import XCTest

/// The queue's rules, checked statement by statement against a real PostgreSQL.
final class QueueRulesTests: XCTestCase {
    var database: TestDatabase!
    var store: QueueStore!
    /// The time the tests play, passed to the statements that judge by it. It starts a minute ahead
    /// of the database's clock, so that what a test enqueues is due at its time, on a whole second,
    /// so that times written and read back compare exactly.
    var clock: ManualTimeSource!

    override func setUp() async throws {
        database = try await TestServer.freshDatabase()
        store = database.store()
        clock = ManualTimeSource(now: Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 60).rounded(.up)))
    }

    func enqueue(_ kind: JobKind, _ type: String, target: String? = nil, key: String? = nil, group: String? = nil,
                 payload: String = "{}", runAt: Date? = nil, maxAttempts: Int = 5) async throws -> Int64 {
        try await store.jobEnqueue(.init(kind: kind, type: type, target: target, payload: payload, runAt: runAt,
                                         maxAttempts: maxAttempts, dedupKey: key, actor: "test", syncGroup: group)).id
    }

    func claim(_ slots: Int, worker: String = "w", now: Date? = nil) async throws -> [Job] {
        try await store.jobClaim(worker: worker, slots: slots, leaseSeconds: 30, now: now)
    }

    func held(_ job: Job) -> QueueStore.Held { .init(id: job.id, attempt: job.attempt) }

    func auditActions() async throws -> [String] {
        try await store.auditList(since: nil, jobID: nil, limit: 1000).map(\.action)
    }

    func testClaimTakesBatchesBoundedBySlotsInPriorityOrder() async throws {
        for index in 0..<5 {
            _ = try await store.jobEnqueue(.init(kind: .order, type: "noop", priority: index == 3 ? 10 : 0, actor: "test"))
        }
        let first = try await claim(2)
        XCTAssertEqual(first.count, 2)
        XCTAssertEqual(first.map(\.priority).max(), 10, "the high-priority job comes first")
        XCTAssertTrue(first.allSatisfy { $0.state == .running && $0.attempt == 1 && $0.worker == "w" })
        let rest = try await claim(10)
        XCTAssertEqual(rest.count, 3)
        await assertTrue(try await claim(10).isEmpty)
    }

    func testFutureJobsWaitForTheirTime() async throws {
        _ = try await enqueue(.order, "noop", runAt: Date().addingTimeInterval(3600))
        await assertTrue(try await claim(5).isEmpty)
    }

    func testDeduplicationKeyKeepsOnePendingJob() async throws {
        let first = try await store.jobEnqueue(.init(kind: .sync, type: "sync.domain", target: "d", dedupKey: "k", actor: "t"))
        let second = try await store.jobEnqueue(.init(kind: .sync, type: "sync.domain", target: "d", dedupKey: "k", actor: "t"))
        XCTAssertTrue(first.created)
        XCTAssertFalse(second.created)
        XCTAssertEqual(first.id, second.id)
        // Once it runs, the same sync may be queued again (it waits for the running one).
        await assertEqual(try await claim(1).count, 1)
        let third = try await store.jobEnqueue(.init(kind: .sync, type: "sync.domain", target: "d", dedupKey: "k", actor: "t"))
        XCTAssertTrue(third.created)
    }

    func testLateFinishAfterRescueIsRefused() async throws {
        _ = try await enqueue(.order, "noop")
        let job = try await claim(1, now: clock.now)[0]
        // The worker goes silent: its 30 s lease expires and the coordinator rescues the job.
        await assertEqual(try await store.jobRescueExpired(actor: "coordinator", now: clock.now).count, 0, "the lease holds")
        clock.advance(by: 31)
        let rescued = try await store.jobRescueExpired(actor: "coordinator", now: clock.now)
        XCTAssertEqual(rescued.map(\.state), [.queued])
        let again = try await claim(1, worker: "w2", now: clock.now)[0]
        XCTAssertEqual(again.attempt, 2)
        // The first worker wakes up and tries to finish: refused.
        let late = try await store.jobEnd(held(job), outcome: .succeeded, actor: "w")
        XCTAssertNil(late)
        await assertTrue(try await store.jobSucceedMany([held(job)]).isEmpty)
        await assertNil(try await store.jobProgress(held(job), done: 1, total: 2, message: nil, leaseSeconds: 30))
        await assertEqual(try await store.jobEnd(held(again), outcome: .succeeded, actor: "w2"), .succeeded)
        await assertEqual(try await store.jobGet(id: job.id)?.state, .succeeded)
    }

    // The closing line of JobContext.logOnSuccess is written with the success, in its statement: a
    // rescued attempt's late success writes neither, and the current attempt's writes both.
    func testClosingLinesAreWrittenOnlyWithTheSuccess() async throws {
        _ = try await enqueue(.order, "noop")
        _ = try await enqueue(.order, "noop")
        let jobs = try await claim(2, now: clock.now)
        clock.advance(by: 31)
        await assertEqual(try await store.jobRescueExpired(actor: "coordinator", now: clock.now).count, 2)
        let again = try await claim(1, worker: "w2", now: clock.now)
        XCTAssertEqual(again.map(\.attempt), [2])
        let late = jobs.map(held)
        let lines = Dictionary(uniqueKeysWithValues: (late + again.map(held)).map { ($0, "finished \($0.attempt)") })
        // The old worker's batch: both attempts were rescued, nothing is written.
        await assertEqual(try await store.jobSucceedMany(late, closingLines: lines), [])
        for job in jobs { await assertEqual(try await store.jobLogRead(id: job.id).map(\.message), []) }
        // The new attempt's success writes its line, and only its line.
        await assertEqual(try await store.jobSucceedMany(again.map(held), closingLines: lines), [again[0].id])
        let log = try await store.jobLogRead(id: again[0].id)
        XCTAssertEqual(log.map(\.message), ["finished 2"])
        XCTAssertEqual(log.map(\.attempt), [2])
        await assertEqual(try await store.jobGet(id: again[0].id)?.state, .succeeded)
    }

    // A log line sent while the coordinator's rescue of the attempt is under way (its transaction
    // holds the job's row) waits for the rescue and is refused: judged by an older snapshot it
    // would be written after the rescue.
    func testALogLineDuringARescueWaitsForItAndIsRefused() async throws {
        _ = try await enqueue(.order, "noop")
        let job = try await claim(1, now: clock.now)[0]
        clock.advance(by: 31)
        let now = clock.now
        let rescuer = Connection(database.owner)
        let rescue = Task {
            try await rescuer.transaction { session in
                _ = try session.query(Statement("", "SELECT count(*) FROM ucp_rescue_expired($1, $2::timestamptz)"),
                                      ["coordinator", now])
                _ = try session.query(Statement("", "SELECT pg_sleep(1.5)"))
            }
        }
        let observer = Connection(database.owner)
        await assertTrue(try await eventually(timeout: 10, interval: 0.02) {
            let sleeping: Int = try await observer.query(Statement("", """
                SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'
                """)).first!.decode("n")
            return sleeping == 1
        }, "the rescue holds the row")
        await assertFalse(try await store.jobLogAppend(held(job), level: "info", message: "late"))
        try await rescue.value
        await assertEqual(try await store.jobGet(id: job.id)?.state, .queued)
        await assertEqual(try await store.jobLogRead(id: job.id).map(\.message), [], "nothing written for the rescued attempt")
    }

    func testRescuedJobIsSupersededByAQueuedTwinWithTheSameKey() async throws {
        let first = try await enqueue(.order, "noop", key: "order:x")
        _ = try await claim(1, now: clock.now)
        let twin = try await enqueue(.order, "noop", key: "order:x")
        XCTAssertNotEqual(first, twin)
        clock.advance(by: 31)
        let rescued = try await store.jobRescueExpired(actor: "coordinator", now: clock.now)
        XCTAssertEqual(rescued.map(\.state), [.canceled], "the queued twin does the work; rescue must not fail on the key")
        await assertEqual(try await store.jobGet(id: twin)?.state, .queued)
    }

    func testRescueFailsASyncWithWorkerLostAndFreesTheSlot() async throws {
        let syncID = try await enqueue(.deviceSync, "sync.infra", target: "cucm1")
        _ = try await enqueue(.deviceSync, "sync.user", target: "cucm2")
        await assertEqual(try await claim(5, now: clock.now).map(\.id), [syncID])
        clock.advance(by: 31)
        _ = try await store.jobRescueExpired(actor: "coordinator", now: clock.now)
        let sync = try await store.jobGet(id: syncID)
        XCTAssertEqual(sync?.state, .failed)
        XCTAssertEqual(sync?.error, "worker lost")
        XCTAssertEqual(sync?.finishedAt, clock.now, "ended at the time the coordinator judged by")
        // The slot is free: the next sync starts.
        await assertEqual(try await claim(5, now: clock.now).map(\.type), ["sync.user"])
    }

    func testOnlyOneSyncRunsAndOthersWait() async throws {
        _ = try await enqueue(.sync, "sync.domain", target: "d1")
        _ = try await enqueue(.deviceSync, "sync.infra", target: "c1")
        _ = try await enqueue(.sync, "sync.ldap", target: "d2")
        let first = try await claim(10)
        XCTAssertEqual(first.map(\.type), ["sync.domain"])
        await assertTrue(try await claim(10).isEmpty, "a second sync must wait")
        await assertEqual(try await store.jobEnd(held(first[0]), outcome: .succeeded, actor: "w"), .succeeded)
        await assertEqual(try await claim(10).map(\.type), ["sync.infra"])
    }

    func testDatabaseRefusesTwoRunningSyncsEvenWithoutTheClaim() async throws {
        let a = try await enqueue(.sync, "sync.domain", target: "d1")
        let b = try await enqueue(.sync, "sync.ldap", target: "d2")
        let owner = Connection(database.owner)
        let start = Statement("", "UPDATE jobs SET state = 'running', worker = 'x', lease_expires_at = now() + interval '1 minute' WHERE id = $1")
        try await owner.query(start, [a])
        do {
            try await owner.query(start, [b])
            XCTFail("two running syncs accepted")
        } catch let error as PostgresError {
            XCTAssertEqual(error.kind, .exclusionViolation)
        }
    }

    func testParallelGroupRunsDeviceSyncsTogetherButNeverTwoOnOneDevice() async throws {
        _ = try await enqueue(.deviceSync, "sync.infra", target: "c1", group: "run:1")
        _ = try await enqueue(.deviceSync, "sync.user", target: "c1", group: "run:1")
        _ = try await enqueue(.deviceSync, "sync.infra", target: "c2", group: "run:1")
        _ = try await enqueue(.sync, "sync.domain", target: "d1")
        let running = try await claim(10)
        XCTAssertEqual(Set(running.compactMap(\.target)), ["c1", "c2"])
        XCTAssertEqual(running.count, 2)
        let c1 = running.first { $0.target == "c1" }!
        await assertEqual(try await store.jobEnd(held(c1), outcome: .succeeded, actor: "w"), .succeeded)
        let next = try await claim(10)
        XCTAssertEqual(next.map(\.type), ["sync.user"], "the group's second sync of c1 follows; the domain sync waits")
    }

    func testMaintenanceModeHoldsOrdersWhileADeviceSyncRunsOrIsDue() async throws {
        let orderRunning = try await enqueue(.order, "noop")
        let running = try await claim(1)
        XCTAssertEqual(running.map(\.id), [orderRunning])
        let syncID = try await enqueue(.deviceSync, "sync.infra", target: "c1")
        _ = try await enqueue(.order, "noop")
        var state = try await store.maintenanceState()
        XCTAssertTrue(state.active, "a due infrastructure sync puts the system in maintenance mode")
        await assertTrue(try await claim(10).isEmpty, "no order starts, and the sync waits for the running order")
        await assertEqual(try await store.jobEnd(held(running[0]), outcome: .succeeded, actor: "w"), .succeeded)
        let sync = try await claim(10)
        XCTAssertEqual(sync.map(\.id), [syncID])
        await assertTrue(try await claim(10).isEmpty, "orders wait while the sync runs")
        await assertEqual(try await store.jobEnd(held(sync[0]), outcome: .succeeded, actor: "w"), .succeeded)
        state = try await store.maintenanceState()
        XCTAssertFalse(state.active)
        await assertEqual(try await claim(10).count, 1, "the held order starts when the sync ends")
        let actions = try await auditActions().filter { $0.hasPrefix("maintenance.") }
        XCTAssertEqual(actions, ["maintenance.entered", "maintenance.exited"])
    }

    func testManualMaintenanceHoldsOrdersUntilSwitchedOff() async throws {
        try await store.maintenanceSet(on: true, actor: "alice")
        _ = try await enqueue(.order, "noop")
        await assertTrue(try await claim(10).isEmpty)
        let state = try await store.maintenanceState()
        XCTAssertEqual(state.reason, "switched on by alice")
        try await store.maintenanceSet(on: false, actor: "alice")
        await assertEqual(try await claim(10).count, 1)
        await assertEqual(try await auditActions().filter { $0.hasPrefix("maintenance.") }, ["maintenance.manual_on", "maintenance.entered", "maintenance.manual_off", "maintenance.exited"])
    }

    /// A retry runs its delay after the time given (the test's), or with none after the database's
    /// clock — never a worker's own clock, which may be off the server's.
    func testRetryableFailureGoesBackToTheQueueUntilAttemptsRunOut() async throws {
        _ = try await enqueue(.order, "noop", maxAttempts: 3)
        let first = try await claim(1)[0]
        await assertEqual(try await store.jobEnd(held(first), outcome: .retry, error: "busy", retryDelaySeconds: 30,
                                                 now: clock.now, actor: "w"), .queued)
        await assertEqual(try await store.jobGet(id: first.id)?.runAt, clock.now.addingTimeInterval(30))
        await assertTrue(try await claim(1, now: clock.now.addingTimeInterval(29)).isEmpty, "not before its delay")
        let second = try await claim(1, now: clock.now.addingTimeInterval(30))[0]
        XCTAssertEqual(second.attempt, 2)

        let databaseNow = Statement("", "SELECT clock_timestamp() AS now")
        let before: Date = try await store.connection.query(databaseNow).first!.decode("now")
        await assertEqual(try await store.jobEnd(held(second), outcome: .retry, error: "busy", retryDelaySeconds: 600, actor: "w"), .queued)
        let after: Date = try await store.connection.query(databaseNow).first!.decode("now")
        let requeued = try await store.jobGet(id: first.id)
        let runAt = try XCTUnwrap(requeued).runAt
        XCTAssertTrue((before.addingTimeInterval(600)...after.addingTimeInterval(600)).contains(runAt),
                      "\(runAt) is 600 s after the database's time, from \(before) to \(after)")
        let third = try await claim(1, now: runAt)[0]
        await assertEqual(try await store.jobEnd(held(third), outcome: .retry, error: "busy", retryDelaySeconds: 30, actor: "w"), .failed)
        await assertEqual(try await store.jobGet(id: first.id)?.error, "busy")
    }

    func testCancelEndsQueuedJobsAtOnceAndMarksRunningOnesCanceling() async throws {
        let queued = try await enqueue(.order, "noop", runAt: Date().addingTimeInterval(60))
        await assertEqual(try await store.jobCancel(id: queued, actor: "bob"), .canceled)
        let runningID = try await enqueue(.order, "noop")
        let running = try await claim(1)[0]
        XCTAssertEqual(running.id, runningID)
        await assertEqual(try await store.jobCancel(id: runningID, actor: "bob"), .canceling)
        let states = try await store.jobHeartbeat(worker: "w", held: [held(running)], leaseSeconds: 30).renewed
        XCTAssertEqual(states[held(running)], .canceling, "the handler learns of the cancel at its heartbeat")
        await assertEqual(try await store.jobEnd(held(running), outcome: .canceled, actor: "w"), .canceled)
        do {
            _ = try await store.jobCancel(id: runningID, actor: "bob")
            XCTFail("cancel of a finished job accepted")
        } catch let error as PostgresError {
            XCTAssertEqual(error.kind, .raised)
            XCTAssertTrue(error.message.contains("already finished"))
        }
    }

    /// A transaction writing on one job's behalf holds that job's row (FOR SHARE, the fence) while it
    /// runs. The worker's heartbeat must not wait for it: the leases of the worker's other jobs would
    /// run out meanwhile and the coordinator rescue jobs that are running fine.
    /// A claim that read maintenance mode "off" must not start its orders after `maintenance on`
    /// returned: the switch waits for the claim in flight (here held open in a transaction).
    func testSwitchingMaintenanceOnWaitsForAClaimInFlight() async throws {
        let order = try await enqueue(.order, "noop")
        let claiming = Connection(database.app)
        try await claiming.withSession { session in
            try session.execute("BEGIN")
            try session.execute("SELECT count(*) FROM ucp_claim('w', 1, 30)")
        }
        let store = store!
        let answered = Answered()
        let switching = Task {
            defer { answered.set() }
            try await store.maintenanceSet(on: true, actor: "alice")
        }
        let owner = Connection(database.owner)
        let waitingOnTheClaimLock = Statement("", """
            SELECT 1 FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND query LIKE '%maintenance_set%'
            """)
        let settled = try await eventually(timeout: 10) {
            answered.isSet ? true : try await !owner.query(waitingOnTheClaimLock).isEmpty
        }
        let answeredWhileTheClaimWasOpen = answered.isSet
        try await claiming.withSession { try $0.execute("COMMIT") }
        try await switching.value
        XCTAssertTrue(settled)
        XCTAssertFalse(answeredWhileTheClaimWasOpen, "maintenance on returned while a claim that read it off was still starting orders")
        await assertEqual(try await store.jobGet(id: order)?.state, .running)
        let startedFirst: Bool = try await owner.query(Statement("", """
            SELECT j.started_at < c.manual_at AS first FROM jobs j, control c WHERE j.id = $1
            """), [order]).first!.decode("first")
        XCTAssertTrue(startedFirst, "the order started before maintenance mode went on, never after")
    }

    func testAHeartbeatRenewsTheOtherLeasesWhileAFencedTransactionHoldsOneJob() async throws {
        _ = try await enqueue(.order, "noop")
        _ = try await enqueue(.order, "noop")
        let jobs = try await claim(2, now: clock.now)
        XCTAssertEqual(jobs.count, 2)
        let (writing, other) = (held(jobs[0]), held(jobs[1]))
        let fence = Connection(database.app)
        try await fence.withSession { session in
            try session.execute("BEGIN")
            try QueueStore.InTransaction(session).jobConfirmOwned(writing)
        }
        clock.advance(by: 20)
        let now = clock.now, store = store!
        let answered = Answered()
        let beat = Task {
            defer { answered.set() }
            return try await store.jobHeartbeat(worker: "w", held: [writing, other], leaseSeconds: 30, now: now)
        }
        let inTime = try await eventually(timeout: 10) { answered.isSet }
        if !inTime { try await fence.withSession { try $0.execute("COMMIT") } }
        XCTAssertTrue(inTime, "the heartbeat waited for the fenced transaction")
        let heartbeat = try await beat.value
        XCTAssertEqual(heartbeat.renewed, [other: .running], "the other job's lease is renewed")
        XCTAssertEqual(heartbeat.busy, [writing], "the held job is still ours, renewed at a later beat")
        try await fence.withSession { try $0.execute("COMMIT") }
        let leases = try await store.jobGet(id: other.id)?.leaseExpiresAt
        XCTAssertEqual(leases, clock.now.addingTimeInterval(30))
        let again = try await store.jobHeartbeat(worker: "w", held: [writing, other], leaseSeconds: 30, now: clock.now)
        XCTAssertEqual(again.renewed, [writing: .running, other: .running])
        XCTAssertTrue(again.busy.isEmpty)
    }

    func testStopStuckRefusesAProgressingSyncAndStopsAStuckOne() async throws {
        _ = try await enqueue(.deviceSync, "sync.infra", target: "c1")
        let sync = try await claim(1, now: clock.now)[0]
        var params = QueueStore.StopStuckParams(id: sync.id, actor: "op", minimumIdleSeconds: 3600,
                                                action: "sync.stop_stuck", message: "stopped by op")
        clock.advance(by: 3599)
        params.now = clock.now
        do {
            _ = try await store.jobStopStuck(params)
            XCTFail("a progressing sync was stopped")
        } catch let error as PostgresError {
            XCTAssertTrue(error.message.contains("is progressing"), error.message)
        }
        clock.advance(by: 1)
        params.now = clock.now
        let stopped = try await store.jobStopStuck(params)
        XCTAssertEqual(stopped.state, .failed)
        XCTAssertEqual(stopped.error, "stopped by op")
        await assertFalse(try await store.maintenanceState().active, "stopping frees maintenance mode")
        await assertNil(try await store.jobEnd(held(sync), outcome: .succeeded, actor: "w"), "the stuck worker is fenced off")
        await assertTrue(try await auditActions().contains("sync.stop_stuck"))
    }

    func testProgressTimeMovesOnlyWhenProgressChanges() async throws {
        _ = try await enqueue(.sync, "sync.domain", target: "d")
        let sync = try await claim(1, now: clock.now)[0]
        clock.advance(by: 10)
        _ = try await store.jobProgress(held(sync), done: 1, total: 10, message: "a", leaseSeconds: 30, now: clock.now)
        let first = try await store.jobGet(id: sync.id)?.progress.changedAt
        XCTAssertEqual(first, clock.now)
        clock.advance(by: 10)
        _ = try await store.jobProgress(held(sync), done: 1, total: 10, message: "a", leaseSeconds: 30, now: clock.now)
        await assertEqual(try await store.jobGet(id: sync.id)?.progress.changedAt, first)
        await assertEqual(try await store.jobGet(id: sync.id)?.leaseExpiresAt, clock.now.addingTimeInterval(30),
                          "the same progress still renews the lease")
        clock.advance(by: 10)
        _ = try await store.jobProgress(held(sync), done: 2, total: 10, message: "a", leaseSeconds: 30, now: clock.now)
        await assertGreaterThan(try await store.jobGet(id: sync.id)!.progress.changedAt!, first!)
    }

    func testAuditTrailIsAppendOnlyForTheProcessRole() async throws {
        try await store.auditAppend(actor: "t", action: "test", message: "hello")
        let app = Connection(database.app)
        for statement in ["UPDATE audit_log SET message = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
            do {
                try await app.query(Statement("", statement))
                XCTFail("\(statement) accepted")
            } catch let error as PostgresError {
                XCTAssertEqual(error.kind, .insufficientPrivilege, statement)
            }
        }
        // Not even the owner can change it.
        do {
            try await Connection(database.owner).query(Statement("", "DELETE FROM audit_log"))
            XCTFail("owner deleted audit lines")
        } catch {}
        await assertEqual(try await store.auditList(since: nil, jobID: nil, limit: 1000).filter { $0.action == "test" }.map(\.message),
                          ["hello"])
    }

    func testBulkEnqueueCopiesAndRefusesSyncs() async throws {
        let jobs = (0..<5000).map { _ in QueueStore.EnqueueParams(kind: .order, type: "noop", actor: "t") }
        await assertEqual(try await store.jobEnqueueMany(jobs), 5000)
        await assertEqual(try await claim(1000).count, 1000)
        do {
            _ = try await store.jobEnqueueMany([.init(kind: .deviceSync, type: "sync.infra", target: "c", actor: "t")])
            XCTFail("bulk enqueue accepted a sync")
        } catch is InputError {}
    }

    /// Bulk rows given no time are due at the transaction's time on the database's clock (what the
    /// column's default gives a row), not the client's; a row's own time is kept. The transaction's
    /// time is taken before the client reads its own clock, so the client's time cannot match it.
    func testBulkEnqueueDatesRowsWithoutATimeByTheDatabasesClock() async throws {
        let given = clock.now.addingTimeInterval(3600)
        let dated = try await Connection(database.app).transaction { session -> (Int, Int) in
            _ = try session.query(Statement("", "SELECT 1"))
            _ = try QueueStore.InTransaction(session).jobEnqueueMany([nil, given, nil].map {
                QueueStore.EnqueueParams(kind: .order, type: "noop", runAt: $0, actor: "t")
            })
            let row = try session.query(Statement("", """
                SELECT count(*) FILTER (WHERE run_at = now()) AS now, count(*) FILTER (WHERE run_at = $1) AS given FROM jobs
                """), [given]).first!
            return (try row.decode("now"), try row.decode("given"))
        }
        XCTAssertEqual(dated.0, 2, "the rows without a time, at the transaction's time")
        XCTAssertEqual(dated.1, 1, "the row with its own")
    }

    /// The bulk enqueue that returns ids answers each job's own id, in the order given (the caller
    /// links each to its order) and refuses syncs;
    /// audit lines written together keep their order.
    func testBulkEnqueueReturnsEachJobsIDInOrderAndAuditLinesKeepTheirs() async throws {
        let targets = (1...300).map { "order \($0)" }
        let ids = try await Connection(database.app).transaction { session -> [Int64] in
            let queue = QueueStore.InTransaction(session)
            let ids = try queue.jobEnqueueManyReturningIDs(targets.map { QueueStore.EnqueueParams(kind: .order, type: "noop", target: $0, actor: "t") })
            try queue.auditAppendMany(zip(ids, targets).map { QueueStore.AuditLine(actor: "t", action: "bulk", jobID: $0, target: $1, message: $1) })
            return ids
        }
        XCTAssertEqual(ids.count, targets.count)
        XCTAssertEqual(ids, ids.sorted())
        for (id, target) in zip(ids, targets) {
            let job = try await store.jobGet(id: id)
            XCTAssertEqual(job?.target, target)
            XCTAssertEqual(job?.state, .queued)
        }
        let audit = try await store.auditList(since: nil, jobID: nil, limit: 1000, action: "bulk")
        XCTAssertEqual(audit.map(\.message), targets)
        XCTAssertEqual(audit.map(\.jobID), ids.map { Optional($0) })
        do {
            _ = try await Connection(database.app).transaction {
                try QueueStore.InTransaction($0).jobEnqueueManyReturningIDs([.init(kind: .sync, type: "sync.domain", target: "c", actor: "t")])
            }
            XCTFail("bulk enqueue accepted a sync")
        } catch is InputError {}
    }

    func testPruneDeletesOldFinishedJobsOnly() async throws {
        _ = try await enqueue(.order, "noop")
        let job = try await claim(1)[0]
        _ = try await store.jobEnd(held(job), outcome: .succeeded, actor: "w")
        _ = try await enqueue(.order, "noop")
        await assertEqual(try await store.jobPrune(retentionSeconds: 7 * 86400, limit: 100), 0, "not a week old yet")
        clock.advance(by: 8 * 86400)
        await assertEqual(try await store.jobPrune(retentionSeconds: 7 * 86400, limit: 100, now: clock.now), 1)
        await assertEqual(try await store.jobList(state: nil, type: nil, limit: 10).count, 1)
    }

    func testLeadershipIsALease() async throws {
        func elect(_ holder: String) async throws -> Bool {
            try await store.leaderAttemptElect(role: "coordinator", holder: holder, leaseSeconds: 10, now: clock.now)
        }
        await assertTrue(try await elect("a"))
        await assertFalse(try await elect("b"))
        clock.advance(by: 9)
        await assertTrue(try await elect("a"), "the holder renews")
        clock.advance(by: 9)
        await assertFalse(try await elect("b"), "the renewed lease still holds")
        await assertEqual(try await store.leaderGet(role: "coordinator", now: clock.now)?.holder, "a")
        clock.advance(by: 1.5)
        await assertNil(try await store.leaderGet(role: "coordinator", now: clock.now), "expired: nobody leads")
        await assertTrue(try await elect("b"))
        await assertEqual(try await store.leaderGet(role: "coordinator", now: clock.now)?.holder, "b")
    }
}

/// Set once, read from any task.
private final class Answered: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
