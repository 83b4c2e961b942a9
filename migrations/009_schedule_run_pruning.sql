-- Finished schedule runs are pruned with the jobs they ran (issue 5): the coordinator's
-- ScheduleRunPruneDuty deletes runs older than the retention, keeping each schedule's latest run so
-- `ucp schedule show` can still tell how it ended. Their logs go with them (ON DELETE CASCADE).
GRANT DELETE ON schedule_runs, schedule_run_logs TO ucp_app;
