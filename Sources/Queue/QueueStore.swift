import Foundation
import JobCatalog
import Postgres
import Runtime

/// The one seam between the queue and PostgreSQL: every operation on the queue's tables, named
/// noun-first. Each method is one round trip (one statement or one SQL function call).
///
/// An operation that judges by the time takes `now`: nil (the default) leaves it to the database's
/// clock, the same for every host; a service passes its clock's `sqlNow`, a test the time it plays.
public struct QueueStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    // MARK: jobs

    public struct EnqueueParams: Sendable {
        public var kind: JobKind
        public var type: String
        public var target: String?
        public var payload: String
        public var priority: Int
        public var runAt: Date?
        public var maxAttempts: Int
        public var dedupKey: String?
        public var actor: String
        public var syncGroup: String?
        public var scheduleRunID: Int64?

        public init(kind: JobKind, type: String, target: String? = nil, payload: String = "{}", priority: Int = 0,
                    runAt: Date? = nil, maxAttempts: Int = 5, dedupKey: String? = nil, actor: String,
                    syncGroup: String? = nil, scheduleRunID: Int64? = nil) {
            self.kind = kind
            self.type = type
            self.target = target
            self.payload = payload
            self.priority = priority
            self.runAt = runAt
            self.maxAttempts = maxAttempts
            self.dedupKey = dedupKey
            self.actor = actor
            self.syncGroup = syncGroup
            self.scheduleRunID = scheduleRunID
        }

        /// A job of the type `contract` names, with its kind and attempts.
        public init(_ contract: any JobParameters.Type, target: String? = nil, payload: String = "{}", priority: Int = 0,
                    runAt: Date? = nil, dedupKey: String? = nil, actor: String, syncGroup: String? = nil,
                    scheduleRunID: Int64? = nil) {
            self.init(kind: contract.kind, type: contract.jobType, target: target, payload: payload, priority: priority,
                      runAt: runAt, maxAttempts: contract.maxAttempts, dedupKey: dedupKey, actor: actor,
                      syncGroup: syncGroup, scheduleRunID: scheduleRunID)
        }

        /// A job with these parameters, encoded as its payload.
        public init<P: JobParameters>(_ parameters: P, target: String? = nil, priority: Int = 0, runAt: Date? = nil,
                                      dedupKey: String? = nil, actor: String, syncGroup: String? = nil,
                                      scheduleRunID: Int64? = nil) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            self.init(P.self, target: target, payload: String(decoding: try encoder.encode(parameters), as: UTF8.self),
                      priority: priority, runAt: runAt, dedupKey: dedupKey, actor: actor, syncGroup: syncGroup,
                      scheduleRunID: scheduleRunID)
        }
    }

    /// A line for the audit trail, written with others (`InTransaction.auditAppendMany`, which `auditAppend` calls with one).
    public struct AuditLine: Sendable {
        public var actor: String
        public var action: String
        public var jobID: Int64?
        public var target: String?
        public var message: String

        public init(actor: String, action: String, jobID: Int64? = nil, target: String? = nil, message: String) {
            self.actor = actor
            self.action = action
            self.jobID = jobID
            self.target = target
            self.message = message
        }
    }

    /// Enqueues one job. `created` is false when a pending job with the same key already existed.
    public func jobEnqueue(_ params: EnqueueParams) async throws -> (id: Int64, created: Bool) {
        try await connection.withSession { try InTransaction($0).jobEnqueue(params) }
    }

    /// Enqueues many orders or tasks in one transaction with COPY. Syncs go one by one through
    /// `jobEnqueue`, which writes their audit lines and applies their de-duplication keys.
    public func jobEnqueueMany(_ jobs: [EnqueueParams]) async throws -> Int {
        try await connection.transaction { try InTransaction($0).jobEnqueueMany(jobs) }
    }

    /// Claims up to `slots` jobs for `worker`, under the sync and maintenance rules.
    public func jobClaim(worker: String, slots: Int, leaseSeconds: Double, now: Date? = nil) async throws -> [Job] {
        let rows = try await connection.query(QueueSQL.jobClaim, [worker, slots, leaseSeconds, now])
        return try rows.map(Job.init(row:))
    }

    public struct Held: Sendable, Hashable {
        public var id: Int64
        public var attempt: Int
        public init(id: Int64, attempt: Int) {
            self.id = id
            self.attempt = attempt
        }
    }

    /// What a heartbeat learnt: the attempts whose leases it renewed, with their job's state (running,
    /// or canceling once an operator canceled it), and the attempts still owning their job whose row
    /// a transaction held at that moment (not renewed this time, not lost either). An attempt in
    /// neither lost its job.
    public struct Heartbeat: Sendable {
        public var renewed: [Held: JobState] = [:]
        public var busy: Set<Held> = []
    }

    /// Renews the leases of the attempts a worker holds (by attempt: the worker may hold a newer
    /// attempt of the same job too).
    public func jobHeartbeat(worker: String, held: [Held], leaseSeconds: Double,
                             now: Date? = nil) async throws -> Heartbeat {
        let rows = try await connection.query(QueueSQL.jobHeartbeat, [
            PostgresIntArray(held.map(\.id)), PostgresIntArray(held.map { Int64($0.attempt) }), leaseSeconds, worker, now,
        ])
        var heartbeat = Heartbeat()
        for row in rows {
            let item = Held(id: try row.decode("id"), attempt: try row.decode("attempt"))
            if try row.decode("busy") as Bool {
                heartbeat.busy.insert(item)
            } else {
                heartbeat.renewed[item] = JobState(rawValue: try row.decode("state"))
            }
        }
        return heartbeat
    }

    /// Records progress (and renews the lease); returns the job's state, nil if the attempt lost the job.
    public func jobProgress(_ held: Held, done: Int64, total: Int64?, message: String?,
                            leaseSeconds: Double, now: Date? = nil) async throws -> JobState? {
        let rows = try await connection.query(QueueSQL.jobProgress, [
            held.id, held.attempt, done, total, message, leaseSeconds, now,
        ])
        return try rows.first.flatMap { JobState(rawValue: try $0.decode("state")) }
    }

    public enum Outcome: String, Sendable {
        case succeeded, failed, canceled
        /// Failed, to be tried again at the given time if attempts remain.
        case retry
    }

    /// Ends an attempt; returns the state written, or nil when the attempt was fenced off. A retried
    /// job runs again `retryDelaySeconds` after `now` (nil: the database's clock; a test passes its time).
    public func jobEnd(_ held: Held, outcome: Outcome, error: String? = nil, retryDelaySeconds: Double? = nil,
                       now: Date? = nil, actor: String) async throws -> JobState? {
        let rows = try await connection.query(QueueSQL.jobEnd, [
            held.id, held.attempt, outcome.rawValue, error, retryDelaySeconds, now, actor,
        ])
        return try rows.first.flatMap { try $0.decodeIfPresent("state", as: String.self) }.flatMap(JobState.init(rawValue:))
    }

    /// Marks many order or task attempts succeeded in one statement; returns the ids written.
    /// `closingLines`: lines to write to the jobs' logs with their success, in the same statement
    /// (none for an attempt that was no longer running).
    public func jobSucceedMany(_ held: [Held], closingLines: [Held: String] = [:]) async throws -> Set<Int64> {
        let ids = PostgresIntArray(held.map(\.id)), attempts = PostgresIntArray(held.map { Int64($0.attempt) })
        let lines = held.compactMap { item in closingLines[item].map { (item, $0) } }
        let rows = lines.isEmpty
            ? try await connection.query(QueueSQL.jobSucceedMany, [ids, attempts])
            : try await connection.query(QueueSQL.jobSucceedManyLogged, [
                ids, attempts, PostgresIntArray(lines.map(\.0.id)), PostgresIntArray(lines.map { Int64($0.0.attempt) }),
                PostgresTextArray(lines.map(\.1)),
            ])
        return Set(try rows.map { try $0.decode("id", as: Int64.self) })
    }

    /// Hands attempts back to the queue (a worker shutting down); returns how many were released.
    public func jobRelease(_ held: [Held], actor: String) async throws -> Int {
        let rows = try await connection.query(QueueSQL.jobRelease, [
            PostgresIntArray(held.map(\.id)), PostgresIntArray(held.map { Int64($0.attempt) }), actor,
        ])
        return try rows.first?.decode("released") ?? 0
    }

    /// Requests cancel; returns `canceled` (it was queued) or `canceling` (its handler will stop).
    public func jobCancel(id: Int64, actor: String) async throws -> JobState {
        try await connection.withSession { try InTransaction($0).jobCancel(id: id, actor: actor) }
    }

    public struct StopStuckParams: Sendable {
        public var id: Int64
        public var actor: String
        public var minimumIdleSeconds: Double
        /// The audit action and the message, which also becomes the job's error.
        public var action: String
        public var message: String
        /// The time the idle span is measured to; nil: the database's clock.
        public var now: Date?

        public init(id: Int64, actor: String, minimumIdleSeconds: Double, action: String, message: String,
                    now: Date? = nil) {
            self.id = id
            self.actor = actor
            self.minimumIdleSeconds = minimumIdleSeconds
            self.action = action
            self.message = message
            self.now = now
        }
    }

    /// Stops a sync whose progress has not moved for the given time.
    public func jobStopStuck(_ params: StopStuckParams) async throws -> Job {
        let rows = try await connection.query(QueueSQL.jobStopStuck, [
            params.id, params.actor, params.minimumIdleSeconds, params.action, params.message, params.now,
        ])
        guard let row = rows.first else { throw PostgresError(kind: .other, message: "stop-stuck returned nothing") }
        return try Job(row: row)
    }

    /// Rescues every job whose lease expired; returns them in their new state.
    public func jobRescueExpired(actor: String, now: Date? = nil) async throws -> [Job] {
        try await connection.query(QueueSQL.jobRescueExpired, [actor, now]).map(Job.init(row:))
    }

    /// A session of a lost worker that held a transaction open since before its job's lease ran out.
    public struct LostWorkerSession: Sendable, Equatable {
        public let jobID: Int64
        public let worker: String
        public let pid: Int32
        public let ended: Bool
    }

    /// Ends the sessions of workers whose jobs' leases expired while those sessions held a
    /// transaction open: a paused worker's fenced write locks its job's row, which the rescue skips.
    public func lostWorkerSessionsEnd(sessionPrefix: String, now: Date? = nil) async throws -> [LostWorkerSession] {
        try await connection.query(QueueSQL.lostWorkerSessionsEnd, [sessionPrefix, now]).map { row in
            LostWorkerSession(jobID: try row.decode("job_id"), worker: try row.decode("worker"),
                              pid: try row.decode("pid"), ended: try row.decode("ended"))
        }
    }

    /// Deletes up to `limit` finished jobs older than the retention, with their logs.
    public func jobPrune(retentionSeconds: Double, limit: Int, now: Date? = nil) async throws -> Int {
        try await connection.query(QueueSQL.jobPrune, [retentionSeconds, limit, now]).affectedRows
    }

    public func jobGet(id: Int64) async throws -> Job? {
        try await connection.query(QueueSQL.jobGet, [id]).first.map(Job.init(row:))
    }

    /// Newest first; `beforeID` pages on (the last id of the previous page).
    public func jobList(state: JobState?, type: String?, limit: Int, beforeID: Int64? = nil) async throws -> [Job] {
        try await connection.query(QueueSQL.jobList, [state?.rawValue, type, limit, beforeID]).map(Job.init(row:))
    }

    public func jobList(_ filter: JobFilter) async throws -> [Job] {
        try await jobList(state: filter.state, type: filter.type, limit: filter.limit, beforeID: filter.beforeID)
    }

    /// Appends a line to the job's log; false (nothing written) when the attempt no longer owns the job.
    @discardableResult
    public func jobLogAppend(_ held: Held, level: String, message: String) async throws -> Bool {
        try await connection.query(QueueSQL.jobLogAppend, [held.id, held.attempt, level, message]).affectedRows == 1
    }

    /// The job's log: all of it, or a page of `limit` lines after line `after` (a long sync's log is
    /// read a page at a time by the API and `jobs log`, never held whole).
    public func jobLogRead(id: Int64, after: Int64? = nil, limit: Int? = nil) async throws -> [JobLogLine] {
        let page: [any PostgresEncodable] = [id, after, limit.map(Int64.init)]
        return try await connection.query(QueueSQL.jobLogRead, page).map { row in
            JobLogLine(id: try row.decode("id"), attempt: try row.decode("attempt"), at: try row.decode("at"),
                       level: try row.decode("level"), message: try row.decode("message"))
        }
    }

    /// Queued and running jobs, and those finished in the last hour, counted by state and type.
    public func jobCountByStateAndType(now: Date? = nil) async throws -> [(state: JobState, type: String, count: Int)] {
        try await connection.query(QueueSQL.jobCountByStateAndType, [now]).map { row in
            (JobState(rawValue: try row.decode("state")) ?? .queued, try row.decode("type"), try row.decode("jobs"))
        }
    }

    /// Unfinished jobs by kind and state (queued, running, canceling); `due`: queued ones whose time came.
    public struct Depth: Sendable, Equatable {
        public var kind: JobKind
        public var state: JobState
        public var jobs: Int
        public var due: Int
    }

    public func jobDepthByKindAndState(now: Date? = nil) async throws -> [Depth] {
        try await connection.query(QueueSQL.jobDepthByKindAndState, [now]).compactMap { row in
            guard let kind = JobKind(rawValue: try row.decode("kind")), let state = JobState(rawValue: try row.decode("state")) else {
                return nil
            }
            return Depth(kind: kind, state: state, jobs: try row.decode("jobs"), due: try row.decode("due"))
        }
    }

    public func jobRunningSyncs() async throws -> [Job] {
        try await connection.query(QueueSQL.jobRunningSyncs).map(Job.init(row:))
    }

    /// The syncs a schedule run enqueued, in the order it enqueued them (not its `schedule.run` job).
    public func jobSyncsByScheduleRun(id: Int64) async throws -> [Job] {
        try await connection.query(QueueSQL.jobSyncsByScheduleRun, [id]).map(Job.init(row:))
    }

    /// Jobs of `types` whose target is one of `targets` that are queued (unless `runningOnly`),
    /// running or canceling, oldest first (at most 10).
    public func jobUnfinished(types: [String], targets: [String], runningOnly: Bool = false) async throws -> [Job] {
        guard !types.isEmpty, !targets.isEmpty else { return [] }
        return try await connection.query(QueueSQL.jobUnfinishedByTypes, [PostgresTextArray(types), PostgresTextArray(targets), runningOnly])
            .map(Job.init(row:))
    }

    /// Jobs queued, running or canceling.
    public func jobCountUnfinished() async throws -> Int {
        try await connection.query(QueueSQL.jobCountUnfinished).first?.decode("n") ?? 0
    }

    public func jobCount(state: JobState) async throws -> Int {
        try await connection.query(QueueSQL.jobCountInState, [state.rawValue]).first?.decode("n") ?? 0
    }

    /// Inserts `count` copies of one order or task in one statement, without notifying workers (a
    /// queue prefilled before they start: the benchmark's limit).
    public func jobEnqueueCopies(_ job: EnqueueParams, count: Int) async throws -> Int {
        guard !job.kind.isSync, job.dedupKey == nil, job.syncGroup == nil else {
            throw InputError(field: "jobs", problem: "copies are of an order or a task without keys; \(job.type) is not one")
        }
        return try await connection.query(QueueSQL.jobInsertCopies, [
            job.kind.rawValue, job.type, job.target, job.payload, job.priority, job.runAt, job.maxAttempts, job.actor, count,
        ]).affectedRows
    }

    /// VACUUM (ANALYZE) of `jobs`, so plans see the rows just written; needs the table's owner.
    public func jobTableVacuum() async throws {
        try await connection.withSession { session in try session.execute(QueueSQL.jobTableVacuum) }
    }

    /// Milliseconds from enqueue to start of each job that succeeded after `afterID`, by id.
    public func jobStartLatencies(afterID: Int64) async throws -> [Double] {
        try await connection.query(QueueSQL.jobStartLatencies, [afterID]).map { try $0.decode("ms") }
    }

    /// Jobs of one type submitted together by one actor: ids `ids`.
    public struct JobRange: Sendable, Equatable {
        public var ids: ClosedRange<Int64>
        public var type: String
        public var submittedBy: String

        public init(ids: ClosedRange<Int64>, type: String, submittedBy: String) {
            self.ids = ids
            self.type = type
            self.submittedBy = submittedBy
        }

        var parameters: [any PostgresEncodable] { [ids.lowerBound, ids.upperBound, type, submittedBy] }
    }

    /// The first `count` jobs after `afterID` of `type` and `target` submitted by `submittedBy`;
    /// nil unless there are `count` of them.
    public func jobRangeLocate(afterID: Int64, type: String, target: String, submittedBy: String,
                               count: Int) async throws -> JobRange? {
        guard let row = try await connection.query(QueueSQL.jobRangeLocate, [afterID, type, target, count, submittedBy]).first,
              try row.decode("jobs", as: Int.self) == count,
              let first = try row.decodeIfPresent("first_id", as: Int64.self),
              let last = try row.decodeIfPresent("last_id", as: Int64.self)
        else { return nil }
        return JobRange(ids: first...last, type: type, submittedBy: submittedBy)
    }

    public func jobRangeCountByState(_ range: JobRange) async throws -> [JobState: Int] {
        var counts: [JobState: Int] = [:]
        for row in try await connection.query(QueueSQL.jobRangeCountByState, range.parameters) {
            guard let state = JobState(rawValue: try row.decode("state")) else { continue }
            counts[state] = try row.decode("jobs")
        }
        return counts
    }

    public struct JobRangeSummary: Sendable {
        public var jobs: Int
        public var succeeded: Int
        /// Jobs that started before the job compared with finished.
        public var startedBefore: Int
        public var firstStarted: Date?
        public var lastFinished: Date?
    }

    /// How a range of jobs ran, next to the job `comparedWith` (how many started before it finished).
    public func jobRangeSummary(_ range: JobRange, comparedWith id: Int64) async throws -> JobRangeSummary {
        guard let row = try await connection.query(QueueSQL.jobRangeSummary, range.parameters + [id]).first else {
            throw PostgresError(kind: .other, message: "job range summary returned nothing")
        }
        return JobRangeSummary(jobs: try row.decode("jobs"), succeeded: try row.decode("succeeded"),
                               startedBefore: try row.decode("started_before"),
                               firstStarted: try row.decodeIfPresent("first_started"),
                               lastFinished: try row.decodeIfPresent("last_finished"))
    }

    public func jobRangeCountByWorker(_ range: JobRange) async throws -> [(worker: String, jobs: Int)] {
        try await connection.query(QueueSQL.jobRangeCountByWorker, range.parameters).map { row in
            (try row.decode("worker"), try row.decode("jobs"))
        }
    }

    // MARK: maintenance

    public struct MaintenanceState: Sendable, Codable {
        public var active: Bool
        public var reason: String?
        public var since: Date?
    }

    public func maintenanceState(now: Date? = nil) async throws -> MaintenanceState {
        guard let row = try await connection.query(QueueSQL.maintenanceState, [now]).first else {
            return MaintenanceState(active: false)
        }
        return MaintenanceState(active: try row.decode("active"), reason: try row.decodeIfPresent("reason"),
                                since: try row.decodeIfPresent("maintenance_since"))
    }

    /// Switches the operator's maintenance flag; audited.
    public func maintenanceSet(on: Bool, actor: String) async throws {
        try await connection.query(QueueSQL.maintenanceSet, [on, actor])
    }

    /// Writes the audit line of a maintenance transition that happened by the clock (a sync became due).
    public func maintenanceRefresh(actor: String, now: Date? = nil) async throws {
        try await connection.withSession { try InTransaction($0).maintenanceRefresh(actor: actor, now: now) }
    }

    // MARK: audit

    public func auditAppend(actor: String, action: String, jobID: Int64? = nil, target: String? = nil,
                            message: String) async throws {
        try await connection.withSession {
            try InTransaction($0).auditAppend(actor: actor, action: action, jobID: jobID, target: target, message: message)
        }
    }

    /// The latest `limit` entries, oldest first (the status page's last audit lines).
    public func auditTail(limit: Int) async throws -> [AuditEntry] {
        try await connection.query(QueueSQL.auditTail, [limit]).map(AuditEntry.init(row:))
    }

    /// Oldest first; `afterID` pages on (the last id of the previous page).
    public func auditList(since: Date?, jobID: Int64?, limit: Int, afterID: Int64? = nil, actor: String? = nil,
                          action: String? = nil) async throws -> [AuditEntry] {
        try await connection.query(QueueSQL.auditList, [since, jobID, limit, afterID, actor, action]).map(AuditEntry.init(row:))
    }

    /// The entries `filter` selects; its look-back is from now on the database's clock.
    public func auditList(_ filter: AuditFilter) async throws -> [AuditEntry] {
        var since: Date?
        if let seconds = filter.sinceSeconds { since = try await DatabaseClock.now(connection).addingTimeInterval(-seconds) }
        return try await auditList(since: since, jobID: filter.jobID, limit: filter.limit, afterID: filter.afterID,
                                   actor: filter.actor, action: filter.action)
    }

    // MARK: workers

    public func workerRegister(name: String, host: String, pid: Int, concurrency: Int) async throws {
        try await connection.query(QueueSQL.workerRegister, [name, host, pid, concurrency])
    }

    public func workerStopped(name: String) async throws {
        try await connection.query(QueueSQL.workerStopped, [name])
    }

    public struct LiveWorker: Sendable, Codable {
        public var name: String
        public var host: String
        public var pid: Int
        public var concurrency: Int
        public var heartbeatAgeSeconds: Double
        public var running: Int
    }

    /// Workers that heartbeated within `withinSeconds` and did not stop.
    public func workerListLive(withinSeconds: Double, now: Date? = nil) async throws -> [LiveWorker] {
        try await connection.query(QueueSQL.workerListLive, [withinSeconds, now]).map { row in
            LiveWorker(name: try row.decode("name"), host: try row.decode("host"), pid: try row.decode("pid"),
                       concurrency: try row.decode("concurrency"),
                       heartbeatAgeSeconds: try row.decode("heartbeat_age"), running: try row.decode("running"))
        }
    }

    public func workerPrune(olderThanSeconds: Double, now: Date? = nil) async throws -> Int {
        try await connection.query(QueueSQL.workerPrune, [olderThanSeconds, now]).affectedRows
    }

    // MARK: leadership

    /// Takes or renews the lease of `role`; true when `holder` leads afterwards.
    public func leaderAttemptElect(role: String, holder: String, leaseSeconds: Double, now: Date? = nil) async throws -> Bool {
        try await !connection.query(QueueSQL.leaderAttemptElect, [role, holder, leaseSeconds, now]).isEmpty
    }

    public func leaderResign(role: String, holder: String) async throws {
        try await connection.query(QueueSQL.leaderResign, [role, holder])
    }

    public struct Leader: Sendable, Codable {
        public var holder: String
        public var electedAt: Date
        public var remainingSeconds: Double
    }

    public func leaderGet(role: String, now: Date? = nil) async throws -> Leader? {
        try await connection.query(QueueSQL.leaderGet, [role, now]).first.map { row in
            Leader(holder: try row.decode("holder"), electedAt: try row.decode("elected_at"),
                   remainingSeconds: try row.decode("remaining"))
        }
    }
}

