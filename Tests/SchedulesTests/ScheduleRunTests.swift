import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime
@testable import Schedules
import ScheduleRules
import Secrets
import TestSupport
import XCTest

/// Schedule firing (the coordinator's duty) and schedule runs (the `schedule.run` job) against a real
/// PostgreSQL; run tests use real `ucp worker` processes and the stand-in syncs.
final class ScheduleRunTests: XCTestCase {
    let utc = TimeZone(identifier: "UTC")!

    func definition(_ name: String, every: ScheduleFrequency = .every(1, .hours), start: Date,
                    selection: ScheduleSelection = .builder([.all]), forceDomain: Bool = false,
                    parallel: Bool = false, abortOnFailure: Bool = false) throws -> ScheduleDefinition {
        ScheduleDefinition(name: try JobName(name), frequency: every, start: start, timeZone: utc, selection: selection,
                           forceDomain: forceDomain, parallel: parallel, abortOnFailure: abortOnFailure)
    }

    func runCount(_ database: TestDatabase) async throws -> (runs: Int, jobs: Int, distinct: Int) {
        let row = try await Connection(database.owner).query(Statement("", """
            SELECT (SELECT count(*) FROM schedule_runs) AS runs,
                   (SELECT count(*) FROM jobs WHERE type = 'schedule.run') AS jobs,
                   (SELECT count(DISTINCT (schedule_name, due_at)) FROM schedule_runs) AS distinct_runs
            """)).first!
        return (try row.decode("runs"), try row.decode("jobs"), try row.decode("distinct_runs"))
    }

    // MARK: firing

