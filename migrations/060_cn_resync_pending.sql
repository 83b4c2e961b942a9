-- Change notification (issue 13, review finding): a resync that failed or was canceled is asked for
-- again. The re-baseline that queues the full synchronization marks the device "resync pending" (since
-- when, why); each poll queues again the infrastructure or user sync that has not succeeded since, and
-- clears the mark once both have (started after the mark). Until then the missed changes are not in
-- the inventory, and `ucp device cn` says so.
ALTER TABLE device_change_notification
    ADD COLUMN resync_pending_since  timestamptz,
    ADD COLUMN resync_pending_reason text;