extension QueueStore {
    /// The queue's operations that another module runs inside a transaction of its own (a schedule
    /// that records its run and queues its job at once, an inventory change and its audit line).
    /// The async methods of `QueueStore` run these same bodies in a session of their own.
    public struct InTransaction {
        let session: Session

        public init(_ session: Session) {
            self.session = session
        }

        /// Enters or leaves maintenance mode as the queue now stands, in the caller's transaction.
        public func maintenanceRefresh(actor: String, now: Date? = nil) throws {
            try session.query(QueueSQL.maintenanceRefresh, [actor, now])
        }

        /// Enqueues one job. `created` is false when a pending job with the same key already existed.
        public func jobEnqueue(_ params: EnqueueParams) throws -> (id: Int64, created: Bool) {
            let rows = try session.query(QueueSQL.jobEnqueue, [
                params.kind.rawValue, params.type, params.target, params.payload, params.priority, params.runAt,
                params.maxAttempts, params.dedupKey, params.actor, params.syncGroup, params.scheduleRunID,
            ])
            guard let row = rows.first else { throw PostgresError(kind: .other, message: "enqueue returned nothing") }
            return (try row.decode("id"), try row.decode("created"))
        }

        /// Enqueues many orders or tasks with COPY, in the caller's transaction (`jobEnqueueMany`).
        /// A job given no `runAt` is due at the transaction's time on the database's clock.
        public func jobEnqueueMany(_ jobs: [EnqueueParams]) throws -> Int {
            try Self.refuseInBulk(jobs)
            guard !jobs.isEmpty else { return 0 }
            let now: String? = jobs.contains { $0.runAt == nil }
                ? try session.query(QueueSQL.transactionNow).first?.decode("now") : nil
            let rows = jobs.lazy.map { job -> [String?] in
                [job.kind.rawValue, job.type, job.target, job.payload, String(job.priority),
                 job.runAt.map(PostgresTimestamp.format) ?? now, String(job.maxAttempts), job.actor]
            }
            let copied = try session.copyIn(QueueSQL.jobCopyIn, rows: rows)
            try session.query(QueueSQL.jobNotify)
            return copied
        }

