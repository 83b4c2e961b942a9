import Postgres

/// Every statement the queue runs, by name. The rules themselves are SQL functions of
/// `migrations/001_queue.sql` (their time parameters: 011); these are the calls into them and the
/// plain reads and writes. A statement that compares with the current time takes it as a parameter,
/// `coalesce($n::timestamptz, now())`: NULL keeps the database's clock, a test passes its own time.
enum QueueSQL {
    // MARK: jobs
    static let jobEnqueue = Statement("job_enqueue", """
        SELECT id, created FROM ucp_enqueue($1, $2, $3, $4::jsonb, $5::smallint, $6::timestamptz, $7::integer,
                                            $8, $9, $10, $11::bigint)
        """)
    /// The transaction's time as the server writes it: the `run_at` of bulk rows given none, what
    /// the column's DEFAULT now() would have given them.
    static let transactionNow = Statement("transaction_now", "SELECT now()::text AS now")
    static let jobCopyIn = Statement("job_copy_in", """
        COPY jobs (kind, type, target, payload, priority, run_at, max_attempts, submitted_by) FROM STDIN
        """)
    /// Many orders or tasks in one statement, their ids returned in the order given: each row's id is
    /// drawn before the insert, so the answer pairs ids with inputs whatever order the rows go in.
    /// $1–$8 arrays alike in length: kind, type, target, payload, priority, run_at (NULL: now()),
    /// max_attempts, submitted_by.
    static let jobEnqueueManyReturning = Statement("job_enqueue_many_returning", """
        WITH input AS MATERIALIZED (
            SELECT nextval(pg_get_serial_sequence('jobs', 'id')) AS id, t.*
              FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::smallint[], $6::timestamptz[], $7::integer[], $8::text[])
                   WITH ORDINALITY AS t(kind, type, target, payload, priority, run_at, max_attempts, submitted_by, n)),
        inserted AS (
            INSERT INTO jobs (id, kind, type, target, payload, priority, run_at, max_attempts, submitted_by)
            SELECT id, kind, type, target, payload::jsonb, priority, coalesce(run_at, now()), max_attempts, submitted_by FROM input)
        SELECT id FROM input ORDER BY n
        """)
    static let jobNotify = Statement("job_notify", "SELECT pg_notify('ucp_jobs', 'bulk')")
    static let jobClaim = Statement("job_claim", "SELECT * FROM ucp_claim($1, $2, $3, $4::timestamptz)")
    // The statements that join `jobs` with an array of (id, attempt) pairs run unprepared ("" name):
    // a generic plan, made while statistics say no job runs, scans every running job once per pair.
    // A row held FOR SHARE by a fenced transaction (one of this worker's handlers writing on its job's
    // behalf) is skipped, not waited for: one long transaction must not hold back the renewal of
    // every other job of the worker. It is answered `busy`, its lease renewed at a later beat.
    static let jobHeartbeat = Statement("", """
        WITH worker AS (UPDATE workers SET heartbeat_at = coalesce($5::timestamptz, now()) WHERE name = $4),
             held AS (SELECT * FROM unnest($1::bigint[], $2::integer[]) AS held(id, attempt)),
             renewable AS (
                SELECT jobs.id FROM jobs, held
                 WHERE jobs.id = held.id AND jobs.attempt = held.attempt AND jobs.state IN \(FencedSQL.ownedStates)
                   FOR NO KEY UPDATE OF jobs SKIP LOCKED),
             renewed AS (
                UPDATE jobs SET heartbeat_at = coalesce($5::timestamptz, now()),
                                lease_expires_at = coalesce($5::timestamptz, now()) + make_interval(secs => $3)
                  FROM renewable WHERE jobs.id = renewable.id
                RETURNING jobs.id, jobs.attempt, jobs.state)
        SELECT id, attempt, state, false AS busy FROM renewed
        UNION ALL
        SELECT jobs.id, jobs.attempt, jobs.state, true AS busy FROM jobs, held
         WHERE jobs.id = held.id AND jobs.attempt = held.attempt AND jobs.state IN \(FencedSQL.ownedStates)
           AND jobs.id NOT IN (SELECT id FROM renewed)
        """)
    static let jobProgress = Statement("job_progress", """
        UPDATE jobs SET progress_at = CASE WHEN (progress_done, progress_total, progress_message)
                                                IS DISTINCT FROM ($3::bigint, $4::bigint, $5::text)
                                           THEN coalesce($7::timestamptz, clock_timestamp()) ELSE progress_at END,
                        progress_done = $3, progress_total = $4, progress_message = $5,
                        heartbeat_at = coalesce($7::timestamptz, now()),
                        lease_expires_at = coalesce($7::timestamptz, now()) + make_interval(secs => $6)
         WHERE id = $1 AND attempt = $2 AND state IN ('running', 'canceling')
        RETURNING state
        """)
    /// $5 the retry's delay in seconds, counted from $6 (NULL: the database's clock, not the worker's).
    static let jobEnd = Statement("job_end", """
        SELECT ucp_job_end($1, $2, $3, $4, coalesce($6::timestamptz, now()) + $5::float8 * interval '1 second', $7) AS state
        """)
    /// Orders and tasks that succeeded, many at once (no audit line: they are not syncs). A job
    /// canceled after its handler returned (canceling) succeeds too: the handler's result wins, as in
    /// `ucp_job_end`; a handler that stops for a cancel throws, and its job ends canceled there.
    static let jobSucceedMany = Statement("", """
        UPDATE jobs SET state = 'succeeded', finished_at = clock_timestamp(), lease_expires_at = NULL, error = NULL
          FROM unnest($1::bigint[], $2::integer[]) AS done(id, attempt)
         WHERE jobs.id = done.id AND jobs.attempt = done.attempt AND jobs.state IN \(FencedSQL.ownedStates)
           AND jobs.kind IN ('order', 'task')
        RETURNING jobs.id
        """)
    /// The same, writing each attempt's closing line (`JobContext.logOnSuccess`: ids, attempts and
    /// messages in $3–$5) with its success: a line only for an attempt whose success was written.
    static let jobSucceedManyLogged = Statement("", """
        WITH done AS (
            UPDATE jobs SET state = 'succeeded', finished_at = clock_timestamp(), lease_expires_at = NULL, error = NULL
              FROM unnest($1::bigint[], $2::integer[]) AS done(id, attempt)
             WHERE jobs.id = done.id AND jobs.attempt = done.attempt AND jobs.state IN \(FencedSQL.ownedStates)
               AND jobs.kind IN ('order', 'task')
            RETURNING jobs.id, jobs.attempt),
        lines AS (
            INSERT INTO job_logs (job_id, attempt, level, message)
            SELECT line.id, line.attempt, 'info', line.message
              FROM unnest($3::bigint[], $4::integer[], $5::text[]) AS line(id, attempt, message)
              JOIN done ON done.id = line.id AND done.attempt = line.attempt)
        SELECT id FROM done
        """)
    static let jobRelease = Statement("job_release", "SELECT ucp_release($1::bigint[], $2::integer[], $3) AS released")
    static let jobCancel = Statement("job_cancel", "SELECT ucp_cancel($1, $2) AS state")
    static let jobStopStuck = Statement("job_stop_stuck", "SELECT * FROM ucp_stop_stuck($1, $2, $3, $4, $5, $6::timestamptz)")
    static let jobRescueExpired = Statement("job_rescue_expired", "SELECT * FROM ucp_rescue_expired($1, $2::timestamptz)")
    static let lostWorkerSessionsEnd = Statement("lost_worker_sessions_end", """
        SELECT job_id, worker, pid, ended FROM ucp_end_lost_worker_sessions($1, $2::timestamptz)
        """)
    static let jobPrune = Statement("job_prune", """
        WITH doomed AS (
            SELECT id FROM jobs WHERE finished_at < coalesce($3::timestamptz, now()) - make_interval(secs => $1)
             ORDER BY finished_at LIMIT $2),
        logs AS (DELETE FROM job_logs WHERE job_id IN (SELECT id FROM doomed))
        DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)
        """)
    static let jobGet = Statement("job_get", "SELECT * FROM jobs WHERE id = $1")
    static let jobStateLocked = Statement("job_state_locked", "SELECT state FROM jobs WHERE id = $1 FOR UPDATE")
    static let jobList = Statement("job_list", """
        SELECT * FROM jobs
         WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR type = $2)
           AND ($4::bigint IS NULL OR id < $4)
         ORDER BY id DESC LIMIT $3
        """)
    /// Fenced like every write made on a job's behalf: a line of an attempt that no longer owns the
    /// job (rescued, stopped) is not written. The row is held FOR SHARE: a rescue committed while
    /// the insert ran is waited for and seen (a plain EXISTS would judge by the statement's older
    /// snapshot and write the line after the rescue), and a rescue that comes later waits for it.
    static let jobLogAppend = Statement("job_log_append", """
        INSERT INTO job_logs (job_id, attempt, level, message)
        SELECT id, attempt, $3, $4 FROM jobs
         WHERE id = $1 AND attempt = $2 AND state IN \(FencedSQL.ownedStates)
           FOR SHARE
        """)
    /// Locks the job's row while the caller's transaction writes on its behalf, so the rescue (an
    /// UPDATE of the row) waits for it, or came first and the write rolls back.
    static let jobConfirmOwned = Statement("job_confirm_owned", """
        SELECT 1 FROM jobs WHERE id = $1 AND attempt = $2 AND state IN \(FencedSQL.ownedStates) FOR SHARE
        """)
    /// The job's lines after line $2 (from the first when NULL), at most $3 (all when NULL).
    static let jobLogRead = Statement("job_log_read", """
        SELECT id, attempt, at, level, message FROM job_logs WHERE job_id = $1 AND id > coalesce($2::bigint, 0) ORDER BY id LIMIT $3
        """)
    static let jobCountByStateAndType = Statement("job_count_by_state_type", """
        SELECT state, type, count(*) AS jobs FROM jobs
         WHERE state IN ('queued', 'running', 'canceling') OR finished_at > coalesce($1::timestamptz, now()) - interval '1 hour'
         GROUP BY state, type ORDER BY state, type
        """)
    /// The unfinished jobs by kind and state, and how many of the queued ones are due: the queue
    /// depth gauges, read every few seconds (the partial indexes of queued and active jobs).
    static let jobDepthByKindAndState = Statement("job_depth_by_kind_state", """
        SELECT kind, state, count(*) AS jobs,
               count(*) FILTER (WHERE state = 'queued' AND run_at <= coalesce($1::timestamptz, now())) AS due
          FROM jobs WHERE state IN ('queued', 'running', 'canceling')
         GROUP BY kind, state
        """)
    static let jobRunningSyncs = Statement("job_running_syncs", """
        SELECT * FROM jobs WHERE kind IN ('device_sync', 'sync') AND state IN ('running', 'canceling') ORDER BY id
        """)
    /// The syncs a schedule run enqueued, in the order it enqueued them (not its `schedule.run` job).
    static let jobSyncsByScheduleRun = Statement("job_syncs_by_schedule_run", """
        SELECT * FROM jobs WHERE schedule_run_id = $1 AND kind IN ('device_sync', 'sync') ORDER BY id
        """)
    /// A job of this kind and target that has not ended (a domain's sync, before the domain goes).
    static let jobUnfinishedByTarget = Statement("job_unfinished_by_target", """
        SELECT * FROM jobs
         WHERE kind = $1 AND target = $2 AND state IN ('queued', 'running', 'canceling')
         ORDER BY id LIMIT 1
        """)
    /// Jobs of these types and targets that have not ended (or, with $3, only those running), oldest
    /// first: what refuses a domain's write-back beside its syncs and the other way round.
    static let jobUnfinishedByTypes = Statement("job_unfinished_by_types", """
        SELECT * FROM jobs
         WHERE type = ANY($1::text[]) AND target = ANY($2::text[])
           AND state IN ('running', 'canceling', CASE WHEN $3::boolean THEN 'running' ELSE 'queued' END)
         ORDER BY id LIMIT 10
        """)
    static let jobCountUnfinished = Statement("job_count_unfinished", """
        SELECT count(*) AS n FROM jobs WHERE state IN ('queued', 'running', 'canceling')
        """)
    static let jobCountInState = Statement("job_count_in_state", "SELECT count(*) AS n FROM jobs WHERE state = $1")
    /// Many copies of one order or task in one statement (the benchmark's prefilled queue).
    static let jobInsertCopies = Statement("", """
        INSERT INTO jobs (kind, type, target, payload, priority, run_at, max_attempts, submitted_by)
        SELECT $1, $2, $3, $4::jsonb, $5::smallint, coalesce($6::timestamptz, now()), $7::integer, $8
          FROM generate_series(1, $9::integer)
        """)
    /// VACUUM runs outside a transaction and takes no parameters: a plain command, not a statement.
    static let jobTableVacuum = "VACUUM (ANALYZE) jobs"
    /// Milliseconds from enqueue to start of the jobs that succeeded after `$1` (both stamps are the
    /// server's clock_timestamp()).
    static let jobStartLatencies = Statement("job_start_latencies", """
        SELECT (extract(epoch FROM started_at - created_at) * 1000)::float8 AS ms FROM jobs
         WHERE id > $1 AND state = 'succeeded' ORDER BY id
        """)
    /// The first `$4` jobs after id `$1` of a type, target and submitter ($5): how many, the first
    /// and the last id (a batch submitted together).
    static let jobRangeLocate = Statement("job_range_locate", """
        SELECT count(*) AS jobs, min(id) AS first_id, max(id) AS last_id
          FROM (SELECT id FROM jobs
                 WHERE id > $1 AND type = $2 AND target = $3 AND submitted_by = $5
                 ORDER BY id LIMIT $4) AS batch
        """)
    // A range of jobs: ids $1 to $2, of type $3, submitted by $4.
    static let jobRangeCountByState = Statement("job_range_count_by_state", """
        SELECT state, count(*) AS jobs FROM jobs
         WHERE id BETWEEN $1 AND $2 AND type = $3 AND submitted_by = $4
         GROUP BY state
        """)
    /// How the range ran next to the job `$5`: those that started before it finished.
    static let jobRangeSummary = Statement("job_range_summary", """
        SELECT count(*) AS jobs,
               count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
               count(*) FILTER (WHERE started_at < (SELECT finished_at FROM jobs WHERE id = $5)) AS started_before,
               min(started_at) AS first_started,
               max(finished_at) AS last_finished
          FROM jobs
         WHERE id BETWEEN $1 AND $2 AND type = $3 AND submitted_by = $4
        """)
    static let jobRangeCountByWorker = Statement("job_range_count_by_worker", """
        SELECT coalesce(worker, 'no worker') AS worker, count(*) AS jobs FROM jobs
         WHERE id BETWEEN $1 AND $2 AND type = $3 AND submitted_by = $4
         GROUP BY 1 ORDER BY 1
        """)

