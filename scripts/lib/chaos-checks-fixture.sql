-- A made-up history with one breach of every kind, for scripts/chaos.sh to run its checks on
-- first (in a database of its own): checks that cannot fail would prove nothing. The ids the
-- "submitters" recorded are 1 and 99 (99 vanished). Expected: scripts/chaos.sh (FIXTURE_EXPECTED).

-- 1: an order whose completion was recorded for two attempts
INSERT INTO jobs (id, kind, type, state, attempt, started_at, finished_at) VALUES
 (1, 'order', 'noop', 'succeeded', 2, '2026-01-01 10:00:20', '2026-01-01 10:00:21');
INSERT INTO job_logs (job_id, attempt, at, level, message) VALUES
 (1, 1, '2026-01-01 10:00:01', 'info', 'noop finished'), (1, 2, '2026-01-01 10:00:21', 'info', 'noop finished');
-- 2 and 3: device syncs whose running intervals intersect; 4: an order step inside sync 2
INSERT INTO jobs (id, kind, type, target, state, attempt, started_at, finished_at) VALUES
 (2, 'device_sync', 'sync.infra', 'a', 'succeeded', 1, '2026-01-01 11:00:00', '2026-01-01 11:00:10'),
 (3, 'device_sync', 'sync.user', 'b', 'succeeded', 1, '2026-01-01 11:00:05', '2026-01-01 11:00:15'),
 (4, 'order', 'noop', NULL, 'succeeded', 1, '2026-01-01 12:00:00', '2026-01-01 12:00:01');
INSERT INTO audit_log (at, actor, action, job_id, target, message) VALUES
 ('2026-01-01 11:00:00', 'w', 'sync.started', 2, 'a', 'Synchronization sync.infra of a started (attempt 1)'),
 ('2026-01-01 11:00:05', 'w', 'sync.started', 3, 'b', 'Synchronization sync.user of b started (attempt 1)'),
 ('2026-01-01 11:00:10', 'w', 'sync.finished', 2, 'a', 'Synchronization sync.infra of a succeeded'),
 ('2026-01-01 11:00:15', 'w', 'sync.finished', 3, 'b', 'Synchronization sync.user of b succeeded');
INSERT INTO job_logs (job_id, attempt, at, level, message) VALUES
 (4, 1, '2026-01-01 11:00:03', 'info', 'noop started'), (4, 1, '2026-01-01 12:00:01', 'info', 'noop finished');
-- 5: not final
INSERT INTO jobs (id, kind, type, state) VALUES (5, 'order', 'noop', 'queued');
-- 6: a rescued sync that did not end 'worker lost'
INSERT INTO jobs (id, kind, type, target, state, attempt, started_at, finished_at) VALUES
 (6, 'sync', 'sync.domain', 'd', 'succeeded', 1, '2026-01-01 13:00:00', '2026-01-01 13:00:09');
INSERT INTO audit_log (at, actor, action, job_id, target, message) VALUES
 ('2026-01-01 13:00:00', 'w', 'sync.started', 6, 'd', 'Synchronization sync.domain of d started (attempt 1)'),
 ('2026-01-01 13:00:05', 'c', 'job.rescued', 6, 'd', 'Lease of sync.domain job 6 (attempt 1, worker w) expired: worker lost; job failed');
-- 7: a zombie write: attempt 1 logs after its rescue; its completion is recorded for attempt 2 only
INSERT INTO jobs (id, kind, type, state, attempt, started_at, finished_at) VALUES
 (7, 'order', 'noop', 'succeeded', 2, '2026-01-01 14:00:10', '2026-01-01 14:00:11');
INSERT INTO audit_log (at, actor, action, job_id, message) VALUES
 ('2026-01-01 14:00:05', 'c', 'job.rescued', 7, 'Lease of noop job 7 (attempt 1, worker w) expired: worker lost; job queued again');
INSERT INTO job_logs (job_id, attempt, at, level, message) VALUES
 (7, 1, '2026-01-01 14:00:06', 'info', 'noop started'), (7, 2, '2026-01-01 14:00:11', 'info', 'noop finished');
-- 8: succeeded without its completion record
INSERT INTO jobs (id, kind, type, state, attempt, started_at, finished_at) VALUES
 (8, 'order', 'noop', 'succeeded', 1, '2026-01-01 15:00:00', '2026-01-01 15:00:01');
UPDATE control SET manual_maintenance = true, manual_by = 'op';
