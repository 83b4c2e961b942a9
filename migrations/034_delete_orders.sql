-- Delete orders of the LDAP synchronization (issue 15 item 6; seed 004's stale-user actions "Delete
-- user, but keep services" and "Delete user and all services from Provisioning and CUCM"). The
-- request the sync queues (user_delete_orders, owned by Inventory) stays the link: a planning job
-- makes it a real order of the engine (kind delete, owned by Orders) and records its id here; the
-- order's end is copied back (state, message, finished_at), and the next LDAP sync's report reads it.

ALTER TABLE user_delete_orders ADD COLUMN order_id bigint;
CREATE UNIQUE INDEX user_delete_orders_order ON user_delete_orders (order_id) WHERE order_id IS NOT NULL;

-- delete: a stale user's delete order (its services removed from the devices, then the user record).
ALTER TABLE orders DROP CONSTRAINT orders_kind_check;
ALTER TABLE orders ADD CONSTRAINT orders_kind_check CHECK (kind IN ('add', 'cancel', 'change', 'push', 'delete'));
