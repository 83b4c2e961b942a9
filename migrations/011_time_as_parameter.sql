-- Time as a parameter (issue 9): every function that compares with the current time takes it as
-- p_now, defaulting to the database's own clock (river's coalesce($n, now()) pattern), so tests
-- pass a time instead of sleeping or rewinding rows. With p_now NULL each function behaves exactly
-- as in 001/002: where those read clock_timestamp() (due is judged after the claim lock, stamps),
-- the default is clock_timestamp(); where they read now(), it is now().
--
-- A new argument is a new signature: CREATE OR REPLACE would add an overload next to the old
-- function and make calls with the old arguments ambiguous, so each old function is dropped first.
-- Callers in 001 that pass the old arguments (ucp_maintenance_refresh(p_actor) from ucp_enqueue,
-- ucp_job_end, ucp_cancel, ucp_release, ucp_maintenance_set) reach the new one through its default.
-- EXECUTE: 001 and 002 grant none; a new function is executable by PUBLIC, hence by ucp_app, as
-- the dropped one was.

DROP FUNCTION ucp_maintenance_state();
DROP FUNCTION ucp_maintenance_refresh(text);
DROP FUNCTION ucp_start(bigint[], text, double precision);
DROP FUNCTION ucp_claim(text, integer, double precision);
DROP FUNCTION ucp_rescue_expired(text);
DROP FUNCTION ucp_stop_stuck(bigint, text, double precision, text, text);
DROP FUNCTION ucp_sync_stop(bigint, text, text, text);
DROP FUNCTION ucp_watchdog_check(double precision, text, text[]);

---------------------------------------------------------------------------------------------------
-- Maintenance mode (rule 2): on while an operator switched it on, or while an infrastructure or
-- user sync runs or is due to start.
-- "Due" is judged by the clock, not by now(): a caller whose transaction began before a sync was
-- queued must still see that sync as due once it can see it at all.
CREATE FUNCTION ucp_maintenance_state(p_now timestamptz DEFAULT NULL, OUT active boolean, OUT reason text)
LANGUAGE plpgsql AS $$
DECLARE
    v_control control;
    v_job jobs;
BEGIN
    SELECT * INTO v_control FROM control;
    IF v_control.manual_maintenance THEN
        active := true;
        reason := 'switched on by ' || coalesce(v_control.manual_by, 'an operator');
        RETURN;
    END IF;
    SELECT * INTO v_job FROM jobs
     WHERE kind = 'device_sync' AND state IN ('running', 'canceling') ORDER BY started_at LIMIT 1;
    IF FOUND THEN
        active := true;
        reason := format('%s of %s (job %s) is running', v_job.type, v_job.target, v_job.id);
        RETURN;
    END IF;
    SELECT * INTO v_job FROM jobs
     WHERE kind = 'device_sync' AND state = 'queued' AND run_at <= coalesce(p_now, clock_timestamp())
     ORDER BY priority DESC, run_at, id LIMIT 1;
    IF FOUND THEN
        active := true;
        reason := format('%s of %s (job %s) is about to start', v_job.type, v_job.target, v_job.id);
        RETURN;
    END IF;
    active := false;
    reason := NULL;
END
$$;

