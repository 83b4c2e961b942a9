-- Service areas, the domain synchronization's business rules and the services users hold (issue 11;
-- seed 004 "Overview of Domain Synchronization"; orders-brief §B). Validation with operator-facing
-- messages lives in Sources/Inventory/ServiceAreaStore.swift and ServiceAreaValidation.swift; the
-- constraints here are the backstop for anything that bypasses them.

-- A named grouping inside a domain that says which technology a service uses. Object names
-- (device pool, location, partitions …) are the names the infrastructure synchronization read
-- (device_objects); they are checked when the area is written, not by a foreign key, because an
-- object a later sync no longer sees is marked removed, not deleted.
CREATE TABLE service_areas (
    domain                  text NOT NULL REFERENCES domains (name) ON DELETE CASCADE,
    name                    text NOT NULL CHECK (name ~ '^[A-Za-z0-9 _.@-]{1,100}$' AND btrim(name) <> ''),
    -- The kind columns pin each reference to a device of that kind (as domains.directory does).
    call_processor          text NOT NULL,
    call_processor_kind     text NOT NULL DEFAULT 'call_processor' CHECK (call_processor_kind = 'call_processor'),
    message_processor       text,
    message_processor_kind  text NOT NULL DEFAULT 'message_processor' CHECK (message_processor_kind = 'message_processor'),
    device_pool             text NOT NULL CHECK (device_pool <> ''),
    location                text CHECK (location <> ''),
    device_css              text CHECK (device_css <> ''),
    line_css                text CHECK (line_css <> ''),
    external_mask           text CHECK (external_mask ~ '^[0-9X+*#]{1,24}$'),
    voicemail_profile       text CHECK (voicemail_profile <> ''),
    unity_template          text CHECK (unity_template <> ''),
    unity_cos               text CHECK (unity_cos <> ''),
    created_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (domain, name),
    FOREIGN KEY (call_processor, call_processor_kind) REFERENCES devices (name, kind),
    FOREIGN KEY (message_processor, message_processor_kind) REFERENCES devices (name, kind),
    CONSTRAINT unity_settings_need_a_message_processor CHECK (
        message_processor IS NOT NULL OR (voicemail_profile IS NULL AND unity_template IS NULL AND unity_cos IS NULL))
);
CREATE INDEX service_areas_call_processor ON service_areas (call_processor);
CREATE INDEX service_areas_message_processor ON service_areas (message_processor) WHERE message_processor IS NOT NULL;

-- The route partitions of a service area, in the order given (the first is where new lines go).
CREATE TABLE service_area_partitions (
    domain        text NOT NULL,
    service_area  text NOT NULL,
    position      integer NOT NULL CHECK (position >= 0),
    partition     text NOT NULL CHECK (partition <> ''),
    PRIMARY KEY (domain, service_area, partition),
    UNIQUE (domain, service_area, position),
    FOREIGN KEY (domain, service_area) REFERENCES service_areas (domain, name) ON DELETE CASCADE
);

-- Directory number blocks: FIRST..LAST of one length (a DN's leading zeros count), in one partition
-- of the area ('': the none partition). Blocks of one call processor and partition may not
-- overlap; the store checks that under a lock of this table (an exclusion constraint would need
-- btree_gist).
CREATE TABLE service_area_dn_blocks (
    domain        text NOT NULL,
    service_area  text NOT NULL,
    partition     text NOT NULL DEFAULT '',
    first_number  text NOT NULL CHECK (first_number ~ '^\+?[0-9]{1,24}$'),
    last_number   text NOT NULL CHECK (last_number ~ '^\+?[0-9]{1,24}$'),
    PRIMARY KEY (domain, service_area, partition, first_number),
    FOREIGN KEY (domain, service_area) REFERENCES service_areas (domain, name) ON DELETE CASCADE,
    CONSTRAINT block_numbers_of_one_length CHECK (length(first_number) = length(last_number)),
    CONSTRAINT block_in_order CHECK (first_number <= last_number)
);

-- The business rules of a domain's synchronization (seed: "Domain Synchronization Business Rules").
-- One row per enabled rule; the list rules carry their values. Priority: sync_all_users and
-- sync_existing_users override the rest; the other rules are additive (a user satisfies every one).
CREATE TABLE domain_rules (
    domain   text NOT NULL REFERENCES domains (name) ON DELETE CASCADE,
    rule     text NOT NULL CHECK (rule IN ('sync_all_users', 'sync_existing_users', 'match_department',
                                           'match_location', 'match_device_pool', 'sync_all_unity_users',
                                           'sync_primary_user_from_unity')),
    vals     text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (domain, rule),
    CONSTRAINT list_rules_name_something CHECK (
        (rule IN ('match_department', 'match_location', 'match_device_pool')) = (cardinality(vals) > 0))
);

-- The services a user holds, each linked to the device object it came from and to the service area
-- it is placed in (NULL: no service area matched; the log says why). A shared line is one row per user.
CREATE TABLE user_services (
    user_id       text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    service_type  text NOT NULL CHECK (service_type IN ('phone', 'line', 'voicemail', 'em_access',
                                                        'remote_destination_profile', 'remote_destination',
                                                        'im_presence')),
    device        text NOT NULL,
    sync_kind     text NOT NULL,
    object_type   text NOT NULL,
    object_key    text NOT NULL,
    uuid          text,
    domain        text NOT NULL,
    service_area  text,
    -- What the sync derived for the service (line number, profile, home cluster …), for display.
    detail        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (user_id, service_type, device, object_type, object_key),
    FOREIGN KEY (device, sync_kind, object_type, object_key)
        REFERENCES device_objects (device, sync_kind, object_type, object_key) ON DELETE CASCADE,
    -- No cascade: a service area cannot be removed while a service is placed in it.
    FOREIGN KEY (domain, service_area) REFERENCES service_areas (domain, name)
);
CREATE INDEX user_services_object ON user_services (device, sync_kind, object_type, object_key);
CREATE INDEX user_services_area ON user_services (domain, service_area) WHERE service_area IS NOT NULL;

CREATE TRIGGER service_areas_before_update BEFORE UPDATE ON service_areas
    FOR EACH ROW EXECUTE FUNCTION ucp_domains_before_update();

-- Services are real now: "Delete user if there are no services" follows them.
CREATE OR REPLACE FUNCTION ucp_user_has_services(user_id text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM user_services s WHERE s.user_id = $1)
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON service_areas, service_area_partitions, service_area_dn_blocks, domain_rules,
    user_services TO ucp_app;
