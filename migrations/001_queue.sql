-- The job queue, its control row, the audit trail and the bookkeeping of workers and leadership.
-- Rules 1–3 of DESIGN.md §4 live here: the claim function and the constraints enforce them for
-- any number of workers on any number of hosts.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- The role every process except `ucp migrate` switches to (SET ROLE): it may not change the audit trail.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ucp_app') THEN
        CREATE ROLE ucp_app NOLOGIN;
    END IF;
END
$$;

-- One row. `maintenance_active` is the state last written to the audit trail; whether orders may
-- start is always computed afresh by ucp_maintenance_state(), so it never depends on this flag.
CREATE TABLE control (
    id                    boolean PRIMARY KEY DEFAULT true CHECK (id),
    manual_maintenance    boolean NOT NULL DEFAULT false,
    manual_by             text,
    manual_at             timestamptz,
    maintenance_active    boolean NOT NULL DEFAULT false,
    maintenance_reason    text,
    maintenance_since     timestamptz
);
INSERT INTO control DEFAULT VALUES;

-- kind: device_sync (infrastructure/user: holds the sync slot and maintenance mode),
--       sync (domain, LDAP: holds the sync slot), order (held back by maintenance mode),
--       task (neither: connection tests, change-notification polls).
CREATE TABLE jobs (
    id                bigserial PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('device_sync', 'sync', 'order', 'task')),
    type              text NOT NULL,
    target            text,
    payload           jsonb NOT NULL DEFAULT '{}',
    state             text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'running', 'canceling', 'succeeded', 'failed', 'canceled')),
    priority          smallint NOT NULL DEFAULT 0,
    run_at            timestamptz NOT NULL DEFAULT now(),
    attempt           integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    dedup_key         text,
    -- The device syncs of one schedule run with "run device synchronization in parallel" share it.
    sync_group        text,
    schedule_run_id   bigint,
    worker            text,
    lease_expires_at  timestamptz,
    heartbeat_at      timestamptz,
    progress_done     bigint NOT NULL DEFAULT 0,
    progress_total    bigint,
    progress_message  text,
    progress_at       timestamptz,
    error             text,
    submitted_by      text NOT NULL DEFAULT current_user,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at        timestamptz,
    finished_at       timestamptz,
    CONSTRAINT final_states_have_finish_time
        CHECK ((state IN ('succeeded', 'failed', 'canceled')) = (finished_at IS NOT NULL)),
    CONSTRAINT running_jobs_have_lease
        CHECK (state NOT IN ('running', 'canceling') OR (worker IS NOT NULL AND lease_expires_at IS NOT NULL)),
    -- Rule 1: running syncs are none, one, or members of one parallel group.
    CONSTRAINT one_sync_at_a_time EXCLUDE USING gist ((coalesce(sync_group, 'job:' || id)) WITH <>)
        WHERE (kind IN ('device_sync', 'sync') AND state IN ('running', 'canceling'))
);

-- Rule 1, second half: never two syncs of the same device at once.
CREATE UNIQUE INDEX jobs_one_sync_per_device ON jobs (target)
    WHERE kind = 'device_sync' AND state IN ('running', 'canceling');
-- The same job cannot be queued twice while one is pending.
CREATE UNIQUE INDEX jobs_dedup_pending ON jobs (dedup_key)
    WHERE state = 'queued' AND dedup_key IS NOT NULL;
CREATE INDEX jobs_queued_work ON jobs (priority DESC, run_at, id)
    WHERE state = 'queued' AND kind IN ('order', 'task');
CREATE INDEX jobs_queued_tasks ON jobs (priority DESC, run_at, id)
    WHERE state = 'queued' AND kind = 'task';
CREATE INDEX jobs_queued_syncs ON jobs (priority DESC, run_at, id)
    WHERE state = 'queued' AND kind IN ('device_sync', 'sync');
CREATE INDEX jobs_active ON jobs (lease_expires_at) WHERE state IN ('running', 'canceling');
CREATE INDEX jobs_running_device_syncs ON jobs (started_at)
    WHERE kind = 'device_sync' AND state IN ('running', 'canceling');
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_type_state ON jobs (type, state);

-- What a handler wrote about its run, by attempt.
CREATE TABLE job_logs (
    id        bigserial PRIMARY KEY,
    job_id    bigint NOT NULL,
    attempt   integer NOT NULL,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    level     text NOT NULL,
    message   text NOT NULL
);
CREATE INDEX job_logs_job ON job_logs (job_id, id);

