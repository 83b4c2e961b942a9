import Postgres

/// Every statement of the LDAP synchronization, by name (tables of migrations/007_directory_users.sql),
/// run through `UserSyncStore.InTransaction`.
///
/// A run stages what it read in temporary tables of its session: `ldap_batch` holds one batch of
/// entries (COPY), `ldap_seen` every user ID read so far (what decides who is stale at the end),
/// `ldap_duplicates` entries whose user ID an earlier entry already had, `ldap_stale` the stale users.
/// Creates and updates are set-based statements over the batch, so memory stays flat in both processes.
/// With automatic provisioning on, each entry also carries what the domain's provisioning filters said
/// of it (the first matching service area rule's position, the matching roles, the number read);
/// `ldap_seen` keeps it for automatic provisioning to read in pages after the last batch.
enum UserSyncSQL {
    /// The user fields a batch carries, in COPY order after user_id, directory_dn, manager_dn, enabled.
    static let fields = ["first_name", "middle_name", "last_name", "email", "phone", "directory_uri", "department", "title",
                         "home_number", "mobile_number", "pager_number"]

    /// Once per session the tables are created; each run empties them. Temporary tables need no
    /// durable commit, so the transaction does not wait for the disk.
    static let stagingCreate = """
        SET LOCAL synchronous_commit TO off;
        CREATE TEMP TABLE IF NOT EXISTS ldap_batch (
            user_id text NOT NULL, directory_dn text NOT NULL, manager_dn text, enabled boolean NOT NULL,
            first_name text, middle_name text, last_name text, email text, phone text, directory_uri text,
            department text, title text, home_number text, mobile_number text, pager_number text,
            service_area_rule integer, roles text[]);
        CREATE TEMP TABLE IF NOT EXISTS ldap_seen (
            user_id text NOT NULL, directory_dn text NOT NULL, manager_dn text,
            -- reserved (admin, globaladmin) or other_domain: read but left alone.
            skip text,
            -- Automatic provisioning's match (roles NULL: it was off): the position of the first
            -- service area rule whose filter matched (NULL: none), the roles whose filter matched, the number read.
            service_area_rule integer, roles text[], phone text);
        -- User identity is case-insensitive (migrations/018): `JSmith` read after `jsmith` is a duplicate.
        CREATE UNIQUE INDEX IF NOT EXISTS ldap_seen_identity ON ldap_seen (lower(user_id));
        -- Automatic provisioning's pages, in user ID order; empty (no cost) while it is off.
        CREATE INDEX IF NOT EXISTS ldap_seen_provisioning ON ldap_seen (user_id) WHERE roles IS NOT NULL;
        CREATE TEMP TABLE IF NOT EXISTS ldap_duplicates (user_id text NOT NULL, directory_dn text NOT NULL);
        CREATE TEMP TABLE IF NOT EXISTS ldap_stale (user_id text PRIMARY KEY, has_services boolean NOT NULL, state text NOT NULL);
        TRUNCATE ldap_batch, ldap_seen, ldap_duplicates, ldap_stale;
        """

    static let batchClear = "TRUNCATE ldap_batch"

    static let batchCopy = Statement("", """
        COPY ldap_batch (user_id, directory_dn, manager_dn, enabled, first_name, middle_name, last_name, email, phone,
                         directory_uri, department, title, home_number, mobile_number, pager_number,
                         service_area_rule, roles) FROM STDIN
        """)

