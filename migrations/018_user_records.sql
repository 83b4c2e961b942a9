-- User records built by the domain synchronization (issue 11, items 2 and 4; seed 004 "Overview of
-- Domain Synchronization"). The sync itself is Sources/Sync/DomainSync.swift; its statements are
-- Sources/Inventory/DomainSyncStatements.swift.

-- User identity is case-insensitive: `JSmith` and `jsmith` are one user. Rows that already clash
-- by case only (an LDAP synchronization before this migration imported both) must not make the
-- migration fail, and deleting or renaming a user here would lose what an operator can still see:
-- the first of each group (oldest, then by user ID) keeps the identity, the others are marked
-- `case_clash` and stay out of the unique index. Synchronizations never match or create a marked
-- row; an operator removes it (ucp users show says why it is marked).
ALTER TABLE users ADD COLUMN case_clash boolean NOT NULL DEFAULT false;
UPDATE users u SET case_clash = true
  FROM (SELECT user_id, row_number() OVER (PARTITION BY lower(user_id) ORDER BY created_at, user_id) AS n FROM users) o
 WHERE o.user_id = u.user_id AND o.n > 1;
CREATE UNIQUE INDEX users_identity ON users (lower(user_id)) WHERE NOT case_clash;

-- device: created by a domain synchronization from a call or message processor's user (the
-- coresident rules bring Unity Connection users too).
ALTER TABLE users DROP CONSTRAINT users_source_check;
ALTER TABLE users ADD CONSTRAINT users_source_check CHECK (source IN ('ldap', 'manual', 'device'));

-- A user deleted from the inventory keeps its services there: the stale-user action "Delete user in
-- Provisioning" moves them to the global namespace (user_id NULL), and "Delete user, but keep
-- services" is an order that deletes the user the same way. ("Delete user and all services" is an
-- order that removes the services itself; "Delete user if there are no services" has none.) The
-- next domain synchronization gives a kept service back to whichever user holds its object, or
-- removes it once its object is gone. The key becomes a unique index: user IDs of kept services are
-- NULL, never equal.
ALTER TABLE user_services DROP CONSTRAINT user_services_pkey;
ALTER TABLE user_services DROP CONSTRAINT user_services_user_id_fkey;
ALTER TABLE user_services ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE user_services ADD CONSTRAINT user_services_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE SET NULL;
CREATE UNIQUE INDEX user_services_key ON user_services (user_id, service_type, device, object_type, object_key);
CREATE INDEX user_services_kept ON user_services (domain) WHERE user_id IS NULL;

-- A list the device syncs stored from XML: an element repeated is a JSON array, one alone an object,
-- an empty one a string. The domain synchronization reads phone lines and profile services with it.
CREATE FUNCTION ucp_json_list(value jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(value) WHEN 'array' THEN value WHEN 'object' THEN jsonb_build_array(value) ELSE '[]'::jsonb END
$$;
