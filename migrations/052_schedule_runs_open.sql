-- The coordinator's sweep of schedule runs whose `schedule.run` job ended (or was pruned) before the
-- run did (EndedJobScheduleRunsDuty, every rescue interval) reads the open runs: this index keeps
-- that read to the few open ones, whatever the history the retention keeps.
CREATE INDEX schedule_runs_open ON schedule_runs (job_id) WHERE state IN ('queued', 'running');
