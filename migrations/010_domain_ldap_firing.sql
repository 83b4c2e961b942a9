-- A domain's own LDAP synchronization schedule (its Synchronization Interval and Start Date, seed
-- Table 5) is fired by the coordinator like a schedule (issue 5): each due time once, even with two
-- coordinators, and a missed stretch once. This column is what makes it once: the coordinator moves
-- it only if nobody moved it since it read it, in the transaction that queues the sync.
ALTER TABLE domains ADD COLUMN ldap_sync_last_fired_at timestamptz;
