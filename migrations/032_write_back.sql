-- Write primary directory number to LDAP (issue 15 item 5; seed 004 "Write Primary DN to LDAP";
-- orders-brief §B.7). The domain's settings (write_back_attribute, write_back_mask) are migration
-- 006's. This adds what an order's write-back did: Line and User Services orders write the user's
-- primary number (after the mask) to the user's entry as their last action; a write that did not
-- happen is recorded here with the seed's reason and does not fail the order. Owned by Sources/Orders
-- (WriteBackStatements.swift). The whole-domain write-back is a job (`writeback.domain`, kind sync)
-- whose detailed log is the domain's `sync_logs` row of type 'writeback'.

CREATE TABLE order_write_backs (
    order_id   bigint PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    -- written; or why not: unreachable (server unreachable or wrong credentials), permission (the
    -- admin DN may not write), do_not_write (the domain's attribute), no_primary_number,
    -- not_ldap_user (the user has no directory entry), failed (another LDAP error).
    outcome    text NOT NULL CHECK (outcome IN ('written', 'unreachable', 'permission', 'do_not_write',
                                                'no_primary_number', 'not_ldap_user', 'failed')),
    attribute  text,
    value      text,
    entry_dn   text,
    -- One line for the operator: what was written, or the seed's reason and the directory's answer.
    message    text NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);

GRANT SELECT, INSERT, UPDATE, DELETE ON order_write_backs TO ucp_app;