-- Writes one audit line when maintenance mode was entered or exited since the last call.
-- Serialized on the control row, so two callers never write the same transition twice.
CREATE FUNCTION ucp_maintenance_refresh(p_actor text, p_now timestamptz DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_was boolean;
    v_now record;
BEGIN
    SELECT maintenance_active INTO v_was FROM control FOR UPDATE;
    SELECT * INTO v_now FROM ucp_maintenance_state(p_now);
    IF v_now.active AND NOT v_was THEN
        UPDATE control SET maintenance_active = true, maintenance_reason = v_now.reason,
                           maintenance_since = coalesce(p_now, clock_timestamp());
        INSERT INTO audit_log (actor, action, message)
        VALUES (p_actor, 'maintenance.entered', 'Maintenance mode entered: ' || v_now.reason);
    ELSIF v_was AND NOT v_now.active THEN
        UPDATE control SET maintenance_active = false, maintenance_reason = NULL, maintenance_since = NULL;
        INSERT INTO audit_log (actor, action, message)
        VALUES (p_actor, 'maintenance.exited', 'Maintenance mode exited: no infrastructure or user synchronization is running or due, and no operator holds it');
        PERFORM pg_notify('ucp_jobs', 'maintenance');
    ELSIF v_now.active AND v_now.reason IS DISTINCT FROM (SELECT maintenance_reason FROM control) THEN
        UPDATE control SET maintenance_reason = v_now.reason;
    END IF;
END
$$;

---------------------------------------------------------------------------------------------------
-- Start the given queued jobs for a worker: the one place a job becomes running. Syncs get their
-- 'started' audit line here. The lease runs from p_now.
CREATE FUNCTION ucp_start(p_ids bigint[], p_worker text, p_lease_seconds double precision,
                          p_now timestamptz DEFAULT NULL)
RETURNS SETOF jobs LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
BEGIN
    FOR v_job IN
        UPDATE jobs SET state = 'running', attempt = attempt + 1, worker = p_worker,
                        started_at = coalesce(p_now, clock_timestamp()), heartbeat_at = coalesce(p_now, now()),
                        lease_expires_at = coalesce(p_now, now()) + make_interval(secs => p_lease_seconds),
                        progress_at = coalesce(p_now, clock_timestamp()), progress_done = 0, progress_total = NULL,
                        progress_message = NULL, error = NULL
         WHERE id = ANY (p_ids) AND state = 'queued'
        RETURNING *
    LOOP
        IF v_job.kind IN ('device_sync', 'sync') THEN
            INSERT INTO audit_log (actor, action, job_id, target, message)
            VALUES (p_worker, 'sync.started', v_job.id, v_job.target,
                    format('Synchronization %s of %s started (attempt %s)', v_job.type, v_job.target, v_job.attempt));
        END IF;
        RETURN NEXT v_job;
    END LOOP;
END
$$;

-- Claim up to p_slots jobs for a worker, in one call. Syncs are claimed under an exclusive
-- advisory lock and everything else under the shared form of the same lock, so a sync and an
-- order are never started by two transactions that cannot see each other (write skew).
-- Each check runs in its own statement, hence with a snapshot taken after the lock, and judges
-- "due" by the clock read then (p_now when given).
CREATE FUNCTION ucp_claim(p_worker text, p_slots integer, p_lease_seconds double precision,
                          p_now timestamptz DEFAULT NULL)
RETURNS SETOF jobs LANGUAGE plpgsql AS $$
DECLARE
    c_claim_lock constant bigint := 7566937001;  -- 'ucp' claim lock
    v_claimed integer := 0;
    v_ids bigint[];
    v_group text;
    v_running integer;
    v_head jobs;
BEGIN
    IF p_slots <= 0 THEN RETURN; END IF;

    IF EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND kind IN ('device_sync', 'sync')
                                    AND run_at <= coalesce(p_now, clock_timestamp())) THEN
        PERFORM pg_advisory_xact_lock(c_claim_lock);

        SELECT count(*), min(sync_group) INTO v_running, v_group FROM jobs
         WHERE kind IN ('device_sync', 'sync') AND state IN ('running', 'canceling');

        IF v_running = 0 THEN
            -- Syncs run one after another, first in first out: only the head of the line may start,
            -- and an infrastructure or user sync only once no order runs.
            SELECT * INTO v_head FROM jobs
             WHERE state = 'queued' AND kind IN ('device_sync', 'sync') AND run_at <= coalesce(p_now, clock_timestamp())
             ORDER BY priority DESC, run_at, id LIMIT 1;
            v_group := v_head.sync_group;
            IF v_head.id IS NOT NULL AND v_group IS NULL
               AND (v_head.kind = 'sync'
                    OR NOT EXISTS (SELECT 1 FROM jobs WHERE kind = 'order' AND state IN ('running', 'canceling'))) THEN
                v_ids := ARRAY[v_head.id];
            END IF;
        END IF;

        -- The device syncs of a parallel schedule run start together, never two on one device.
        IF v_group IS NOT NULL
           AND (v_running > 0 OR NOT EXISTS (SELECT 1 FROM jobs WHERE kind = 'order' AND state IN ('running', 'canceling')))
           AND NOT EXISTS (SELECT 1 FROM jobs WHERE kind IN ('device_sync', 'sync') AND state IN ('running', 'canceling')
                            AND sync_group IS DISTINCT FROM v_group) THEN
            SELECT array_agg(c.id) INTO v_ids FROM (
                SELECT DISTINCT ON (q.target) q.id, q.priority, q.run_at FROM jobs q
                 WHERE q.state = 'queued' AND q.kind = 'device_sync' AND q.sync_group = v_group
                   AND q.run_at <= coalesce(p_now, clock_timestamp())
                   AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.kind = 'device_sync' AND r.target = q.target
                                    AND r.state IN ('running', 'canceling'))
                 ORDER BY q.target, q.priority DESC, q.run_at, q.id) c;
            v_ids := v_ids[1:p_slots];
        END IF;

        IF v_ids IS NOT NULL THEN
            RETURN QUERY SELECT * FROM ucp_start(v_ids, p_worker, p_lease_seconds, p_now);
            v_claimed := cardinality(v_ids);
        END IF;
        PERFORM ucp_maintenance_refresh(p_worker, p_now);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(c_claim_lock);
    END IF;

    IF v_claimed >= p_slots THEN RETURN; END IF;

    -- Orders and tasks; in maintenance mode tasks only.
    IF (SELECT active FROM ucp_maintenance_state(p_now)) THEN
        SELECT array_agg(id) INTO v_ids FROM (
            SELECT id FROM jobs WHERE state = 'queued' AND kind = 'task' AND run_at <= coalesce(p_now, now())
             ORDER BY priority DESC, run_at, id LIMIT p_slots - v_claimed FOR UPDATE SKIP LOCKED) picked;
    ELSE
        SELECT array_agg(id) INTO v_ids FROM (
            SELECT id FROM jobs WHERE state = 'queued' AND kind IN ('order', 'task') AND run_at <= coalesce(p_now, now())
             ORDER BY priority DESC, run_at, id LIMIT p_slots - v_claimed FOR UPDATE SKIP LOCKED) picked;
    END IF;
    IF v_ids IS NOT NULL THEN
        RETURN QUERY SELECT * FROM ucp_start(v_ids, p_worker, p_lease_seconds, p_now);
    END IF;
