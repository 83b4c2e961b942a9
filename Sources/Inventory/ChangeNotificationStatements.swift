import Postgres

/// Every statement of change notification (migrations/023_change_notification.sql), by name.
/// Values are always bound parameters.
enum ChangeNotificationSQL {
    static let state = Statement("cn_state", """
        SELECT d.name, ucp_cn_on(d.kind, d.version, c.enabled) AS on, c.enabled,
               ucp_cn_on(d.kind, d.version, NULL) AS supported, d.first_synced_at,
               coalesce(c.interval_seconds, 300) AS interval_seconds, coalesce(c.cache_size, 100000) AS cache_size,
               c.queue_id, c.next_start_change_id, c.cucm_version, c.baseline_at, c.backlog, c.last_change_id,
               c.last_poll_job, c.last_poll_started_at, c.last_poll_at, c.last_poll_outcome, c.last_success_at,
               c.resync_pending_since, c.resync_pending_reason
          FROM devices d LEFT JOIN device_change_notification c ON c.device = d.name
         WHERE d.name = $1
        """)
    /// The operator's settings: each NULL parameter keeps what is stored ($4: back to the default, on by version).
    static let configure = Statement("cn_configure", """
        INSERT INTO device_change_notification AS c (device, enabled, interval_seconds)
        VALUES ($1, $2::boolean, coalesce($3::integer, 300))
        ON CONFLICT (device) DO UPDATE
           SET enabled = CASE WHEN $4::boolean THEN NULL ELSE coalesce($2::boolean, c.enabled) END,
               interval_seconds = coalesce($3::integer, c.interval_seconds), updated_at = clock_timestamp()
        """)
    static let pollsEnqueue = Statement("cn_polls_enqueue", "SELECT device FROM ucp_cn_polls_enqueue($1, $2::timestamptz) AS device")
    static let pollStarted = Statement("cn_poll_started", """
        INSERT INTO device_change_notification AS c (device, last_poll_job, last_poll_started_at)
        VALUES ($1, $2::bigint, coalesce($3::timestamptz, clock_timestamp()))
        ON CONFLICT (device) DO UPDATE
           SET last_poll_job = excluded.last_poll_job, last_poll_started_at = excluded.last_poll_started_at,
               updated_at = clock_timestamp()
        """)
    static let baseline = Statement("cn_baseline", """
        INSERT INTO device_change_notification AS c (device, queue_id, next_start_change_id, last_change_id, cucm_version, baseline_at)
        VALUES ($1, $2, $3::bigint, $4::bigint, $5, clock_timestamp())
        ON CONFLICT (device) DO UPDATE
           SET queue_id = excluded.queue_id, next_start_change_id = excluded.next_start_change_id,
               last_change_id = excluded.last_change_id, cucm_version = excluded.cucm_version,
               baseline_at = excluded.baseline_at, updated_at = clock_timestamp()
        """)
    /// The resync a re-baseline queues is pending from now until an infrastructure and a user sync
    /// started after it have each read everything (migrations/060, 063).
    static let resyncMark = Statement("cn_resync_mark", """
        UPDATE device_change_notification SET resync_pending_since = clock_timestamp(), resync_pending_reason = $2,
                                              resync_infra_read_at = NULL, resync_user_read_at = NULL,
                                              updated_at = clock_timestamp()
         WHERE device = $1
        """)
    /// A device's pending resync, its row locked (the follow-up of two polls never interleaves), with
    /// the kinds of sync that have read everything since the mark.
    static let resyncPending = Statement("cn_resync_pending", """
        SELECT resync_pending_since AS since, resync_pending_reason AS reason,
               resync_infra_read_at IS NOT NULL AS infra_read, resync_user_read_at IS NOT NULL AS user_read
          FROM device_change_notification
         WHERE device = $1 AND resync_pending_since IS NOT NULL
           FOR UPDATE
        """)
    /// A sync of kind $2 (job $3, its log's start after the mark) read everything: recorded under the
    /// row's lock; answers whether both kinds now have, with the mark. No row: nothing pending, or the
    /// sync started before the mark.
    static let resyncRead = Statement("cn_resync_read", """
        UPDATE device_change_notification c
           SET resync_infra_read_at = CASE WHEN $2 = 'infra' THEN clock_timestamp() ELSE c.resync_infra_read_at END,
               resync_user_read_at = CASE WHEN $2 = 'user' THEN clock_timestamp() ELSE c.resync_user_read_at END,
               updated_at = clock_timestamp()
          FROM device_sync_logs l
         WHERE c.device = $1 AND c.resync_pending_since IS NOT NULL
           AND l.device = $1 AND l.sync_kind = $2 AND l.job_id = $3::bigint AND l.started_at >= c.resync_pending_since
        RETURNING c.resync_pending_since AS since, c.resync_pending_reason AS reason,
                  c.resync_infra_read_at IS NOT NULL AND c.resync_user_read_at IS NOT NULL AS both_read
        """)
    /// Whether the sync of kind $2 (job $3) started at or after $4 (its log's start).
    static let syncStartedSince = Statement("cn_sync_started_since", """
        SELECT 1 FROM device_sync_logs WHERE device = $1 AND sync_kind = $2 AND job_id = $3::bigint AND started_at >= $4::timestamptz
        """)
    static let resyncClear = Statement("cn_resync_clear", """
        UPDATE device_change_notification SET resync_pending_since = NULL, resync_pending_reason = NULL,
                                              resync_infra_read_at = NULL, resync_user_read_at = NULL,
                                              updated_at = clock_timestamp()
         WHERE device = $1
        """)
    /// Moves the position on, only from where the batch began (a position someone else moved is refused).
    static let advance = Statement("cn_advance", """
        UPDATE device_change_notification SET next_start_change_id = $4::bigint, last_change_id = $5::bigint,
                                              updated_at = clock_timestamp()
         WHERE device = $1 AND queue_id = $2 AND next_start_change_id = $3::bigint
        RETURNING device
        """)
    static let pollFinished = Statement("cn_poll_finished", """
        UPDATE device_change_notification
           SET last_poll_at = clock_timestamp(), last_poll_outcome = $3,
               last_success_at = CASE WHEN $4::boolean THEN clock_timestamp() ELSE last_success_at END,
               overdue_alerted_at = CASE WHEN $4::boolean THEN NULL ELSE overdue_alerted_at END,
               backlog = coalesce($5::bigint, backlog),
               backlog_alerted_at = CASE WHEN coalesce($5::bigint, backlog) < cache_size * 0.8 THEN NULL
                                         ELSE backlog_alerted_at END,
               updated_at = clock_timestamp()
         WHERE device = $1 AND last_poll_job = $2::bigint
        """)

