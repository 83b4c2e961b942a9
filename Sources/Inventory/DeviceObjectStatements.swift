import Postgres

/// Every statement that touches `device_objects`, `device_sync_logs` and `device_sync_log_lines`
/// (migrations/008_device_objects.sql), by name. Values are always bound parameters.
enum DeviceObjectSQL {
    /// The per-session staging table a page is copied into; emptied at each commit.
    static let incomingCreate = Statement("", """
        CREATE TEMP TABLE IF NOT EXISTS device_objects_incoming (
            object_type text NOT NULL, object_key text NOT NULL, uuid text, attributes text NOT NULL
        ) ON COMMIT DELETE ROWS
        """)
    static let incomingCopy = Statement("", "COPY device_objects_incoming (object_type, object_key, uuid, attributes) FROM STDIN")
    /// One set-based upsert of what was copied; a key seen twice in one batch counts once (the last wins).
    static let deviceObjectsUpsert = Statement("device_objects_upsert", """
        WITH up AS (\(incomingUpsert(when: nil)))
        SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) AS total FROM up
        """)

    /// The upsert of device_objects_incoming into device $1, kind $2, seen by job $3 (a key seen twice
    /// counts once, the last wins): a sync's, and change notification's with `when`, a condition on the
    /// stored row `o` that an update must meet. Returns `inserted`, `object_type`, `object_key`.
    static func incomingUpsert(when condition: String?) -> String {
        """
        INSERT INTO device_objects AS o (device, sync_kind, object_type, object_key, uuid, attributes, seen_by)
            SELECT DISTINCT ON (object_type, object_key) $1, $2, object_type, object_key, uuid, attributes::jsonb, $3::bigint
              FROM device_objects_incoming
             ORDER BY object_type, object_key
            ON CONFLICT (device, sync_kind, object_type, object_key) DO UPDATE
               SET uuid = excluded.uuid, attributes = excluded.attributes, last_seen = clock_timestamp(),
                   seen_by = excluded.seen_by, removed_at = NULL
             \(condition.map { "WHERE " + $0 } ?? "")
            RETURNING (xmax = 0) AS inserted, o.object_type, o.object_key
        """
    }
    /// The objects of a type job $4 has not seen (what `deviceObjectsMarkRemoved` would mark), by key
    /// after $5, at most $6; with $7 only those whose uuid is in it. A sync confirms them on the
    /// device before it marks any removed.
    static let deviceObjectsUnseen = Statement("device_objects_unseen", """
        SELECT object_key, uuid FROM device_objects
         WHERE device = $1 AND sync_kind = $2 AND object_type = $3 AND removed_at IS NULL AND seen_by <> $4::bigint
           AND object_key > $5 AND ($7::text[] IS NULL OR uuid = ANY($7::text[]))
         ORDER BY object_key LIMIT $6
        """)
    static let deviceObjectsUnseenCount = Statement("device_objects_unseen_count", """
        SELECT count(*) AS unseen FROM device_objects
         WHERE device = $1 AND sync_kind = $2 AND object_type = $3 AND removed_at IS NULL AND seen_by <> $4::bigint
        """)
    /// Run only once the unseen objects are confirmed gone (`deviceObjectsUnseen`): a list read by
    /// position skips a row whenever the device removes an earlier one meanwhile.
    static let deviceObjectsMarkRemoved = Statement("device_objects_mark_removed", """
        WITH gone AS (
            UPDATE device_objects SET removed_at = clock_timestamp()
             WHERE device = $1 AND sync_kind = $2 AND object_type = $3 AND removed_at IS NULL AND seen_by <> $4::bigint
            RETURNING 1)
        SELECT count(*) AS removed FROM gone
        """)
    static let deviceObjectCounts = Statement("device_object_counts", """
        SELECT object_type, sync_kind, count(*) FILTER (WHERE removed_at IS NULL) AS present,
               count(*) FILTER (WHERE removed_at IS NOT NULL) AS removed
          FROM device_objects
         WHERE device = $1 AND ($2::text IS NULL OR object_type = $2) AND ($3::text IS NULL OR sync_kind = $3)
         GROUP BY object_type, sync_kind ORDER BY object_type, sync_kind
        """)
    static let deviceObjectList = Statement("device_object_list", """
        SELECT object_type, sync_kind, object_key, uuid, attributes::text AS attributes, first_seen, last_seen, removed_at
          FROM device_objects
         WHERE device = $1 AND ($2::text IS NULL OR object_type = $2) AND ($3::text IS NULL OR sync_kind = $3)
           AND ($4::boolean OR removed_at IS NULL)
         ORDER BY sync_kind, object_type, object_key LIMIT $5
        """)

    /// Replacing the log: the old one goes (its lines with it), then the new one starts.
    static let syncLogDelete = Statement("device_sync_log_delete", """
        DELETE FROM device_sync_logs WHERE device = $1 AND sync_kind = $2
        """)
    static let syncLogStart = Statement("device_sync_log_start", """
        INSERT INTO device_sync_logs (device, sync_kind, job_id) VALUES ($1, $2, $3::bigint)
        """)
    static let syncLogPreviousCounts = Statement("device_sync_log_previous_counts", """
        SELECT counts::text AS counts FROM device_sync_logs WHERE device = $1 AND sync_kind = $2
        """)
    static let syncLogLine = Statement("device_sync_log_line", """
        INSERT INTO device_sync_log_lines (device, sync_kind, level, message) VALUES ($1, $2, $3, $4)
        """)
    static let syncLogFinish = Statement("device_sync_log_finish", """
        UPDATE device_sync_logs SET finished_at = clock_timestamp(), state = $4, outcome = $5, counts = $6::jsonb
         WHERE device = $1 AND sync_kind = $2 AND job_id = $3::bigint
        """)
    static let syncLogGet = Statement("device_sync_log_get", """
        SELECT job_id, started_at, finished_at, state, outcome, counts::text AS counts
          FROM device_sync_logs WHERE device = $1 AND sync_kind = $2
        """)
    static let syncLogLines = Statement("device_sync_log_lines", """
        SELECT at, level, message FROM device_sync_log_lines WHERE device = $1 AND sync_kind = $2 ORDER BY id
        """)
}
