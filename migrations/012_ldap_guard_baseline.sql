-- The deletion guard's baseline (issue 10, finding 2). A run the guard refused used to save its own
-- user count, so running the sync again without a flag compared with the refused count and deleted.
-- Now the baseline is the last LDAP synchronization of the domain that applied its deletions (or had
-- none to apply; an --allow-deletes run that passed counts): a refused run and a dry run never move
-- it. last_synced_at and last_job_id still follow every real run, refused or not: the report of
-- delete orders that ended "since the previous synchronization" starts there.

ALTER TABLE ldap_sync_state RENAME COLUMN last_user_count TO baseline_user_count;
ALTER TABLE ldap_sync_state
    -- NULL until a run is accepted (a domain whose first runs were all refused has no baseline).
    ALTER COLUMN baseline_user_count DROP NOT NULL,
    ADD COLUMN baseline_job_id bigint,
    ADD COLUMN baseline_at timestamptz;
UPDATE ldap_sync_state SET baseline_job_id = last_job_id, baseline_at = last_synced_at;

COMMENT ON COLUMN ldap_sync_state.baseline_user_count IS
    'Users the directory returned at the last accepted (not refused, not dry-run) LDAP sync: what the deletion guard compares with';
COMMENT ON COLUMN ldap_sync_state.last_synced_at IS
    'When the last real LDAP sync of the domain ended, accepted or refused by the deletion guard';
