import Postgres

/// The statements of `order_write_backs` (migrations/032_write_back.sql): what an order's write-back
/// of the primary number to LDAP did.
enum WriteBackOrderSQL {
    /// $1 order, $2 outcome, $3 attribute, $4 value, $5 entry DN, $6 message; a later attempt replaces it.
    static let record = Statement("order_write_back_record", """
        INSERT INTO order_write_backs (order_id, outcome, attribute, value, entry_dn, message)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (order_id) DO UPDATE
           SET outcome = excluded.outcome, attribute = excluded.attribute, value = excluded.value,
               entry_dn = excluded.entry_dn, message = excluded.message, at = clock_timestamp()
        """)
    static let get = Statement("order_write_back_get", """
        SELECT outcome, attribute, value, entry_dn, message, at FROM order_write_backs WHERE order_id = $1
        """)
}
