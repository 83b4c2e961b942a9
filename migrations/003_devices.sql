-- The device registry (issue 3, item 1): the Unified CM, Unity Connection and IM and Presence
-- systems UCProvision synchronizes. Passwords are stored only as sealed tokens (AES-256-GCM, the
-- `v1:` format of Sources/Secrets/SecretBox.swift); the key never reaches the database.
-- Validation with operator-facing messages lives in Sources/Inventory/DeviceValidation.swift; the
-- constraints here are the backstop for anything that bypasses it.

CREATE TABLE devices (
    name              text PRIMARY KEY
                      CHECK (name ~ '^[A-Za-z0-9 _.@-]{1,100}$' AND btrim(name) <> ''),
    -- call_processor: Unified CM; message_processor: Unity Connection; presence_processor: IM and Presence.
    kind              text NOT NULL CHECK (kind IN ('call_processor', 'message_processor', 'presence_processor')),
    -- For call processors, the Unified CM version (e.g. 12.5).
    version           text,
    address           text NOT NULL CHECK (address <> ''),
    port              integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    backup_address    text,
    backup_port       integer CHECK (backup_port BETWEEN 1 AND 65535),
    admin_user        text NOT NULL CHECK (admin_user <> ''),
    sealed_password   text CHECK (sealed_password LIKE 'v1:%'),
    axl_version       text NOT NULL DEFAULT '12.5'
                      CHECK (axl_version IN ('10.0', '10.5', '11.0', '11.5', '12.0', '12.5')),
    verify_tls        boolean NOT NULL DEFAULT true,
    ca_file           text,
    last_test_state   text NOT NULL DEFAULT 'never'
                      CHECK (last_test_state IN ('never', 'in_progress', 'success', 'failure')),
    last_test_message text,
    last_tested_at    timestamptz,
    -- Set by the first infrastructure or user synchronization; from then on the kind is fixed (seed 004:
    -- "After a Call Processor or Unified Message Processor is synchronized, do not change the type of device").
    first_synced_at   timestamptz,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT backup_address_and_port_together CHECK ((backup_address IS NULL) = (backup_port IS NULL))
);

-- Refuses a change of kind once the device has been synchronized, and keeps updated_at current.
CREATE FUNCTION ucp_devices_before_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.first_synced_at IS NOT NULL AND NEW.kind IS DISTINCT FROM OLD.kind THEN
        RAISE EXCEPTION 'kind: cannot change after the device''s first synchronization (seed)';
    END IF;
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$;
CREATE TRIGGER devices_before_update BEFORE UPDATE ON devices
    FOR EACH ROW EXECUTE FUNCTION ucp_devices_before_update();

GRANT SELECT, INSERT, UPDATE, DELETE ON devices TO ucp_app;