    /// Records the batch's user IDs (the first entry of each, in DN order, when the batch repeats one),
    /// and marks the built-in administrators to leave alone. Users of another domain need no lookup
    /// here: the upserts below leave them alone (`WHERE u.domain = $1`), and `otherDomainMark` finds
    /// them once at the end. The upserts run this as their first step (a dry run, whose user writes
    /// are rolled back, runs it alone).
    static let seenInsert = """
        INSERT INTO ldap_seen (user_id, directory_dn, manager_dn, skip, service_area_rule, roles, phone)
            SELECT DISTINCT ON (lower(b.user_id)) b.user_id, b.directory_dn, b.manager_dn,
                   CASE WHEN ucp_user_is_reserved(b.user_id) THEN 'reserved' END,
                   b.service_area_rule, b.roles, CASE WHEN b.roles IS NOT NULL THEN b.phone END
              FROM ldap_batch b
             ORDER BY lower(b.user_id), b.directory_dn
            ON CONFLICT ((lower(user_id))) DO NOTHING
            RETURNING user_id, directory_dn, skip
        """
    static let seenRecord = Statement("ldap_seen_record", seenInsert)

    /// Entries whose user ID an earlier entry had (run only when the batch had some).
    static let duplicatesRecord = Statement("ldap_duplicates_record", """
        INSERT INTO ldap_duplicates (user_id, directory_dn)
        SELECT b.user_id, b.directory_dn FROM ldap_batch b
         WHERE NOT coalesce((SELECT s.directory_dn = b.directory_dn FROM ldap_seen s WHERE lower(s.user_id) = lower(b.user_id)), false)
        """)

    /// "All fields": new users are created; existing users of the domain take what the directory says
    /// (a manual user the directory holds becomes an LDAP user; a stale one is active again).
    static let usersUpsert = Statement("ldap_users_upsert", batchWrite(onConflict: """
        DO UPDATE
           SET source = 'ldap', first_name = excluded.first_name, middle_name = excluded.middle_name,
               last_name = excluded.last_name, email = excluded.email, phone = excluded.phone,
               directory_uri = excluded.directory_uri, department = excluded.department, title = excluded.title,
               home_number = excluded.home_number, mobile_number = excluded.mobile_number,
               pager_number = excluded.pager_number, directory_dn = excluded.directory_dn, enabled = excluded.enabled,
               state = 'active', stale_since = NULL
         WHERE u.domain = $1 AND u.state <> 'deleting'
           AND (u.source, u.first_name, u.middle_name, u.last_name, u.email, u.phone, u.directory_uri, u.department,
                u.title, u.home_number, u.mobile_number, u.pager_number, u.directory_dn, u.enabled, u.state)
               IS DISTINCT FROM
               ('ldap', excluded.first_name, excluded.middle_name, excluded.last_name, excluded.email, excluded.phone,
                excluded.directory_uri, excluded.department, excluded.title, excluded.home_number, excluded.mobile_number,
                excluded.pager_number, excluded.directory_dn, excluded.enabled, 'active')
        """))

    /// "Do not update": new users are created; existing ones keep their fields, but a stale user found
    /// again is active again.
    static let usersInsertOrReactivate = Statement("ldap_users_insert_or_reactivate", batchWrite(onConflict: """
        DO UPDATE SET state = 'active', stale_since = NULL WHERE u.domain = $1 AND u.state = 'stale'
        """))

