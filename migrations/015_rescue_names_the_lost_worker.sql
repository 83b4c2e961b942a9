-- The rescue's audit line names the worker that lost the job: 011's version read the worker from the
-- row it had just cleared, so a job queued again was logged as "(attempt N, worker )".
CREATE OR REPLACE FUNCTION ucp_rescue_expired(p_actor text, p_now timestamptz DEFAULT NULL)
RETURNS SETOF jobs LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
    v_state text;
    v_lost_worker text;
    v_device_sync boolean := false;
BEGIN
    FOR v_job IN SELECT * FROM jobs WHERE state IN ('running', 'canceling') AND lease_expires_at < coalesce(p_now, now())
                  ORDER BY id FOR UPDATE SKIP LOCKED
    LOOP
        v_lost_worker := v_job.worker;
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
                       v_job.type, v_job.id, v_job.attempt, v_lost_worker,
                       CASE v_state WHEN 'queued' THEN 'queued again' ELSE v_state END));
        RETURN NEXT v_job;
    END LOOP;
    IF FOUND THEN PERFORM pg_notify('ucp_jobs', 'rescue'); END IF;
    IF v_device_sync THEN PERFORM ucp_maintenance_refresh(p_actor, p_now); END IF;
END
$$;
