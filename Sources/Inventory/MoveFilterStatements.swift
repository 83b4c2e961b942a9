import Postgres

/// Every statement of the move filters and automatic moves (migrations/033_move_filters.sql), by name.
enum MoveFilterSQL {
    static let filterList = Statement("move_filter_list", """
        SELECT name, position, attribute, pattern, service_area FROM move_filters WHERE domain = $1 ORDER BY position
        """)
    /// $1 domain, $2 name, $3 position, $4 attribute, $5 pattern, $6 service area. Nothing when the name is taken.
    static let filterInsert = Statement("move_filter_insert", """
        INSERT INTO move_filters (domain, name, position, attribute, pattern, service_area) VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (domain, name) DO NOTHING RETURNING name
        """)
    static let filterDelete = Statement("move_filter_delete", "DELETE FROM move_filters WHERE domain = $1 AND name = $2 RETURNING name")
    /// The domain's filters numbered in the order of $2 (names): the positions' unique check is deferred.
    static let filterRenumber = Statement("move_filter_renumber", """
        UPDATE move_filters f SET position = t.n FROM unnest($2::text[]) WITH ORDINALITY AS t(name, n)
         WHERE f.domain = $1 AND f.name = t.name AND f.position <> t.n
        """)
    static let automaticMoveGet = Statement("move_filter_automatic_get", "SELECT automatic_move FROM domains WHERE name = $1")
    /// The flag changed; nothing when it already was $2.
    static let automaticMoveSet = Statement("move_filter_automatic_set", """
        UPDATE domains SET automatic_move = $2 WHERE name = $1 AND automatic_move <> $2 RETURNING name
        """)
    /// A domain's users not placed yet ($2: only that user, placed or not), with what the filters
    /// test beyond the user's own fields: the device pools (phones and remote destination profiles)
    /// and locations (phones) of its services' objects, and the service areas its services are in.
    /// Keyset pages: user IDs after $3 (nil: from the first), at most $4 (nil: all), in user ID order;
    /// each user's services are gathered for the users of the page only.
    static let candidates = Statement("move_filter_candidates", """
        SELECT u.*, svc.device_pools_json, svc.locations_json, svc.services, svc.service_areas_json
          FROM users u
         CROSS JOIN LATERAL (
            SELECT to_jsonb(coalesce(array_agg(DISTINCT o.attributes->>'devicePoolName')
                       FILTER (WHERE s.service_type IN ('phone', 'remote_destination_profile') AND o.attributes->>'devicePoolName' <> ''),
                       '{}'))::text AS device_pools_json,
                   to_jsonb(coalesce(array_agg(DISTINCT o.attributes->>'locationName')
                       FILTER (WHERE s.service_type = 'phone' AND o.attributes->>'locationName' <> ''), '{}'))::text AS locations_json,
                   count(s.user_id)::bigint AS services,
                   to_jsonb(coalesce(array_agg(DISTINCT coalesce(s.service_area, '')), '{}'))::text AS service_areas_json
              FROM user_services s
              LEFT JOIN device_objects o ON o.device = s.device AND o.sync_kind = s.sync_kind AND o.object_type = s.object_type
                                        AND o.object_key = s.object_key
             WHERE s.user_id = u.user_id) svc
         WHERE u.domain = $1 AND NOT u.case_clash
           AND (CASE WHEN $2::text IS NULL THEN u.service_area IS NULL ELSE u.user_id = $2 END)
           AND u.user_id > coalesce($3::text, '')
         ORDER BY u.user_id
         LIMIT $4::bigint
        """)
    /// Places the users $2 of domain $1 in area $3, each only while still unplaced.
    static let place = Statement("move_filter_place", """
        UPDATE users SET service_area = $3 WHERE domain = $1 AND user_id = ANY ($2::text[]) AND service_area IS NULL RETURNING user_id
        """)
}