    /// One statement per batch: records it in `ldap_seen`, inserts the new users of the domain ($1) and
    /// does `onConflict` to the existing ones (users of another domain are left alone by its WHERE).
    /// Returns how many were created and changed, the first IDs ($2) of each, how many user IDs
    /// were recorded (fewer than the batch's entries: duplicates), and how many of those were not
    /// reserved (more than created + changed: some existed already, maybe in another domain).
    private static func batchWrite(onConflict: String) -> String {
        """
        WITH fresh AS (\(seenInsert)),
        written AS (
        INSERT INTO users AS u (user_id, domain, source, first_name, middle_name, last_name, email, phone, directory_uri,
                                department, title, home_number, mobile_number, pager_number, directory_dn, enabled,
                                provisioning_pending, manager_pending)
        SELECT b.user_id, $1, 'ldap', b.first_name, b.middle_name, b.last_name, b.email, b.phone, b.directory_uri,
               b.department, b.title, b.home_number, b.mobile_number, b.pager_number, b.directory_dn, b.enabled,
               (SELECT d.automatic_provisioning FROM domains d WHERE d.name = $1), b.manager_dn IS NOT NULL
          FROM ldap_batch b JOIN fresh f ON f.user_id = b.user_id AND f.directory_dn = b.directory_dn AND f.skip IS NULL
        ON CONFLICT ((lower(user_id))) WHERE NOT case_clash \(onConflict)
        RETURNING u.user_id, (u.xmax = 0) AS created)
        SELECT count(*) FILTER (WHERE created)::bigint AS created, count(*) FILTER (WHERE NOT created)::bigint AS changed,
               coalesce(array_to_json((array_agg(user_id ORDER BY user_id) FILTER (WHERE created))[1:$2])::text, '[]') AS created_sample,
               coalesce(array_to_json((array_agg(user_id ORDER BY user_id) FILTER (WHERE NOT created))[1:$2])::text, '[]') AS changed_sample,
               (SELECT count(*) FROM fresh)::bigint AS recorded,
               (SELECT count(*) FROM fresh WHERE skip IS NULL)::bigint AS writable
          FROM written
        """
    }

    /// Manager IDs: the directory gives a manager's DN; the manager is the user read from that entry.
    /// $2: every user (all fields), or only the users the synchronization created that no run has
    /// given a manager yet (`manager_pending`: this run's, or those of an attempt that failed before
    /// this step) and no operator has given one since. Two statements, so a directory without
    /// managers costs a scan of the staged entries only.
    static let managersSet = Statement("ldap_managers_set", """
        UPDATE users u SET manager_id = m.user_id, manager_pending = false
          FROM ldap_seen s JOIN ldap_seen m ON lower(m.directory_dn) = lower(s.manager_dn)
         WHERE s.manager_dn IS NOT NULL AND s.skip IS NULL AND lower(u.user_id) = lower(s.user_id) AND NOT u.case_clash AND u.domain = $1
           AND u.state <> 'deleting' AND ($2::boolean OR (u.manager_pending AND u.manager_id IS NULL))
           AND u.manager_id IS DISTINCT FROM m.user_id
        """)
    /// After the managers step the domain's created users are existing users: those whose manager
    /// was not read, or set otherwise meanwhile, keep what they have.
    static let managersPendingEnd = Statement("ldap_managers_pending_end", """
        UPDATE users SET manager_pending = false WHERE domain = $1 AND manager_pending
        """)
    static let managersClear = Statement("ldap_managers_clear", """
        UPDATE users u SET manager_id = NULL
          FROM ldap_seen s
         WHERE u.manager_id IS NOT NULL AND u.domain = $1 AND lower(u.user_id) = lower(s.user_id) AND NOT u.case_clash AND s.skip IS NULL
           AND u.state <> 'deleting' AND $2::boolean
           AND (s.manager_dn IS NULL OR NOT EXISTS (SELECT 1 FROM ldap_seen m WHERE lower(m.directory_dn) = lower(s.manager_dn)))
        """)

    /// One page of the users read ($4 at most, user IDs after $3 (nil: from the first), in user ID
    /// order) that await automatic provisioning, with what the filters said of each: brought in by an
    /// LDAP synchronization of domain $1 while it was on (this run or an earlier one), no order
    /// submitted for them yet, not admin/globaladmin, holding no services; with $2 (a dry run, which
    /// writes no user) also the IDs not in the inventory at all. `generation` tells user records of
    /// one ID apart (a user deleted and brought in again is provisioned again). Keyset pages: a user
    /// whose order is submitted meanwhile does not shift the next page.
    static let provisioningAwaiting = Statement("ldap_provisioning_awaiting", """
        SELECT s.user_id, s.service_area_rule, array_to_json(s.roles)::text AS roles_json, s.phone,
               coalesce(floor(extract(epoch FROM u.created_at) * 1000000)::bigint, 0) AS generation
          FROM ldap_seen s
          LEFT JOIN users u ON lower(u.user_id) = lower(s.user_id) AND NOT u.case_clash
         WHERE s.roles IS NOT NULL AND s.user_id > coalesce($3::text, '')
           AND NOT ucp_user_is_reserved(s.user_id)
           AND (($2::boolean AND u.user_id IS NULL)
                OR (u.domain = $1 AND u.source = 'ldap' AND u.provisioning_pending AND NOT ucp_user_has_services(u.user_id)))
         ORDER BY s.user_id
         LIMIT $4
        """)

