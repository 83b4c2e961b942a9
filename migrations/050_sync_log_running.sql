-- A detailed log's outcome (migration 007: succeeded, failed, canceled) may also be `running`: the
-- domain write-back (`writeback.domain`) begins its log `running` and sets the outcome with the
-- summary at the end. A worker killed, or a job the coordinator's rescue ends, leaves it `running`;
-- `ucp domain log` then shows how the job ended (its state in `jobs`), never a stale `running`.
COMMENT ON COLUMN sync_logs.outcome IS
    'succeeded, failed or canceled; running while a log written as it goes (the domain write-back) is open, or when its job ended without closing it (ucp domain log then shows how the job ended)';
