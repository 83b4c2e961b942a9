import Postgres

/// Every statement that touches `domains` (migrations/006_domains.sql), by name. Values are
/// always bound parameters.
enum DomainSQL {
    /// A domain row with its directory's server type and the array and JSON columns as JSON text.
    private static let select = """
        SELECT d.*, array_to_json(d.filter_conditions)::text AS filter_conditions_json,
               d.service_area_filters::text AS service_area_filters_json, d.user_role_filters::text AS user_role_filters_json,
               v.directory_type
          FROM domains d LEFT JOIN devices v ON v.name = d.directory
        """

    static let domainGet = Statement("domain_get", select + " WHERE d.name = $1")
    static let domainList = Statement("domain_list", select + " ORDER BY d.name")
    static let domainLock = Statement("domain_lock", "SELECT name FROM domains WHERE name = $1 FOR UPDATE")
    static let domainInsert = Statement("domain_insert", """
        INSERT INTO domains (name, directory, ldap_mode, update_policy, stale_user_action, search_base, sync_inactive_users,
                             user_id_attribute, phone_attribute, email_attribute, middle_name_attribute, directory_uri_attribute,
                             filter_kind, filter_match, filter_conditions, filter_advanced, service_area_filters,
                             user_role_filters, write_back_attribute, write_back_mask, delete_guard_count,
                             delete_guard_percent, sync_interval, sync_start_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7::boolean, $8, $9, $10, $11, $12, $13, $14, $15::text[], $16, $17::jsonb,
                $18::jsonb, $19, $20, $21::integer, $22::integer, $23, $24::timestamptz)
        """)
    static let domainUpdate = Statement("domain_update", """
        UPDATE domains SET directory = $2, ldap_mode = $3, update_policy = $4, stale_user_action = $5, search_base = $6,
                           sync_inactive_users = $7::boolean, user_id_attribute = $8, phone_attribute = $9,
                           email_attribute = $10, middle_name_attribute = $11, directory_uri_attribute = $12,
                           filter_kind = $13, filter_match = $14, filter_conditions = $15::text[], filter_advanced = $16,
                           service_area_filters = $17::jsonb, user_role_filters = $18::jsonb, write_back_attribute = $19,
                           write_back_mask = $20, delete_guard_count = $21::integer, delete_guard_percent = $22::integer,
                           sync_interval = $23, sync_start_at = $24::timestamptz
         WHERE name = $1
        """)
    static let domainDelete = Statement("domain_delete", "DELETE FROM domains WHERE name = $1")
    static let domainUserCount = Statement("domain_user_count", "SELECT count(*)::bigint AS n FROM users WHERE domain = $1")
    /// The directory a domain names, locked so it cannot go away or change type before the commit.
    static let directoryGet = Statement("domain_directory_get", """
        SELECT kind, directory_type FROM devices WHERE name = $1 FOR SHARE
        """)

    // MARK: the domains' own LDAP sync firing (Schedules' DomainSyncFiring)

    /// Domains that synchronize from a directory on their own interval. A start date left empty counts
    /// from when the domain was created.
    static let domainListSyncScheduled = Statement("domain_firing_domains", """
        SELECT name, sync_interval, coalesce(sync_start_at, created_at) AS start_at,
               ldap_sync_last_fired_at, ldap_sync_last_fired_at::text AS last_fired_text
          FROM domains
         WHERE directory IS NOT NULL AND ldap_mode = 'authentication_and_synchronization' AND sync_interval IS NOT NULL
         ORDER BY name
        """)
    /// Fires only when nobody fired the domain since we read it (compared as stored text: exact).
    static let domainSyncFiredMark = Statement("domain_firing_mark", """
        UPDATE domains SET ldap_sync_last_fired_at = $2::timestamptz
         WHERE name = $1 AND ldap_sync_last_fired_at IS NOT DISTINCT FROM $3::timestamptz
        RETURNING name
        """)
}

/// The statements of `domain_rules` (migrations/016_domain_sync.sql).
enum DomainRuleSQL {
    static let rulesGet = Statement("domain_rules_get", "SELECT rule, array_to_json(vals)::text AS vals_json FROM domain_rules WHERE domain = $1")
    static let rulesDelete = Statement("domain_rules_delete", "DELETE FROM domain_rules WHERE domain = $1")
    static let rulesInsert = Statement("domain_rules_insert", """
        INSERT INTO domain_rules (domain, rule, vals)
        SELECT $1, r.rule, ARRAY(SELECT json_array_elements_text(r.vals::json))
          FROM unnest($2::text[], $3::text[]) AS r(rule, vals)
        """)
}
