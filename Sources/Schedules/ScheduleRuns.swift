import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime
import ScheduleRules

/// One run of a schedule (migrations/005_schedule_runs.sql): fired by the coordinator when due, or by
/// `ucp schedule run-now`. Its orchestrator is the `schedule.run` job (`jobID`); its syncs carry
/// `jobs.schedule_run_id = id`.
public struct ScheduleRun: Sendable, Equatable {
    public enum State: String, Sendable, CaseIterable {
        case queued, running, succeeded, failed, canceled
        public var isFinal: Bool { self == .succeeded || self == .failed || self == .canceled }
    }

    public var id: Int64
    public var scheduleName: String
    public var dueAt: Date
    public var trigger: String
    public var state: State
    public var jobID: Int64?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var createdAt: Date

    init(row: Row) throws {
        id = try row.decode("id")
        scheduleName = try row.decode("schedule_name")
        dueAt = try row.decode("due_at")
        trigger = try row.decode("trigger")
        guard let state = State(rawValue: try row.decode("state")) else {
            throw PostgresError(kind: .decoding, message: "schedule run: unknown state")
        }
        self.state = state
        jobID = try row.decodeIfPresent("job_id")
        startedAt = try row.decodeIfPresent("started_at")
        finishedAt = try row.decodeIfPresent("finished_at")
        createdAt = try row.decode("created_at")
    }
}

/// A run with the status of its synchronizations, as `ucp schedule show|list|log` print it.
public struct ScheduleRunStatus: Sendable, Equatable {
    public var run: ScheduleRun
    /// The run's syncs and their states; nil for a canceled run, whose synchronization status is not
    /// available (seed: "Synchronization status will not be available for a canceled job").
    public var syncs: [ScheduleRunSync]?
    /// The state of the run's `schedule.run` job (nil once pruned).
    public var jobState: JobState?

    /// The run's state as operators see it: `canceling` while a canceled run stops (seed), else the run's.
    public var state: String {
        !run.state.isFinal && jobState == .canceling ? JobState.canceling.rawValue : run.state.rawValue
    }
}

/// A sync a run enqueued (a row of `jobs` with this run's `schedule_run_id`).
public struct ScheduleRunSync: Sendable, Equatable {
    public var id: Int64
    public var type: String
    public var target: String?
    public var state: JobState
    public var error: String?
    public var syncGroup: String?

    /// `sync.infra|CUCM-1`: how a resumed run recognises a sync it already enqueued.
    var key: String { "\(type)|\(target ?? "")" }
}

