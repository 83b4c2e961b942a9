-- Service areas (issue 11, item 1; orders brief §B; seed 004 "Overview of Domain Synchronization"):
-- a named grouping inside a domain that says which technology a user's services use. Validation with
-- operator-facing messages (every Unified CM / Unity Connection name checked against what the
-- infrastructure synchronization read into device_objects) lives in Sources/Inventory/ServiceAreaStore.swift;
-- the constraints here are the backstop for anything that bypasses it.

CREATE TABLE service_areas (
    id                    bigserial PRIMARY KEY,
    -- Domains cannot be renamed; DomainStore refuses to remove a domain that has service areas.
    domain                text NOT NULL REFERENCES domains (name),
    name                  text NOT NULL CHECK (name ~ '^[A-Za-z0-9 _.@-]{1,100}$' AND btrim(name) <> ''),
    -- The Unified CM; the kind column pins the reference to a device of that kind (as domains.directory),
    -- so the device can neither be removed nor change kind while a service area uses it.
    call_processor        text NOT NULL,
    call_processor_kind   text NOT NULL DEFAULT 'call_processor' CHECK (call_processor_kind = 'call_processor'),
    -- The Unity Connection, optional.
    message_processor     text,
    message_processor_kind text NOT NULL DEFAULT 'message_processor' CHECK (message_processor_kind = 'message_processor'),
    -- Unified CM object names, as the device spells them.
    device_pool           text NOT NULL,
    location              text,
    route_partitions      text[] NOT NULL DEFAULT '{}',
    device_css            text,
    line_css              text,
    -- External phone number mask (Sources/Directory/PhoneMask.swift).
    external_mask         text,
    voicemail_profile     text,
    -- Unity Connection object names: only with a message processor.
    subscriber_template   text,
    class_of_service      text,
    created_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (call_processor, call_processor_kind) REFERENCES devices (name, kind),
    FOREIGN KEY (message_processor, message_processor_kind) REFERENCES devices (name, kind),
    CONSTRAINT unity_objects_with_message_processor CHECK (
        message_processor IS NOT NULL OR (subscriber_template IS NULL AND class_of_service IS NULL)),
    -- What the DN blocks' call processor follows (ON UPDATE CASCADE).
    CONSTRAINT service_areas_id_call_processor_key UNIQUE (id, call_processor)
);
-- A name is unique inside its domain whatever its case.
CREATE UNIQUE INDEX service_areas_domain_name ON service_areas (domain, lower(name));
CREATE INDEX service_areas_call_processor ON service_areas (call_processor);
CREATE INDEX service_areas_message_processor ON service_areas (message_processor) WHERE message_processor IS NOT NULL;

CREATE FUNCTION ucp_service_areas_before_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$;
CREATE TRIGGER service_areas_before_update BEFORE UPDATE ON service_areas
    FOR EACH ROW EXECUTE FUNCTION ucp_service_areas_before_update();

-- Directory number blocks: digit strings of one length, first <= last. Blocks of one call processor and
-- route partition ('' is Unified CM's <None> partition) never overlap, whatever service area holds them.
-- Numbers of different lengths are different numbers (1000 is not 10000), so only same-length blocks can
-- overlap, and for those text order is number order.
CREATE TABLE service_area_dn_blocks (
    id               bigserial PRIMARY KEY,
    service_area     bigint NOT NULL,
    -- The service area's call processor, copied so the overlap check needs no join; kept in step by the
    -- foreign key's ON UPDATE CASCADE (which runs the check again).
    call_processor   text NOT NULL,
    route_partition  text NOT NULL DEFAULT '',
    first_number     text NOT NULL CHECK (first_number ~ '^[0-9]{1,24}$'),
    last_number      text NOT NULL CHECK (last_number ~ '^[0-9]{1,24}$'),
    FOREIGN KEY (service_area, call_processor) REFERENCES service_areas (id, call_processor)
        ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT dn_block_same_length CHECK (length(first_number) = length(last_number)),
    CONSTRAINT dn_block_ordered CHECK (first_number <= last_number)
);
CREATE INDEX service_area_dn_blocks_area ON service_area_dn_blocks (service_area);
CREATE INDEX service_area_dn_blocks_range ON service_area_dn_blocks (call_processor, route_partition, first_number);

-- The checked insert: a lock per call processor and partition serializes writers of the same blocks,
-- so two transactions cannot each add one half of an overlap.
CREATE FUNCTION ucp_service_area_dn_blocks_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_other record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('service_area_dn_blocks'), hashtext(NEW.call_processor || '/' || NEW.route_partition));
    SELECT b.first_number, b.last_number, a.domain, a.name INTO v_other
      FROM service_area_dn_blocks b JOIN service_areas a ON a.id = b.service_area
     WHERE b.call_processor = NEW.call_processor AND b.route_partition = NEW.route_partition AND b.id <> NEW.id
       AND length(b.first_number) = length(NEW.first_number)
       AND b.first_number <= NEW.last_number AND NEW.first_number <= b.last_number
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'dn-block: %-% overlaps %-% of service area ''%'' (domain ''%'') on call processor ''%'' in partition %',
            NEW.first_number, NEW.last_number, v_other.first_number, v_other.last_number, v_other.name, v_other.domain,
            NEW.call_processor, CASE WHEN NEW.route_partition = '' THEN '<None>' ELSE '''' || NEW.route_partition || '''' END
            USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER service_area_dn_blocks_check BEFORE INSERT OR UPDATE ON service_area_dn_blocks
    FOR EACH ROW EXECUTE FUNCTION ucp_service_area_dn_blocks_check();

GRANT SELECT, INSERT, UPDATE, DELETE ON service_areas, service_area_dn_blocks TO ucp_app;
GRANT USAGE, SELECT ON SEQUENCE service_areas_id_seq, service_area_dn_blocks_id_seq TO ucp_app;
