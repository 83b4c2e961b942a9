import Postgres

/// Every statement of `ucp users` on `users` and `sync_logs` (migrations/007_directory_users.sql), by name.
enum UserSQL {
    /// User identity is case-insensitive: the exact spelling first, else the one user of that identity.
    static let userGet = Statement("user_get", """
        SELECT * FROM users WHERE user_id = $1 OR (lower(user_id) = lower($1) AND NOT case_clash)
         ORDER BY user_id = $1 DESC LIMIT 1
        """)
    static let userList = Statement("user_list", "SELECT * FROM users WHERE domain = $1 ORDER BY user_id")
    static let userOpenOrders = Statement("user_open_orders", """
        SELECT id, action, state, created_at FROM user_delete_orders WHERE user_id = $1 ORDER BY id
        """)
    static let syncLogGet = Statement("sync_log_get", """
        SELECT job_id, started_at, finished_at, outcome FROM sync_logs WHERE sync_type = $1 AND target = $2
        """)
    static let syncLogLines = Statement("sync_log_lines_get", """
        SELECT line FROM sync_log_lines WHERE sync_type = $1 AND target = $2 ORDER BY line_no
        """)
}