    /// Devices whose change notification needs an alert now, marked alerted in the same statement:
    /// a backlog past 80 % of the device's change cache, or no successful poll for 3 intervals.
    static let alertsDue = Statement("cn_alerts_due", """
        WITH due AS (
            SELECT c.device,
                   c.backlog_alerted_at IS NULL AND c.backlog >= c.cache_size * 0.8 AS backlog_due,
                   c.overdue_alerted_at IS NULL
                   AND coalesce(c.last_success_at, c.baseline_at, c.last_poll_started_at)
                       < coalesce($1::timestamptz, now()) - make_interval(secs => 3 * c.interval_seconds) AS overdue_due
              FROM device_change_notification c JOIN devices d ON d.name = c.device
             WHERE ucp_cn_on(d.kind, d.version, c.enabled) AND d.first_synced_at IS NOT NULL
               AND ((c.backlog_alerted_at IS NULL AND c.backlog >= c.cache_size * 0.8)
                    OR (c.overdue_alerted_at IS NULL
                        AND coalesce(c.last_success_at, c.baseline_at, c.last_poll_started_at)
                            < coalesce($1::timestamptz, now()) - make_interval(secs => 3 * c.interval_seconds)))
             FOR UPDATE OF c SKIP LOCKED)
        UPDATE device_change_notification c
           SET backlog_alerted_at = CASE WHEN due.backlog_due THEN clock_timestamp() ELSE c.backlog_alerted_at END,
               overdue_alerted_at = CASE WHEN due.overdue_due THEN clock_timestamp() ELSE c.overdue_alerted_at END
          FROM due
         WHERE c.device = due.device AND (due.backlog_due OR due.overdue_due)
        RETURNING c.device, due.backlog_due, due.overdue_due, c.backlog, c.cache_size, c.interval_seconds,
                  c.last_success_at, c.last_poll_outcome
        """)