        /// Enqueues many orders or tasks in one statement, in the caller's transaction; returns their
        /// ids in the order given (what COPY, `jobEnqueueMany`, cannot).
        public func jobEnqueueManyReturningIDs(_ jobs: [EnqueueParams]) throws -> [Int64] {
            try Self.refuseInBulk(jobs)
            guard !jobs.isEmpty else { return [] }
            let ids = try session.query(QueueSQL.jobEnqueueManyReturning, [
                PostgresTextArray(jobs.map(\.kind.rawValue)), PostgresTextArray(jobs.map(\.type)), PostgresTextArray(jobs.map(\.target)),
                PostgresTextArray(jobs.map(\.payload)), PostgresIntArray(jobs.map { Int64($0.priority) }),
                PostgresTextArray(jobs.map { $0.runAt.map(PostgresTimestamp.format) }), PostgresIntArray(jobs.map { Int64($0.maxAttempts) }),
                PostgresTextArray(jobs.map(\.actor)),
            ]).map { try $0.decode("id", as: Int64.self) }
            try session.query(QueueSQL.jobNotify)
            return ids
        }

        /// The bulk enqueues take orders and tasks without keys: a sync goes through `jobEnqueue`,
        /// which writes its audit line and applies its de-duplication key and group.
        static func refuseInBulk(_ jobs: [EnqueueParams]) throws {
            for job in jobs where job.kind.isSync || job.dedupKey != nil || job.syncGroup != nil {
                throw InputError(field: "jobs", problem: "bulk enqueue takes orders and tasks without keys; \(job.type) is not one")
            }
        }

