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
    /// One user of domain $1, $2 (placed or not), as the filters see it (`candidateSelect`).
    static let candidate = Statement("move_filter_candidate", candidateSelect(where: "u.user_id = $2"))
    /// One keyset page of the domain's ($1) users not placed yet: user IDs after $2 (nil: from the
    /// first), at most $3, in user ID order, as the filters see them. `service_area IS NULL` is
    /// written out (not behind a parameter) so that every plan, the generic one too, walks the
    /// partial index of the unplaced users (migration 045) instead of passing every placed user.
    static let candidatePage = Statement("move_filter_candidate_page", candidateSelect(where: """
        u.service_area IS NULL AND u.user_id > coalesce($2::text, '')
         ORDER BY u.user_id
         LIMIT $3::bigint
        """))

    /// The domain's ($1) users meeting `condition` (and what follows it: order, limit), with what the
    /// filters test beyond the user's own fields: the device pools (phones and remote destination
    /// profiles) and locations (phones) of its services' objects, and the service areas its services
    /// are in; each user's services are gathered for the users read only. `condition` is one of the
    /// constant texts above, never input.
    private static func candidateSelect(where condition: String) -> String {
        """
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
         WHERE u.domain = $1 AND NOT u.case_clash AND \(condition)
        """
    }

    /// Places the users $2 of domain $1 in area $3, each only while still unplaced.
    static let place = Statement("move_filter_place", """
        UPDATE users SET service_area = $3 WHERE domain = $1 AND user_id = ANY ($2::text[]) AND service_area IS NULL RETURNING user_id
        """)
}
