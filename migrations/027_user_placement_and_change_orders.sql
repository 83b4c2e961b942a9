-- User placement and the orders of `ucp user move|push` (issue 14 items 3 and 5; seed 000 steps 2-4;
-- orders-brief §A.3). Users are owned by Sources/Inventory, orders by Sources/Orders.

-- The service area a user is placed in (NULL: at domain level, not placed yet). A user without
-- services moves by changing this alone; one with services moves by a change order that sets it
-- when it succeeds. Removing an area unplaces its users (their services keep it from being removed).
ALTER TABLE users ADD COLUMN service_area text;
ALTER TABLE users ADD CONSTRAINT users_service_area_fkey
    FOREIGN KEY (domain, service_area) REFERENCES service_areas (domain, name) ON DELETE SET NULL (service_area);
CREATE INDEX users_service_area ON users (domain, service_area) WHERE service_area IS NOT NULL;

-- change: a move of a user with services re-applies the new area's settings to its phone and line;
-- push: the user pushed to Unified CM (added, or an existing one adopted), with its credential policy.
ALTER TABLE orders DROP CONSTRAINT orders_kind_check;
ALTER TABLE orders ADD CONSTRAINT orders_kind_check CHECK (kind IN ('add', 'cancel', 'change', 'push'));
