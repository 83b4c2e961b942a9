-- A step whose undo failed (a rollback's, or a cancel order's own step) is marked as such: a later
-- rollback tries that undo again, where a step whose forward write failed is judged by what it may
-- have written. It used to be told by its error's text ("undo failed: …"), which nothing should
-- decide on; the text stays the message.
ALTER TABLE order_steps ADD COLUMN undo_failed boolean NOT NULL DEFAULT false;
UPDATE order_steps SET undo_failed = true WHERE state = 'failed' AND error LIKE 'undo failed: %';