    /// Users read from the directory that belong to another domain (left alone by the upserts).
    static let otherDomainMark = Statement("ldap_other_domain_mark", """
        UPDATE ldap_seen s SET skip = 'other_domain' FROM users u
         WHERE lower(u.user_id) = lower(s.user_id) AND NOT u.case_clash AND u.domain <> $1 AND s.skip IS NULL
        """)

    static let skippedNames = Statement("ldap_skipped_names", """
        SELECT count(*)::bigint AS n, coalesce(string_agg(user_id, ', ' ORDER BY user_id), '') AS names
          FROM ldap_seen WHERE skip = $1
        """)

    static let duplicateNames = Statement("ldap_duplicate_names", """
        SELECT count(*)::bigint AS n, coalesce(string_agg(DISTINCT user_id, ', '), '') AS names FROM ldap_duplicates
        """)

    static let directoryUserCount = Statement("ldap_directory_user_count", """
        SELECT count(*)::bigint AS n FROM users WHERE domain = $1 AND source = 'ldap'
        """)

    /// The deletion guard's baseline (the last accepted run's count) and when the last real run ended.
    static let syncStateGet = Statement("ldap_sync_state_get", """
        SELECT baseline_user_count, last_synced_at FROM ldap_sync_state WHERE domain = $1
        """)

    /// Records a real run ($3: its job); $4: whether it was accepted (applied its deletions or had
    /// none to apply), and so becomes the baseline with its count ($2). A refused run moves only
    /// last_synced_at and last_job_id.
    static let syncStateSave = Statement("ldap_sync_state_save", """
        INSERT INTO ldap_sync_state AS st (domain, last_job_id, baseline_user_count, baseline_job_id, baseline_at)
        VALUES ($1, $3::bigint, CASE WHEN $4::boolean THEN $2::integer END, CASE WHEN $4::boolean THEN $3::bigint END,
                CASE WHEN $4::boolean THEN clock_timestamp() END)
        ON CONFLICT (domain) DO UPDATE
           SET last_job_id = excluded.last_job_id, last_synced_at = clock_timestamp(),
               baseline_user_count = CASE WHEN $4::boolean THEN excluded.baseline_user_count ELSE st.baseline_user_count END,
               baseline_job_id = CASE WHEN $4::boolean THEN excluded.baseline_job_id ELSE st.baseline_job_id END,
               baseline_at = CASE WHEN $4::boolean THEN excluded.baseline_at ELSE st.baseline_at END
        """)

    /// The domain's directory users that this run did not read (built-in administrators excluded).
    static let staleCollect = Statement("ldap_stale_collect", """
        INSERT INTO ldap_stale (user_id, has_services, state)
        SELECT u.user_id, ucp_user_has_services(u.user_id), u.state FROM users u
         WHERE u.domain = $1 AND u.source = 'ldap' AND NOT ucp_user_is_reserved(u.user_id) AND NOT u.case_clash
           AND NOT EXISTS (SELECT 1 FROM ldap_seen s WHERE lower(s.user_id) = lower(u.user_id))
        """)

    /// Stale users in a group: 'all' not already being deleted, 'with_services', 'without_services'.
    static let staleNames = Statement("ldap_stale_names", """
        SELECT count(*)::bigint AS n, coalesce(string_agg(user_id, ', ' ORDER BY user_id), '') AS names
          FROM ldap_stale
         WHERE state <> 'deleting'
           AND ($1 = 'all' OR ($1 = 'with_services') = has_services)
        """)

