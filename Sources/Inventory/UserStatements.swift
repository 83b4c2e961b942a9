import Postgres

/// Every statement of `ucp users` on `users` and `sync_logs` (migrations/007_directory_users.sql), by name.
enum UserSQL {
    /// User identity is case-insensitive: the exact spelling first, else the one user of that identity.
    static let userGet = Statement("user_get", """
        SELECT * FROM users WHERE user_id = $1 OR (lower(user_id) = lower($1) AND NOT case_clash)
         ORDER BY user_id = $1 DESC LIMIT 1
        """)
    /// The user `userGet` finds for each user ID of $1, as `wanted` (one statement for a chunk of them).
    static let usersGet = Statement("users_get", """
        SELECT DISTINCT ON (w.id) w.id AS wanted, u.* FROM unnest($1::text[]) AS w(id)
          JOIN users u ON u.user_id = w.id OR (lower(u.user_id) = lower(w.id) AND NOT u.case_clash)
         ORDER BY w.id, u.user_id = w.id DESC
        """)
    /// A domain's users in user ID order after user $2 (from the first when NULL), at most $3 (all when NULL).
    static let userList = Statement("user_list", """
        SELECT * FROM users WHERE domain = $1 AND ($2::text IS NULL OR user_id > $2) ORDER BY user_id LIMIT $3
        """)
    static let userOpenOrders = Statement("user_open_orders", """
        SELECT id, action, state, created_at, order_id, message FROM user_delete_orders WHERE user_id = $1 ORDER BY id
        """)
    static let syncLogGet = Statement("sync_log_get", """
        SELECT job_id, started_at, finished_at, outcome FROM sync_logs WHERE sync_type = $1 AND target = $2
        """)
    static let syncLogLines = Statement("sync_log_lines_get", """
        SELECT line FROM sync_log_lines WHERE sync_type = $1 AND target = $2 ORDER BY line_no
        """)

    // `ucp user add|edit|move` (migrations/027: placement).

    /// A user made by an operator. $1 user id, $2 domain, $3… the field columns of `UserDraft.columns`.
    /// Nothing when the identity (case-insensitive) is taken.
    static let userAdd = Statement("user_add", """
        INSERT INTO users (user_id, domain, source, first_name, middle_name, last_name, email, phone, department, title, manager_id)
        VALUES ($1, $2, 'manual', $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT DO NOTHING
        RETURNING user_id
        """)
    /// Any user of that identity, whatever the case (a case clash included).
    static let userIdentityTaken = Statement("user_identity_taken", """
        SELECT user_id, domain FROM users WHERE lower(user_id) = lower($1) ORDER BY user_id LIMIT 1
        """)
    /// The editable fields of a manual user, written whole. $1 user id, $2… as in userAdd.
    static let userEdit = Statement("user_edit", """
        UPDATE users SET first_name = $2, middle_name = $3, last_name = $4, email = $5, phone = $6, department = $7, title = $8,
                         manager_id = $9
         WHERE user_id = $1 AND source = 'manual'
        RETURNING user_id
        """)
    /// The user's placement. $1 user id, $2 service area (NULL: domain level).
    static let userPlace = Statement("user_place", """
        UPDATE users SET service_area = $2 WHERE user_id = $1 RETURNING user_id
        """)
    /// The user row, locked for a change.
    static let userLock = Statement("user_lock", "SELECT * FROM users WHERE user_id = $1 FOR UPDATE")
}