    // MARK: the detailed log of change notification (device_sync_logs, kind 'cn')

    /// The log of a device's change notification is not replaced by each poll: it names the latest
    /// poll and keeps the lines of the recent ones.
    static let logStart = Statement("cn_log_start", """
        INSERT INTO device_sync_logs (device, sync_kind, job_id) VALUES ($1, 'cn', $2::bigint)
        ON CONFLICT (device, sync_kind) DO UPDATE
           SET job_id = excluded.job_id, started_at = clock_timestamp(), finished_at = NULL, state = 'running',
               outcome = NULL, counts = '{}'
        """)
    /// The log's row, for a line written before any poll (a baseline a synchronization takes).
    static let logEnsure = Statement("cn_log_ensure", """
        INSERT INTO device_sync_logs (device, sync_kind, job_id, state, finished_at)
        VALUES ($1, 'cn', $2::bigint, 'succeeded', clock_timestamp())
        ON CONFLICT (device, sync_kind) DO NOTHING
        """)
    static let logLine = Statement("cn_log_line", """
        INSERT INTO device_sync_log_lines (device, sync_kind, level, message) VALUES ($1, 'cn', $2, $3)
        """)
    /// Many lines in one statement, in order ($2 levels, $3 messages).
    static let logLines = Statement("cn_log_lines", """
        INSERT INTO device_sync_log_lines (device, sync_kind, level, message)
        SELECT $1, 'cn', l.level, l.message FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS l (level, message, n) ORDER BY l.n
        """)
    static let logFinish = Statement("cn_log_finish", """
        UPDATE device_sync_logs SET finished_at = clock_timestamp(), state = $3, outcome = $4, counts = $5::jsonb
         WHERE device = $1 AND sync_kind = 'cn' AND job_id = $2::bigint
        """)
    /// Keeps the newest lines of a device's change-notification log.
    static let logTrim = Statement("cn_log_trim", """
        DELETE FROM device_sync_log_lines
         WHERE device = $1 AND sync_kind = 'cn'
           AND id < (SELECT id FROM device_sync_log_lines WHERE device = $1 AND sync_kind = 'cn'
                      ORDER BY id DESC OFFSET $2::integer LIMIT 1)
        """)

    // MARK: applying changes to device_objects