-- The audit trail. Append-only: ucp_app may only read and insert, and a trigger refuses
-- changes from anyone.
CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor     text NOT NULL,
    action    text NOT NULL,
    job_id    bigint,
    target    text,
    message   text NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_job ON audit_log (job_id) WHERE job_id IS NOT NULL;

CREATE FUNCTION ucp_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only' USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION ucp_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ucp_audit_log_append_only();

CREATE TABLE workers (
    name          text PRIMARY KEY,
    host          text NOT NULL,
    pid           integer NOT NULL,
    concurrency   integer NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at    timestamptz
);

-- Leadership is a lease in one row per role (see Queue/Leadership.swift for the states).
CREATE TABLE leadership (
    role        text PRIMARY KEY,
    holder      text NOT NULL,
    elected_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

CREATE TABLE settings (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL DEFAULT current_user
);

---------------------------------------------------------------------------------------------------
-- Maintenance mode (rule 2): on while an operator switched it on, or while an infrastructure or
-- user sync runs or is due to start.
-- "Due" is judged by the clock, not by now(): a caller whose transaction began before a sync was
-- queued must still see that sync as due once it can see it at all.
CREATE FUNCTION ucp_maintenance_state(OUT active boolean, OUT reason text)
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
     WHERE kind = 'device_sync' AND state = 'queued' AND run_at <= clock_timestamp()
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
CREATE FUNCTION ucp_maintenance_refresh(p_actor text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_was boolean;
    v_now record;
BEGIN
    SELECT maintenance_active INTO v_was FROM control FOR UPDATE;
    SELECT * INTO v_now FROM ucp_maintenance_state();
    IF v_now.active AND NOT v_was THEN
        UPDATE control SET maintenance_active = true, maintenance_reason = v_now.reason,
                           maintenance_since = clock_timestamp();
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

CREATE FUNCTION ucp_maintenance_set(p_on boolean, p_actor text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM control FOR UPDATE;
    UPDATE control SET manual_maintenance = p_on,
                       manual_by = CASE WHEN p_on THEN p_actor END,
                       manual_at = CASE WHEN p_on THEN clock_timestamp() END;
    INSERT INTO audit_log (actor, action, message)
    VALUES (p_actor, CASE WHEN p_on THEN 'maintenance.manual_on' ELSE 'maintenance.manual_off' END,
            CASE WHEN p_on THEN 'Operator switched maintenance mode on'
                 ELSE 'Operator switched maintenance mode off' END);
    PERFORM ucp_maintenance_refresh(p_actor);
END
$$;

---------------------------------------------------------------------------------------------------
-- Enqueue one job. With a de-duplication key already pending, returns that job and created = false.
CREATE FUNCTION ucp_enqueue(
    p_kind text, p_type text, p_target text, p_payload jsonb, p_priority smallint,
    p_run_at timestamptz, p_max_attempts integer, p_dedup_key text, p_actor text,
    p_sync_group text DEFAULT NULL, p_schedule_run_id bigint DEFAULT NULL,
    OUT id bigint, OUT created boolean)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobs (kind, type, target, payload, priority, run_at, max_attempts, dedup_key,
                      submitted_by, sync_group, schedule_run_id)
    VALUES (p_kind, p_type, p_target, p_payload, p_priority, coalesce(p_run_at, now()), p_max_attempts,
            p_dedup_key, p_actor, p_sync_group, p_schedule_run_id)
    ON CONFLICT (dedup_key) WHERE state = 'queued' AND dedup_key IS NOT NULL DO NOTHING
    RETURNING jobs.id INTO id;
    IF id IS NULL THEN
        SELECT j.id INTO id FROM jobs j WHERE j.dedup_key = p_dedup_key AND j.state = 'queued';
        created := false;
        RETURN;
    END IF;
    created := true;
    IF p_kind IN ('device_sync', 'sync') THEN
        INSERT INTO audit_log (actor, action, job_id, target, message)
        VALUES (p_actor, 'sync.queued', id, p_target, format('Synchronization %s of %s queued', p_type, p_target));
        IF p_kind = 'device_sync' THEN PERFORM ucp_maintenance_refresh(p_actor); END IF;
    END IF;
    PERFORM pg_notify('ucp_jobs', p_kind);
END
$$;

---------------------------------------------------------------------------------------------------
-- Start the given queued jobs for a worker: the one place a job becomes running. Syncs get their
-- 'started' audit line here.
CREATE FUNCTION ucp_start(p_ids bigint[], p_worker text, p_lease_seconds double precision)
RETURNS SETOF jobs LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
BEGIN
    FOR v_job IN
        UPDATE jobs SET state = 'running', attempt = attempt + 1, worker = p_worker,
                        started_at = clock_timestamp(), heartbeat_at = now(),
                        lease_expires_at = now() + make_interval(secs => p_lease_seconds),
                        progress_at = clock_timestamp(), progress_done = 0, progress_total = NULL,
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
-- Each check runs in its own statement, hence with a snapshot taken after the lock.
CREATE FUNCTION ucp_claim(p_worker text, p_slots integer, p_lease_seconds double precision)
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

    IF EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND kind IN ('device_sync', 'sync') AND run_at <= clock_timestamp()) THEN
        PERFORM pg_advisory_xact_lock(c_claim_lock);

        SELECT count(*), min(sync_group) INTO v_running, v_group FROM jobs
         WHERE kind IN ('device_sync', 'sync') AND state IN ('running', 'canceling');

        IF v_running = 0 THEN
            -- Syncs run one after another, first in first out: only the head of the line may start,
            -- and an infrastructure or user sync only once no order runs.
            SELECT * INTO v_head FROM jobs
             WHERE state = 'queued' AND kind IN ('device_sync', 'sync') AND run_at <= clock_timestamp()
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
                 WHERE q.state = 'queued' AND q.kind = 'device_sync' AND q.sync_group = v_group AND q.run_at <= clock_timestamp()
                   AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.kind = 'device_sync' AND r.target = q.target
                                    AND r.state IN ('running', 'canceling'))
                 ORDER BY q.target, q.priority DESC, q.run_at, q.id) c;
            v_ids := v_ids[1:p_slots];
        END IF;

        IF v_ids IS NOT NULL THEN
            RETURN QUERY SELECT * FROM ucp_start(v_ids, p_worker, p_lease_seconds);
            v_claimed := cardinality(v_ids);
        END IF;
        PERFORM ucp_maintenance_refresh(p_worker);
    ELSE
        PERFORM pg_advisory_xact_lock_shared(c_claim_lock);
    END IF;

    IF v_claimed >= p_slots THEN RETURN; END IF;

    -- Orders and tasks; in maintenance mode tasks only.
    IF (SELECT active FROM ucp_maintenance_state()) THEN
        SELECT array_agg(id) INTO v_ids FROM (
            SELECT id FROM jobs WHERE state = 'queued' AND kind = 'task' AND run_at <= now()
             ORDER BY priority DESC, run_at, id LIMIT p_slots - v_claimed FOR UPDATE SKIP LOCKED) picked;
    ELSE
        SELECT array_agg(id) INTO v_ids FROM (
            SELECT id FROM jobs WHERE state = 'queued' AND kind IN ('order', 'task') AND run_at <= now()
             ORDER BY priority DESC, run_at, id LIMIT p_slots - v_claimed FOR UPDATE SKIP LOCKED) picked;
    END IF;
    IF v_ids IS NOT NULL THEN
        RETURN QUERY SELECT * FROM ucp_start(v_ids, p_worker, p_lease_seconds);
    END IF;
