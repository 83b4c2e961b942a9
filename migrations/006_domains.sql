-- Directory servers and domains (issue 4, items 2-4; seed 004, "Synchronizing an LDAP Server with
-- Provisioning"). Validation with operator-facing messages lives in Sources/Inventory/DeviceValidation.swift,
-- Sources/Inventory/DomainValidation.swift and the pure rules of Sources/Directory; the constraints here
-- are the backstop for anything that bypasses them.

-- Directory servers are devices of kind 'directory' (`ucp device add --kind ldap`), with a server
-- type and a transport (ldap://, ldaps:// or StartTLS) that only directories have. The admin user of a
-- directory is its admin distinguished name.
ALTER TABLE devices DROP CONSTRAINT devices_kind_check;
ALTER TABLE devices ADD CONSTRAINT devices_kind_check
    CHECK (kind IN ('call_processor', 'message_processor', 'presence_processor', 'directory'));
ALTER TABLE devices
    ADD COLUMN directory_type text CHECK (directory_type IN ('ad', 'adam', 'openldap', 'oracle')),
    ADD COLUMN ldap_security  text CHECK (ldap_security IN ('ldap', 'ldaps', 'starttls')),
    ADD CONSTRAINT directory_settings_only_for_directories CHECK (
        (kind = 'directory') = (directory_type IS NOT NULL)
        AND (kind = 'directory') = (ldap_security IS NOT NULL)),
    -- What domains.directory refers to: a device that is a directory.
    ADD CONSTRAINT devices_name_kind_key UNIQUE (name, kind);

-- A domain and its LDAP settings (Table 5 "LDAP Settings Fields", Table 6 "LDAP Field Mapping",
-- Table 7 "LDAP Synchronization Filters", "Write Back Settings").
CREATE TABLE domains (
    name                     text PRIMARY KEY
                             CHECK (name ~ '^[A-Za-z0-9 _.@-]{1,100}$' AND btrim(name) <> ''),
    -- The directory source; NULL for a domain without LDAP. The kind column pins the reference to a
    -- device of kind 'directory', so such a device can neither be removed nor change kind while used.
    directory                text,
    directory_kind           text NOT NULL DEFAULT 'directory' CHECK (directory_kind = 'directory'),
    ldap_mode                text NOT NULL DEFAULT 'authentication_and_synchronization'
                             CHECK (ldap_mode IN ('authentication_only', 'authentication_and_synchronization')),
    update_policy            text NOT NULL DEFAULT 'all_fields' CHECK (update_policy IN ('all_fields', 'do_not_update')),
    stale_user_action        text NOT NULL DEFAULT 'do_not_change'
                             CHECK (stale_user_action IN ('do_not_change', 'delete_if_no_services', 'delete_user',
                                                          'delete_user_keep_services', 'delete_user_and_services')),
    -- Exactly one user search base per domain (seed); required with a directory.
    search_base              text CHECK (search_base <> ''),
    sync_inactive_users      boolean NOT NULL DEFAULT false,
    -- Field mapping choices; NULL means the server type's default (Sources/Directory/DirectorySchema.swift).
    user_id_attribute        text,
    phone_attribute          text,
    email_attribute          text,
    middle_name_attribute    text,
    directory_uri_attribute  text,
    -- Filter query for synchronization: all users, a simple query (its conditions as typed, one per
    -- element, joined by AND or OR), or an advanced query (an RFC 4515 filter as typed).
    filter_kind              text NOT NULL DEFAULT 'all' CHECK (filter_kind IN ('all', 'simple', 'advanced')),
    filter_match             text NOT NULL DEFAULT 'all' CHECK (filter_match IN ('all', 'any')),
    filter_conditions        text[] NOT NULL DEFAULT '{}',
    filter_advanced          text,
    -- Service area and user role LDAP filters: [{"name", "filter", "mask", "assign_new_line"}] in order.
    service_area_filters     jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(service_area_filters) = 'array'),
    user_role_filters        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(user_role_filters) = 'array'),
    -- Write Primary DN to LDAP: the attribute (NULL: do not write) and the mask applied first.
    write_back_attribute     text CHECK (write_back_attribute IN ('ipPhone', 'telephoneNumber', 'mobile')),
    write_back_mask          text,
    -- Deletion guard: a sync that would delete more users than either threshold deletes none.
    delete_guard_count       integer NOT NULL DEFAULT 500 CHECK (delete_guard_count >= 0),
    delete_guard_percent     integer NOT NULL DEFAULT 10 CHECK (delete_guard_percent BETWEEN 0 AND 100),
    -- Synchronization Interval (once, 6h, 1d, 2w; NULL: not scheduled) and Synchronization Start Date.
    sync_interval            text CHECK (sync_interval = 'once' OR sync_interval ~ '^[1-9][0-9]{0,3}[hdw]$'),
    sync_start_at            timestamptz,
    created_at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at               timestamptz NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (directory, directory_kind) REFERENCES devices (name, kind),
    CONSTRAINT search_base_with_directory CHECK (directory IS NULL OR search_base IS NOT NULL),
    CONSTRAINT filter_matches_kind CHECK (
        (filter_kind = 'all' AND cardinality(filter_conditions) = 0 AND filter_advanced IS NULL)
        OR (filter_kind = 'simple' AND cardinality(filter_conditions) > 0 AND filter_advanced IS NULL)
        OR (filter_kind = 'advanced' AND cardinality(filter_conditions) = 0 AND filter_advanced IS NOT NULL)),
    CONSTRAINT write_back_mask_with_attribute CHECK (write_back_mask IS NULL OR write_back_attribute IS NOT NULL)
);
CREATE INDEX domains_directory ON domains (directory) WHERE directory IS NOT NULL;

CREATE FUNCTION ucp_domains_before_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$;
CREATE TRIGGER domains_before_update BEFORE UPDATE ON domains
    FOR EACH ROW EXECUTE FUNCTION ucp_domains_before_update();

GRANT SELECT, INSERT, UPDATE, DELETE ON domains TO ucp_app;