END
$$;

---------------------------------------------------------------------------------------------------
-- Jobs whose worker stopped renewing the lease: orders and tasks go back to the queue (their
-- steps are idempotent), syncs end failed with 'worker lost', so they free the sync slot and
-- maintenance mode.
CREATE FUNCTION ucp_rescue_expired(p_actor text, p_now timestamptz DEFAULT NULL)
RETURNS SETOF jobs LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
    v_state text;
    v_device_sync boolean := false;
BEGIN
    FOR v_job IN SELECT * FROM jobs WHERE state IN ('running', 'canceling') AND lease_expires_at < coalesce(p_now, now())
                  ORDER BY id FOR UPDATE SKIP LOCKED
    LOOP
        v_state := CASE
            WHEN v_job.state = 'canceling' THEN 'canceled'
            WHEN v_job.kind IN ('device_sync', 'sync') THEN 'failed'
            WHEN v_job.attempt >= v_job.max_attempts THEN 'failed'
            WHEN ucp_has_queued_twin(v_job) THEN 'canceled'
            ELSE 'queued' END;
        IF v_state = 'queued' THEN
            UPDATE jobs SET state = 'queued', worker = NULL, lease_expires_at = NULL, run_at = coalesce(p_now, now()),
                            error = 'worker lost'
             WHERE id = v_job.id RETURNING * INTO v_job;
        ELSE
            UPDATE jobs SET state = v_state, finished_at = coalesce(p_now, clock_timestamp()), lease_expires_at = NULL,
                            error = 'worker lost'
             WHERE id = v_job.id RETURNING * INTO v_job;
        END IF;
        v_device_sync := v_device_sync OR v_job.kind = 'device_sync';
        INSERT INTO audit_log (actor, action, job_id, target, message)
        VALUES (p_actor, 'job.rescued', v_job.id, v_job.target,
                format('Lease of %s job %s (attempt %s, worker %s) expired: worker lost; job %s',
                       v_job.type, v_job.id, v_job.attempt, v_job.worker,
                       CASE v_state WHEN 'queued' THEN 'queued again' ELSE v_state END));
        RETURN NEXT v_job;
    END LOOP;
    IF FOUND THEN PERFORM pg_notify('ucp_jobs', 'rescue'); END IF;
    IF v_device_sync THEN PERFORM ucp_maintenance_refresh(p_actor, p_now); END IF;
END
$$;

-- End a running sync as failed at once (stopped as stuck, by an operator or the watchdog): one
-- audit line; the sync slot and maintenance mode are released; the worker still running it finds
-- its attempt fenced off. The caller holds the row lock and has checked the job is a running sync.
CREATE FUNCTION ucp_sync_stop(p_id bigint, p_actor text, p_action text, p_message text,
                              p_now timestamptz DEFAULT NULL)
