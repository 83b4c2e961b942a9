-- `ucp order list --state S` (and GET /api/v1/orders?state=S) reads the newest orders in one state.
-- Without an index it walked `orders` newest first until it had its page: with a long history and
-- few orders in that state (failed, needs attention) that was the whole table. Orders change state a
-- few times in their life, and a state change already updates the table's indexes (the open-number
-- and open-phone indexes are partial on the state), so this one adds one entry to each of those writes.
CREATE INDEX orders_state ON orders (state, id);
