import Postgres

/// Every statement that touches `devices` (migrations/003_devices.sql), by name. Values are
/// always bound parameters.
enum DeviceSQL {
    static let deviceInsert = Statement("device_insert", """
        INSERT INTO devices (name, kind, version, address, port, backup_address, backup_port, admin_user,
                             sealed_password, axl_version, verify_tls, ca_file, directory_type, ldap_security,
                             max_writes_in_flight)
        VALUES ($1, $2, $3, $4, $5::integer, $6, $7::integer, $8, $9, $10, $11::boolean, $12, $13, $14, $15::integer)
        RETURNING *
        """)
    static let deviceGet = Statement("device_get", "SELECT * FROM devices WHERE name = $1")
    static let deviceGetForUpdate = Statement("device_get_for_update", "SELECT * FROM devices WHERE name = $1 FOR UPDATE")
    static let deviceList = Statement("device_list", "SELECT * FROM devices ORDER BY name")
    /// `$9` is a new sealed password, or NULL to keep the stored one.
    static let deviceUpdate = Statement("device_update", """
        UPDATE devices SET kind = $2, version = $3, address = $4, port = $5::integer, backup_address = $6,
                           backup_port = $7::integer, admin_user = $8, sealed_password = coalesce($9, sealed_password),
                           axl_version = $10, verify_tls = $11::boolean, ca_file = $12,
                           directory_type = $13, ldap_security = $14, max_writes_in_flight = $15::integer
         WHERE name = $1
        RETURNING *
        """)
    static let deviceDelete = Statement("device_delete", "DELETE FROM devices WHERE name = $1")
    static let devicePassword = Statement("device_password", "SELECT sealed_password FROM devices WHERE name = $1")
    /// The devices named in $1 with their sealed passwords (`*` holds it), in one read.
    static let devicesGetSealed = Statement("devices_get_sealed", "SELECT * FROM devices WHERE name = ANY($1::text[])")
    static let deviceMarkSynchronized = Statement("device_mark_synchronized", """
        UPDATE devices SET first_synced_at = coalesce(first_synced_at, $2::timestamptz, clock_timestamp())
         WHERE name = $1
        RETURNING *
        """)
    static let deviceTestRecord = Statement("device_test_record", """
        UPDATE devices SET last_test_state = $2, last_test_message = $3, last_tested_at = clock_timestamp()
         WHERE name = $1
        RETURNING *
        """)
    static let domainsUsingDirectory = Statement("device_domains_using_directory", """
        SELECT name FROM domains WHERE directory = $1 ORDER BY name
        """)
}
