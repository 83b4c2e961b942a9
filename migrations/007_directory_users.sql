-- Users of a domain and the LDAP synchronization that brings them from the directory (issue 4,
-- items 5-8; seed 004, "Synchronizing an LDAP Server with Provisioning"). The sync itself lives in
-- Sources/Sync/LDAPSync*.swift; its statements in Sources/Inventory/UserStatements.swift.

-- A user of one domain. A user ID is unique across domains: the sync skips a directory user whose ID
-- already belongs to another domain, and says so in its report (seed: "The following users were not
-- created because they are already present in another Domain").
CREATE TABLE users (
    user_id        text PRIMARY KEY CHECK (user_id <> '' AND length(user_id) <= 256),
    -- Not a foreign key: its per-row check would cost a third of an LDAP sync's bulk insert. Domains
    -- cannot be renamed, and DomainStore refuses to remove a domain that has users or a running sync.
    domain         text NOT NULL,
    -- ldap: created by an LDAP synchronization (its fields follow the directory); manual: created
    -- by an operator. A sync adopts a manual user of its own domain that the directory also holds.
    source         text NOT NULL DEFAULT 'manual' CHECK (source IN ('ldap', 'manual')),
    first_name     text,
    middle_name    text,
    last_name      text,
    email          text,
    phone          text,
    directory_uri  text,
    manager_id     text,
    department     text,
    title          text,
    home_number    text,
    mobile_number  text,
    pager_number   text,
    -- The entry the user came from (a DN moves on renames; the user ID is the key).
    directory_dn   text,
    -- False for an account the directory marks disabled (AD/ADAM), kept only with "sync inactive users".
    enabled        boolean NOT NULL DEFAULT true,
    -- active; stale: no longer in the directory's answer but kept (the stale-user action keeps it, or the
    -- deletion guard held); deleting: a delete order is pending for it.
    state          text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'stale', 'deleting')),
    stale_since    timestamptz,
    last_synced_at timestamptz,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT stale_since_when_stale CHECK ((state = 'active') = (stale_since IS NULL))
);
-- One key per domain: btree deduplication keeps it small and cheap to maintain under bulk inserts.
CREATE INDEX users_domain ON users (domain);

-- The built-in administrators are never created, changed or deleted by a synchronization.
CREATE FUNCTION ucp_user_is_reserved(user_id text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(user_id) IN ('admin', 'globaladmin')
$$;

-- Whether a user has services in the inventory. There is no services table yet (the domain
-- synchronization brings services): until it lands, nobody has any. Its migration replaces this
-- function (CREATE OR REPLACE), and "Delete user if there are no services" follows.
CREATE FUNCTION ucp_user_has_services(user_id text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT false
$$;

CREATE FUNCTION ucp_users_before_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$;
CREATE TRIGGER users_before_update BEFORE UPDATE ON users
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION ucp_users_before_update();

-- What the deletion guard compares with: how many users the directory returned at the last
-- (non-dry-run) LDAP synchronization of each domain.
CREATE TABLE ldap_sync_state (
    domain          text PRIMARY KEY REFERENCES domains (name) ON UPDATE CASCADE ON DELETE CASCADE,
    last_user_count integer NOT NULL CHECK (last_user_count >= 0),
    last_job_id     bigint,
    last_synced_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Delete orders of the stale-user actions that delete on the device too ("Delete user, but keep
-- services" and "Delete user and all services from Provisioning and CUCM"). The orders issue runs
-- them; until then they stay pending. One open order per user.
CREATE TABLE user_delete_orders (
    id            bigserial PRIMARY KEY,
    domain        text NOT NULL,
    user_id       text NOT NULL,
    action        text NOT NULL CHECK (action IN ('delete_user_keep_services', 'delete_user_and_services')),
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'succeeded', 'failed')),
    message       text,
    -- The LDAP synchronization that asked for it.
    sync_job_id   bigint,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at   timestamptz
);
CREATE UNIQUE INDEX user_delete_orders_one_open ON user_delete_orders (user_id) WHERE state IN ('pending', 'running');
CREATE INDEX user_delete_orders_sync ON user_delete_orders (sync_job_id);

-- The detailed log of the latest synchronization of each target and kind (DESIGN.md §5; seed:
-- "View Detailed Log"), replaced by each run. `ucp domain log NAME --kind ldap` prints the LDAP one.
CREATE TABLE sync_logs (
    sync_type   text NOT NULL,
    target      text NOT NULL,
    job_id      bigint,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- succeeded, failed, canceled.
    outcome     text NOT NULL,
    PRIMARY KEY (sync_type, target)
);
CREATE TABLE sync_log_lines (
    sync_type text NOT NULL,
    target    text NOT NULL,
    line_no   integer NOT NULL,
    line      text NOT NULL,
    PRIMARY KEY (sync_type, target, line_no),
    FOREIGN KEY (sync_type, target) REFERENCES sync_logs (sync_type, target) ON DELETE CASCADE
);

GRANT SELECT, INSERT, UPDATE, DELETE ON users, ldap_sync_state, user_delete_orders, sync_logs, sync_log_lines TO ucp_app;
GRANT USAGE ON SEQUENCE user_delete_orders_id_seq TO ucp_app;
