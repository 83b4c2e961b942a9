-- A worker paused (SIGSTOP, a frozen VM, a stalled host) inside a fenced write holds its job's row
-- FOR SHARE; the rescue skips locked rows, so that job would stay running for as long as the pause
-- lasts. Its lease has expired: nothing its sessions do may stand any more. Ending the sessions that
-- opened their transaction before the lease ran out rolls the late write back and frees the row for
-- the next rescue round. A worker's sessions carry its name (application_name = prefix || worker).
-- SECURITY DEFINER: ucp_app may not signal other sessions; the owner (the login role of the
-- processes, or a member of pg_signal_backend) may.
CREATE FUNCTION ucp_end_lost_worker_sessions(p_session_prefix text, p_now timestamptz DEFAULT NULL)
RETURNS TABLE (job_id bigint, worker text, pid integer, ended boolean)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT lost.job_id, lost.worker, lost.pid, pg_terminate_backend(lost.pid)
      FROM (SELECT DISTINCT ON (a.pid) j.id AS job_id, j.worker, a.pid
              FROM jobs j
              JOIN pg_stat_activity a ON a.application_name = p_session_prefix || j.worker
             WHERE j.state IN ('running', 'canceling')
               AND j.lease_expires_at < coalesce(p_now, now())
               AND a.datname = current_database()
               AND a.xact_start < j.lease_expires_at
             ORDER BY a.pid, j.id) lost
$$;
REVOKE ALL ON FUNCTION ucp_end_lost_worker_sessions(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ucp_end_lost_worker_sessions(text, timestamptz) TO ucp_app;
