-- The checks of scripts/chaos.sh, run by psql after the queue drained. Input: a temporary table
-- submitted (kind, id) of the ids the submitters were given. Output: one line per breach
-- (kind|detail), then `counts|jobs|final|lost|double_runs|overlaps|orders_in_maintenance` and
-- `observed|…` and `outcome|…` lines (what happened, for the report). Why each check measures what a correct system
-- guarantees: the header of scripts/chaos.sh.

CREATE TEMP TABLE sync_runs AS
    SELECT s.job_id, j.kind, j.type,
           substring(s.message FROM '\(attempt ([0-9]+)\)')::int AS attempt,
           s.at AS started,
           (SELECT e.at FROM audit_log e
             WHERE e.job_id = s.job_id AND e.id > s.id
               AND e.action IN ('sync.finished', 'sync.retry', 'job.rescued', 'job.released',
                                'sync.stop_stuck', 'sync.watchdog')
             ORDER BY e.id LIMIT 1) AS ended
      FROM audit_log s JOIN jobs j ON j.id = s.job_id
     WHERE s.action = 'sync.started';
CREATE TEMP TABLE order_steps AS
    SELECT l.job_id, l.attempt, l.message AS step, l.at FROM job_logs l JOIN jobs j ON j.id = l.job_id
     WHERE j.kind = 'order'
    UNION ALL SELECT id, attempt, 'started (last attempt)', started_at FROM jobs WHERE kind = 'order' AND started_at IS NOT NULL
    UNION ALL SELECT id, attempt, 'finished (last attempt)', finished_at FROM jobs WHERE kind = 'order' AND finished_at IS NOT NULL;

-- every job final; every recorded submission still there
SELECT 'not_final|job ' || id || ' (' || type || ') is ' || state FROM jobs
 WHERE state NOT IN ('succeeded', 'failed', 'canceled') ORDER BY id;
SELECT 'vanished|submitted ' || kind || ' job ' || id || ' is not in jobs' FROM submitted s
 WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = s.id) ORDER BY id;
-- completion recorded for two attempts
SELECT 'double_run|order ' || job_id || ': noop finished for attempts ' || string_agg(attempt::text, ',' ORDER BY attempt)
  FROM job_logs WHERE message = 'noop finished' GROUP BY job_id HAVING count(*) > 1 ORDER BY job_id;
-- the completion record matches the outcome
SELECT 'completion_record|order ' || j.id || ' is ' || j.state || ' (attempt ' || j.attempt || ') but noop finished was written for '
       || coalesce((SELECT string_agg('attempt ' || l.attempt, ',') FROM job_logs l WHERE l.job_id = j.id AND l.message = 'noop finished'), 'no attempt')
  FROM jobs j
 WHERE j.type = 'noop'
   AND (j.state = 'succeeded') <> EXISTS (SELECT 1 FROM job_logs l WHERE l.job_id = j.id AND l.message = 'noop finished' AND l.attempt = j.attempt)
 ORDER BY j.id;
-- a log line of an attempt written after that attempt was rescued
SELECT 'zombie_write|job ' || l.job_id || ' attempt ' || l.attempt || ' wrote "' || regexp_replace(l.message, '\s+', ' ', 'g') || '" '
       || round(extract(epoch FROM l.at - r.at)::numeric, 3) || ' s after its rescue'
  FROM job_logs l
  JOIN audit_log r ON r.action = 'job.rescued' AND r.job_id = l.job_id
                  AND substring(r.message FROM '\(attempt ([0-9]+),')::int = l.attempt
 WHERE l.at > r.at ORDER BY l.job_id;
-- two syncs running at once
SELECT 'overlap|sync ' || a.job_id || ' (' || a.type || ', attempt ' || a.attempt || ', ' || a.started || ' to ' || coalesce(a.ended::text, 'never ended')
       || ') and sync ' || b.job_id || ' (' || b.type || ', attempt ' || b.attempt || ', from ' || b.started || ')'
  FROM sync_runs a JOIN sync_runs b
    ON (a.started, a.job_id, a.attempt) < (b.started, b.job_id, b.attempt)
   AND b.started < coalesce(a.ended, 'infinity')
 ORDER BY a.started;
-- an order step while an infrastructure or user sync ran
SELECT 'order_in_maintenance|order ' || o.job_id || ' attempt ' || o.attempt || ' ' || o.step || ' at ' || o.at
       || ' while ' || s.type || ' job ' || s.job_id || ' ran (' || s.started || ' to ' || coalesce(s.ended::text, 'never ended') || ')'
  FROM order_steps o JOIN sync_runs s
    ON s.kind = 'device_sync' AND o.at > s.started AND o.at < coalesce(s.ended, 'infinity')
 ORDER BY o.at;
-- a sync the coordinator rescued ended failed with 'worker lost'
SELECT 'lost_sync|sync ' || j.id || ' (' || j.type || ') was rescued but ended ' || j.state
       || coalesce(' (' || regexp_replace(j.error, '\s+', ' ', 'g') || ')', '')
  FROM jobs j
 WHERE j.kind IN ('device_sync', 'sync')
   AND EXISTS (SELECT 1 FROM audit_log r WHERE r.action = 'job.rescued' AND r.job_id = j.id)
   AND NOT (j.state = 'failed' AND j.error = 'worker lost')
 ORDER BY j.id;
-- maintenance mode off at the end
SELECT 'maintenance|maintenance mode is on at the end: ' || coalesce(s.reason, c.maintenance_reason, 'recorded as active')
  FROM ucp_maintenance_state() s, control c
 WHERE s.active OR c.maintenance_active OR c.manual_maintenance;

SELECT 'counts',
       (SELECT count(*) FROM jobs),
       (SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'failed', 'canceled')),
       (SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'canceled'))
         + (SELECT count(*) FROM submitted s WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = s.id)),
       (SELECT count(*) FROM (SELECT job_id FROM job_logs WHERE message = 'noop finished' GROUP BY job_id HAVING count(*) > 1) d),
       (SELECT count(*) FROM sync_runs a JOIN sync_runs b
           ON (a.started, a.job_id, a.attempt) < (b.started, b.job_id, b.attempt) AND b.started < coalesce(a.ended, 'infinity')),
       (SELECT count(DISTINCT (o.job_id, o.attempt)) FROM order_steps o JOIN sync_runs s
           ON s.kind = 'device_sync' AND o.at > s.started AND o.at < coalesce(s.ended, 'infinity'));
SELECT 'observed',
       (SELECT count(*) FROM jobs WHERE kind = 'order'),
       (SELECT count(*) FROM jobs WHERE kind IN ('device_sync', 'sync')),
       (SELECT count(*) FROM jobs WHERE kind = 'order' AND state = 'succeeded'),
       (SELECT count(*) FROM jobs WHERE kind = 'order' AND attempt > 1),
       (SELECT count(*) FROM audit_log WHERE action = 'job.rescued'),
       (SELECT count(*) FROM jobs WHERE kind IN ('device_sync', 'sync') AND error = 'worker lost'),
       (SELECT count(*) FROM jobs WHERE kind IN ('device_sync', 'sync') AND state = 'succeeded'),
       (SELECT count(*) FROM audit_log WHERE action = 'maintenance.entered');
-- (errors on one line: a libpq message has several)
SELECT 'outcome|' || kind || ' ' || state || coalesce(' (' || regexp_replace(error, '\s+', ' ', 'g') || ')', '') || ': ' || count(*)
  FROM jobs GROUP BY kind, state, error ORDER BY kind, state, error;