    // MARK: maintenance
    static let maintenanceState = Statement("maintenance_state", """
        SELECT s.active, s.reason, c.maintenance_since FROM ucp_maintenance_state($1::timestamptz) s, control c
        """)
    static let maintenanceSet = Statement("maintenance_set", "SELECT ucp_maintenance_set($1, $2)")
    static let maintenanceRefresh = Statement("maintenance_refresh", "SELECT ucp_maintenance_refresh($1, $2::timestamptz)")

    // MARK: audit
    /// One line or many in one statement, in the order given. $1–$5 arrays alike in length: actor,
    /// action, job_id, target, message.
    static let auditAppend = Statement("audit_append", """
        INSERT INTO audit_log (actor, action, job_id, target, message)
        SELECT t.actor, t.action, t.job_id, t.target, t.message
          FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]) WITH ORDINALITY AS t(actor, action, job_id, target, message, n)
         ORDER BY t.n
        """)
    static let auditTail = Statement("audit_tail", """
        SELECT * FROM (SELECT * FROM audit_log ORDER BY id DESC LIMIT $1) AS latest ORDER BY id
        """)
    static let auditList = Statement("audit_list", """
        SELECT * FROM audit_log
         WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::bigint IS NULL OR job_id = $2)
           AND ($4::bigint IS NULL OR id > $4) AND ($5::text IS NULL OR actor = $5) AND ($6::text IS NULL OR action = $6)
         ORDER BY id LIMIT $3
        """)

