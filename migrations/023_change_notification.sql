-- Change notification (issue 13): Unified CM's listChange polled per device, so the inventory follows
-- changes within minutes and no change is lost silently.
--
-- `cn.poll` jobs are tasks: they neither hold the one-sync slot nor maintenance mode, and run while
-- maintenance mode is on (seed 004: "supported when … running in maintenance mode"). They never run
-- beside an infrastructure or user sync of the same device: the claim function skips one that would,
-- and the unique index below refuses it whatever the caller. At most one poll per device is queued or
-- running: the coordinator's enqueue (ucp_cn_polls_enqueue) adds none while one is, and the dedup key
-- keeps a second from being queued.

-- One row per device that change notification has seen; a device without a row has the defaults.
CREATE TABLE device_change_notification (
    device                text PRIMARY KEY REFERENCES devices (name) ON DELETE CASCADE,
    -- NULL: the default (on for Unified CM 10.0 and later, seed); true/false: the operator's choice.
    enabled               boolean,
    -- Seed: "every 5 minutes".
    interval_seconds      integer NOT NULL DEFAULT 300 CHECK (interval_seconds BETWEEN 1 AND 86400),
    -- The position: the change queue's id and the next change id to ask for. Written only in the
    -- transaction that applied the changes before it, so a crash replays rather than skips.
    queue_id              text,
    next_start_change_id  bigint,
    -- The Unified CM version the baseline was taken under: a new one means an upgrade (seed: "After
    -- upgrading … you must perform User Synchronization").
    cucm_version          text,
    baseline_at           timestamptz,
    -- The change cache's size on the device (Unified CM keeps 100,000): the backlog alert's scale.
    cache_size            integer NOT NULL DEFAULT 100000 CHECK (cache_size > 0),
    -- Changes waiting in the device's cache when the last poll began.
    backlog               bigint,
    last_change_id        bigint,
    last_poll_job         bigint,
    last_poll_started_at  timestamptz,
    last_poll_at          timestamptz,
    last_poll_outcome     text,
    last_success_at       timestamptz,
    -- When the coordinator last raised an alert for this device (one per episode).
    backlog_alerted_at    timestamptz,
    overdue_alerted_at    timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON device_change_notification TO ucp_app;

-- A change names its object by uuid only (removals carry nothing else): the poll finds objects by
-- it, spelt without braces and case as the feed and the lists may differ.
CREATE INDEX device_objects_uuid ON device_objects (device, lower(btrim(uuid, '{}')));

-- The detailed log of change notification is kept per device like a sync's (`ucp device log NAME --kind cn`),
-- and its objects stay under their sync kind.
ALTER TABLE device_sync_logs DROP CONSTRAINT device_sync_logs_sync_kind_check;
ALTER TABLE device_sync_logs ADD CONSTRAINT device_sync_logs_sync_kind_check CHECK (sync_kind IN ('infra', 'user', 'cn'));

-- Never a poll beside an infrastructure or user sync of the same device, nor two polls of one device.
DROP INDEX jobs_one_sync_per_device;
CREATE UNIQUE INDEX jobs_one_sync_per_device ON jobs (target)
    WHERE (kind = 'device_sync' OR type = 'cn.poll') AND state IN ('running', 'canceling');

---------------------------------------------------------------------------------------------------
-- Whether change notification is on for a device: the operator's choice, else on for a Unified CM of
-- version 10.0 and later (seed: "automatically enabled for … 10.0 and above"; "not supported for …
-- versions less than 10.0"). A Unified CM without a version given counts as supported: AXL 10.0 is the
-- oldest UCProvision speaks. Never for other kinds of device.
CREATE FUNCTION ucp_cn_on(p_kind text, p_version text, p_enabled boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_kind = 'call_processor'
       AND coalesce(p_enabled, coalesce(substring(p_version FROM '^[0-9]+')::integer >= 10, true))
$$;

---------------------------------------------------------------------------------------------------
-- Enqueues a poll for every Unified CM whose change notification is on and due, in one statement:
-- on (ucp_cn_on) and synchronized at least once (before that there is no inventory to follow); due when the last
-- poll started an interval ago or more; none while one is queued or running. Returns the devices.
CREATE FUNCTION ucp_cn_polls_enqueue(p_actor text, p_now timestamptz DEFAULT NULL)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    v_devices text[];
BEGIN
    WITH queued AS (
        INSERT INTO jobs (kind, type, target, payload, run_at, max_attempts, dedup_key, submitted_by)
        SELECT 'task', 'cn.poll', d.name, '{}', coalesce(p_now, now()), 3, 'cn.poll|' || d.name, p_actor
          FROM devices d
          LEFT JOIN device_change_notification c ON c.device = d.name
         WHERE d.first_synced_at IS NOT NULL AND ucp_cn_on(d.kind, d.version, c.enabled)
           AND (c.last_poll_started_at IS NULL
                OR c.last_poll_started_at + make_interval(secs => c.interval_seconds) <= coalesce(p_now, now()))
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.type = 'cn.poll' AND j.target = d.name
                            AND j.state IN ('queued', 'running', 'canceling'))
        ON CONFLICT DO NOTHING
        RETURNING target)
    SELECT array_agg(target ORDER BY target) INTO v_devices FROM queued;
    IF v_devices IS NOT NULL THEN
        PERFORM pg_notify('ucp_jobs', 'task');
        RETURN QUERY SELECT unnest(v_devices);
    END IF;
END
$$;

---------------------------------------------------------------------------------------------------
-- The claim function of 011 with the polls' rule: a sync of a device waits while a poll of that
-- device runs, and a poll waits while an infrastructure or user sync of its device runs.
DROP FUNCTION ucp_claim(text, integer, double precision, timestamptz);
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
            -- an infrastructure or user sync only once no order runs and no poll of its device runs.
            SELECT * INTO v_head FROM jobs
             WHERE state = 'queued' AND kind IN ('device_sync', 'sync') AND run_at <= coalesce(p_now, clock_timestamp())
             ORDER BY priority DESC, run_at, id LIMIT 1;
            v_group := v_head.sync_group;
            IF v_head.id IS NOT NULL AND v_group IS NULL
               AND (v_head.kind = 'sync'
                    OR (NOT EXISTS (SELECT 1 FROM jobs WHERE kind = 'order' AND state IN ('running', 'canceling'))
                        AND NOT EXISTS (SELECT 1 FROM jobs WHERE type = 'cn.poll' AND target = v_head.target
                                         AND state IN ('running', 'canceling')))) THEN
                v_ids := ARRAY[v_head.id];
            END IF;
        END IF;

        -- The device syncs of a parallel schedule run start together, never two on one device, nor
        -- one beside a poll of its device.
        IF v_group IS NOT NULL
           AND (v_running > 0 OR NOT EXISTS (SELECT 1 FROM jobs WHERE kind = 'order' AND state IN ('running', 'canceling')))
           AND NOT EXISTS (SELECT 1 FROM jobs WHERE kind IN ('device_sync', 'sync') AND state IN ('running', 'canceling')
                            AND sync_group IS DISTINCT FROM v_group) THEN
            SELECT array_agg(c.id) INTO v_ids FROM (
                SELECT DISTINCT ON (q.target) q.id, q.priority, q.run_at FROM jobs q
                 WHERE q.state = 'queued' AND q.kind = 'device_sync' AND q.sync_group = v_group
                   AND q.run_at <= coalesce(p_now, clock_timestamp())
                   AND NOT EXISTS (SELECT 1 FROM jobs r WHERE (r.kind = 'device_sync' OR r.type = 'cn.poll')
                                    AND r.target = q.target AND r.state IN ('running', 'canceling'))
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

    -- Orders and tasks; in maintenance mode tasks only. A poll waits while a sync of its device runs.
    IF (SELECT active FROM ucp_maintenance_state(p_now)) THEN
        SELECT array_agg(id) INTO v_ids FROM (
            SELECT id FROM jobs WHERE state = 'queued' AND kind = 'task' AND run_at <= coalesce(p_now, now())
               AND (type <> 'cn.poll'
                    OR NOT EXISTS (SELECT 1 FROM jobs s WHERE s.kind = 'device_sync' AND s.target = jobs.target
                                    AND s.state IN ('running', 'canceling')))
             ORDER BY priority DESC, run_at, id LIMIT p_slots - v_claimed FOR UPDATE SKIP LOCKED) picked;
    ELSE
        SELECT array_agg(id) INTO v_ids FROM (
            SELECT id FROM jobs WHERE state = 'queued' AND kind IN ('order', 'task') AND run_at <= coalesce(p_now, now())
               AND (type <> 'cn.poll'
                    OR NOT EXISTS (SELECT 1 FROM jobs s WHERE s.kind = 'device_sync' AND s.target = jobs.target
                                    AND s.state IN ('running', 'canceling')))
             ORDER BY priority DESC, run_at, id LIMIT p_slots - v_claimed FOR UPDATE SKIP LOCKED) picked;
    END IF;
    IF v_ids IS NOT NULL THEN
        RETURN QUERY SELECT * FROM ucp_start(v_ids, p_worker, p_lease_seconds, p_now);
    END IF;
END
$$;
