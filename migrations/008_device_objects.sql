-- The inventory of what infrastructure and user synchronization read from each device (issue 3,
-- items 6–8), and the detailed log of each device's latest sync of each kind (seed 004: "This log is
-- replaced each time a synchronization occurs").
--
-- One row per object a sync kind read from a device: `object_type` is the inventory type name of
-- Sources/AXL/AXLCatalog.swift (SIPTrunk, Phone, VoiceMailInfo …), `object_key` the operator's
-- name for it (the catalog's key tags joined with '/', e.g. '4001/PT_Internal' for a line).
-- A sync upserts page by page from a temporary table; at the end of each type it read completely,
-- the rows it did not see (seen_by is another job) are marked removed. Removed rows are kept, so
-- an object that comes back is the same row again.

CREATE TABLE device_objects (
    device       text NOT NULL REFERENCES devices (name) ON DELETE CASCADE,
    sync_kind    text NOT NULL CHECK (sync_kind IN ('infra', 'user')),
    object_type  text NOT NULL,
    object_key   text NOT NULL,
    uuid         text,
    attributes   jsonb NOT NULL DEFAULT '{}',
    first_seen   timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen    timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The sync job that last saw it: what a sync did not see is what disappeared from the device.
    seen_by      bigint NOT NULL,
    removed_at   timestamptz,
    -- The one index: the upsert's conflict target, the removal sweep of one type, and the counts and
    -- lists of a device all use its prefixes. (Each further index cost a sync about a fifth more
    -- database time per page; bench/axl-sync.sh.)
    PRIMARY KEY (device, sync_kind, object_type, object_key)
);

-- The detailed log of the latest sync of each device and kind; a new sync replaces it.
CREATE TABLE device_sync_logs (
    device       text NOT NULL REFERENCES devices (name) ON DELETE CASCADE,
    sync_kind    text NOT NULL CHECK (sync_kind IN ('infra', 'user')),
    job_id       bigint NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    -- running, succeeded, failed, canceled.
    state        text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'succeeded', 'failed', 'canceled')),
    -- The outcome line ("Completed." / "Completed. But the following objects could not be synchronized: [...]").
    outcome      text,
    -- Objects read per type, for the operator and as the next sync's progress estimate.
    counts       jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (device, sync_kind)
);

CREATE TABLE device_sync_log_lines (
    id           bigserial PRIMARY KEY,
    device       text NOT NULL,
    sync_kind    text NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    level        text NOT NULL,
    message      text NOT NULL,
    FOREIGN KEY (device, sync_kind) REFERENCES device_sync_logs (device, sync_kind) ON DELETE CASCADE
);
CREATE INDEX device_sync_log_lines_log ON device_sync_log_lines (device, sync_kind, id);

GRANT SELECT, INSERT, UPDATE, DELETE ON device_objects, device_sync_logs, device_sync_log_lines TO ucp_app;
GRANT USAGE, SELECT ON SEQUENCE device_sync_log_lines_id_seq TO ucp_app;
