import Postgres

/// Every statement that touches `service_areas` and `service_area_dn_blocks`
/// (migrations/016_service_areas.sql), by name. Values are always bound parameters.
enum ServiceAreaSQL {
    /// A service area row with its partitions and DN blocks as JSON text.
    private static let select = """
        SELECT a.*, array_to_json(a.route_partitions)::text AS route_partitions_json,
               (SELECT coalesce(json_agg(json_build_array(b.first_number, b.last_number, b.route_partition)
                                         ORDER BY b.route_partition, length(b.first_number), b.first_number), '[]')::text
                  FROM service_area_dn_blocks b WHERE b.service_area = a.id) AS dn_blocks_json
          FROM service_areas a
        """

    static let serviceAreaGet = Statement("service_area_get", select + " WHERE a.domain = $1 AND lower(a.name) = lower($2)")
    static let serviceAreaLock = Statement("service_area_lock", """
        SELECT id FROM service_areas WHERE domain = $1 AND lower(name) = lower($2) FOR UPDATE
        """)
    static let serviceAreaList = Statement("service_area_list", select + """
         WHERE $1::text IS NULL OR a.domain = $1 ORDER BY a.domain, lower(a.name)
        """)
    static let serviceAreaInsert = Statement("service_area_insert", """
        INSERT INTO service_areas (domain, name, call_processor, message_processor, device_pool, location, route_partitions,
                                   device_css, line_css, external_mask, voicemail_profile, subscriber_template, class_of_service)
        VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9, $10, $11, $12, $13)
        RETURNING id
        """)
    static let serviceAreaUpdate = Statement("service_area_update", """
        UPDATE service_areas SET call_processor = $3, message_processor = $4, device_pool = $5, location = $6,
                                 route_partitions = $7::text[], device_css = $8, line_css = $9, external_mask = $10,
                                 voicemail_profile = $11, subscriber_template = $12, class_of_service = $13
         WHERE domain = $1 AND name = $2
        """)
    static let serviceAreaDelete = Statement("service_area_delete", "DELETE FROM service_areas WHERE id = $1::bigint")
    static let dnBlocksDelete = Statement("service_area_dn_blocks_delete", """
        DELETE FROM service_area_dn_blocks WHERE service_area = $1::bigint
        """)
    /// The overlap rule is the table's trigger (ucp_service_area_dn_blocks_check); its message is the refusal.
    static let dnBlockInsert = Statement("service_area_dn_block_insert", """
        INSERT INTO service_area_dn_blocks (service_area, call_processor, route_partition, first_number, last_number)
        VALUES ($1::bigint, $2, $3, $4, $5)
        """)

    /// The domain a service area belongs to, held until the commit so it cannot be removed meanwhile.
    static let domainShare = Statement("service_area_domain_share", "SELECT name FROM domains WHERE name = $1 FOR SHARE")
    /// A device a service area names, held until the commit so it cannot go away or change kind.
    static let deviceShare = Statement("service_area_device_share", "SELECT kind FROM devices WHERE name = $1 FOR SHARE")
    /// An object the infrastructure synchronization read from a device, as the device spells its name.
    static let infraObjectFind = Statement("service_area_infra_object_find", """
        SELECT object_key FROM device_objects
         WHERE device = $1 AND sync_kind = 'infra' AND object_type = $2 AND lower(object_key) = lower($3) AND removed_at IS NULL
         ORDER BY object_key = $3 DESC LIMIT 1
        """)
    /// The service areas that name a device, for the device registry's refusals.
    static let serviceAreasUsingDevice = Statement("service_areas_using_device", """
        SELECT domain, name FROM service_areas WHERE call_processor = $1 OR message_processor = $1 ORDER BY domain, lower(name)
        """)
    static let domainServiceAreaCount = Statement("service_area_count_of_domain", """
        SELECT count(*)::bigint AS n FROM service_areas WHERE domain = $1
        """)
}
