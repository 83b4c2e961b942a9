-- The manager of a user an LDAP synchronization creates is set after the run's last page, from the
-- managers' entries it read; under "do not update" only the users the synchronization created get one.
-- A time window ("created since this run started", the worker's clock against the database's
-- created_at) lost the users of an attempt that failed before that step (at the next attempt they
-- exist already), and clock skew between hosts moved its edge. A created user whose entry names a
-- manager carries this flag until a run reaches the managers step.
ALTER TABLE users ADD COLUMN manager_pending boolean NOT NULL DEFAULT false;
CREATE INDEX users_manager_pending ON users (domain) WHERE manager_pending;
