-- `ucp alerts retry` puts failed alerts back in the outbox. The sender gives a message up once it is
-- older than its age limit; a requeued message counts its age from the requeueing (else it would
-- fail again after one try), while created_at keeps when it was first queued.
ALTER TABLE alerts ADD COLUMN requeued_at timestamptz;