RETURNS jobs LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
BEGIN
    UPDATE jobs SET state = 'failed', finished_at = coalesce(p_now, clock_timestamp()), lease_expires_at = NULL,
                    error = p_message
     WHERE id = p_id AND kind IN ('device_sync', 'sync') AND state IN ('running', 'canceling')
    RETURNING * INTO v_job;
    IF NOT FOUND THEN RETURN NULL; END IF;
    INSERT INTO audit_log (actor, action, job_id, target, message)
    VALUES (p_actor, p_action, p_id, v_job.target, p_message);
    PERFORM pg_notify('ucp_jobs', 'sync');
    IF v_job.kind = 'device_sync' THEN PERFORM ucp_maintenance_refresh(p_actor, p_now); END IF;
    RETURN v_job;
END
$$;

-- Stop Stuck Synchronization by hand: refused for a job that is not a running sync, and for a
-- sync whose progress changed within p_min_idle_seconds (seed: it does not act on a sync that runs well).
CREATE FUNCTION ucp_stop_stuck(p_id bigint, p_actor text, p_min_idle_seconds double precision, p_action text,
                               p_message text, p_now timestamptz DEFAULT NULL)
RETURNS jobs LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
    v_idle double precision;
BEGIN
    SELECT * INTO v_job FROM jobs WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job %: no such job', p_id;
    END IF;
    IF v_job.kind NOT IN ('device_sync', 'sync') THEN
        RAISE EXCEPTION 'job %: % is not a synchronization; stop-stuck acts on synchronizations only', p_id, v_job.type;
    END IF;
    IF v_job.state NOT IN ('running', 'canceling') THEN
        RAISE EXCEPTION 'job %: not running (%); stop-stuck acts on a running synchronization only', p_id, v_job.state;
    END IF;
    v_idle := extract(epoch FROM coalesce(p_now, clock_timestamp()) - coalesce(v_job.progress_at, v_job.started_at));
    IF v_idle < p_min_idle_seconds THEN
        RAISE EXCEPTION 'job %: synchronization is progressing (last progress % s ago); stop-stuck acts only on a synchronization whose progress has not changed for % s',
            p_id, round(v_idle::numeric, 1), p_min_idle_seconds;
    END IF;
    RETURN ucp_sync_stop(p_id, p_actor, p_action, p_message, p_now);
END
$$;

---------------------------------------------------------------------------------------------------
-- Stops every running sync whose progress has not changed for p_threshold_seconds, writes the
-- seed's audit line and queues one email per recipient, all in one transaction. Rows are taken
-- with SKIP LOCKED and re-checked after the lock, so two watchdogs never stop a sync twice.
CREATE FUNCTION ucp_watchdog_check(p_threshold_seconds double precision, p_actor text, p_recipients text[],
                                   p_now timestamptz DEFAULT NULL)
RETURNS SETOF jobs LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
    v_stopped jobs;
    v_recipient text;
    v_subject text;
    v_body text;
BEGIN
    FOR v_job IN
        SELECT * FROM jobs
         WHERE kind IN ('device_sync', 'sync') AND state IN ('running', 'canceling')
           AND coalesce(progress_at, started_at) < coalesce(p_now, clock_timestamp()) - make_interval(secs => p_threshold_seconds)
         ORDER BY id FOR UPDATE SKIP LOCKED
    LOOP
        v_stopped := ucp_sync_stop(v_job.id, p_actor, 'sync.watchdog', 'Automatic synchronization status check Failed', p_now);
        CONTINUE WHEN v_stopped IS NULL;
        v_subject := format('UCProvision: %s of %s stopped (Automatic synchronization status check Failed)',
                            v_job.type, v_job.target);
        v_body := format(E'Automatic synchronization status check Failed\r\n\r\n'
                         'The synchronization below made no progress for %s s and was stopped.\r\n\r\n'
                         'Synchronization: %s (job %s)\r\nTarget: %s\r\nStarted: %s\r\n'
                         'Last progress: %s\r\nLast progress message: %s\r\nProgress: %s of %s\r\n'
                         'Worker: %s\r\nStopped: %s by %s\r\n',
                         round(p_threshold_seconds::numeric), v_job.type, v_job.id, v_job.target,
                         to_char(v_job.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
                         to_char(coalesce(v_job.progress_at, v_job.started_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'),
                         coalesce(v_job.progress_message, '(none)'), v_job.progress_done,
                         coalesce(v_job.progress_total::text, '?'), coalesce(v_job.worker, '-'),
                         to_char(v_stopped.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'), p_actor);
        FOREACH v_recipient IN ARRAY coalesce(p_recipients, '{}') LOOP
            INSERT INTO alerts (kind, job_id, recipient, subject, body)
            VALUES ('sync_stuck', v_job.id, v_recipient, v_subject, v_body)
            ON CONFLICT DO NOTHING;
        END LOOP;
        RETURN NEXT v_stopped;
    END LOOP;
END
$$;
