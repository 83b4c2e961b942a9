-- Schedule runs (issue 5, item 2): one row per firing of a schedule (by the coordinator when due, or by
-- `ucp schedule run-now`), with its own log. The run's orchestrator is the job `schedule.run`
-- (job_id); the syncs it enqueues carry jobs.schedule_run_id = schedule_runs.id.

CREATE TABLE schedule_runs (
    id             bigserial PRIMARY KEY,
    -- No foreign key: a run's history outlives the schedule it came from.
    schedule_name  text NOT NULL,
    -- The due time the coordinator fired; for run-now, the time it was asked for.
    due_at         timestamptz NOT NULL,
    -- 'coordinator' (fired when due) or 'run-now'.
    trigger        text NOT NULL DEFAULT 'coordinator' CHECK (trigger IN ('coordinator', 'run-now')),
    state          text NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    job_id         bigint,
    started_at     timestamptz,
    finished_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    created_by     text NOT NULL,
    -- A due time fires once, even with two leaders for a moment.
    CONSTRAINT schedule_runs_once_per_due_time UNIQUE (schedule_name, due_at),
    CONSTRAINT schedule_runs_final_states_have_finish_time
        CHECK ((state IN ('succeeded', 'failed', 'canceled')) = (finished_at IS NOT NULL))
);
CREATE INDEX schedule_runs_latest ON schedule_runs (schedule_name, id DESC);
CREATE INDEX jobs_schedule_run ON jobs (schedule_run_id) WHERE schedule_run_id IS NOT NULL;

-- A run's log: what it planned, ran, skipped, and why.
CREATE TABLE schedule_run_logs (
    id       bigserial PRIMARY KEY,
    run_id   bigint NOT NULL REFERENCES schedule_runs (id) ON DELETE CASCADE,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    message  text NOT NULL
);
CREATE INDEX schedule_run_logs_run ON schedule_run_logs (run_id, id);

GRANT SELECT, INSERT, UPDATE ON schedule_runs TO ucp_app;
GRANT SELECT, INSERT ON schedule_run_logs TO ucp_app;
GRANT USAGE, SELECT ON SEQUENCE schedule_runs_id_seq, schedule_run_logs_id_seq TO ucp_app;