        /// The job's state, its row locked until the caller's transaction ends; nil: no such job.
        public func jobStateLocked(id: Int64) throws -> JobState? {
            try session.query(QueueSQL.jobStateLocked, [id]).first.flatMap { JobState(rawValue: try $0.decode("state")) }
        }

        /// Cancels a job in the caller's transaction: a queued one is canceled at once, a running one
        /// is canceling (its handler stops at its next heartbeat or fence).
        public func jobCancel(id: Int64, actor: String) throws -> JobState {
            let rows = try session.query(QueueSQL.jobCancel, [id, actor])
            return JobState(rawValue: try rows.first?.decode("state") ?? "") ?? .canceling
        }

        /// Appends one line to the audit trail.
        public func auditAppend(actor: String, action: String, jobID: Int64? = nil, target: String? = nil,
                                message: String) throws {
            try auditAppendMany([AuditLine(actor: actor, action: action, jobID: jobID, target: target, message: message)])
        }

        /// Appends lines to the audit trail in one statement, in the order given: the one place in
        /// Swift that writes `audit_log`.
        public func auditAppendMany(_ lines: [AuditLine]) throws {
            guard !lines.isEmpty else { return }
            try session.query(QueueSQL.auditAppend, [
                PostgresTextArray(lines.map(\.actor)), PostgresTextArray(lines.map(\.action)),
                PostgresTextArray(lines.map { $0.jobID.map(String.init) }), PostgresTextArray(lines.map(\.target)),
                PostgresTextArray(lines.map(\.message)),
            ])
        }