END
$$;

---------------------------------------------------------------------------------------------------
-- True when another job with the same de-duplication key is queued: a job that would go back to
-- the queue is then superseded by it instead (the unique index allows one pending job per key).
CREATE FUNCTION ucp_has_queued_twin(p_job jobs) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_job.dedup_key IS NOT NULL
       AND EXISTS (SELECT 1 FROM jobs t WHERE t.dedup_key = p_job.dedup_key AND t.state = 'queued' AND t.id <> p_job.id)
$$;

---------------------------------------------------------------------------------------------------
-- End one attempt of a job, fenced on (id, attempt, still running). p_outcome is succeeded,
-- failed, canceled or retry (failed unless attempts remain, then queued again at p_retry_at).
-- Returns the state written, or NULL when the attempt no longer owns the job.
CREATE FUNCTION ucp_job_end(
    p_id bigint, p_attempt integer, p_outcome text, p_error text, p_retry_at timestamptz, p_actor text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
    v_state text;
BEGIN
    SELECT * INTO v_job FROM jobs WHERE id = p_id AND attempt = p_attempt
       AND state IN ('running', 'canceling') FOR UPDATE;
    IF NOT FOUND THEN RETURN NULL; END IF;
    v_state := CASE
        WHEN p_outcome = 'retry' AND v_job.state = 'canceling' THEN 'canceled'
        WHEN p_outcome = 'retry' AND v_job.attempt < v_job.max_attempts AND ucp_has_queued_twin(v_job) THEN 'canceled'
        WHEN p_outcome = 'retry' AND v_job.attempt < v_job.max_attempts THEN 'queued'
        WHEN p_outcome = 'retry' THEN 'failed'
        ELSE p_outcome END;
    IF v_state = 'queued' THEN
        UPDATE jobs SET state = 'queued', run_at = coalesce(p_retry_at, now()), worker = NULL,
                        lease_expires_at = NULL, error = p_error
         WHERE id = p_id;
    ELSE
        UPDATE jobs SET state = v_state, finished_at = clock_timestamp(), lease_expires_at = NULL,
                        error = CASE WHEN v_state = 'succeeded' THEN NULL ELSE p_error END
         WHERE id = p_id;
    END IF;
    IF v_job.kind IN ('device_sync', 'sync') THEN
        INSERT INTO audit_log (actor, action, job_id, target, message)
        VALUES (p_actor, CASE WHEN v_state = 'queued' THEN 'sync.retry' ELSE 'sync.finished' END, p_id, v_job.target,
                CASE v_state
                    WHEN 'succeeded' THEN format('Synchronization %s of %s succeeded', v_job.type, v_job.target)
                    WHEN 'queued' THEN format('Synchronization %s of %s failed and will be retried: %s', v_job.type, v_job.target, p_error)
                    WHEN 'canceled' THEN format('Synchronization %s of %s canceled', v_job.type, v_job.target)
                    ELSE format('Synchronization %s of %s failed: %s', v_job.type, v_job.target, p_error) END);
        PERFORM pg_notify('ucp_jobs', 'sync');
        IF v_job.kind = 'device_sync' THEN PERFORM ucp_maintenance_refresh(p_actor); END IF;
    END IF;
    RETURN v_state;
END
$$;

-- Jobs whose worker stopped renewing the lease: orders and tasks go back to the queue (their
-- steps are idempotent), syncs end failed with 'worker lost', so they free the sync slot and
-- maintenance mode.
CREATE FUNCTION ucp_rescue_expired(p_actor text) RETURNS SETOF jobs LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
    v_state text;
    v_device_sync boolean := false;
BEGIN
    FOR v_job IN SELECT * FROM jobs WHERE state IN ('running', 'canceling') AND lease_expires_at < now()
                  ORDER BY id FOR UPDATE SKIP LOCKED
    LOOP
        v_state := CASE
            WHEN v_job.state = 'canceling' THEN 'canceled'
            WHEN v_job.kind IN ('device_sync', 'sync') THEN 'failed'
            WHEN v_job.attempt >= v_job.max_attempts THEN 'failed'
            WHEN ucp_has_queued_twin(v_job) THEN 'canceled'
            ELSE 'queued' END;
        IF v_state = 'queued' THEN
            UPDATE jobs SET state = 'queued', worker = NULL, lease_expires_at = NULL, run_at = now(),
                            error = 'worker lost'
             WHERE id = v_job.id RETURNING * INTO v_job;
        ELSE
            UPDATE jobs SET state = v_state, finished_at = clock_timestamp(), lease_expires_at = NULL,
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
    IF v_device_sync THEN PERFORM ucp_maintenance_refresh(p_actor); END IF;
END
$$;

-- Cooperative cancel: a queued job ends at once, a running one becomes 'canceling' and its
-- handler stops at its next heartbeat or progress report.
CREATE FUNCTION ucp_cancel(p_id bigint, p_actor text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
BEGIN
    SELECT * INTO v_job FROM jobs WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job %: no such job', p_id;
    END IF;
    IF v_job.state IN ('succeeded', 'failed', 'canceled') THEN
        RAISE EXCEPTION 'job %: already finished (%), nothing to cancel', p_id, v_job.state;
    END IF;
    IF v_job.state = 'canceling' THEN RETURN 'canceling'; END IF;
    IF v_job.state = 'queued' THEN
        UPDATE jobs SET state = 'canceled', finished_at = clock_timestamp() WHERE id = p_id;
    ELSE
        UPDATE jobs SET state = 'canceling' WHERE id = p_id;
    END IF;
    INSERT INTO audit_log (actor, action, job_id, target, message)
    VALUES (p_actor, 'job.cancel', p_id, v_job.target,
            format('Cancel of %s job %s requested (was %s)', v_job.type, p_id, v_job.state));
    IF v_job.kind = 'device_sync' THEN PERFORM ucp_maintenance_refresh(p_actor); END IF;
    RETURN CASE WHEN v_job.state = 'queued' THEN 'canceled' ELSE 'canceling' END;
END
$$;

-- End a running sync as failed at once (stopped as stuck, by an operator or the watchdog): one
-- audit line; the sync slot and maintenance mode are released; the worker still running it finds
-- its attempt fenced off. The caller holds the row lock and has checked the job is a running sync.
CREATE FUNCTION ucp_sync_stop(p_id bigint, p_actor text, p_action text, p_message text)
RETURNS jobs LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
BEGIN
    UPDATE jobs SET state = 'failed', finished_at = clock_timestamp(), lease_expires_at = NULL,
                    error = p_message
     WHERE id = p_id AND kind IN ('device_sync', 'sync') AND state IN ('running', 'canceling')
    RETURNING * INTO v_job;
    IF NOT FOUND THEN RETURN NULL; END IF;
    INSERT INTO audit_log (actor, action, job_id, target, message)
    VALUES (p_actor, p_action, p_id, v_job.target, p_message);
    PERFORM pg_notify('ucp_jobs', 'sync');
    IF v_job.kind = 'device_sync' THEN PERFORM ucp_maintenance_refresh(p_actor); END IF;
    RETURN v_job;
END
$$;

-- Stop Stuck Synchronization by hand: refused for a job that is not a running sync, and for a
-- sync whose progress changed within p_min_idle_seconds (seed: it does not act on a sync that runs well).
CREATE FUNCTION ucp_stop_stuck(p_id bigint, p_actor text, p_min_idle_seconds double precision, p_action text,
                               p_message text)
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
    v_idle := extract(epoch FROM clock_timestamp() - coalesce(v_job.progress_at, v_job.started_at));
    IF v_idle < p_min_idle_seconds THEN
        RAISE EXCEPTION 'job %: synchronization is progressing (last progress % s ago); stop-stuck acts only on a synchronization whose progress has not changed for % s',
            p_id, round(v_idle::numeric, 1), p_min_idle_seconds;
    END IF;
    RETURN ucp_sync_stop(p_id, p_actor, p_action, p_message);
END
$$;

-- A worker shutting down hands back what it could not finish within its grace period.
CREATE FUNCTION ucp_release(p_ids bigint[], p_attempts integer[], p_actor text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
    v_count integer := 0;
    v_device_sync boolean := false;
BEGIN
    FOR v_job IN
        UPDATE jobs j SET state = CASE WHEN j.state = 'canceling' OR ucp_has_queued_twin(j) THEN 'canceled' ELSE 'queued' END,
                          finished_at = CASE WHEN j.state = 'canceling' OR ucp_has_queued_twin(j) THEN clock_timestamp() END,
                          worker = CASE WHEN j.state = 'canceling' OR ucp_has_queued_twin(j) THEN j.worker END,
                          lease_expires_at = NULL, run_at = now()
          FROM unnest(p_ids, p_attempts) AS r(id, attempt)
         WHERE j.id = r.id AND j.attempt = r.attempt AND j.state IN ('running', 'canceling')
        RETURNING j.*
    LOOP
        v_count := v_count + 1;
        IF v_job.kind IN ('device_sync', 'sync') THEN
            v_device_sync := v_device_sync OR v_job.kind = 'device_sync';
            INSERT INTO audit_log (actor, action, job_id, target, message)
            VALUES (p_actor, 'job.released', v_job.id, v_job.target,
                    format('Worker %s stopped; %s job %s %s', p_actor, v_job.type, v_job.id,
                           CASE v_job.state WHEN 'queued' THEN 'goes back to the queue' ELSE 'canceled' END));
        END IF;
    END LOOP;
    IF v_count > 0 THEN PERFORM pg_notify('ucp_jobs', 'release'); END IF;
    IF v_device_sync THEN PERFORM ucp_maintenance_refresh(p_actor); END IF;
    RETURN v_count;
END
$$;

---------------------------------------------------------------------------------------------------
GRANT SELECT, INSERT, UPDATE, DELETE ON control, jobs, job_logs, workers, leadership, settings TO ucp_app;
GRANT SELECT, INSERT ON audit_log TO ucp_app;
GRANT SELECT ON schema_migrations TO ucp_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ucp_app;