enum ScheduleRunSQL {
    static let schedulesForFiring = Statement("schedule_runs_schedules", """
        SELECT \(ScheduleSQL.columns), s.last_fired_at::text AS last_fired_text
          FROM schedules s ORDER BY s.name
        """)
    /// Fires only when nobody fired the schedule since we read it (compared as stored text: exact).
    static let markFired = Statement("schedule_runs_mark_fired", """
        UPDATE schedules SET last_fired_at = $2::timestamptz
         WHERE name = $1 AND last_fired_at IS NOT DISTINCT FROM $3::timestamptz
        RETURNING name
        """)
    static let runInsert = Statement("schedule_runs_insert", """
        INSERT INTO schedule_runs (schedule_name, due_at, trigger, created_by)
        VALUES ($1, coalesce($2::timestamptz, clock_timestamp()), $3, $4)
        ON CONFLICT (schedule_name, due_at) DO NOTHING
        RETURNING id
        """)
    /// The schedule's run that has not ended (the latest, should there be more), with its job.
    static let runOpen = Statement("schedule_runs_open", """
        SELECT id, job_id, state FROM schedule_runs WHERE schedule_name = $1 AND state IN ('queued', 'running')
         ORDER BY id DESC LIMIT 1
        """)
    static let runSetJob = Statement("schedule_runs_set_job", "UPDATE schedule_runs SET job_id = $2 WHERE id = $1")
    static let runGet = Statement("schedule_runs_get", "SELECT * FROM schedule_runs WHERE id = $1")
    static let runLatest = Statement("schedule_runs_latest", """
        SELECT * FROM schedule_runs WHERE schedule_name = $1 ORDER BY id DESC LIMIT 1
        """)
    static let runList = Statement("schedule_runs_list", """
        SELECT * FROM schedule_runs WHERE schedule_name = $1 ORDER BY id
        """)
    static let runStart = Statement("schedule_runs_start", """
        UPDATE schedule_runs SET state = 'running', started_at = coalesce(started_at, clock_timestamp())
         WHERE id = $1 AND state IN ('queued', 'running')
        RETURNING id
        """)
    static let runFinish = Statement("schedule_runs_finish", """
        UPDATE schedule_runs SET state = $2, finished_at = clock_timestamp()
         WHERE id = $1 AND state IN ('queued', 'running')
        RETURNING id
        """)
    static let logAppend = Statement("schedule_runs_log_append", """
        INSERT INTO schedule_run_logs (run_id, message) VALUES ($1, $2)
        """)
    static let logRead = Statement("schedule_runs_log_read", """
        SELECT message FROM schedule_run_logs WHERE run_id = $1 ORDER BY id
        """)
    /// Closes the open runs whose job ended (or was pruned) before the run did — its last attempt
    /// failed or its lease ran out, or it was canceled before its handler could close the run — as
    /// `failed` (`canceled` for a canceled job), each with its log line saying why ($1: the actor,
    /// $2: the job type), and cancels the syncs it queued that have not started: no handler is left
    /// to run the rest of its plan in order (seed: abort on failure, force domain), and `schedule
    /// cancel` cancels a run's syncs the same way. The log line names them; `canceled_syncs` (JSON)
    /// lists them for their audit lines. The runs are locked in id order (two coordinators' sweeps
    /// never deadlock); a run closed meanwhile (its handler, `schedule cancel`, the other sweep) is
    /// read again under its lock and left alone.
    static let runCloseOfEndedJob = Statement("schedule_runs_close_of_ended_job", """
        WITH open_runs AS MATERIALIZED (
            SELECT r.job_id FROM schedule_runs r WHERE r.state IN ('queued', 'running')),
        \(EndedJobSQL.jobsEnded(among: "open_runs", column: "job_id")),
        doomed AS (
            SELECT r.id, e.state AS job_state FROM schedule_runs r JOIN jobs_ended e ON e.id = r.job_id
             WHERE r.state IN ('queued', 'running') ORDER BY r.id FOR UPDATE OF r),
        closed AS (
            UPDATE schedule_runs r SET state = CASE d.job_state WHEN 'canceled' THEN 'canceled' ELSE 'failed' END,
                                       finished_at = clock_timestamp()
              FROM doomed d
             WHERE r.id = d.id AND r.state IN ('queued', 'running')
            RETURNING r.id, r.schedule_name, r.job_id, r.state, d.job_state),
        \(EndedJobSQL.queuedSyncsCanceled(ofRuns: "closed", column: "id")),
        canceled_by_run AS (
            SELECT s.schedule_run_id AS run_id,
                   string_agg(format('job %s (%s%s)', s.id, s.type, coalesce(' of ' || s.target, '')), ', ' ORDER BY s.id) AS list,
                   json_agg(json_build_object('id', s.id, 'type', s.type, 'target', s.target, 'kind', s.kind) ORDER BY s.id)::text AS syncs
              FROM syncs_canceled s GROUP BY s.schedule_run_id),
        reasons AS (
            SELECT c.*, format('run closed %s by %s: its %s job %s %s before the run ended%s', c.state, $1::text, $2::text,
                               c.job_id, CASE c.job_state WHEN 'gone' THEN 'was pruned' ELSE 'ended ' || c.job_state END,
                               CASE c.job_state WHEN 'failed' THEN ' (its last attempt failed or its worker was lost; '
                                                                  || 'the rest of its plan was not run)' ELSE '' END)
                        || coalesce('; its queued synchronizations canceled: ' || k.list, '') AS reason,
                   coalesce(k.syncs, '[]') AS canceled_syncs
              FROM closed c LEFT JOIN canceled_by_run k ON k.run_id = c.id),
        logged AS (
            INSERT INTO schedule_run_logs (run_id, message) SELECT id, reason FROM reasons)
        SELECT * FROM reasons ORDER BY id
        """)
    /// Finished runs older than the retention at $3 (NULL: the database's clock), except each
    /// schedule's latest run.
    static let prune = Statement("schedule_runs_prune", """
        WITH doomed AS (
            SELECT r.id FROM schedule_runs r
             WHERE r.finished_at < coalesce($3::timestamptz, now()) - make_interval(secs => $1)
               AND r.id < (SELECT max(latest.id) FROM schedule_runs latest WHERE latest.schedule_name = r.schedule_name)
             ORDER BY r.id LIMIT $2)
        DELETE FROM schedule_runs WHERE id IN (SELECT id FROM doomed)
        """)
}