    // MARK: workers
    static let workerRegister = Statement("worker_register", """
        INSERT INTO workers (name, host, pid, concurrency) VALUES ($1, $2, $3, $4)
        ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, concurrency = excluded.concurrency,
            started_at = now(), heartbeat_at = now(), stopped_at = NULL
        """)
    static let workerStopped = Statement("worker_stopped", "UPDATE workers SET stopped_at = now() WHERE name = $1")
    static let workerListLive = Statement("worker_list_live", """
        SELECT name, host, pid, concurrency,
               extract(epoch FROM coalesce($2::timestamptz, now()) - heartbeat_at)::float8 AS heartbeat_age,
               (SELECT count(*) FROM jobs WHERE jobs.worker = workers.name AND jobs.state IN ('running', 'canceling')) AS running
          FROM workers WHERE stopped_at IS NULL AND heartbeat_at > coalesce($2::timestamptz, now()) - make_interval(secs => $1)
         ORDER BY name
        """)
    static let workerPrune = Statement("worker_prune", """
        DELETE FROM workers WHERE coalesce(stopped_at, heartbeat_at) < coalesce($2::timestamptz, now()) - make_interval(secs => $1)
        """)

    // MARK: leadership
    /// Take or renew the lease: succeeds when nobody holds it, it expired, or we hold it already.
    static let leaderAttemptElect = Statement("leader_attempt_elect", """
        INSERT INTO leadership AS l (role, holder, elected_at, expires_at)
        VALUES ($1, $2, coalesce($4::timestamptz, now()), coalesce($4::timestamptz, now()) + make_interval(secs => $3))
        ON CONFLICT (role) DO UPDATE
           SET holder = excluded.holder, expires_at = excluded.expires_at,
               elected_at = CASE WHEN l.holder = excluded.holder THEN l.elected_at ELSE excluded.elected_at END
         WHERE l.holder = excluded.holder OR l.expires_at < coalesce($4::timestamptz, now())
        RETURNING holder, elected_at
        """)
    static let leaderResign = Statement("leader_resign", "DELETE FROM leadership WHERE role = $1 AND holder = $2")
    static let leaderGet = Statement("leader_get", """
        SELECT holder, elected_at, extract(epoch FROM expires_at - coalesce($2::timestamptz, now()))::float8 AS remaining
          FROM leadership WHERE role = $1 AND expires_at > coalesce($2::timestamptz, now())
        """)
}