    /// Marks removed, by uuid (braces and case aside), what the device removed.
    static let removeByUUID = Statement("cn_remove_by_uuid", """
        WITH gone AS (
            UPDATE device_objects SET removed_at = clock_timestamp(), seen_by = $3::bigint
             WHERE device = $1 AND removed_at IS NULL AND lower(btrim(uuid, '{}')) = ANY ($2::text[])
            RETURNING 1)
        SELECT count(*) AS removed FROM gone
        """)
    /// Changed tags written into stored objects without a get ($2 kinds, $3 uuids, $4 JSON patches).
    /// Not into an object written after $6, the time before the page was asked for: the tags' values are
    /// older than any write after it (`newer`, see `upsertUnlessNewer`).
    static let patch = Statement("cn_patch", """
        WITH patched AS (
            UPDATE device_objects o SET attributes = o.attributes || p.patch::jsonb, last_seen = clock_timestamp(),
                                        seen_by = $5::bigint
              FROM unnest($2::text[], $3::text[], $4::text[]) AS p(kind, uuid, patch)
             WHERE o.device = $1 AND o.sync_kind = p.kind AND lower(btrim(o.uuid, '{}')) = p.uuid AND o.removed_at IS NULL
               -- The objects through device_objects_uuid (the join alone was planned as a pass over the device's objects).
               AND lower(btrim(o.uuid, '{}')) = ANY ($3::text[])
               AND o.last_seen <= $6::timestamptz
            RETURNING 1)
        SELECT (SELECT count(*) FROM patched) AS patched,
               (SELECT string_agg(DISTINCT lower(btrim(o.uuid, '{}')), ',') FROM device_objects o
                 WHERE o.device = $1 AND lower(btrim(o.uuid, '{}')) = ANY ($3::text[]) AND o.last_seen > $6::timestamptz) AS newer
        """)
    /// The database's clock: before a page is asked for from the device, for `patch` and `upsertUnlessNewer`.
    static let now = Statement("cn_now", "SELECT clock_timestamp() AS now")
    /// The upsert of what a poll fetched (device_objects_incoming, as a sync's), except over an object
    /// written or removed after $4 — the time the page was asked for, before its gets: an order that
    /// ended meanwhile wrote what it made, newer than a get that came before its last write. An object
    /// of $5 (uuids fetched again) is compared with $6, when it was fetched again, instead. Those
    /// refused are answered as `newer` (their uuids, comma-separated); the poll fetches them again and
    /// applies the page anew.
    static let upsertUnlessNewer = Statement("cn_upsert_unless_newer", """
        WITH up AS (\(DeviceObjectSQL.incomingUpsert(when: "o.last_seen <= \(fetchedBefore) AND (o.removed_at IS NULL OR o.removed_at <= \(fetchedBefore))")))
        SELECT (SELECT count(*) FROM up WHERE inserted) AS inserted, (SELECT count(*) FROM up) AS total,
               (SELECT string_agg(DISTINCT lower(btrim(i.uuid, '{}')), ',') FROM device_objects_incoming i
                 WHERE NOT EXISTS (SELECT 1 FROM up WHERE up.object_type = i.object_type AND up.object_key = i.object_key)) AS newer
        """)
    /// When the incoming object was fetched at the latest: $6 for one fetched again ($5), else $4.
    private static let fetchedBefore = "coalesce(CASE WHEN lower(btrim(excluded.uuid, '{}')) = ANY ($5::text[]) THEN $6::timestamptz END, $4::timestamptz)"
    /// Which of these uuids the inventory holds (present), with the kind and type they are stored under.
    static let present = Statement("cn_present", """
        SELECT lower(btrim(uuid, '{}')) AS uuid, sync_kind, object_type, object_key FROM device_objects
         WHERE device = $1 AND removed_at IS NULL AND lower(btrim(uuid, '{}')) = ANY ($2::text[])
        """)
    static let incomingClear = Statement("", "DELETE FROM device_objects_incoming")
    /// Fresh statistics of `device_objects` (migrations/025: ANALYZE as the table's owner).
    static let statisticsRefresh = Statement("cn_statistics_refresh", "SELECT ucp_device_objects_analyze()")
    /// An object fetched under a new key (renamed on the device) is no longer present under its old one.
    static let renamedRemove = Statement("cn_renamed_remove", """
        UPDATE device_objects o SET removed_at = clock_timestamp(), seen_by = $3::bigint
          FROM device_objects_incoming i
         WHERE o.device = $1 AND o.sync_kind = $2 AND o.removed_at IS NULL AND o.object_type = i.object_type
           AND o.object_key <> i.object_key AND lower(btrim(o.uuid, '{}')) = lower(btrim(i.uuid, '{}'))
        """)
}
