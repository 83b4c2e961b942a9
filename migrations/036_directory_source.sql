-- Directory search source (issue 15 item 10; seed 004 "Configuring Directory Search Synchronization
-- Source"). The setting itself is a row of `settings` (key directory_source: "ldap", the default, or
-- "call_processor" — UDS). What the infrastructure synchronization read of a call processor's LDAP
-- integration (AXL getLdapSystem syncEnabled) is kept on the device: true, false, or NULL (never read,
-- or the read failed). Enabling UDS is refused while any call processor is LDAP-integrated.
ALTER TABLE devices ADD COLUMN ldap_integrated boolean;
ALTER TABLE devices ADD COLUMN ldap_integration_read_at timestamptz;

-- directory: an order that copies a provisioned user to another Unified CM of version 10 or later
-- (addUser homeCluster false; true on its home cluster), or removes such a copy when the user left its
-- home cluster. The kinds are taken from the constraint as it stands (another migration may have
-- added some) and 'directory' added.
DO $$
DECLARE
    definition text;
BEGIN
    SELECT pg_get_constraintdef(oid) INTO definition FROM pg_constraint
     WHERE conname = 'orders_kind_check' AND conrelid = 'orders'::regclass;
    IF definition IS NULL OR position('''directory''' IN definition) > 0 THEN
        RETURN;
    END IF;
    ALTER TABLE orders DROP CONSTRAINT orders_kind_check;
    EXECUTE 'ALTER TABLE orders ADD CONSTRAINT orders_kind_check '
         || replace(definition, 'ARRAY[', 'ARRAY[''directory''::text, ');
END
$$;
