import Postgres

/// Every statement of the user roles and automatic provisioning (migrations/035_user_roles.sql), by name.
enum UserRoleSQL {
    static let roleList = Statement("user_role_list", """
        SELECT r.*, (d.default_role = r.name) AS is_default
          FROM user_roles r JOIN domains d ON d.name = r.domain
         WHERE r.domain = $1 ORDER BY r.name
        """)
    /// $1 domain, $2 name, $3 phone model, $4 voicemail, $5 extension mobility, $6 IM&P service profile.
    /// Nothing when the name is taken.
    static let roleInsert = Statement("user_role_insert", """
        INSERT INTO user_roles (domain, name, phone_model, voicemail, extension_mobility, im_presence)
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (domain, name) DO NOTHING RETURNING name
        """)
    /// The role's services replaced; nothing when there is no such role or nothing changed.
    static let roleUpdate = Statement("user_role_update", """
        UPDATE user_roles SET phone_model = $3, voicemail = $4, extension_mobility = $5, im_presence = $6, updated_at = clock_timestamp()
         WHERE domain = $1 AND name = $2
           AND (phone_model, voicemail, extension_mobility, coalesce(im_presence, '')) IS DISTINCT FROM ($3, $4, $5, coalesce($6, ''))
        RETURNING name
        """)
    static let roleDelete = Statement("user_role_delete", "DELETE FROM user_roles WHERE domain = $1 AND name = $2 RETURNING name")
    static let provisioningGet = Statement("user_role_provisioning_get", """
        SELECT automatic_provisioning, default_role, (SELECT count(*) FROM user_roles r WHERE r.domain = d.name)::bigint AS roles
          FROM domains d WHERE name = $1
        """)
    /// $2 the switch, $3 the default role; the row when anything changed.
    static let provisioningSet = Statement("user_role_provisioning_set", """
        UPDATE domains SET automatic_provisioning = $2, default_role = $3
         WHERE name = $1 AND (automatic_provisioning, coalesce(default_role, '')) IS DISTINCT FROM ($2, coalesce($3, ''))
        RETURNING name
        """)
    /// The user's order is submitted: it no longer awaits automatic provisioning.
    static let provisioned = Statement("user_role_provisioned", """
        UPDATE users SET provisioning_pending = false WHERE lower(user_id) = lower($1) AND NOT case_clash AND provisioning_pending
        """)
}
