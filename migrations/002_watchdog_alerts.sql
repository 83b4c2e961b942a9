-- The stuck-sync watchdog and the alert outbox (issue 5; seed 004: "PCP monitors the sync status
-- every one hour. If the sync remains stuck for one hour, the configured user gets an email
-- notification. Audit trail is updated with the following message and the synchronization stops:
-- 'Automatic synchronization status check Failed'").

-- One row per message and recipient. A sender claims due rows (pending, or sending whose lease
-- expired), sends, and marks them sent; a failure puts them back with a later next_attempt_at.
CREATE TABLE alerts (
    id                bigserial PRIMARY KEY,
    kind              text NOT NULL,
    job_id            bigint,
    recipient         text NOT NULL,
    subject           text NOT NULL,
    body              text NOT NULL,
    state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_expires_at  timestamptz,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at           timestamptz
);
-- A stuck sync is reported once per recipient, however many watchdogs look at it.
CREATE UNIQUE INDEX alerts_once_per_job_and_recipient ON alerts (kind, job_id, recipient) WHERE job_id IS NOT NULL;
CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE state IN ('pending', 'sending');

-- Stops every running sync whose progress has not changed for p_threshold_seconds, writes the
-- seed's audit line and queues one email per recipient, all in one transaction. Rows are taken
-- with SKIP LOCKED and re-checked after the lock, so two watchdogs never stop a sync twice.
CREATE FUNCTION ucp_watchdog_check(p_threshold_seconds double precision, p_actor text, p_recipients text[])
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
           AND coalesce(progress_at, started_at) < clock_timestamp() - make_interval(secs => p_threshold_seconds)
         ORDER BY id FOR UPDATE SKIP LOCKED
    LOOP
        v_stopped := ucp_sync_stop(v_job.id, p_actor, 'sync.watchdog', 'Automatic synchronization status check Failed');
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

GRANT SELECT, INSERT, UPDATE ON alerts TO ucp_app;
GRANT USAGE, SELECT ON SEQUENCE alerts_id_seq TO ucp_app;
