-- The automatic move at the end of a synchronization reads a domain's users not placed yet in keyset
-- pages (user ID order, a chunk at a time). Without this index each page read every user of the
-- domain and sorted them. Placing a user already updates an index on `service_area` (027), so the
-- placement writes one more entry at most.
CREATE INDEX users_unplaced ON users (domain, user_id) WHERE service_area IS NULL;
