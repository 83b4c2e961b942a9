-- Change notification (issue 13, review finding): a pending resync (060) clears only once an
-- infrastructure and a user synchronization started after the mark have each read every type — one
-- that ends "Completed. But the following objects could not be synchronized" left changes unread —
-- and it clears when the second of them ends, not at the next poll. Each sync of the pair records
-- here when it read everything; the mark sets both back to NULL.
ALTER TABLE device_change_notification
    ADD COLUMN resync_infra_read_at timestamptz,
    ADD COLUMN resync_user_read_at  timestamptz;