    func testMissedDueTimesFireOnceAndNeverAgain() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 - 3 * 3600 - 600)
        try await ScheduleStore(connection).scheduleAdd(try definition("Hourly", start: start), actor: "test")
        let runs = ScheduleRunStore(connection)

        // First firing shortly after the start: the run of due time `start`.
        let first = try await runs.fireDue(now: start.addingTimeInterval(60), actor: "c1")
        XCTAssertEqual(first.count, 1)
        // It ends (no worker here): a schedule's next run fires only once its last one has ended.
        try await runs.runFinish(id: first[0], state: .succeeded)
        // The coordinator was down across two more due times (start+1h, start+2h): it fires once, for the latest.
        let fired = try await runs.fireDue(now: start.addingTimeInterval(2 * 3600 + 60), actor: "c1")
        XCTAssertEqual(fired.count, 1)
        let run = try await runs.runGet(id: fired[0])
        XCTAssertEqual(run?.dueAt, start.addingTimeInterval(2 * 3600))
        XCTAssertEqual(run?.trigger, "coordinator")
        await assertEqual(try await runs.fireDue(now: start.addingTimeInterval(2 * 3600 + 120), actor: "c1").count, 0)
        let log = try await runs.runLog(id: fired[0])
        XCTAssertTrue(log.contains { $0.contains("1 earlier due time(s) missed") }, "\(log)")
        await assertEqual(try await ScheduleStore(connection).scheduleGet(name: "Hourly")?.lastFiredAt, start.addingTimeInterval(2 * 3600))

        // Through the duty, at a clock where the due time start+3h has passed and start+4h has not.
        try await runs.runFinish(id: fired[0], state: .failed)
        let clock = ManualTimeSource(now: start.addingTimeInterval(3 * 3600 + 600))
        try await ScheduleFiringDuty().runOnce(database.store(), actor: "c1", clock: clock)
        try await ScheduleFiringDuty().runOnce(database.store(), actor: "c1", clock: clock)
        let counts = try await runCount(database)
        XCTAssertEqual(counts.runs, 3)
        XCTAssertEqual(counts.jobs, 3, "one schedule.run job per run")
        let jobs = try await Connection(database.owner).query(Statement("", """
            SELECT count(*) AS n FROM jobs j JOIN schedule_runs r ON r.job_id = j.id AND j.schedule_run_id = r.id
             WHERE j.kind = 'task'
            """)).first!.decode("n", as: Int.self)
        XCTAssertEqual(jobs, 3, "each run's job points back at it")
    }

    /// A schedule runs once at a time: due times that come while its run has not ended are not fired
    /// (they used to make a run each, which piled up behind a run longer than the interval). The
    /// schedule carries on at its next due time once the run ended; the run's log and the audit
    /// trail say what was skipped, once per firing.
    func testADueTimeWhileTheLastRunIsOpenIsSkippedNotPiledUp() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 - 5 * 3600)
        try await ScheduleStore(connection).scheduleAdd(try definition("Hourly", start: start), actor: "test")
        let runs = ScheduleRunStore(connection)
        let first = try await runs.fireDue(now: start.addingTimeInterval(60), actor: "c1")
        XCTAssertEqual(first.count, 1)

        // Three more due times pass while run 1 is still queued, then while it runs: none fires a run.
        await assertEqual(try await runs.fireDue(now: start.addingTimeInterval(3 * 3600 + 60), actor: "c1"), [])
        await assertEqual(try await runs.fireDue(now: start.addingTimeInterval(3 * 3600 + 120), actor: "c1"), [])
        _ = try await runs.runStart(id: first[0])
        await assertEqual(try await runs.fireDue(now: start.addingTimeInterval(3 * 3600 + 180), actor: "c2"), [])
        await assertEqual(try await runCount(database).runs, 1)
        await assertEqual(try await ScheduleStore(connection).scheduleGet(name: "Hourly")?.lastFiredAt, start.addingTimeInterval(3 * 3600))
        let skipped = try await runs.runLog(id: first[0]).filter { $0.contains("skipped") }
        XCTAssertEqual(skipped, ["due time \(ScheduleStart.format(start.addingTimeInterval(3 * 3600), timeZone: utc)) skipped by c1: "
                                 + "this run is still queued (a schedule runs once at a time; it carries on at its next due time)"])
        let audit = try await Connection(database.owner).query(Statement("", """
            SELECT count(*) AS n FROM audit_log WHERE action = 'schedule.run_skipped' AND target = 'Hourly'
            """)).first!.decode("n", as: Int.self)
        XCTAssertEqual(audit, 1)

        // Run 1 ends: the next due time fires, for itself only.
        try await runs.runFinish(id: first[0], state: .succeeded)
        await assertEqual(try await runs.fireDue(now: start.addingTimeInterval(3 * 3600 + 240), actor: "c1"), [])
        let next = try await runs.fireDue(now: start.addingTimeInterval(4 * 3600 + 60), actor: "c1")
        XCTAssertEqual(next.count, 1)
        await assertEqual(try await runs.runGet(id: next[0])?.dueAt, start.addingTimeInterval(4 * 3600))
        let nextLog = try await runs.runLog(id: next[0])
        XCTAssertFalse(nextLog.contains { $0.contains("missed") }, "\(nextLog)")
    }

    /// Runs outlive their schedule, one run per name and due time: a schedule deleted and added again
    /// whose first due time the old one already ran does not fire it again — and the audit trail says
    /// so (the due time used to pass without a word).
    func testADueTimeAnEarlierScheduleOfTheNameRanIsNotFiredAndSaysSo() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 - 3600)
        let schedules = ScheduleStore(connection)
        try await schedules.scheduleAdd(try definition("Daily", every: .every(1, .days), start: start), actor: "test")
        let runs = ScheduleRunStore(connection)
        let first = try await runs.fireDue(now: start.addingTimeInterval(60), actor: "c1")
        XCTAssertEqual(first.count, 1)
        try await runs.runFinish(id: first[0], state: .succeeded)
        try await schedules.scheduleDelete(name: "Daily", actor: "test")
        try await schedules.scheduleAdd(try definition("Daily", every: .every(1, .days), start: start), actor: "test")
        await assertEqual(try await runs.fireDue(now: start.addingTimeInterval(120), actor: "c1"), [])
        let audit = try await Connection(database.owner).query(Statement("", """
            SELECT message FROM audit_log WHERE action = 'schedule.run_skipped' AND target = 'Daily'
            """)).map { try $0.decode("message", as: String.self) }
        XCTAssertEqual(audit, ["Schedule 'Daily': due time \(ScheduleStart.format(start, timeZone: utc)) not fired: "
                               + "it already has a run (of an earlier schedule of this name)"])
        // Its next due time fires as usual.
        await assertEqual(try await runs.fireDue(now: start.addingTimeInterval(86_400 + 60), actor: "c1").count, 1)
    }

    /// The coordinator judges due times by the database's clock, not its host's: a host whose clock
    /// is a day behind still fires a schedule the moment the database says it is due.
    func testFiringDutyJudgesByTheDatabaseClockNotTheHosts() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 - 600)
        try await ScheduleStore(connection).scheduleAdd(try definition("Hourly", start: start), actor: "test")
        try await ScheduleFiringDuty().runOnce(database.store(), actor: "c1", clock: HostClockADayBehind())
        await assertEqual(try await ScheduleRunStore(connection).runList(schedule: "Hourly").map(\.dueAt), [start])
    }

    // A schedule whose row was edited by hand into something unreadable (here a time zone this
    // build does not know) used to end every firing round before the schedules after it by name.
    func testAnUnreadableScheduleDoesNotHoldBackTheOthers() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 - 600)
        let schedules = ScheduleStore(connection)
        try await schedules.scheduleAdd(try definition("a-berlin", start: start), actor: "test")
        try await schedules.scheduleAdd(try definition("b-nightly", start: start), actor: "test")
        try await Connection(database.owner).query(Statement("", "UPDATE schedules SET time_zone = 'Mars/Olympus' WHERE name = 'a-berlin'"))
        let clock = ManualTimeSource(now: start.addingTimeInterval(60))
        do {
            try await ScheduleFiringDuty().runOnce(database.store(), actor: "c1", clock: clock)
            XCTFail("the round names the unreadable schedule")
        } catch {
            XCTAssertEqual("\(error)", "PostgreSQL: schedule 'a-berlin': stored time zone cannot be read")
        }
        let fired = try await ScheduleRunStore(connection).runList(schedule: "b-nightly")
        XCTAssertEqual(fired.map(\.dueAt), [start], "the schedule after it fired")
        await assertEqual(try await runCount(database).runs, 1)
    }

    func testTwoCoordinatorsNeverFireOneDueTimeTwice() async throws {
        let database = try await TestServer.freshDatabase()
        let store = ScheduleStore(Connection(database.app))
        let start = Date().addingTimeInterval(-5 * 3600 - 30)
        for index in 0..<15 {
            try await store.scheduleAdd(try definition("S\(index)", start: start), actor: "test")
        }
        // Two "leaders" (each with its own connection) firing over and over at once.
        let clock = ManualTimeSource(now: start.addingTimeInterval(5 * 3600 + 60))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for coordinator in ["c1", "c2"] {
                group.addTask {
                    let queue = QueueStore(Connection(database.app))
                    for _ in 0..<5 { try await ScheduleFiringDuty().runOnce(queue, actor: coordinator, clock: clock) }
                }
            }
            try await group.waitForAll()
        }
        let counts = try await runCount(database)
        XCTAssertEqual(counts.runs, 15, "one run per schedule")
        XCTAssertEqual(counts.distinct, 15)
        XCTAssertEqual(counts.jobs, 15)
    }

    func testTwoCoordinatorProcessesFireOnce() async throws {
        let database = try await TestServer.freshDatabase()
        try await ScheduleStore(Connection(database.app)).scheduleAdd(
            try definition("Proc", start: Date().addingTimeInterval(-3 * 3600 - 10)), actor: "test")
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("c1", ["coordinator", "--name", "c1", "--leader-lease", "2s", "--schedule-interval", "0.2s"])
        try processes.start("c2", ["coordinator", "--name", "c2", "--leader-lease", "2s", "--schedule-interval", "0.2s"])
        let fired = try await eventually(timeout: 20) { try await self.runCount(database).runs >= 1 }
        XCTAssertTrue(fired)
        // The leader dies; the standby takes over and must not fire the same due time again.
        processes.kill("c1")
        let owner = Connection(database.owner)
        func c2LeaseExpiry() async throws -> String? {
            try await owner.query(Statement("", """
                SELECT expires_at::text AS expires FROM leadership WHERE role = 'coordinator' AND holder = 'c2'
                """)).first?.decodeIfPresent("expires")
        }
        var firstSeen: String?
        // c2 leads once it holds the lease; once it renewed it, it ran a whole round, firing included.
        let tookOverAndFired = try await eventually(timeout: 20) {
            guard let expiry = try await c2LeaseExpiry() else { return false }
            if firstSeen == nil { firstSeen = expiry }
            return expiry != firstSeen
        }
        XCTAssertTrue(tookOverAndFired)
        let counts = try await runCount(database)
        XCTAssertEqual(counts.runs, 1)
        XCTAssertEqual(counts.jobs, 1)
    }

    // MARK: runs

    struct SyncRow {
        var id: Int64
        var type: String
        var target: String
        var state: String
        var group: String?
        var started: Date?
        var finished: Date?
    }

    func syncs(_ database: TestDatabase, run: Int64? = nil) async throws -> [SyncRow] {
        try await Connection(database.owner).query(Statement("", """
            SELECT id, type, target, state, sync_group, started_at, finished_at FROM jobs
             WHERE kind IN ('device_sync', 'sync') AND ($1::bigint IS NULL OR schedule_run_id = $1) ORDER BY id
            """), [run]).map { row in
            SyncRow(id: try row.decode("id"), type: try row.decode("type"), target: try row.decode("target"),
                    state: try row.decode("state"), group: try row.decodeIfPresent("sync_group"),
                    started: try row.decodeIfPresent("started_at"), finished: try row.decodeIfPresent("finished_at"))
        }
    }

    /// Starts a run now and waits for it to end (the workers run stand-in syncs: `--stand-in-sync`).
    func runToEnd(_ database: TestDatabase, schedule: String) async throws -> (ScheduleRun, [String]) {
        let runs = ScheduleRunStore(Connection(database.app))
        let started = try await runs.runNow(name: schedule, actor: "test")
        let ended = try await eventually(timeout: 60, interval: 0.2) {
            try await runs.runGet(id: started.id)?.state.isFinal == true
        }
        let run = try await runs.runGet(id: started.id)!
        let log = try await runs.runLog(id: run.id)
        XCTAssertTrue(ended, "run \(run.id) ended: \(log)")
        // Its job ends too, succeeded or failed like the run.
        let jobEnded = try await eventually(timeout: 10) {
            try await database.store().jobGet(id: run.jobID!)?.state.isFinal == true
        }
        XCTAssertTrue(jobEnded)
        return (run, log)
    }

    /// The run's writes are fenced on its job's attempt: once the attempt was rescued (its worker
    /// paused past the lease), its log lines roll back instead of landing.
    func testARescuedRunAttemptWritesNothingMoreToTheRun() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await ScheduleStore(connection).scheduleAdd(try definition("Fenced", start: Date()), actor: "test")
        let runs = ScheduleRunStore(connection)
        let run = try await runs.runNow(name: "Fenced", actor: "test")
        let queue = database.store()
        let claimed = try await queue.jobClaim(worker: "w1", slots: 1, leaseSeconds: 30)
        XCTAssertEqual(claimed.map(\.id), [run.jobID!])
        let owner = QueueStore.Held(id: claimed[0].id, attempt: claimed[0].attempt)
        try await runs.runLogAppend(id: run.id, "written while owned", owner: owner)
        // The lease lapses: the coordinator's rescue takes the job back.
        let rescued = try await queue.jobRescueExpired(actor: "c1", now: Date().addingTimeInterval(60))
        XCTAssertEqual(rescued.map(\.id), [run.jobID!])
        do {
            try await runs.runLogAppend(id: run.id, "written after the rescue", owner: owner)
            XCTFail("a write of the rescued attempt must be refused")
        } catch is JobLostError {}
        let log = try await runs.runLog(id: run.id)
        XCTAssertTrue(log.contains("written while owned"), "\(log)")
        XCTAssertFalse(log.contains("written after the rescue"), "\(log)")
    }

    // MARK: runs whose job ended first

    /// A run whose handler retried (a transient error, a graceful worker restart) until its job's last
    /// attempt ended by the lease rescue: nothing was left to close it, and it stayed `running` for
    /// ever. The coordinator's sweep closes it, with the reason in its log and the audit trail, and
    /// leaves it alone while its job still has an attempt to come.
    func testARunWhoseJobEndedOnItsLastAttemptIsClosedByTheSweep() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await ScheduleStore(connection).scheduleAdd(try definition("Retried", start: Date().addingTimeInterval(86400)), actor: "test")
        let runs = ScheduleRunStore(connection)
        let run = try await runs.runNow(name: "Retried", actor: "test")
        let queue = database.store()
        let sweep = EndedJobScheduleRunsDuty(intervalSeconds: 5)
        // Ahead of the database's clock, which stamps a released job's `run_at`.
        let clock = ManualTimeSource(now: Date().addingTimeInterval(60))

        for attempt in 1...RunSchedule.maxAttempts {
            clock.advance(by: 60)
            let claimed = try await queue.jobClaim(worker: "w\(attempt)", slots: 1, leaseSeconds: 30, now: clock.sqlNow)
            XCTAssertEqual(claimed.map(\.id), [run.jobID!])
            XCTAssertEqual(claimed.map(\.attempt), [attempt])
            let owner = QueueStore.Held(id: claimed[0].id, attempt: attempt)
            // What each attempt of the handler does first.
            let started = try await runs.runStart(id: run.id, owner: owner)
            XCTAssertTrue(started)
            try await sweep.runOnce(queue, actor: "c1", clock: clock)
            await assertEqual(try await runs.runGet(id: run.id)?.state, .running, "attempt \(attempt) runs: left alone")
            guard attempt < RunSchedule.maxAttempts else { break }
            if attempt.isMultiple(of: 2) {
                await assertEqual(try await queue.jobEnd(owner, outcome: .retry, error: "connection reset by peer",
                                                         retryDelaySeconds: 10, now: clock.now, actor: "w\(attempt)"), .queued)
            } else {
                await assertEqual(try await queue.jobRelease([owner], actor: "w\(attempt)"), 1, "a graceful worker restart")
            }
            try await sweep.runOnce(queue, actor: "c1", clock: clock)
            await assertEqual(try await runs.runGet(id: run.id)?.state, .running, "queued for attempt \(attempt + 1): left alone")
        }
        // The last attempt's worker is lost: the rescue ends the job failed.
        let rescued = try await queue.jobRescueExpired(actor: "c1", now: clock.now.addingTimeInterval(60))
        XCTAssertEqual(rescued.map(\.state), [.failed])

        let closed = try await runs.runCloseOfEndedJobs(actor: "c1")
        XCTAssertEqual(closed.map(\.id), [run.id])
        XCTAssertEqual(closed.map(\.state), [.failed])
        let ended = try await runs.runGet(id: run.id)
        XCTAssertEqual(ended?.state, .failed)
        XCTAssertNotNil(ended?.finishedAt)
        let reason = "run closed failed by c1: its schedule.run job \(run.jobID!) ended failed before the run ended "
            + "(its last attempt failed or its worker was lost; the rest of its plan was not run)"
        await assertEqual(try await runs.runLog(id: run.id).last, reason)
        let audit = try await queue.auditList(since: nil, jobID: run.jobID, limit: 100, action: "schedule.run_closed")
        XCTAssertEqual(audit.map(\.message), ["Run \(run.id) of schedule 'Retried': \(reason)"])
        XCTAssertEqual(audit.map(\.target), ["Retried"])
        // Idempotent: the next round finds nothing more to close.
        try await sweep.runOnce(queue, actor: "c1", clock: clock)
        await assertEqual(try await runs.runLog(id: run.id).filter { $0.hasPrefix("run closed") }.count, 1)
        await assertEqual(try await queue.auditList(since: nil, jobID: run.jobID, limit: 100, action: "schedule.run_closed").count, 1)

        // What an operator sees.
        let processes = try UCPProcesses(database: database)
        let log = try processes.run(["schedule", "log", "Retried"])
        XCTAssertEqual(log.status, 0, log.stderr)
        XCTAssertTrue(log.stdout.contains("run \(run.id) of schedule 'Retried': failed"), log.stdout)
        XCTAssertTrue(log.stdout.contains(reason), log.stdout)
    }

    /// A run whose job was canceled before any handler ran closes `canceled`; one whose job row was
    /// pruned closes `failed`; two coordinators sweeping at once close each run once.
    func testRunsOfCanceledAndPrunedJobsAreClosedOnceByTwoSweeps() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let schedules = ScheduleStore(connection)
        try await schedules.scheduleAdd(try definition("Canceled", start: Date().addingTimeInterval(86400)), actor: "test")
        try await schedules.scheduleAdd(try definition("Pruned", start: Date().addingTimeInterval(86400)), actor: "test")
        let runs = ScheduleRunStore(connection)
        let queue = database.store()

        let canceled = try await runs.runNow(name: "Canceled", actor: "test")
        await assertEqual(try await queue.jobCancel(id: canceled.jobID!, actor: "operator"), .canceled)
        let first = try await runs.runCloseOfEndedJobs(actor: "c1")
        XCTAssertEqual(first.map(\.id), [canceled.id])
        await assertEqual(try await runs.runGet(id: canceled.id)?.state, .canceled)
        await assertEqual(try await runs.runLog(id: canceled.id).last,
                          "run closed canceled by c1: its schedule.run job \(canceled.jobID!) ended canceled before the run ended")

        let pruned = try await runs.runNow(name: "Pruned", actor: "test")
        let claimed = try await queue.jobClaim(worker: "w1", slots: 1, leaseSeconds: 30)
        XCTAssertEqual(claimed.map(\.id), [pruned.jobID!])
        let owner = QueueStore.Held(id: claimed[0].id, attempt: claimed[0].attempt)
        _ = try await runs.runStart(id: pruned.id, owner: owner)
        await assertEqual(try await queue.jobEnd(owner, outcome: .failed, error: "boom", actor: "w1"), .failed)
        await assertEqual(try await queue.jobPrune(retentionSeconds: 3600, limit: 100, now: Date().addingTimeInterval(2 * 3600)), 2)

        async let a = runs.runCloseOfEndedJobs(actor: "c1")
        async let b = ScheduleRunStore(Connection(database.app)).runCloseOfEndedJobs(actor: "c2")
        let (closedByA, closedByB) = try await (a, b)
        XCTAssertEqual((closedByA + closedByB).map(\.id), [pruned.id], "closed once")
        await assertEqual(try await runs.runGet(id: pruned.id)?.state, .failed)
        let log = try await runs.runLog(id: pruned.id).last ?? ""
        XCTAssertTrue(log.hasSuffix("its schedule.run job \(pruned.jobID!) was pruned before the run ended"), log)
        await assertEqual(try await queue.auditList(since: nil, jobID: nil, limit: 100, action: "schedule.run_closed").count, 2)
    }

    /// A run whose job failed while its syncs were queued: the sweep cancels those not started (no
    /// handler is left to run the rest of its plan in order), each with an audit line, names them in the
    /// run's closing line, and leaves maintenance mode once no infrastructure or user sync holds it; a
    /// sync already running is left to end.
    func testTheSweepCancelsTheQueuedSyncsOfTheRunItCloses() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await ScheduleStore(connection).scheduleAdd(try definition("Orphaned", start: Date().addingTimeInterval(86400)), actor: "test")
        let runs = ScheduleRunStore(connection)
        let queue = database.store()
        let run = try await runs.runNow(name: "Orphaned", actor: "test")
        let claimedRun = try await queue.jobClaim(worker: "w1", slots: 1, leaseSeconds: 30)
        XCTAssertEqual(claimedRun.map(\.id), [run.jobID!])
        let runOwner = QueueStore.Held(id: claimedRun[0].id, attempt: claimedRun[0].attempt)
        _ = try await runs.runStart(id: run.id, owner: runOwner)

        // What the run's handler queued: an LDAP sync a worker took, then an infrastructure and a domain sync.
        let running = try await queue.jobEnqueue(try .init(LDAPSync(), target: "Dom-1", actor: "test", scheduleRunID: run.id)).id
        await assertEqual(try await queue.jobClaim(worker: "w2", slots: 1, leaseSeconds: 30).map(\.id), [running])
        let infra = try await queue.jobEnqueue(.init(InfrastructureSync.self, target: "CUCM-1", actor: "test", scheduleRunID: run.id)).id
        let domain = try await queue.jobEnqueue(try .init(DomainSync(), target: "Dom-1", actor: "test", scheduleRunID: run.id)).id
        let unrelated = try await queue.jobEnqueue(try .init(LDAPSync(), target: "Dom-2", actor: "test")).id
        try await queue.maintenanceRefresh(actor: "test")
        let owner = Connection(database.owner)
        func maintenanceActive() async throws -> Bool {
            try await owner.query(Statement("", "SELECT maintenance_active FROM control")).first!.decode("maintenance_active")
        }
        await assertTrue(try await maintenanceActive(), "the queued infrastructure sync holds maintenance mode")

        await assertEqual(try await queue.jobEnd(runOwner, outcome: .failed, error: "boom", actor: "w1"), .failed)
        let closed = try await runs.runCloseOfEndedJobs(actor: "c1")
        XCTAssertEqual(closed.map(\.id), [run.id])
        XCTAssertEqual(closed.first?.canceledSyncs.map(\.id), [infra, domain])
        func state(_ id: Int64) async throws -> JobState? { try await queue.jobGet(id: id)?.state }
        await assertEqual(try await state(infra), .canceled)
        await assertEqual(try await state(domain), .canceled)
        await assertEqual(try await state(running), .running, "a sync already running is left to end")
        await assertEqual(try await state(unrelated), .queued, "another run's (or no run's) sync is left alone")
        let reason = "run closed failed by c1: its schedule.run job \(run.jobID!) ended failed before the run ended "
            + "(its last attempt failed or its worker was lost; the rest of its plan was not run); its queued synchronizations "
            + "canceled: job \(infra) (\(InfrastructureSync.jobType) of CUCM-1), job \(domain) (\(DomainSync.jobType) of Dom-1)"
        await assertEqual(try await runs.runLog(id: run.id).last, reason)
        for (id, type) in [(infra, InfrastructureSync.jobType), (domain, DomainSync.jobType)] {
            let audit = try await queue.auditList(since: nil, jobID: id, limit: 10, action: "job.cancel")
            XCTAssertEqual(audit.map(\.message), ["Cancel of \(type) job \(id) (was queued): run \(run.id) of schedule 'Orphaned' closed failed before it started"])
            XCTAssertEqual(audit.map(\.actor), ["c1"])
        }
        await assertFalse(try await maintenanceActive(), "no infrastructure or user sync is due or running any more")
        // Idempotent: nothing more to close or cancel.
        await assertEqual(try await runs.runCloseOfEndedJobs(actor: "c1"), [])
    }

    func testSequentialRunInSeedOrderAndResumesWithoutEnqueueingTwice() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await SchedulingFixtures.addDevices(connection)
        try await ScheduleStore(connection).scheduleAdd(
            try definition("Seq", every: .once, start: Date().addingTimeInterval(86400)), actor: "test")
        // As if an earlier attempt of the run had enqueued its first sync before its worker died.
        let runs = ScheduleRunStore(connection)
        let run = try await runs.runNow(name: "Seq", actor: "test")
        _ = try await database.store().jobEnqueue(.init(InfrastructureSync.self, target: "CUCM-A", actor: "test",
                                                        scheduleRunID: run.id))
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("w1", ["worker", "--name", "w1", "--concurrency", "4", "--stand-in-sync", "*=seconds:0.2"])
        try processes.start("w2", ["worker", "--name", "w2", "--concurrency", "4", "--stand-in-sync", "*=seconds:0.2"])
        let ended = try await eventually(timeout: 60, interval: 0.2) { try await runs.runGet(id: run.id)?.state.isFinal == true }
        XCTAssertTrue(ended)
        await assertEqual(try await runs.runGet(id: run.id)?.state, .succeeded)
        let log = try await runs.runLog(id: run.id)
        XCTAssertTrue(log.contains { $0.hasPrefix("resumed") }, "\(log)")

        let rows = try await syncs(database, run: run.id)
        XCTAssertEqual(rows.map { "\($0.type) \($0.target)" }, [
            "sync.infra CUCM-A", "sync.infra CUCM-B", "sync.infra Unity-1", "sync.infra IMP-1",
            "sync.user CUCM-A", "sync.user CUCM-B", "sync.user Unity-1",
        ], "seed order, each sync once")
        XCTAssertTrue(rows.allSatisfy { $0.state == "succeeded" && $0.group == nil })
        for (previous, next) in zip(rows, rows.dropFirst()) {
            XCTAssertGreaterThanOrEqual(next.started!, previous.finished!, "one at a time")
        }
        XCTAssertTrue(log.contains { $0.hasPrefix("run succeeded: 7 sync(s) ran") }, "\(log)")
    }

    func testParallelRunsDeviceSyncsTogetherButNeverBesideAnotherSync() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await SchedulingFixtures.addDevices(connection)
        try await ScheduleStore(connection).scheduleAdd(
            try definition("Par", every: .once, start: Date().addingTimeInterval(86400), parallel: true), actor: "test")
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        let standIns = ["--stand-in-sync", "*=seconds:1"] + (0..<5).flatMap { ["--stand-in-sync", "other-\($0)=seconds:0.3"] }
        try processes.start("w1", ["worker", "--name", "w1", "--concurrency", "8"] + standIns)
        try processes.start("w2", ["worker", "--name", "w2", "--concurrency", "8"] + standIns)
        // Other syncs queued around the run: they must never overlap the run's group.
        let queue = database.store()
        for index in 0..<3 {
            _ = try await queue.jobEnqueue(.init(DomainSync.self, target: "other-\(index)", actor: "test"))
        }
        let (run, log) = try await runToEnd(database, schedule: "Par")
        for index in 3..<5 {
            _ = try await queue.jobEnqueue(.init(DomainSync.self, target: "other-\(index)", actor: "test"))
        }
        XCTAssertEqual(run.state, .succeeded, "\(log)")
        let finished = try await eventually(timeout: 30) {
            try await self.syncs(database).allSatisfy { $0.state == "succeeded" }
        }
        XCTAssertTrue(finished)
        let all = try await syncs(database)
        let group = all.filter { $0.group == "run:\(run.id)" }
        let others = all.filter { $0.group == nil }
        XCTAssertEqual(group.count, 7)
        XCTAssertEqual(others.count, 5)
        func overlap(_ a: SyncRow, _ b: SyncRow) -> Bool { a.started! < b.finished! && b.started! < a.finished! }
        var together = 0
        for (i, a) in group.enumerated() {
            for b in group[(i + 1)...] where overlap(a, b) {
                together += 1
                XCTAssertNotEqual(a.target, b.target, "two syncs of one device at once")
            }
            for other in others { XCTAssertFalse(overlap(a, other), "group sync \(a.id) beside other sync \(other.id)") }
        }
        XCTAssertGreaterThan(together, 0, "the run's device syncs ran together")
    }

    func testAbortStopsAtTheFirstFailure() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await SchedulingFixtures.addDevices(connection)
        try await ScheduleStore(connection).scheduleAdd(
            try definition("Abort", every: .once, start: Date().addingTimeInterval(86400), abortOnFailure: true), actor: "test")
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("w1", ["worker", "--name", "w1", "--concurrency", "4",
                                   "--stand-in-sync", "CUCM-B=seconds:0.1,fail:boom", "--stand-in-sync", "*=seconds:0.1"])
        let (run, log) = try await runToEnd(database, schedule: "Abort")
        XCTAssertEqual(run.state, .failed)
        let rows = try await syncs(database, run: run.id)
        XCTAssertEqual(rows.map { "\($0.type) \($0.target) \($0.state)" },
                       ["sync.infra CUCM-A succeeded", "sync.infra CUCM-B failed"], "nothing after the first failure")
        XCTAssertEqual(log.filter { $0.hasPrefix("skipped") }.count, 5, "\(log)")
        XCTAssertTrue(log.contains { $0.contains("boom") }, "\(log)")
        XCTAssertTrue(log.contains { $0.hasPrefix("plan: 7 sync(s); options: abort-on-failure") }, "\(log)")
        await assertEqual(try await database.store().jobGet(id: run.jobID!)?.state, .failed)
    }

    func testForceDomainRunsDomainSyncAfterAFailedDeviceSync() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await SchedulingFixtures.addDevices(connection)
        let text = "cp.CUCM-A: infra\ncp.NoSuchBox: infra\ndomain.all:\n"
        let store = ScheduleStore(connection)
        try await store.scheduleAdd(try definition("Forced", every: .once, start: Date().addingTimeInterval(86400),
                                                   selection: .granular(text), forceDomain: true), actor: "test",
                                 allowUnknown: true)
        try await store.scheduleAdd(try definition("Unforced", every: .once, start: Date().addingTimeInterval(86400),
                                                   selection: .granular(text)), actor: "test", allowUnknown: true)
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("w1", ["worker", "--name", "w1", "--concurrency", "4",
                                   "--stand-in-sync", "CUCM-A=seconds:0.1,fail:boom", "--stand-in-sync", "*=seconds:0.1"])
        try await DomainStore(connection).domainAdd(DomainDraft(name: "Dom-1"), actor: "test")
        try await DomainStore(connection).domainRulesSet(name: "Dom-1", DomainRules([.syncAllUsers: []]), actor: "test")

        let (forced, forcedLog) = try await runToEnd(database, schedule: "Forced")
        XCTAssertEqual(forced.state, .failed)
        await assertEqual(try await syncs(database, run: forced.id).map { "\($0.type) \($0.target) \($0.state)" },
                          ["sync.infra CUCM-A failed", "sync.domain Dom-1 succeeded"])
        XCTAssertTrue(forcedLog.contains { $0.contains("warning: line 2:") && $0.contains("NoSuchBox") },
                      "a name matching nothing is reported: \(forcedLog)")

        let (unforced, unforcedLog) = try await runToEnd(database, schedule: "Unforced")
        XCTAssertEqual(unforced.state, .failed)
        await assertEqual(try await syncs(database, run: unforced.id).map { "\($0.type) \($0.target) \($0.state)" },
                          ["sync.infra CUCM-A failed"])
        XCTAssertTrue(unforcedLog.contains { $0.hasPrefix("skipped domain synchronization") && $0.contains("force domain") },
                      "\(unforcedLog)")
    }

    /// A domain line whose domain has no required rule is refused as `ucp submit` refuses it: in the
    /// run's log, with the seed's meaning, and no sync is queued (forced or not).
    func testADomainWithoutARequiredRuleIsRefusedInTheRun() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await ScheduleStore(connection).scheduleAdd(
            try definition("Domains", every: .once, start: Date().addingTimeInterval(86400), selection: .granular("domain.all:\n"),
                           forceDomain: true), actor: "test", allowUnknown: true)
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("w1", ["worker", "--name", "w1", "--concurrency", "2", "--stand-in-sync", "*=seconds:0.1"])
        try await DomainStore(connection).domainAdd(DomainDraft(name: "Dom-2"), actor: "test")

        let (run, log) = try await runToEnd(database, schedule: "Domains")
        XCTAssertEqual(run.state, .failed)
        await assertEqual(try await syncs(database, run: run.id).count, 0)
        XCTAssertTrue(log.contains { $0.contains("domain synchronization") && $0.contains("refused")
                                     && $0.contains("you are required to enable one of the rules") }, "\(log)")
    }

    /// While a write back to LDAP of a domain is queued or running, a run's LDAP and domain
    /// synchronizations of it are refused as `ucp submit sync` refuses them (seed: "Once Start Write
    /// Back to LDAP action starts, other actions such as Start Domain Synchronization and Start LDAP
    /// Synchronization are disabled"): the run's log and the audit trail give the reason, nothing is
    /// queued, the run fails. They used to be queued, and sat waiting (or ran) unexplained.
    func testSyncsOfADomainBeingWrittenBackAreRefusedInTheRun() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await DeviceStore(connection, secretBox: SecretBox(key: try SecretKey.random())).deviceAdd(
            DeviceDraft(name: "Corp-AD", kind: .directory, address: "ldap.lab.example", adminUser: "CN=svc,DC=corp,DC=example",
                        directoryType: .activeDirectory, ldapSecurity: .ldap),
            password: Secret("directory-pw"), actor: "test")
        let domains = DomainStore(connection)
        try await domains.domainAdd(DomainDraft(name: "Dom-WB", directory: "Corp-AD", searchBase: "OU=Users,DC=corp,DC=example",
                                                writeBackAttribute: "ipPhone"), actor: "test")
        try await domains.domainRulesSet(name: "Dom-WB", DomainRules([.syncAllUsers: []]), actor: "test")
        // The write-back, queued (due tomorrow, so no worker starts it while the run looks).
        let writeBack = try await database.store().jobEnqueue(.init(WriteBackRun.self, target: "Dom-WB", runAt: Date().addingTimeInterval(86400),
                                                                    dedupKey: WriteBackRun.dedupKey(domain: "Dom-WB"), actor: "test")).id
        try await ScheduleStore(connection).scheduleAdd(
            try definition("WB", every: .once, start: Date().addingTimeInterval(86400), selection: .granular("ad.Corp-AD:\ndomain.Dom-WB:\n")),
            actor: "test")
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("w1", ["worker", "--name", "w1", "--concurrency", "2", "--stand-in-sync", "*=seconds:0.1"])

        let (run, log) = try await runToEnd(database, schedule: "WB")
        XCTAssertEqual(run.state, .failed, "\(log)")
        await assertEqual(try await syncs(database, run: run.id).count, 0, "nothing queued")
        let reasons = [
            "LDAP synchronization of domain 'Dom-WB' from LDAP directory 'Corp-AD': refused: domain 'Dom-WB': its LDAP synchronization "
                + "is disabled while its write back to LDAP (job \(writeBack), queued) is queued or running",
            "domain synchronization of domain 'Dom-WB': refused: domain 'Dom-WB': its domain synchronization "
                + "is disabled while its write back to LDAP (job \(writeBack), queued) is queued or running",
        ]
        for reason in reasons { XCTAssertTrue(log.contains(reason), "\(reason)\nnot in \(log)") }
        let audit = try await database.store().auditList(since: nil, jobID: run.jobID, limit: 10, action: "schedule.sync_refused")
        XCTAssertEqual(audit.map(\.message), reasons.map { "Run \(run.id) of schedule 'WB': \($0)" })
        XCTAssertEqual(audit.map(\.target), ["Dom-WB", "Dom-WB"])
        XCTAssertTrue(log.contains { $0.hasPrefix("run failed: 0 sync(s) ran, 2 failed, 2 skipped") }, "\(log)")
    }

    // MARK: the command line

    func testRunNowLogAndCancelFromTheCommandLine() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await SchedulingFixtures.addDevices(connection)
        try await ScheduleStore(connection).scheduleAdd(
            try definition("Long", every: .once, start: Date().addingTimeInterval(86400), selection: .builder([.callProcessors])),
            actor: "test")
        try await ScheduleStore(connection).scheduleAdd(
            try definition("Other", every: .once, start: Date().addingTimeInterval(86400), selection: .builder([.callProcessors])),
            actor: "test")
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("w1", ["worker", "--name", "w1", "--concurrency", "4", "--lease", "3s",
                                   "--stand-in-sync", "*=seconds:30"])

        // The devices are not reachable: the run's syncs are stand-ins that would take 30 s each.
        let runs = ScheduleRunStore(connection)
        let started = try await runs.runNow(name: "Long", actor: "test")
        XCTAssertEqual(started.id, 1)
        // Cancel while the first sync runs.
        let syncRunning = try await eventually(timeout: 20) {
            try await runs.runSyncs(id: 1).contains { $0.state == .running }
        }
        XCTAssertTrue(syncRunning)
        let other = try processes.run(["schedule", "run-now", "Other"])
        XCTAssertTrue(other.stdout.contains("run 2 queued"), other.stdout)
        // A typo cancels nothing; then two schedules' runs are canceled at once (seed: several at once).
        let typo = try processes.run(["schedule", "cancel", "Long", "Nope"])
        XCTAssertNotEqual(typo.status, 0)
        XCTAssertTrue(typo.stderr.contains("schedule 'Nope': no such schedule"), typo.stderr)
        await assertEqual(try await runs.runGet(id: 1)?.state, .running)
        let canceled = try processes.run(["schedule", "cancel", "Long", "Other"])
        XCTAssertEqual(canceled.status, 0, canceled.stderr)
        XCTAssertTrue(canceled.stdout.contains("schedule 'Long': cancel of run 1 requested"), canceled.stdout)
        XCTAssertTrue(canceled.stdout.contains("schedule 'Other': cancel of run 2 requested"), canceled.stdout)
        let otherEnded = try await eventually(timeout: 15) { try await runs.runGet(id: 2)?.state == .canceled }
        XCTAssertTrue(otherEnded)
        let jobID = try await runs.runGet(id: 1)!.jobID!
        let state = try await database.store().jobGet(id: jobID)?.state
        XCTAssertTrue(state == .canceling || state == .canceled, "\(String(describing: state))")
        let ended = try await eventually(timeout: 15) { try await runs.runGet(id: 1)?.state == .canceled }
        XCTAssertTrue(ended)
        let jobCanceled = try await eventually(timeout: 15) { try await database.store().jobGet(id: jobID)?.state == .canceled }
        XCTAssertTrue(jobCanceled)
        let syncsEnded = try await eventually(timeout: 15) {
            try await runs.runSyncs(id: 1).allSatisfy { $0.state == .canceled }
        }
        XCTAssertTrue(syncsEnded, "the run's syncs are canceled with it")
        await assertEqual(try await runs.runSyncs(id: 1).count, 1, "nothing enqueued after the cancel")

        let log = try processes.run(["schedule", "log", "Long"])
        XCTAssertEqual(log.status, 0, log.stderr)
        XCTAssertTrue(log.stdout.hasPrefix("run 1 of schedule 'Long': canceled (run-now"), log.stdout)
        XCTAssertTrue(log.stdout.contains("canceled by an operator"), log.stdout)
        // Seed: "Synchronization status will not be available for a canceled job."
        XCTAssertTrue(log.stdout.contains("synchronization status: not available (the run was canceled)"), log.stdout)
        XCTAssertFalse(log.stdout.contains("sync.infra"), log.stdout)
        await assertEqual(try await runs.runStatusLatest(schedule: "Long")?.syncs, nil)
        let show = try processes.run(["schedule", "show", "Long"])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("synchronization status: not available (the run was canceled)"), show.stdout)
        XCTAssertTrue(show.stdout.contains("1, canceled (run-now"), show.stdout)
        let shownJSON = try processes.run(["schedule", "show", "Long", "--json"])
        let lastRun = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(shownJSON.stdout.utf8)) as? [String: Any])?["last_run"] as? [String: Any])
        XCTAssertEqual(lastRun["state"] as? String, "canceled")
        XCTAssertTrue(lastRun["synchronization_status"] is NSNull, "\(lastRun)")

        let nothing = try processes.run(["schedule", "cancel", "Long"])
        XCTAssertNotEqual(nothing.status, 0)
        XCTAssertTrue(nothing.stderr.contains("no run in progress"), nothing.stderr)
        let missing = try processes.run(["schedule", "run-now", "Nope"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("schedule 'Nope': no such schedule"), missing.stderr)
    }

    func testFinishedRunShowsItsSyncStatusAndOldRunsArePrunedButTheLatestIsKept() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await SchedulingFixtures.addDevices(connection)
        try await ScheduleStore(connection).scheduleAdd(
            try definition("Quick", every: .every(1, .days), start: Date().addingTimeInterval(3600),
                           selection: .granular("cp.CUCM-A: infra")),
            actor: "test")
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("w1", ["worker", "--name", "w1", "--concurrency", "4", "--stand-in-sync", "*=seconds:0.2"])
        let runs = ScheduleRunStore(connection)
        for _ in 0..<3 {
            let run = try await runs.runNow(name: "Quick", actor: "test")
            let ended = try await eventually(timeout: 20) { try await runs.runGet(id: run.id)?.state == .succeeded }
            XCTAssertTrue(ended)
        }
        let show = try processes.run(["schedule", "show", "Quick"])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("synchronization status:"), show.stdout)
        XCTAssertTrue(show.stdout.contains("sync.infra  CUCM-A"), show.stdout)
        XCTAssertTrue(show.stdout.contains("succeeded"), show.stdout)
        XCTAssertTrue(show.stdout.contains("next run"), show.stdout)
        let list = try processes.run(["schedule", "list"])
        XCTAssertTrue(list.stdout.contains("3 succeeded"), list.stdout)

        // Nothing is old enough yet; two hours later, all but the latest run go.
        await assertEqual(try await runs.runPrune(retentionSeconds: 3600), 0)
        await assertEqual(try await runs.runPrune(retentionSeconds: 3600, now: Date().addingTimeInterval(2 * 3600)), 2)
        await assertEqual(try await runs.runList(schedule: "Quick").map(\.id), [3])
        await assertEqual(try await runs.runLog(id: 1), [])
        let latestLog = try await runs.runLog(id: 3)
        XCTAssertFalse(latestLog.isEmpty)
    }
}

/// A production clock (its store calls pass no time: `sqlNow` is nil) on a host whose own clock is a
/// day behind the database's.
struct HostClockADayBehind: TimeSource {
    var now: Date { Date().addingTimeInterval(-86400) }
    var sqlNow: Date? { nil }
    func sleep(seconds: Double) async throws { try await SystemTimeSource().sleep(seconds: seconds) }
}
