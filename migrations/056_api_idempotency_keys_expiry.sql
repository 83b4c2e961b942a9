-- An idempotency key's answer is kept for a day (IdempotencyStore.retentionHours); the expired ones
-- are deleted each time an answer is recorded, found by this index rather than a scan of the day's keys.
CREATE INDEX api_idempotency_keys_created_at ON api_idempotency_keys (created_at);