/// Creates, reads and ends schedule runs.
public struct ScheduleRunStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    /// Fires every schedule that is due at `now` (nil: the database's clock), each due time once (even
    /// with two coordinators): the schedule's `last_fired_at` moves only if nobody moved it since it
    /// was read, and the run, its log line and its `schedule.run` job are written in the same
    /// transaction. A schedule runs once at a time: a due time that finds its previous run not ended
    /// is skipped — `last_fired_at` moves, no run is made, the open run's log and the audit trail say
    /// so — else runs that outlast the interval would pile up, each holding a worker slot while the
    /// syncs it waits for queue behind the others'. Returns the new runs' ids.
    @discardableResult
    public func fireDue(now: Date? = nil, actor: String) async throws -> [Int64] {
        let now = try await FiringTime.resolve(now, on: connection)
        let rows = try await connection.query(ScheduleRunSQL.schedulesForFiring)
        var fired: [Int64] = []
        var unreadable: [PostgresError] = []
        for row in rows {
            // A schedule that cannot be read (its row edited by hand) must not hold back the others:
            // they fire, and the round then fails naming it.
            let schedule: Schedule
            do {
                schedule = try Schedule(row: row)
            } catch let error as PostgresError where error.kind == .decoding {
                unreadable.append(error)
                continue
            }
            let lastFiredText: String? = try row.decodeIfPresent("last_fired_text")
            let definition = schedule.definition
            let timing = ScheduleTiming(frequency: definition.frequency, start: definition.start, timeZone: definition.timeZone)
            let due = timing.dueRuns(lastFired: schedule.lastFiredAt, now: now)
            guard let dueAt = due.due else { continue }
            let name = schedule.name
            let missed = due.missedCount
            let runID: Int64? = try await connection.transaction { session in
                guard !(try session.query(ScheduleRunSQL.markFired, [name, dueAt, lastFiredText])).isEmpty else { return nil }
                let dueText = ScheduleStart.format(dueAt, timeZone: definition.timeZone)
                if let open = try session.query(ScheduleRunSQL.runOpen, [name]).first {
                    try Self.skipDueTime(session, schedule: name, dueText: dueText, openRun: open, actor: actor)
                    return nil
                }
                guard let id: Int64 = try session.query(ScheduleRunSQL.runInsert, [name, dueAt, "coordinator", actor])
                    .first?.decode("id") else {
                    // Runs outlive their schedule: one deleted and added again under this name ran this due time.
                    try QueueStore.InTransaction(session).auditAppend(
                        actor: actor, action: "schedule.run_skipped", target: name,
                        message: "Schedule '\(name)': due time \(dueText) not fired: it already has a run (of an earlier schedule of this name)")
                    return nil
                }
                var message = "fired by \(actor) for due time \(dueText)"
                if missed > 0 { message += " (\(missed) earlier due time(s) missed while no coordinator ran: fired once)" }
                try Self.enqueueRunJob(session, runID: id, schedule: name, actor: actor, firstLine: message)
                return id
            }
            if let runID { fired.append(runID) }
        }
        if let first = unreadable.first {
            throw unreadable.count == 1 ? first : PostgresError(kind: .decoding, message: unreadable.map(\.message).joined(separator: "; "))
        }
        return fired
    }

    /// A due time not fired because run `openRun` of the schedule has not ended: one line in that run's
    /// log, one audit line.
    private static func skipDueTime(_ session: Session, schedule: String, dueText: String, openRun: Row, actor: String) throws {
        let runID: Int64 = try openRun.decode("id")
        let state: String = try openRun.decode("state")
        let line = "due time \(dueText) skipped by \(actor): this run is still \(state) (a schedule runs once at a time; "
            + "it carries on at its next due time)"
        try session.query(ScheduleRunSQL.logAppend, [runID, line])
        try QueueStore.InTransaction(session).auditAppend(
            actor: actor, action: "schedule.run_skipped", jobID: try openRun.decodeIfPresent("job_id"), target: schedule,
            message: "Schedule '\(schedule)': due time \(dueText) not fired: its run \(runID) is still \(state)")
    }

    /// Starts a run of `name` now (`ucp schedule run-now`), whatever its timing; `last_fired_at` is left
    /// alone.
    public func runNow(name: String, actor: String) async throws -> ScheduleRun {
        let id: Int64 = try await connection.transaction { session in
            guard !(try session.query(ScheduleSQL.scheduleGet, [name])).isEmpty else { throw ScheduleStore.noSuchSchedule(name) }
            guard let id: Int64 = try session.query(ScheduleRunSQL.runInsert, [name, Date?.none, "run-now", actor])
                .first?.decode("id") else { throw InputError(field: "schedule '\(name)'", problem: "a run was started at this very moment") }
            try Self.enqueueRunJob(session, runID: id, schedule: name, actor: actor,
                                   firstLine: "started now by \(actor) (run-now)")
            return id
        }
        guard let run = try await runGet(id: id) else { throw InputError(field: "schedule run \(id)", problem: "vanished") }
        return run
    }

    private static func enqueueRunJob(_ session: Session, runID: Int64, schedule: String, actor: String,
                                      firstLine: String) throws {
        let queue = QueueStore.InTransaction(session)
        let (jobID, _) = try queue.jobEnqueue(.init(RunSchedule(run: runID, schedule: schedule), target: schedule,
                                                    actor: actor, scheduleRunID: runID))
        try session.query(ScheduleRunSQL.runSetJob, [runID, jobID])
        try session.query(ScheduleRunSQL.logAppend, [runID, firstLine])
        try queue.auditAppend(actor: actor, action: "schedule.run_queued", jobID: jobID, target: schedule,
                              message: "Run \(runID) of schedule '\(schedule)' queued: \(firstLine)")
    }

    public func runGet(id: Int64) async throws -> ScheduleRun? {
        try await connection.query(ScheduleRunSQL.runGet, [id]).first.map(ScheduleRun.init(row:))
    }

    /// The latest run of a schedule; nil when it never ran.
    public func runLatest(schedule: String) async throws -> ScheduleRun? {
        try await connection.query(ScheduleRunSQL.runLatest, [schedule]).first.map(ScheduleRun.init(row:))
    }

    /// The latest run of a schedule with its synchronization status (none for a canceled run); nil when
    /// it never ran.
    public func runStatusLatest(schedule: String) async throws -> ScheduleRunStatus? {
        guard let run = try await runLatest(schedule: schedule) else { return nil }
        return try await runStatus(run)
    }

    public func runStatus(_ run: ScheduleRun) async throws -> ScheduleRunStatus {
        var jobState: JobState?
        if let jobID = run.jobID { jobState = try await QueueStore(connection).jobGet(id: jobID)?.state }
        return ScheduleRunStatus(run: run, syncs: run.state == .canceled ? nil : try await runSyncs(id: run.id), jobState: jobState)
    }

    /// Every run of a schedule, oldest first.
    public func runList(schedule: String) async throws -> [ScheduleRun] {
        try await connection.query(ScheduleRunSQL.runList, [schedule]).map(ScheduleRun.init(row:))
    }

    public func runLog(id: Int64) async throws -> [String] {
        try await connection.query(ScheduleRunSQL.logRead, [id]).map { try $0.decode("message") }
    }

    /// `owner`, here and below: the run job's attempt writing; the write rolls back once that attempt
    /// no longer owns the job (a paused worker's late run lines, enqueues and endings never land).
    public func runLogAppend(id: Int64, _ message: String, owner: QueueStore.Held? = nil) async throws {
        try await fenced(owner) { session in _ = try session.query(ScheduleRunSQL.logAppend, [id, message]) }
    }

    /// Queues one of the run's syncs with its log line, checked as `ucp submit sync` checks it
    /// (`SyncSubmission.submitting`: the device or domain exists, no write back to LDAP of the domain
    /// is queued or running, a domain sync can place someone; under the submission locks of its
    /// domains); refused, the run's log and the audit trail say why instead (`schedule.sync_refused`)
    /// and nothing is queued. One transaction, fenced on the run job's attempt. Returns the refusal.
    func runEnqueueSync(id: Int64, schedule: String, _ sync: PlannedSync, _ params: QueueStore.EnqueueParams, logLine: String,
                        owner: QueueStore.Held?) async throws -> InputError? {
        try await SyncSubmission.submitting(sync.kind, target: sync.target, connection: connection) { refusal in
            try await connection.withSession { session in
                let queue = QueueStore.InTransaction(session)
                if let owner { try queue.jobConfirmOwned(owner) }
                if let refusal {
                    let line = "\(sync): refused: \(refusal)"
                    _ = try session.query(ScheduleRunSQL.logAppend, [id, line])
                    try queue.auditAppend(actor: params.actor, action: "schedule.sync_refused", jobID: owner?.id, target: sync.target,
                                          message: "Run \(id) of schedule '\(schedule)': \(line)")
                } else {
                    _ = try queue.jobEnqueue(params)
                    _ = try session.query(ScheduleRunSQL.logAppend, [id, logLine])
                }
                return refusal
            }
        }
    }

    private func fenced<T: Sendable>(_ owner: QueueStore.Held?, _ body: @escaping (Session) throws -> T) async throws -> T {
        try await connection.transaction { session in
            if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
            return try body(session)
        }
    }

    /// The syncs the run enqueued, in the order it enqueued them (not the run's own `schedule.run` job).
    public func runSyncs(id: Int64) async throws -> [ScheduleRunSync] {
        try await QueueStore(connection).jobSyncsByScheduleRun(id: id).map { job in
            ScheduleRunSync(id: job.id, type: job.type, target: job.target, state: job.state, error: job.error,
                            syncGroup: job.syncGroup)
        }
    }

    /// Cancels every unfinished run of `schedule` (`ucp schedule cancel`): each run's job goes to
    /// `canceling` (its handler stops and ends it `canceled`) or, not started yet, straight to `canceled`;
    /// the run's unfinished syncs are canceled with it. Returns the runs it acted on.
    public func runCancel(schedule: String, actor: String) async throws -> [ScheduleRun] {
        let queue = QueueStore(connection)
        var canceled: [ScheduleRun] = []
        for run in try await runList(schedule: schedule) where !run.state.isFinal {
            if let jobID = run.jobID, let job = try await queue.jobGet(id: jobID), !job.state.isFinal {
                _ = try await queue.jobCancel(id: jobID, actor: actor)
            }
            for sync in try await runSyncs(id: run.id) where !sync.state.isFinal {
                _ = try? await queue.jobCancel(id: sync.id, actor: actor)
            }
            // A run whose job never started (or already ended) has no handler left to close it.
            if let jobID = run.jobID, let job = try await queue.jobGet(id: jobID), job.state.isFinal {
                if try await runFinish(id: run.id, state: .canceled) {
                    try await runLogAppend(id: run.id, "canceled by \(actor) before it started")
                }
            } else {
                try await runLogAppend(id: run.id, "cancel requested by \(actor)")
            }
            canceled.append(run)
        }
        return canceled
    }

    /// Deletes finished runs older than `retentionSeconds` at `now` (nil: the database's clock), with
    /// their logs, keeping each schedule's latest run; returns how many it deleted.
    @discardableResult
    public func runPrune(retentionSeconds: Double, limit: Int = 5000, now: Date? = nil) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await connection.query(ScheduleRunSQL.prune, [retentionSeconds, limit, now]).affectedRows
            total += deleted
            if deleted < limit { return total }
        }
    }

    /// A run closed by `runCloseOfEndedJobs`: its new state and why, and the syncs it had queued that
    /// were canceled with it.
    public struct ClosedRun: Sendable, Equatable {
        public var id: Int64
        public var scheduleName: String
        public var jobID: Int64
        public var state: ScheduleRun.State
        public var reason: String
        public var canceledSyncs: [CanceledSync]
    }

    /// A sync of a closed run canceled before it started.
    public struct CanceledSync: Sendable, Equatable, Decodable {
        public var id: Int64
        public var type: String
        public var target: String?
        public var kind: String
    }

    /// The coordinator's sweep (`EndedJobScheduleRunsDuty`): closes every open run whose job ended
    /// or was pruned before the run did, so that no run stays `running` for ever once its handler
    /// can no longer close it, and cancels the syncs it queued that have not started. One statement
    /// and its audit lines (one per run, one per canceled sync), in one transaction: idempotent, and
    /// safe with two coordinators (a run is closed once). Returns the runs it closed.
    @discardableResult
    public func runCloseOfEndedJobs(actor: String) async throws -> [ClosedRun] {
        try await connection.transaction { session in
            let closed = try session.query(ScheduleRunSQL.runCloseOfEndedJob, [actor, RunSchedule.jobType]).map { row in
                guard let state = ScheduleRun.State(rawValue: try row.decode("state")) else {
                    throw PostgresError(kind: .decoding, message: "schedule run: unknown state")
                }
                let syncs = try JSONDecoder().decode([CanceledSync].self, from: Data(try row.decode("canceled_syncs", as: String.self).utf8))
                return ClosedRun(id: try row.decode("id"), scheduleName: try row.decode("schedule_name"), jobID: try row.decode("job_id"),
                                 state: state, reason: try row.decode("reason"), canceledSyncs: syncs)
            }
            let queue = QueueStore.InTransaction(session)
            try queue.auditAppendMany(closed.flatMap { run in
                [QueueStore.AuditLine(actor: actor, action: "schedule.run_closed", jobID: run.jobID, target: run.scheduleName,
                                      message: "Run \(run.id) of schedule '\(run.scheduleName)': \(run.reason)")]
                    + run.canceledSyncs.map { sync in
                        QueueStore.AuditLine(actor: actor, action: "job.cancel", jobID: sync.id, target: sync.target,
                                             message: "Cancel of \(sync.type) job \(sync.id) (was queued): run \(run.id) of schedule "
                                                 + "'\(run.scheduleName)' closed \(run.state.rawValue) before it started")
                    }
            })
            // A canceled infrastructure or user sync may have been what held maintenance mode.
            if closed.contains(where: { run in run.canceledSyncs.contains { $0.kind == JobKind.deviceSync.rawValue } }) {
                try queue.maintenanceRefresh(actor: actor)
            }
            return closed
        }
    }

    /// Marks the run running; false when it already ended.
    func runStart(id: Int64, owner: QueueStore.Held? = nil) async throws -> Bool {
        try await fenced(owner) { session in !(try session.query(ScheduleRunSQL.runStart, [id])).isEmpty }
    }

    /// Ends the run (once: a run that already ended keeps its state).
    @discardableResult
    func runFinish(id: Int64, state: ScheduleRun.State, owner: QueueStore.Held? = nil) async throws -> Bool {
        try await fenced(owner) { session in !(try session.query(ScheduleRunSQL.runFinish, [id, state.rawValue])).isEmpty }
    }
}