        /// Fences a write made on a job's behalf: throws `JobLostError` unless `held` is still the job's
        /// running attempt, and holds the job's row until the caller's transaction ends (a rescue
        /// waits for the write, or wins and the write rolls back).
        public func jobConfirmOwned(_ held: Held) throws {
            guard !(try session.query(QueueSQL.jobConfirmOwned, [held.id, held.attempt])).isEmpty else { throw JobLostError() }
        }

        /// Appends a line to the job's log in the caller's transaction (it is there exactly when the
        /// rest of the transaction is); false (nothing written) when the attempt no longer owns the job.
        @discardableResult
        public func jobLogAppend(_ held: Held, level: String, message: String) throws -> Bool {
            try session.query(QueueSQL.jobLogAppend, [held.id, held.attempt, level, message]).affectedRows == 1
        }

        /// A job of `kind` and `target` that has not ended, if any (the oldest).
        public func jobUnfinishedByTarget(kind: JobKind, target: String) throws -> Job? {
            try session.query(QueueSQL.jobUnfinishedByTarget, [kind.rawValue, target]).first.map(Job.init(row:))
        }

        /// Jobs of `types` on `target` that are queued, running or canceling, oldest first (at most 10).
        public func jobUnfinished(types: [String], target: String) throws -> [Job] {
            try session.query(QueueSQL.jobUnfinishedByTypes, [PostgresTextArray(types), PostgresTextArray([target]), false])
                .map(Job.init(row:))
        }
    }
}

