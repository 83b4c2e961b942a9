import Postgres

/// Every statement that touches `service_areas`, its partitions and DN blocks
/// (migrations/016_domain_sync.sql), by name. Values are always bound parameters.
enum ServiceAreaSQL {
    /// An area with its partitions and blocks as JSON text, and how many services are placed in it.
    private static let select = """
        SELECT a.*,
               coalesce((SELECT json_agg(p.partition ORDER BY p.position) FROM service_area_partitions p
                          WHERE p.domain = a.domain AND p.service_area = a.name), '[]')::text AS partitions_json,
               coalesce((SELECT json_agg(json_build_object('partition', b.partition, 'first', b.first_number, 'last', b.last_number)
                                         ORDER BY b.partition, length(b.first_number), b.first_number)
                           FROM service_area_dn_blocks b WHERE b.domain = a.domain AND b.service_area = a.name), '[]')::text AS blocks_json,
               (SELECT count(*) FROM user_services s WHERE s.domain = a.domain AND s.service_area = a.name)::bigint AS placed_services
          FROM service_areas a
        """

    static let serviceAreaGet = Statement("service_area_get", select + " WHERE a.domain = $1 AND a.name = $2")
    /// `$1` NULL: every domain's.
    static let serviceAreaList = Statement("service_area_list", select + " WHERE $1::text IS NULL OR a.domain = $1 ORDER BY a.domain, a.name")
    static let serviceAreaLock = Statement("service_area_lock", "SELECT name FROM service_areas WHERE domain = $1 AND name = $2 FOR UPDATE")
    static let serviceAreaInsert = Statement("service_area_insert", """
        INSERT INTO service_areas (domain, name, call_processor, message_processor, device_pool, location, device_css, line_css,
                                   external_mask, voicemail_profile, unity_template, unity_cos)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        """)
    static let serviceAreaUpdate = Statement("service_area_update", """
        UPDATE service_areas SET call_processor = $3, message_processor = $4, device_pool = $5, location = $6, device_css = $7,
                                 line_css = $8, external_mask = $9, voicemail_profile = $10, unity_template = $11, unity_cos = $12
         WHERE domain = $1 AND name = $2
        """)
    static let serviceAreaDelete = Statement("service_area_delete", "DELETE FROM service_areas WHERE domain = $1 AND name = $2")
    static let partitionsDelete = Statement("service_area_partitions_delete",
                                            "DELETE FROM service_area_partitions WHERE domain = $1 AND service_area = $2")
    static let partitionsInsert = Statement("service_area_partitions_insert", """
        INSERT INTO service_area_partitions (domain, service_area, position, partition)
        SELECT $1, $2, (p.n - 1)::integer, p.partition FROM unnest($3::text[]) WITH ORDINALITY AS p(partition, n)
        """)
    static let blocksDelete = Statement("service_area_blocks_delete",
                                        "DELETE FROM service_area_dn_blocks WHERE domain = $1 AND service_area = $2")
    static let blocksInsert = Statement("service_area_blocks_insert", """
        INSERT INTO service_area_dn_blocks (domain, service_area, partition, first_number, last_number)
        SELECT $1, $2, b.partition, b.first_number, b.last_number
          FROM unnest($3::text[], $4::text[], $5::text[]) AS b(partition, first_number, last_number)
        """)
    /// Blocks are checked against each other under this lock, so two writers cannot both pass the check.
    static let blocksLock = Statement("service_area_blocks_lock", "LOCK TABLE service_area_dn_blocks IN SHARE ROW EXCLUSIVE MODE")
    /// The first block of another area on call processor `$3` that overlaps `$5`-`$6` in partition `$4`.
    static let blockOverlap = Statement("service_area_block_overlap", """
        SELECT b.domain, b.service_area, b.partition, b.first_number, b.last_number
          FROM service_area_dn_blocks b JOIN service_areas a ON a.domain = b.domain AND a.name = b.service_area
         WHERE a.call_processor = $3 AND b.partition = $4 AND length(b.first_number) = length($5::text)
           AND b.first_number <= $6 AND b.last_number >= $5 AND NOT (b.domain = $1 AND b.service_area = $2)
         ORDER BY b.domain, b.service_area, b.first_number
         LIMIT 1
        """)
    /// The kind of a device, locked so it cannot go away or change kind before the commit.
    static let deviceKind = Statement("service_area_device_kind", "SELECT kind FROM devices WHERE name = $1 FOR SHARE")
    static let domainLock = Statement("service_area_domain_lock", "SELECT name FROM domains WHERE name = $1 FOR SHARE")
    /// Whether an infrastructure synchronization of device `$1` stored anything.
    static let infraRead = Statement("service_area_infra_read", """
        SELECT EXISTS (SELECT 1 FROM device_objects WHERE device = $1 AND sync_kind = 'infra') AS read
        """)
    /// Which of the (type, name) pairs `$2`, `$3` the infrastructure synchronization of `$1` did not read
    /// (or marked removed), in the order given.
    static let objectsMissing = Statement("service_area_objects_missing", """
        SELECT w.n::integer AS n FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS w(object_type, object_key, n)
         WHERE NOT EXISTS (SELECT 1 FROM device_objects o
                            WHERE o.device = $1 AND o.sync_kind = 'infra' AND o.object_type = w.object_type
                              AND o.object_key = w.object_key AND o.removed_at IS NULL)
         ORDER BY w.n
        """)
}