/// The coordinator's sweep of runs whose job ended before them (`ScheduleRunStore.runCloseOfEndedJobs`;
/// each closed run gets a log line and an audit line). At the lease rescue's interval, after it in a
/// round: a run whose last attempt the rescue ended is closed within about one interval.
public struct EndedJobScheduleRunsDuty: CoordinatorDuty {
    public let name = "schedule runs of ended jobs"
    public let intervalSeconds: Double

    public init(intervalSeconds: Double) {
        self.intervalSeconds = intervalSeconds
    }

    public func runOnce(_ store: QueueStore, actor: String, clock: any TimeSource) async throws {
        try await ScheduleRunStore(store.connection).runCloseOfEndedJobs(actor: actor)
    }
}

/// The coordinator's duty that deletes old finished runs, at the jobs' retention.
public struct ScheduleRunPruneDuty: CoordinatorDuty {
    public let name = "schedule run pruning"
    public let intervalSeconds: Double
    public let retentionSeconds: Double

    public init(intervalSeconds: Double, retentionSeconds: Double) {
        self.intervalSeconds = intervalSeconds
        self.retentionSeconds = retentionSeconds
    }

    public func runOnce(_ store: QueueStore, actor: String, clock: any TimeSource) async throws {
        try await ScheduleRunStore(store.connection).runPrune(retentionSeconds: retentionSeconds, now: clock.sqlNow)
    }
}

/// The coordinator's duty that fires due schedules (leader only; `fireDue` is safe with two leaders).
public struct ScheduleFiringDuty: CoordinatorDuty {
    public let name = "schedule firing"
    public let intervalSeconds: Double

    public init(intervalSeconds: Double = 1) {
        self.intervalSeconds = intervalSeconds
    }

    public func runOnce(_ store: QueueStore, actor: String, clock: any TimeSource) async throws {
        try await ScheduleRunStore(store.connection).fireDue(now: clock.sqlNow, actor: actor)
    }
}
