-- Change notification (issue 13, review finding): a poll never runs beside a domain synchronization
-- of a domain holding its device. The domain sync stages the users of device_objects once and writes
-- its batches from that snapshot later, so a poll that updated those objects and their user records
-- meanwhile would be reverted. The claim function of 023 with one rule more each way: a domain sync
-- waits while a poll of one of its call processors (service_areas.call_processor) runs, and a poll
-- waits while a domain sync of a domain holding its device runs. Both are decided under the claim
-- lock (a sync due takes it exclusively, a claim of tasks shares it), so two claims cannot each start
-- one of the pair. Same signature as 023: CREATE OR REPLACE keeps the grants and the callers.
-- Whether a poll of the device must wait: an infrastructure or user sync of it runs, or a domain
-- synchronization of a domain holding it (read in the claim's statement, under its lock).
CREATE FUNCTION ucp_cn_poll_waits(p_device text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM jobs s WHERE s.kind = 'device_sync' AND s.target = p_device
                    AND s.state IN ('running', 'canceling'))
        OR EXISTS (SELECT 1 FROM jobs s JOIN service_areas a ON a.domain = s.target
                    WHERE s.type = 'sync.domain' AND s.state IN ('running', 'canceling') AND a.call_processor = p_device)
$$;

CREATE OR REPLACE FUNCTION ucp_claim(p_worker text, p_slots integer, p_lease_seconds double precision,
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
            -- an infrastructure or user sync only once no order runs and no poll of its device runs, a
            -- domain sync only once no poll of a call processor of the domain runs.
            SELECT * INTO v_head FROM jobs
             WHERE state = 'queued' AND kind IN ('device_sync', 'sync') AND run_at <= coalesce(p_now, clock_timestamp())
             ORDER BY priority DESC, run_at, id LIMIT 1;
            v_group := v_head.sync_group;
            IF v_head.id IS NOT NULL AND v_group IS NULL
               AND ((v_head.kind = 'sync'
                     AND (v_head.type <> 'sync.domain'
                          OR NOT EXISTS (SELECT 1 FROM jobs p JOIN service_areas a ON a.call_processor = p.target
                                          WHERE p.type = 'cn.poll' AND p.state IN ('running', 'canceling')
                                            AND a.domain = v_head.target)))
                    OR (v_head.kind = 'device_sync'
                        AND NOT EXISTS (SELECT 1 FROM jobs WHERE kind = 'order' AND state IN ('running', 'canceling'))
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

    -- Orders and tasks; in maintenance mode tasks only. A poll waits while a sync of its device, or a
    -- domain synchronization of a domain holding its device, runs.
    IF (SELECT active FROM ucp_maintenance_state(p_now)) THEN
        SELECT array_agg(id) INTO v_ids FROM (
            SELECT id FROM jobs WHERE state = 'queued' AND kind = 'task' AND run_at <= coalesce(p_now, now())
               AND (type <> 'cn.poll' OR NOT ucp_cn_poll_waits(target))
             ORDER BY priority DESC, run_at, id LIMIT p_slots - v_claimed FOR UPDATE SKIP LOCKED) picked;
    ELSE
        SELECT array_agg(id) INTO v_ids FROM (
            SELECT id FROM jobs WHERE state = 'queued' AND kind IN ('order', 'task') AND run_at <= coalesce(p_now, now())
               AND (type <> 'cn.poll' OR NOT ucp_cn_poll_waits(target))
             ORDER BY priority DESC, run_at, id LIMIT p_slots - v_claimed FOR UPDATE SKIP LOCKED) picked;
    END IF;
    IF v_ids IS NOT NULL THEN
        RETURN QUERY SELECT * FROM ucp_start(v_ids, p_worker, p_lease_seconds, p_now);
    END IF;
END
$$;