    /// Deletes stale users from the inventory ($2: also those with services).
    static let staleDelete = Statement("ldap_stale_delete", """
        WITH gone AS (
            DELETE FROM users u USING ldap_stale t
             WHERE u.user_id = t.user_id AND u.state <> 'deleting' AND ($2::boolean OR NOT t.has_services)
               AND u.domain = $1
            RETURNING u.user_id)
        SELECT count(*)::bigint AS n, coalesce(string_agg(user_id, ', ' ORDER BY user_id), '') AS names FROM gone
        """)

    /// Queues one delete order per stale user and marks the user as being deleted.
    static let staleOrder = Statement("ldap_stale_order", """
        WITH queued AS (
            INSERT INTO user_delete_orders (domain, user_id, action, sync_job_id)
            SELECT $1, t.user_id, $2, $3::bigint FROM ldap_stale t WHERE t.state <> 'deleting' ORDER BY t.user_id
            RETURNING id, user_id, state),
        marked AS (
            UPDATE users u SET state = 'deleting', stale_since = coalesce(u.stale_since, clock_timestamp())
              FROM queued q WHERE u.user_id = q.user_id)
        SELECT id, user_id, state FROM queued ORDER BY user_id
        """)

    /// Whatever stale user is left (kept by the action or the guard) is marked stale.
    static let staleMark = Statement("ldap_stale_mark", """
        UPDATE users u SET state = 'stale', stale_since = clock_timestamp()
          FROM ldap_stale t WHERE u.user_id = t.user_id AND u.state = 'active'
        """)

    /// Delete orders of the domain that ended since the previous LDAP synchronization: the real
    /// order's id once the request became one (migration 034), its end copied back.
    static let ordersFinished = Statement("ldap_orders_finished", """
        SELECT coalesce(order_id, id) AS id, user_id, state FROM user_delete_orders
         WHERE domain = $1 AND state IN ('succeeded', 'failed') AND finished_at > coalesce($2::timestamptz, '-infinity')
         ORDER BY user_id, id
        """)

    /// Replaces the detailed log of the latest sync of a target and kind.
    static let syncLogDelete = Statement("sync_log_delete", "DELETE FROM sync_logs WHERE sync_type = $1 AND target = $2")
    static let syncLogInsert = Statement("sync_log_insert", """
        INSERT INTO sync_logs (sync_type, target, job_id, started_at, outcome) VALUES ($1, $2, $3::bigint, $4::timestamptz, $5)
        """)
    /// The end of a log written as it goes (`syncLogReplace` at the start, lines added since): its
    /// outcome and end. $1 type, $2 target, $3 job, $4 outcome.
    static let syncLogFinish = Statement("sync_log_finish", """
        UPDATE sync_logs SET outcome = $4, finished_at = clock_timestamp()
         WHERE sync_type = $1 AND target = $2 AND job_id IS NOT DISTINCT FROM $3::bigint
        """)
    static let syncLogLinesInsert = Statement("sync_log_lines_insert", """
        INSERT INTO sync_log_lines (sync_type, target, line_no, line)
        SELECT $1, $2, n, line FROM unnest($3::text[]) WITH ORDINALITY AS t(line, n)
        """)
    /// Lines added at the end of the latest detailed log of $1 (sync type) for $2 (a log written as
    /// its job goes); nothing when there is no such log.
    static let syncLogLinesAppend = Statement("sync_log_lines_append", """
        INSERT INTO sync_log_lines (sync_type, target, line_no, line)
        SELECT $1, $2, coalesce((SELECT max(line_no) FROM sync_log_lines WHERE sync_type = $1 AND target = $2), 0) + t.n, t.line
          FROM unnest($3::text[]) WITH ORDINALITY AS t(line, n)
         WHERE EXISTS (SELECT 1 FROM sync_logs WHERE sync_type = $1 AND target = $2)
        """)
}
