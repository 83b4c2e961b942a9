import Postgres

/// Every statement of the domain synchronization (migrations/016 and 018), by name, run through
/// `DomainSyncStore.InTransaction`. Values are always bound parameters.
///
/// A run stages what it reads in temporary tables of its session, once: the domain's service areas
/// (`domain_sync_areas`), the call processors' user accounts (`domain_sync_accounts`), the message
/// processors' mailboxes (`domain_sync_mailboxes`), one row per user identity with what the run
/// decided for it (`domain_sync_users`, numbered into batches), the processors a user's services
/// come from (`domain_sync_user_devices`) and the phones, device profiles and remote destination
/// profiles each user holds (`domain_sync_carriers`). Then each batch of users derives its services
/// into `domain_sync_services` and merges them into `user_services` with set-based statements that
/// write only what differs. Log lines collect in `domain_sync_log`, in order.
enum DomainSyncSQL {
    /// Creates the staging tables once per session and empties them (a whole run).
    static let stagingCreate = stagingCreateOnly + "\n" + stagingTruncate
    /// Creates the staging tables once per session.
    static let stagingCreateOnly = """
        SET LOCAL synchronous_commit TO off;
        CREATE TEMP TABLE IF NOT EXISTS domain_sync_areas (
            name text PRIMARY KEY, call_processor text NOT NULL, message_processor text, device_pool text NOT NULL,
            location text, partitions text[] NOT NULL);
        CREATE TEMP TABLE IF NOT EXISTS domain_sync_accounts (
            device text NOT NULL, user_id text NOT NULL, user_key text NOT NULL, attributes jsonb NOT NULL);
        CREATE TEMP TABLE IF NOT EXISTS domain_sync_mailboxes (
            device text NOT NULL, alias text NOT NULL, dtmf text, uuid text, email text, attributes jsonb NOT NULL);
        CREATE INDEX IF NOT EXISTS domain_sync_mailboxes_dtmf ON domain_sync_mailboxes (dtmf);
        CREATE INDEX IF NOT EXISTS domain_sync_mailboxes_alias ON domain_sync_mailboxes (lower(alias));
        CREATE INDEX IF NOT EXISTS domain_sync_accounts_user ON domain_sync_accounts (user_key);
        -- outcome: sync, new (undecided), new_unity (undecided, Unity Connection only), excluded (not
        -- matched by the rules), reserved (admin, globaladmin), other_domain, clash (a record no account
        -- spells as it does: skipped, its services left as they are).
        CREATE TEMP TABLE IF NOT EXISTS domain_sync_users (
            user_key text PRIMARY KEY, user_id text NOT NULL, outcome text NOT NULL, existing_domain text, batch integer,
            first_name text, last_name text, email text, department text, phone text);
        CREATE INDEX IF NOT EXISTS domain_sync_users_batch ON domain_sync_users (batch);
        CREATE INDEX IF NOT EXISTS domain_sync_users_id ON domain_sync_users (user_id);
        CREATE TEMP TABLE IF NOT EXISTS domain_sync_user_devices (user_key text NOT NULL, device text NOT NULL, PRIMARY KEY (user_key, device));
        CREATE TEMP TABLE IF NOT EXISTS domain_sync_carriers (
            user_key text NOT NULL, device text NOT NULL, sync_kind text NOT NULL, object_type text NOT NULL,
            object_key text NOT NULL, uuid text, attributes jsonb NOT NULL, eligible boolean NOT NULL DEFAULT true);
        CREATE INDEX IF NOT EXISTS domain_sync_carriers_user ON domain_sync_carriers (user_key);
        CREATE TEMP TABLE IF NOT EXISTS domain_sync_destinations (
            device text NOT NULL, profile text NOT NULL, object_key text NOT NULL, uuid text, attributes jsonb NOT NULL);
        CREATE INDEX IF NOT EXISTS domain_sync_destinations_profile ON domain_sync_destinations (device, profile);
        CREATE TEMP TABLE IF NOT EXISTS domain_sync_services (
            user_id text NOT NULL, service_type text NOT NULL, device text NOT NULL, sync_kind text NOT NULL,
            object_type text NOT NULL, object_key text NOT NULL, uuid text, service_area text, detail jsonb NOT NULL,
            -- Why the service could not be placed (the seed's message 3), when it could not.
            unplaced text, rank integer NOT NULL DEFAULT 0,
            -- Held in user_services exactly so: the merge leaves it alone (set by servicesMarkUnchanged).
            unchanged boolean NOT NULL DEFAULT false);
        CREATE INDEX IF NOT EXISTS domain_sync_services_key ON domain_sync_services (user_id, service_type, device, object_type, object_key);
        CREATE TEMP TABLE IF NOT EXISTS domain_sync_log (line_no bigserial PRIMARY KEY, line text NOT NULL);
        -- The services the run leaves over (user_id NULL: kept from a deleted user), found once.
        CREATE TEMP TABLE IF NOT EXISTS domain_sync_leftovers (
            user_id text, service_type text NOT NULL, device text NOT NULL, sync_kind text NOT NULL, object_type text NOT NULL,
            object_key text NOT NULL);
        """
    static let stagingTruncate = """
        TRUNCATE domain_sync_areas, domain_sync_accounts, domain_sync_mailboxes, domain_sync_users, domain_sync_user_devices,
                 domain_sync_carriers, domain_sync_destinations, domain_sync_services, domain_sync_leftovers;
        TRUNCATE domain_sync_log RESTART IDENTITY;
        """
    /// An incremental run's staging is a few hundred rows: emptied with DELETE (a TRUNCATE gives each
    /// table and index a new file: 5–10 ms a change-notification poll), as long as what the runs left
    /// stays small (`stagingSize`); past that the tables are truncated, so dead rows never pile up in
    /// tables no autovacuum visits.
    static let stagingDelete = """
        DELETE FROM domain_sync_areas; DELETE FROM domain_sync_accounts; DELETE FROM domain_sync_mailboxes;
        DELETE FROM domain_sync_users; DELETE FROM domain_sync_user_devices; DELETE FROM domain_sync_carriers;
        DELETE FROM domain_sync_destinations; DELETE FROM domain_sync_services; DELETE FROM domain_sync_leftovers;
        DELETE FROM domain_sync_log;
        """
    /// The bytes the staging tables hold (live and dead rows; indexes aside).
    static let stagingSize = Statement("domain_sync_staging_size", """
        SELECT (pg_relation_size('domain_sync_areas') + pg_relation_size('domain_sync_accounts') + pg_relation_size('domain_sync_mailboxes')
                + pg_relation_size('domain_sync_users') + pg_relation_size('domain_sync_user_devices') + pg_relation_size('domain_sync_carriers')
                + pg_relation_size('domain_sync_destinations') + pg_relation_size('domain_sync_services') + pg_relation_size('domain_sync_leftovers')
                + pg_relation_size('domain_sync_log'))::bigint AS bytes
        """)
    /// The size below which an incremental run empties the staging with DELETE.
    static let stagingDeleteBelow: Int64 = 4 << 20

    // MARK: collecting (once per run)

    /// $1 domain.
    static let areasCollect = Statement("domain_sync_areas_collect", """
        INSERT INTO domain_sync_areas (name, call_processor, message_processor, device_pool, location, partitions)
        SELECT a.name, a.call_processor, a.message_processor, a.device_pool, a.location,
               coalesce((SELECT array_agg(p.partition ORDER BY p.position) FROM service_area_partitions p
                          WHERE p.domain = a.domain AND p.service_area = a.name), '{}')
          FROM service_areas a WHERE a.domain = $1
        """)

    /// The domain's call processors and message processors (through its service areas), with what
    /// their syncs hold.
    static let processors = Statement("domain_sync_processors", """
        SELECT p.device, p.kind, d.first_synced_at IS NOT NULL AS synchronized
          FROM (SELECT DISTINCT call_processor AS device, 'call_processor' AS kind FROM domain_sync_areas
                UNION SELECT DISTINCT message_processor, 'message_processor' FROM domain_sync_areas WHERE message_processor IS NOT NULL) p
          JOIN devices d ON d.name = p.device
         ORDER BY p.kind, p.device
        """)

    /// Every user account the call processors' user syncs read. $1 the identities (lower case) an
    /// incremental run follows; NULL: all (so with every `$n::text[]` "only" below).
    static let accountsCollect = Statement("domain_sync_accounts_collect", """
        INSERT INTO domain_sync_accounts (device, user_id, user_key, attributes)
        SELECT o.device, o.object_key, lower(o.object_key), o.attributes
          FROM device_objects o
         WHERE o.device IN (SELECT call_processor FROM domain_sync_areas) AND o.sync_kind = 'user' AND o.object_type = 'User'
           AND o.removed_at IS NULL AND o.object_key <> '' AND ($1::text[] IS NULL OR lower(o.object_key) = ANY ($1::text[]))
        """)

    /// The name (lower case) an object is held by: a user its ID, a phone its owner, a device profile
    /// its login user, a remote destination profile its user, a remote destination its profile. The expression of the index
    /// `device_objects_user_key` (migrations/037), character for character, so that the
    /// incremental runs below find the objects of a few users through it.
    static func userKey(_ o: String) -> String {
        """
        lower(CASE \(o).object_type WHEN 'User' THEN \(o).object_key
            WHEN 'Phone' THEN \(o).attributes->>'ownerUserName' WHEN 'DeviceProfile' THEN \(o).attributes->>'loginUserId'
            WHEN 'RemoteDestination' THEN \(o).attributes->>'remoteDestinationProfileName' ELSE \(o).attributes->>'userId' END)
        """
    }

    /// The partial index's predicate, repeated in each query that uses it.
    static let userKeyTypes = "('User', 'Phone', 'DeviceProfile', 'RemoteDestinationProfile', 'RemoteDestination')"

    /// `accountsCollect` of an incremental run: the accounts of the identities $1 (lower case) only,
    /// looked up by identity (`device_objects_user_key`) rather than compared one by one.
    static let accountsCollectOnly = Statement("domain_sync_accounts_collect_only", """
        INSERT INTO domain_sync_accounts (device, user_id, user_key, attributes)
        SELECT o.device, o.object_key, lower(o.object_key), o.attributes
          FROM (SELECT DISTINCT call_processor FROM domain_sync_areas) p
         CROSS JOIN (SELECT DISTINCT k FROM unnest($1::text[]) AS k) k
         -- One index descent per identity (OFFSET 0 keeps it a nested loop whatever the statistics say).
         CROSS JOIN LATERAL (SELECT o.device, o.object_key, o.attributes FROM device_objects o
                              WHERE o.device = p.call_processor AND \(userKey("o")) = k.k
                                AND o.object_type IN \(userKeyTypes)
                                AND o.sync_kind = 'user' AND o.object_type = 'User' AND o.removed_at IS NULL AND o.object_key <> ''
                             OFFSET 0) o
        """)

    /// Every mailbox (VoiceMailInfo) the message processors' user syncs read, with its e-mail address.
    /// $1 only: the mailboxes of those identities and those whose DTMF access ID is a number on the
    /// staged devices (collected before, for this).
    static let mailboxesCollect = Statement("domain_sync_mailboxes_collect", """
        INSERT INTO domain_sync_mailboxes (device, alias, dtmf, uuid, email, attributes)
        SELECT o.device, o.object_key, nullif(o.attributes->>'DtmfAccessId', ''), o.uuid,
               (SELECT nullif(e.attributes->>'EmailAddress', '') FROM device_objects e
                 WHERE e.device = o.device AND e.sync_kind = 'user' AND e.object_type = 'EmailInfo'
                   AND e.object_key = o.object_key AND e.removed_at IS NULL),
               o.attributes
          FROM device_objects o
         WHERE o.device IN (SELECT message_processor FROM domain_sync_areas WHERE message_processor IS NOT NULL)
           AND o.sync_kind = 'user' AND o.object_type = 'VoiceMailInfo' AND o.removed_at IS NULL
           AND ($1::text[] IS NULL OR lower(o.object_key) = ANY ($1::text[])
                OR o.attributes->>'DtmfAccessId' IN (
                    SELECT l.line->'dirn'->>'pattern' FROM domain_sync_carriers r
                     CROSS JOIN LATERAL jsonb_array_elements(ucp_json_list(r.attributes->'lines'->'line')) l(line)))
        """)

    /// One row per identity (case-insensitive). The spelling is the record's, when one exists;
    /// otherwise the first call processor's (by name). $1 domain.
    static let usersCollect = Statement("domain_sync_users_collect", usersCollectSQL(record: """
        LEFT JOIN users u ON lower(u.user_id) = k.user_key AND NOT u.case_clash
        """))

    /// `usersCollect` of an incremental run: each identity's record looked up by `users_identity`
    /// (OFFSET 0: a nested loop, never a pass over `users` for a few hundred identities). $1 domain.
    static let usersCollectOnly = Statement("domain_sync_users_collect_only", usersCollectSQL(record: """
        LEFT JOIN LATERAL (SELECT u.user_id, u.domain FROM users u WHERE lower(u.user_id) = k.user_key AND NOT u.case_clash OFFSET 0) u
          ON true
        """))

    /// The two collections differ only in how each identity's record `u` is joined (`record`, a
    /// constant of this file).
    private static func usersCollectSQL(record: String) -> String {
        """
        INSERT INTO domain_sync_users (user_key, user_id, outcome, existing_domain)
        SELECT k.user_key, coalesce(u.user_id, k.spelling),
               CASE WHEN ucp_user_is_reserved(k.user_key) THEN 'reserved'
                    WHEN u.user_id IS NOT NULL AND u.domain <> $1 THEN 'other_domain'
                    WHEN u.user_id IS NOT NULL THEN 'sync'
                    ELSE 'new' END,
               u.domain
          FROM (SELECT user_key, (array_agg(user_id ORDER BY device, user_id))[1] AS spelling
                  FROM domain_sync_accounts GROUP BY user_key) k
        \(record)
        """
    }

    /// Unity Connection users without a call processor account (only with Sync All Users (Unity
    /// Connection)). $1 domain, $2 only.
    static let unityUsersCollect = Statement("domain_sync_unity_users_collect", """
        INSERT INTO domain_sync_users (user_key, user_id, outcome, existing_domain)
        SELECT k.user_key, coalesce(u.user_id, k.spelling),
               CASE WHEN ucp_user_is_reserved(k.user_key) THEN 'reserved'
                    WHEN u.user_id IS NOT NULL AND u.domain <> $1 THEN 'other_domain'
                    WHEN u.user_id IS NOT NULL THEN 'sync'
                    ELSE 'new_unity' END,
               u.domain
          FROM (SELECT lower(alias) AS user_key, (array_agg(alias ORDER BY device, alias))[1] AS spelling
                  FROM domain_sync_mailboxes WHERE $2::text[] IS NULL OR lower(alias) = ANY ($2::text[]) GROUP BY lower(alias)) k
          LEFT JOIN users u ON lower(u.user_id) = k.user_key AND NOT u.case_clash
        ON CONFLICT (user_key) DO NOTHING
        """)

    /// The processors whose account has the identity's exact spelling: the others clash.
    static let userDevicesCollect = Statement("domain_sync_user_devices_collect", """
        INSERT INTO domain_sync_user_devices (user_key, device)
        SELECT DISTINCT a.user_key, a.device FROM domain_sync_accounts a JOIN domain_sync_users c USING (user_key)
         WHERE a.user_id = c.user_id AND c.outcome NOT IN ('reserved', 'other_domain')
        """)

    /// A record of the domain that no account spells as it does (`testuser` while Unified CM has only
    /// `TestUser`): every account clashes, so the user is skipped — the seed's "services which belong
    /// to this user will not be synchronized" — rather than synchronized with no device, which removed
    /// its services and blanked its attributes.
    static let clashesSkip = Statement("domain_sync_clashes_skip", """
        UPDATE domain_sync_users c SET outcome = 'clash'
         WHERE c.outcome = 'sync'
           AND EXISTS (SELECT 1 FROM domain_sync_accounts a WHERE a.user_key = c.user_key)
           AND NOT EXISTS (SELECT 1 FROM domain_sync_user_devices d WHERE d.user_key = c.user_key)
        """)

    /// The phones (ownerUserName), device profiles (loginUserId) and remote destination profiles
    /// (userId) of the call processors, each with the identity it names. $1 the Extension Mobility
    /// service's URL (a LIKE pattern, compared without case), $2 whether the service is
    /// enterprise-subscribed: a device profile is Extension Mobility access when it has no service,
    /// the service is enterprise-subscribed, or one of its services has that URL (seed). Staged
    /// without a join (a range of the primary key each), so the plan never depends on the
    /// statistics of `device_objects`. $3 only.
    static let carriersCollect = Statement("domain_sync_carriers_collect", """
        INSERT INTO domain_sync_carriers (user_key, device, sync_kind, object_type, object_key, uuid, attributes, eligible)
        SELECT lower(o.attributes->>(CASE o.object_type WHEN 'Phone' THEN 'ownerUserName' WHEN 'DeviceProfile' THEN 'loginUserId' ELSE 'userId' END)),
               o.device, o.sync_kind, o.object_type, o.object_key, o.uuid, o.attributes,
               o.object_type <> 'DeviceProfile' OR $2::boolean
                 OR jsonb_array_length(ucp_json_list(o.attributes->'services'->'service')) = 0
                 OR EXISTS (SELECT 1 FROM jsonb_array_elements(ucp_json_list(o.attributes->'services'->'service')) s
                             WHERE s->>'url' ILIKE $1)
          FROM device_objects o
         WHERE o.device IN (SELECT call_processor FROM domain_sync_areas) AND o.removed_at IS NULL
           AND ((o.sync_kind = 'user' AND o.object_type IN ('Phone', 'RemoteDestinationProfile'))
                OR (o.sync_kind = 'infra' AND o.object_type = 'DeviceProfile'))
           AND coalesce(o.attributes->>(CASE o.object_type WHEN 'Phone' THEN 'ownerUserName' WHEN 'DeviceProfile' THEN 'loginUserId' ELSE 'userId' END), '') <> ''
           AND ($3::text[] IS NULL
                OR lower(o.attributes->>(CASE o.object_type WHEN 'Phone' THEN 'ownerUserName' WHEN 'DeviceProfile' THEN 'loginUserId' ELSE 'userId' END))
                   = ANY ($3::text[]))
        """)

    /// `carriersCollect` of an incremental run ($3 the identities, lower case): the devices those
    /// users hold, looked up by identity (`device_objects_user_key`), not by reading every device.
    static let carriersCollectOnly = Statement("domain_sync_carriers_collect_only", """
        INSERT INTO domain_sync_carriers (user_key, device, sync_kind, object_type, object_key, uuid, attributes, eligible)
        SELECT k.k, o.device, o.sync_kind, o.object_type, o.object_key, o.uuid, o.attributes,
               o.object_type <> 'DeviceProfile' OR $2::boolean
                 OR jsonb_array_length(ucp_json_list(o.attributes->'services'->'service')) = 0
                 OR EXISTS (SELECT 1 FROM jsonb_array_elements(ucp_json_list(o.attributes->'services'->'service')) s
                             WHERE s->>'url' ILIKE $1)
          FROM (SELECT DISTINCT call_processor FROM domain_sync_areas) p
         CROSS JOIN (SELECT DISTINCT k FROM unnest($3::text[]) AS k WHERE k <> '') k
         -- One index descent per identity (OFFSET 0 keeps it a nested loop whatever the statistics say).
         CROSS JOIN LATERAL (SELECT o.device, o.sync_kind, o.object_type, o.object_key, o.uuid, o.attributes FROM device_objects o
                              WHERE o.device = p.call_processor AND \(userKey("o")) = k.k
                                AND o.object_type IN \(userKeyTypes)
                                AND o.removed_at IS NULL
                                AND ((o.sync_kind = 'user' AND o.object_type IN ('Phone', 'RemoteDestinationProfile'))
                                     OR (o.sync_kind = 'infra' AND o.object_type = 'DeviceProfile'))
                             OFFSET 0) o
        """)

    /// Keeps the devices of an identity on a processor its spelling comes from (after ANALYZE).
    static let carriersKeepOwned = Statement("domain_sync_carriers_keep_owned", """
        DELETE FROM domain_sync_carriers c
         WHERE NOT EXISTS (SELECT 1 FROM domain_sync_user_devices d WHERE d.user_key = c.user_key AND d.device = c.device)
        """)

    /// The remote destinations of the call processors, by profile. $1 only: those of the staged profiles.
    static let destinationsCollect = Statement("domain_sync_destinations_collect", """
        INSERT INTO domain_sync_destinations (device, profile, object_key, uuid, attributes)
        SELECT o.device, o.attributes->>'remoteDestinationProfileName', o.object_key, o.uuid, o.attributes
          FROM device_objects o
         WHERE o.device IN (SELECT call_processor FROM domain_sync_areas) AND o.sync_kind = 'user'
           AND o.object_type = 'RemoteDestination' AND o.removed_at IS NULL
           AND coalesce(o.attributes->>'remoteDestinationProfileName', '') <> ''
           -- One hashed lookup of the staged profiles (an EXISTS was a pass over the staged devices per destination).
           AND ($1::text[] IS NULL OR (o.device, o.attributes->>'remoteDestinationProfileName') IN (
                SELECT r.device, r.object_key FROM domain_sync_carriers r WHERE r.object_type = 'RemoteDestinationProfile'))
        """)

    /// `destinationsCollect` of an incremental run: the remote destinations of the staged profiles,
    /// looked up by profile (`device_objects_user_key`), not by reading every destination of the device.
    static let destinationsCollectOnly = Statement("domain_sync_destinations_collect_only", """
        INSERT INTO domain_sync_destinations (device, profile, object_key, uuid, attributes)
        SELECT o.device, r.object_key, o.object_key, o.uuid, o.attributes
          FROM (SELECT DISTINCT device, object_key FROM domain_sync_carriers WHERE object_type = 'RemoteDestinationProfile') r
         CROSS JOIN LATERAL (SELECT o.device, o.object_key, o.uuid, o.attributes FROM device_objects o
                              WHERE o.device = r.device AND \(userKey("o")) = lower(r.object_key) AND o.object_type IN \(userKeyTypes)
                                AND o.sync_kind = 'user' AND o.object_type = 'RemoteDestination' AND o.removed_at IS NULL
                                AND o.attributes->>'remoteDestinationProfileName' = r.object_key
                             OFFSET 0) o
        """)

    /// Decides the new identities by the rules. $1 the required rule in effect (sync_all_users,
    /// sync_existing_users or match), $2..$4 the Match Department / Location / Device Pool lists
    /// (NULL: the rule is off), $5 Sync All Users (Unity Connection).
    static let rulesApply = Statement("domain_sync_rules_apply", """
        UPDATE domain_sync_users c SET outcome = CASE
            WHEN c.outcome = 'new_unity' THEN CASE WHEN $5::boolean AND $1::text <> 'sync_existing_users' THEN 'sync' ELSE 'excluded' END
            WHEN $1::text = 'sync_all_users' THEN 'sync'
            WHEN $1::text <> 'match' THEN 'excluded'
            WHEN ($2::text[] IS NULL OR EXISTS (
                    SELECT 1 FROM domain_sync_accounts a JOIN domain_sync_user_devices d ON d.user_key = a.user_key AND d.device = a.device
                     WHERE a.user_key = c.user_key AND a.user_id = c.user_id AND a.attributes->>'department' = ANY ($2::text[])))
             AND ($3::text[] IS NULL OR EXISTS (
                    SELECT 1 FROM domain_sync_carriers r
                     WHERE r.user_key = c.user_key AND r.object_type = 'Phone' AND r.attributes->>'locationName' = ANY ($3::text[])))
             AND ($4::text[] IS NULL OR EXISTS (
                    SELECT 1 FROM domain_sync_carriers r
                     WHERE r.user_key = c.user_key AND r.object_type IN ('Phone', 'RemoteDestinationProfile')
                       AND r.attributes->>'devicePoolName' = ANY ($4::text[])))
            THEN 'sync' ELSE 'excluded' END
         WHERE c.outcome IN ('new', 'new_unity')
        """)

    /// The attributes each synchronized identity takes (from its first call processor account, or
    /// with $1 — Sync Primary User From Unity Connection — from its mailbox), and its batch ($2 users
    /// per batch). Returns how many batches.
    static let usersPrepare = Statement("domain_sync_users_prepare", """
        WITH numbered AS (
            SELECT c.user_key, ((row_number() OVER (ORDER BY c.user_key)) - 1) / $2::integer AS batch,
                   (SELECT a.attributes FROM domain_sync_accounts a JOIN domain_sync_user_devices d ON d.user_key = a.user_key AND d.device = a.device
                     WHERE a.user_key = c.user_key ORDER BY a.device LIMIT 1) AS account,
                   (SELECT m FROM domain_sync_mailboxes m WHERE lower(m.alias) = c.user_key ORDER BY m.device LIMIT 1) AS mailbox
              FROM domain_sync_users c WHERE c.outcome = 'sync'),
        prepared AS (
            UPDATE domain_sync_users c
               SET batch = n.batch,
                   first_name = CASE WHEN $1::boolean AND (n.mailbox).alias IS NOT NULL THEN nullif((n.mailbox).attributes->>'FirstName', '')
                                     ELSE coalesce(nullif(n.account->>'firstName', ''), nullif((n.mailbox).attributes->>'FirstName', '')) END,
                   last_name = CASE WHEN $1::boolean AND (n.mailbox).alias IS NOT NULL THEN nullif((n.mailbox).attributes->>'LastName', '')
                                    ELSE coalesce(nullif(n.account->>'lastName', ''), nullif((n.mailbox).attributes->>'LastName', '')) END,
                   email = CASE WHEN $1::boolean AND (n.mailbox).alias IS NOT NULL THEN (n.mailbox).email
                                ELSE coalesce(nullif(n.account->>'mailid', ''), (n.mailbox).email) END,
                   department = nullif(n.account->>'department', ''),
                   phone = nullif(n.account->>'telephoneNumber', '')
              FROM numbered n WHERE n.user_key = c.user_key
            RETURNING n.batch)
        SELECT coalesce(max(batch) + 1, 0)::bigint AS batches, count(*)::bigint AS users FROM prepared
        """)

    /// How many identities had each outcome.
    static let outcomeCounts = Statement("domain_sync_outcome_counts", """
        SELECT outcome, count(*)::bigint AS n FROM domain_sync_users GROUP BY outcome
        """)

    /// The first log lines: case-only clashes (the seed's message 1), the restricted built-in
    /// administrators, users of another domain. Returns how many of each.
    static let collectLog = Statement("domain_sync_collect_log", """
        WITH clashes AS (
            SELECT a.user_id, a.device FROM domain_sync_accounts a JOIN domain_sync_users c USING (user_key)
             WHERE a.user_id <> c.user_id AND c.outcome NOT IN ('reserved', 'other_domain')),
        restricted AS (
            SELECT a.user_id, a.device FROM domain_sync_accounts a JOIN domain_sync_users c USING (user_key) WHERE c.outcome = 'reserved'),
        elsewhere AS (
            SELECT c.user_id, c.existing_domain FROM domain_sync_users c WHERE c.outcome = 'other_domain'),
        lines AS (
            INSERT INTO domain_sync_log (line)
            SELECT line FROM (
                SELECT 1 AS part, format('Duplicate username encountered. So skipping the creation of this user: %s from the Call Processor: %s',
                                         user_id, device) AS line, device AS k1, user_id AS k2 FROM clashes
                UNION ALL
                SELECT 2, format('Restricted user %s from the Call Processor: %s: admin and globaladmin are never changed by a synchronization',
                                 user_id, device), device, user_id FROM restricted
                UNION ALL
                SELECT 3, format('The user %s was not synchronized because it is already present in another Domain: %s', user_id, existing_domain),
                       existing_domain, user_id FROM elsewhere) l
             ORDER BY part, k1, k2)
        SELECT (SELECT count(*) FROM clashes)::bigint AS clashes, (SELECT count(*) FROM restricted)::bigint AS restricted,
               (SELECT count(*) FROM elsewhere)::bigint AS elsewhere
        """)

    /// Statistics of the staged tables, so the batches' joins are planned on real sizes.
    /// The columns the joins use only: sampling and sorting the jsonb attributes was most of the cost.
    static let stagingAnalyze = """
        ANALYZE domain_sync_areas, domain_sync_accounts (device, user_id, user_key), domain_sync_mailboxes (device, alias, dtmf),
                domain_sync_users, domain_sync_user_devices,
                domain_sync_carriers (user_key, device, sync_kind, object_type, object_key, eligible),
                domain_sync_destinations (device, profile, object_key)
        """

    // MARK: one batch

    /// The users of batch $2 (created, or their attributes updated: only users the domain sync made
    /// follow the devices; directory and manual users keep theirs). $1 domain.
    static let usersUpsert = Statement("domain_sync_users_upsert", """
        WITH written AS (
            INSERT INTO users AS u (user_id, domain, source, first_name, last_name, email, department, phone, last_synced_at)
            SELECT c.user_id, $1, 'device', c.first_name, c.last_name, c.email, c.department, c.phone, clock_timestamp()
              FROM domain_sync_users c WHERE c.batch = $2 AND c.outcome = 'sync'
            ON CONFLICT ((lower(user_id))) WHERE NOT case_clash DO UPDATE
               SET first_name = excluded.first_name, last_name = excluded.last_name, email = excluded.email,
                   department = excluded.department, phone = excluded.phone, last_synced_at = excluded.last_synced_at
             WHERE u.domain = $1 AND u.source = 'device'
               AND (u.first_name, u.last_name, u.email, u.department, u.phone)
                   IS DISTINCT FROM (excluded.first_name, excluded.last_name, excluded.email, excluded.department, excluded.phone)
            RETURNING (u.xmax = 0) AS created)
        SELECT count(*) FILTER (WHERE created)::bigint AS created, count(*) FILTER (WHERE NOT created)::bigint AS updated FROM written
        """)

    /// The services of batch $2: phones, device profiles (Extension Mobility access), remote
    /// destination profiles and their remote destinations, each placed in the first service area
    /// (by name) whose settings match; $1 the domain, for the message of one that none matches.
    static let devicesDerive = Statement("domain_sync_devices_derive", """
        INSERT INTO domain_sync_services (user_id, service_type, device, sync_kind, object_type, object_key, uuid, service_area, detail, unplaced, rank)
        SELECT c.user_id, s.service_type, r.device, r.sync_kind, r.object_type, r.object_key, r.uuid, area.name, s.detail,
               CASE WHEN area.name IS NULL THEN format(
                   'The %s %s could not be added to the customer record because a service area with the following properties could not be determined in the domain %s: %s',
                   s.label, r.object_key, $1::text, s.properties) END,
               s.rank
          FROM domain_sync_users c
          JOIN domain_sync_carriers r ON r.user_key = c.user_key AND r.eligible
          CROSS JOIN LATERAL (SELECT
                CASE r.object_type WHEN 'Phone' THEN 'phone' WHEN 'DeviceProfile' THEN 'em_access' ELSE 'remote_destination_profile' END AS service_type,
                CASE r.object_type WHEN 'Phone' THEN 'phone' WHEN 'DeviceProfile' THEN 'device profile' ELSE 'remote destination profile' END AS label,
                CASE r.object_type WHEN 'Phone' THEN 1 WHEN 'DeviceProfile' THEN 3 ELSE 4 END AS rank,
                nullif(r.attributes->>'devicePoolName', '') AS device_pool,
                nullif(r.attributes->>'locationName', '') AS location) k
          CROSS JOIN LATERAL (SELECT k.service_type, k.label, k.rank,
                jsonb_strip_nulls(jsonb_build_object('name', r.object_key, 'product', nullif(r.attributes->>'product', ''),
                                                     'device_pool', k.device_pool, 'location', k.location,
                                                     'description', nullif(r.attributes->>'description', ''))) AS detail,
                'Call Processor: ' || r.device || CASE WHEN r.object_type = 'DeviceProfile' THEN ''
                                                       ELSE ', Device Pool: ' || coalesce(k.device_pool, 'None') END AS properties) s
          -- A device profile goes where the user's phone is; a phone or remote destination profile where its device pool is.
          LEFT JOIN LATERAL (SELECT CASE WHEN r.object_type = 'DeviceProfile' THEN \(userArea("r.device", "c.user_key"))
                                    ELSE (SELECT a.name FROM domain_sync_areas a
                                           WHERE a.call_processor = r.device AND a.device_pool = k.device_pool
                                             AND (r.object_type <> 'Phone' OR a.location IS NULL OR a.location = k.location)
                                           ORDER BY a.name LIMIT 1) END AS name OFFSET 0) area ON true
         WHERE c.batch = $2 AND c.outcome = 'sync'
        UNION ALL
        SELECT c.user_id, 'remote_destination', o.device, 'user', 'RemoteDestination', o.object_key, o.uuid, area.name,
               jsonb_strip_nulls(jsonb_build_object('destination', o.object_key, 'name', nullif(o.attributes->>'name', ''),
                                                    'profile', r.object_key, 'mobile_phone', nullif(o.attributes->>'isMobilePhone', ''))),
               CASE WHEN area.name IS NULL THEN format(
                   'The remote destination %s could not be added to the customer record because a service area with the following properties could not be determined in the domain %s: Call Processor: %s, Device Pool: %s',
                   o.object_key, $1::text, o.device, coalesce(nullif(r.attributes->>'devicePoolName', ''), 'None')) END,
               5
          FROM domain_sync_users c
          JOIN domain_sync_carriers r ON r.user_key = c.user_key AND r.object_type = 'RemoteDestinationProfile'
          JOIN domain_sync_destinations o ON o.device = r.device AND o.profile = r.object_key
          LEFT JOIN LATERAL (SELECT a.name FROM domain_sync_areas a
                              WHERE a.call_processor = r.device AND a.device_pool = r.attributes->>'devicePoolName'
                              ORDER BY a.name LIMIT 1) area ON true
         WHERE c.batch = $2 AND c.outcome = 'sync'
        UNION ALL
        SELECT c.user_id, 'im_presence', a.device, 'user', 'User', a.user_id, NULL, area.name,
               jsonb_strip_nulls(jsonb_build_object('home_cluster', true,
                                                    'im_presence_enabled', coalesce(a.attributes->>'imAndPresenceEnable', '') = 'true',
                                                    'service_profile', nullif(a.attributes->>'serviceProfile', ''))),
               CASE WHEN area.name IS NULL THEN format(
                   'The user services of %s could not be added to the customer record because a service area with the following properties could not be determined in the domain %s: Call Processor: %s',
                   a.user_id, $1::text, a.device) END,
               6
          FROM domain_sync_users c
          JOIN domain_sync_user_devices d ON d.user_key = c.user_key
          JOIN domain_sync_accounts a ON a.user_key = d.user_key AND a.device = d.device
          LEFT JOIN LATERAL (SELECT \(userArea("a.device", "c.user_key")) AS name OFFSET 0) area ON true
         WHERE c.batch = $2 AND c.outcome = 'sync' AND a.attributes->>'homeCluster' = 'true'
        """)

    /// The service area of a service that only needs a call processor (Extension Mobility access,
    /// IM and Presence): the first (by name) of `callProcessor`'s areas holding one of the user's
    /// phones by device pool, else its first area. One lookup per user through the user's phones,
    /// not one per area.
    private static func userArea(_ callProcessor: String, _ userKey: String) -> String {
        """
        coalesce((SELECT s.name FROM domain_sync_carriers p
                    JOIN domain_sync_areas s ON s.call_processor = p.device AND s.device_pool = p.attributes->>'devicePoolName'
                   WHERE p.user_key = \(userKey) AND p.device = \(callProcessor) AND p.object_type = 'Phone'
                   ORDER BY s.name LIMIT 1),
                 (SELECT s.name FROM domain_sync_areas s WHERE s.call_processor = \(callProcessor) ORDER BY s.name LIMIT 1))
        """
    }

    /// The lines of batch $2: each directory number on a user's phones, Extension Mobility profiles
    /// and remote destination profiles, once per user (shared lines: once for each user holding
    /// it), placed in the first service area of its call processor that holds its partition — one
    /// of the carrying device's device pool first. $1 the domain, for the seed's message 3.
    static let linesDerive = Statement("domain_sync_lines_derive", """
        WITH appearances AS (
            SELECT c.user_id, r.device, r.object_type AS carrier_type, r.object_key AS carrier,
                   nullif(r.attributes->>'devicePoolName', '') AS device_pool, coalesce(l.line->>'index', '1') AS position,
                   l.line->'dirn'->>'pattern' AS pattern, coalesce(l.line->'dirn'->>'routePartitionName', '') AS partition,
                   CASE r.object_type WHEN 'Phone' THEN 0 WHEN 'RemoteDestinationProfile' THEN 1 ELSE 2 END AS carrier_rank
              FROM domain_sync_users c
              JOIN domain_sync_carriers r ON r.user_key = c.user_key AND r.eligible
             CROSS JOIN LATERAL jsonb_array_elements(ucp_json_list(r.attributes->'lines'->'line')) l(line)
             WHERE c.batch = $2 AND c.outcome = 'sync' AND coalesce(l.line->'dirn'->>'pattern', '') <> ''),
        lines AS (
            SELECT user_id, device, pattern, partition,
                   (array_agg(carrier_type ORDER BY carrier_rank, carrier))[1] AS carrier_type,
                   (array_agg(device_pool ORDER BY carrier_rank, carrier))[1] AS device_pool,
                   (array_agg(position ORDER BY carrier_rank, carrier))[1] AS position,
                   jsonb_agg(DISTINCT carrier ORDER BY carrier) AS carriers
              FROM appearances GROUP BY user_id, device, pattern, partition)
        INSERT INTO domain_sync_services (user_id, service_type, device, sync_kind, object_type, object_key, uuid, service_area, detail, unplaced, rank)
        SELECT l.user_id, 'line', l.device, 'user', 'Line', o.object_key, o.uuid, area.name,
               jsonb_strip_nulls(jsonb_build_object('number', l.pattern, 'partition', nullif(l.partition, ''), 'position', l.position,
                                                    'devices', l.carriers,
                                                    'voicemail_profile', nullif(o.attributes->>'voiceMailProfileName', ''))),
               CASE WHEN area.name IS NULL THEN format(
                   'The %s line Line %s - %s could not be added to the customer record because a service area with the following properties could not be determined in the domain %s: %s',
                   CASE l.carrier_type WHEN 'Phone' THEN 'phone' WHEN 'DeviceProfile' THEN 'device profile' ELSE 'remote destination profile' END,
                   l.position, l.pattern, $1::text,
                   'Call Processor: ' || l.device || CASE WHEN l.partition <> '' THEN ', Route Partition: ' || l.partition ELSE '' END) END,
               2
          FROM lines l
          JOIN device_objects o ON o.device = l.device AND o.sync_kind = 'user' AND o.object_type = 'Line'
                               AND o.object_key = l.pattern || '/' || l.partition AND o.removed_at IS NULL
          LEFT JOIN LATERAL (SELECT a.name FROM domain_sync_areas a
                              WHERE a.call_processor = l.device
                                AND (l.partition = ANY (a.partitions) OR (l.partition = '' AND cardinality(a.partitions) = 0))
                              ORDER BY a.device_pool IS NOT DISTINCT FROM l.device_pool DESC, a.name LIMIT 1) area ON true
        """)

    /// Voicemail of batch $2: the mailbox whose DTMF access ID is one of the user's line numbers (a
    /// user with no call processor account: the mailbox with its alias), placed in a service area
    /// of the mailbox's message processor — the line's own first. A shared line does not give its
    /// mailbox to every user holding it: a mailbox whose alias is an account of the domain's call
    /// processors is that user's alone (read from `device_objects` by identity, so an incremental
    /// run decides as a whole one does).
    static let voicemailDerive = Statement("domain_sync_voicemail_derive", """
        INSERT INTO domain_sync_services (user_id, service_type, device, sync_kind, object_type, object_key, uuid, service_area, detail, unplaced, rank)
        SELECT DISTINCT ON (v.user_id, v.device, v.alias) v.user_id, 'voicemail', v.device, 'user', 'VoiceMailInfo', v.alias, v.uuid, area.name,
               jsonb_strip_nulls(jsonb_build_object('mailbox', v.alias, 'number', v.dtmf)),
               CASE WHEN area.name IS NULL THEN format(
                   'The voicemail %s could not be added to the customer record because a service area with the following properties could not be determined in the domain %s: Message Processor: %s',
                   v.alias, $1::text, v.device) END,
               7
          FROM (SELECT s.user_id, m.device, m.alias, m.uuid, m.dtmf, s.service_area AS line_area, s.device AS line_device
                  FROM domain_sync_services s JOIN domain_sync_mailboxes m ON m.dtmf = s.detail->>'number'
                 WHERE s.service_type = 'line'
                   AND (lower(m.alias) = lower(s.user_id) OR NOT EXISTS (
                        SELECT 1 FROM (SELECT DISTINCT call_processor FROM domain_sync_areas) p
                          JOIN device_objects o ON o.device = p.call_processor AND \(userKey("o")) = lower(m.alias)
                                               AND o.object_type IN \(userKeyTypes)
                                               AND o.sync_kind = 'user' AND o.object_type = 'User' AND o.removed_at IS NULL))
                UNION ALL
                SELECT c.user_id, m.device, m.alias, m.uuid, m.dtmf, NULL, NULL
                  FROM domain_sync_users c JOIN domain_sync_mailboxes m ON lower(m.alias) = c.user_key
                 WHERE c.batch = $2 AND c.outcome = 'sync'
                   AND NOT EXISTS (SELECT 1 FROM domain_sync_user_devices d WHERE d.user_key = c.user_key)) v
          LEFT JOIN LATERAL (SELECT a.name FROM domain_sync_areas a WHERE a.message_processor = v.device
                              ORDER BY a.name IS NOT DISTINCT FROM v.line_area DESC, a.call_processor IS NOT DISTINCT FROM v.line_device DESC, a.name
                              LIMIT 1) area ON true
         ORDER BY v.user_id, v.device, v.alias, v.dtmf
        """)

    /// The batch's log: services no service area took (message 3), lines without a mailbox while
    /// the domain has a message processor (message 2; not for a line whose voicemail profile is
    /// NoVoiceMail), device profiles not subscribed to Extension Mobility, and the services this run
    /// removes. $1 domain, $2 batch, $3 whether the domain has a message processor.
    static let batchLog = Statement("domain_sync_batch_log", """
        INSERT INTO domain_sync_log (line)
        SELECT line FROM (
            SELECT s.user_id AS k1, s.rank AS k2, s.object_key AS k3, s.unplaced AS line
              FROM domain_sync_services s WHERE s.unplaced IS NOT NULL
            UNION ALL
            SELECT DISTINCT ON (s.user_id, s.detail->>'number') s.user_id, 8, s.detail->>'number',
                   format('No matching voicemail info found for directory number %s', s.detail->>'number')
              FROM domain_sync_services s
             WHERE $3::boolean AND s.service_type = 'line' AND coalesce(s.detail->>'voicemail_profile', '') <> 'NoVoiceMail'
               AND NOT EXISTS (SELECT 1 FROM domain_sync_mailboxes m WHERE m.dtmf = s.detail->>'number')
            UNION ALL
            SELECT c.user_id, 9, r.object_key,
                   format('The device profile %s of user %s is not subscribed to the Extension Mobility service: it is not added as Extension Mobility access',
                          r.object_key, c.user_id)
              FROM domain_sync_users c JOIN domain_sync_carriers r ON r.user_key = c.user_key AND NOT r.eligible
             WHERE c.batch = $2 AND c.outcome = 'sync'
            UNION ALL
            SELECT s.user_id, 10, s.object_key,
                   format('Removed %s %s from user %s: the device no longer has it for this user', replace(s.service_type, '_', ' '), s.object_key, s.user_id)
              FROM user_services s JOIN domain_sync_users c ON c.user_id = s.user_id
             WHERE c.batch = $2 AND c.outcome = 'sync' AND s.domain = $1
               AND NOT EXISTS (SELECT 1 FROM domain_sync_services n
                                WHERE n.service_area IS NOT NULL AND n.user_id = s.user_id AND n.service_type = s.service_type
                                  AND n.device = s.device AND n.object_type = s.object_type AND n.object_key = s.object_key)) l
         ORDER BY k1, k2, k3
        """)

    /// Marks the batch's services that `user_services` holds exactly so, before the merge writes
    /// (inside the merge this check was planned on the table's size at the start, and on a first
    /// sync re-read the rows the same statement was inserting). $1 domain.
    static let servicesMarkUnchanged = Statement("domain_sync_services_mark_unchanged", """
        UPDATE domain_sync_services n SET unchanged = true
          FROM domain_sync_users c
         -- Only a user whose record existed when the run began can hold a service already (a first
         -- sync reads nothing here), and each service is looked up by its key: one index probe per
         -- service, never a pass over the whole of user_services per batch (that grew with the table).
         WHERE c.user_id = n.user_id AND c.existing_domain IS NOT NULL AND n.service_area IS NOT NULL
           AND (SELECT (e.sync_kind, e.uuid, e.domain, e.service_area, e.detail)
                       IS NOT DISTINCT FROM (n.sync_kind, n.uuid, $1::text, n.service_area, n.detail)
                  FROM user_services e
                 WHERE e.user_id = c.user_id AND e.service_type = n.service_type AND e.device = n.device
                   AND e.object_type = n.object_type AND e.object_key = n.object_key)
        """)

    /// Writes the batch $2: removes the services gone, gives back kept services (no user) whose object a
    /// user holds again, and upserts the placed services, writing only what differs. $1 domain.
    static let servicesMerge = Statement("domain_sync_services_merge", """
        WITH removed AS (
            DELETE FROM user_services s USING domain_sync_users c
             WHERE c.user_id = s.user_id AND c.batch = $2 AND c.outcome = 'sync' AND s.domain = $1
               AND NOT EXISTS (SELECT 1 FROM domain_sync_services n
                                WHERE n.service_area IS NOT NULL AND n.user_id = s.user_id AND n.service_type = s.service_type
                                  AND n.device = s.device AND n.object_type = s.object_type AND n.object_key = s.object_key)
            RETURNING 1),
        adopted AS (
            DELETE FROM user_services k USING domain_sync_services n
             WHERE k.user_id IS NULL AND k.domain = $1 AND n.service_area IS NOT NULL AND n.service_type = k.service_type
               AND n.device = k.device AND n.object_type = k.object_type AND n.object_key = k.object_key
            RETURNING 1),
        written AS (
            INSERT INTO user_services AS s (user_id, service_type, device, sync_kind, object_type, object_key, uuid, domain, service_area, detail)
            SELECT n.user_id, n.service_type, n.device, n.sync_kind, n.object_type, n.object_key, n.uuid, $1, n.service_area, n.detail
              FROM domain_sync_services n
             -- Services held as they are skip the upsert: a conflict locks its row even when nothing is written.
             WHERE n.service_area IS NOT NULL AND NOT n.unchanged
            ON CONFLICT (user_id, service_type, device, object_type, object_key) DO UPDATE
               SET sync_kind = excluded.sync_kind, uuid = excluded.uuid, domain = excluded.domain,
                   service_area = excluded.service_area, detail = excluded.detail, updated_at = clock_timestamp()
             WHERE (s.sync_kind, s.uuid, s.domain, s.service_area, s.detail)
                   IS DISTINCT FROM (excluded.sync_kind, excluded.uuid, excluded.domain, excluded.service_area, excluded.detail)
            RETURNING (s.xmax = 0) AS added)
        SELECT (SELECT count(*) FROM removed)::bigint AS removed, (SELECT count(*) FROM adopted)::bigint AS adopted,
               (SELECT count(*) FILTER (WHERE added) FROM written)::bigint AS added,
               (SELECT count(*) FILTER (WHERE NOT added) FROM written)::bigint AS changed,
               (SELECT count(*) FROM domain_sync_services WHERE service_area IS NULL)::bigint AS unplaced
        """)

    static let servicesClear = "TRUNCATE domain_sync_services"
    static let servicesDelete = "DELETE FROM domain_sync_services"
    static let servicesAnalyze = """
        ANALYZE domain_sync_services (user_id, service_type, device, sync_kind, object_type, object_key, uuid, service_area, rank)
        """

    // MARK: the end

    /// Services of the domain's users this run did not synchronize (no longer on any processor of
    /// the domain), and kept services whose object is gone: logged, then removed. $1 domain.
    static let leftoversCollect = Statement("domain_sync_leftovers_collect", """
        INSERT INTO domain_sync_leftovers (user_id, service_type, device, sync_kind, object_type, object_key)
        SELECT s.user_id, s.service_type, s.device, s.sync_kind, s.object_type, s.object_key
          FROM user_services s
         WHERE s.domain = $1 AND \(leftover)
        """)
    private static let leftover = """
        CASE WHEN s.user_id IS NULL
             THEN EXISTS (SELECT 1 FROM device_objects o WHERE o.device = s.device AND o.sync_kind = s.sync_kind
                           AND o.object_type = s.object_type AND o.object_key = s.object_key AND o.removed_at IS NOT NULL)
             ELSE \(userLeftover) END
        """
    /// A service of a user the run did not synchronize (admin and globaladmin, and a user skipped for
    /// a case-only clash, are never touched).
    private static let userLeftover = """
        NOT ucp_user_is_reserved(s.user_id)
        AND NOT EXISTS (SELECT 1 FROM domain_sync_users c WHERE c.user_id = s.user_id AND c.outcome IN ('sync', 'clash'))
        """

    /// An incremental run's leftovers: the services of the identities $2 (lower case) it did not
    /// synchronize, found through their records (the other users' services are not read). $1 domain.
    static let userLeftoversCollect = Statement("domain_sync_user_leftovers_collect", """
        INSERT INTO domain_sync_leftovers (user_id, service_type, device, sync_kind, object_type, object_key)
        SELECT s.user_id, s.service_type, s.device, s.sync_kind, s.object_type, s.object_key
          FROM user_services s
         WHERE s.domain = $1 AND s.user_id IN (SELECT u.user_id FROM users u WHERE lower(u.user_id) = ANY ($2::text[])) AND \(userLeftover)
        """)

    /// An incremental run's leftovers (the identities $2, lower case), removed and collected for the
    /// log in one statement: found through the users' records by identity (`users_identity`, and the
    /// few case clashes) and their services by key, never by a pass over `users` or `user_services`. $1 domain.
    static let userLeftoversRemove = Statement("domain_sync_user_leftovers_remove", """
        WITH gone AS (
            DELETE FROM user_services s
             -- By the key's first column (user_services_key): never a pass over user_services.
             WHERE s.user_id = ANY (ARRAY(SELECT u.user_id FROM (SELECT DISTINCT k FROM unnest($2::text[]) AS k) k
                                           CROSS JOIN LATERAL (SELECT u.user_id FROM users u
                                                                WHERE lower(u.user_id) = k.k AND NOT u.case_clash OFFSET 0) u
                                          UNION ALL
                                          SELECT u.user_id FROM users u WHERE u.case_clash AND lower(u.user_id) IN (SELECT unnest($2::text[]))))
               AND s.domain = $1 AND \(userLeftover)
            RETURNING s.user_id, s.service_type, s.device, s.sync_kind, s.object_type, s.object_key)
        INSERT INTO domain_sync_leftovers (user_id, service_type, device, sync_kind, object_type, object_key)
        SELECT user_id, service_type, device, sync_kind, object_type, object_key FROM gone
        """)

    static let leftoversLog = Statement("domain_sync_leftovers_log", """
        INSERT INTO domain_sync_log (line)
        SELECT CASE WHEN l.user_id IS NULL
                    THEN format('Removed %s %s (kept from a deleted user): the device no longer has it', replace(l.service_type, '_', ' '), l.object_key)
                    ELSE format('Removed %s %s from user %s: the user is no longer on a processor of the domain',
                                replace(l.service_type, '_', ' '), l.object_key, l.user_id) END
          FROM domain_sync_leftovers l
         ORDER BY l.user_id NULLS LAST, l.service_type, l.object_key
        """)
    static let leftoversAnalyze = "ANALYZE domain_sync_leftovers"
    /// By key: a user's service by its unique key, a kept one (no user) by its object. $1 domain.
    static let leftoversDelete = Statement("domain_sync_leftovers_delete", """
        WITH owned AS (
            DELETE FROM user_services s USING domain_sync_leftovers l
             WHERE s.domain = $1 AND s.user_id = l.user_id AND s.service_type = l.service_type AND s.device = l.device
               AND s.object_type = l.object_type AND s.object_key = l.object_key
            RETURNING 1),
        kept AS (
            DELETE FROM user_services s USING domain_sync_leftovers l
             WHERE s.domain = $1 AND s.user_id IS NULL AND l.user_id IS NULL AND s.device = l.device AND s.sync_kind = l.sync_kind
               AND s.object_type = l.object_type AND s.object_key = l.object_key AND s.service_type = l.service_type
            RETURNING 1)
        SELECT ((SELECT count(*) FROM owned) + (SELECT count(*) FROM kept))::bigint AS removed
        """)

    /// The log lines collected, after `$3` lines the caller wrote first. $1 sync type, $2 target.
    static let logLinesSave = Statement("domain_sync_log_save", """
        INSERT INTO sync_log_lines (sync_type, target, line_no, line)
        SELECT $1, $2, $3::integer + row_number() OVER (ORDER BY line_no), line FROM domain_sync_log
        """)
    static let logLinesRead = Statement("domain_sync_log_read", """
        SELECT line FROM domain_sync_log ORDER BY line_no LIMIT $1
        """)
    static let logLinesCount = Statement("domain_sync_log_count", "SELECT count(*)::bigint AS n FROM domain_sync_log")

    // MARK: following changes (change notification)

    /// The domains whose service areas have $1 as their call processor: the ones holding its users.
    static let processorDomains = Statement("domain_sync_processor_domains", """
        SELECT DISTINCT domain FROM service_areas WHERE call_processor = $1 ORDER BY domain
        """)

    /// The identities (lower case) whose user records objects $2 (uuids, lower case without braces) of
    /// device $1 touch, after they were written: a user changed; the holder an object names now (a
    /// phone's owner, a device profile's login user, a remote destination profile's user, a remote
    /// destination's profile's); the users holding it as a service (a line, and the holder before a
    /// change). Removed objects count (their last attributes); admin and globaladmin never (seed).
    static let affectedUsers = Statement("domain_sync_affected_users", """
        WITH changed AS (
            -- Through device_objects_uuid, one descent per uuid (a join with unnest() was planned as a pass over the device's objects).
            SELECT o.sync_kind, o.object_type, o.object_key, o.attributes
              FROM device_objects o WHERE o.device = $1 AND lower(btrim(o.uuid, '{}')) = ANY ($2::text[]))
        SELECT DISTINCT lower(u.user_id) AS user_key FROM (
            -- The holders of each object by user_services_object (OFFSET 0: a nested loop, never a pass over user_services).
            SELECT s.user_id FROM changed c
             CROSS JOIN LATERAL (SELECT s.user_id FROM user_services s
                                  WHERE s.device = $1 AND s.sync_kind = c.sync_kind AND s.object_type = c.object_type
                                    AND s.object_key = c.object_key OFFSET 0) s
            UNION ALL
            SELECT c.object_key FROM changed c WHERE c.object_type = 'User'
            UNION ALL
            SELECT c.attributes->>(CASE c.object_type WHEN 'Phone' THEN 'ownerUserName' WHEN 'DeviceProfile' THEN 'loginUserId' ELSE 'userId' END)
              FROM changed c WHERE c.object_type IN ('Phone', 'DeviceProfile', 'RemoteDestinationProfile')
            UNION ALL
            SELECT p.attributes->>'userId' FROM changed c
              JOIN device_objects p ON p.device = $1 AND p.sync_kind = 'user' AND p.object_type = 'RemoteDestinationProfile'
                                   AND p.object_key = c.attributes->>'remoteDestinationProfileName'
             WHERE c.object_type = 'RemoteDestination') u (user_id)
         WHERE coalesce(u.user_id, '') <> '' AND NOT ucp_user_is_reserved(u.user_id)
         ORDER BY 1
        """)

    // MARK: reading the records

    /// A user's services, by service area (unplaced last) and kind.
    static let userServices = Statement("user_services_of_user", """
        SELECT service_area, service_type, device, object_type, object_key, detail::text AS detail, updated_at
          FROM user_services WHERE user_id = $1
         ORDER BY service_area NULLS LAST, CASE service_type WHEN 'phone' THEN 1 WHEN 'line' THEN 2 WHEN 'voicemail' THEN 3
                  WHEN 'em_access' THEN 4 WHEN 'remote_destination_profile' THEN 5 WHEN 'remote_destination' THEN 6 ELSE 7 END,
                  device, object_key
        """)
    /// The service count of each user of a domain.
    static let serviceCounts = Statement("user_service_counts", """
        SELECT u.user_id, count(s.user_id)::bigint AS services
          FROM users u LEFT JOIN user_services s ON s.user_id = u.user_id
         WHERE u.domain = $1 GROUP BY u.user_id
        """)
    /// Phones of the domain's call processors that no user holds as a service.
    static let orphanPhones = Statement("domain_orphan_phones", """
        SELECT o.device, o.object_key AS name, coalesce(o.attributes->>'description', '') AS description,
               coalesce(o.attributes->>'devicePoolName', '') AS device_pool, coalesce(o.attributes->>'ownerUserName', '') AS owner
          FROM device_objects o
         WHERE o.device IN (SELECT call_processor FROM service_areas WHERE domain = $1)
           AND o.sync_kind = 'user' AND o.object_type = 'Phone' AND o.removed_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM user_services s WHERE s.device = o.device AND s.sync_kind = 'user' AND s.object_type = 'Phone'
                            AND s.object_key = o.object_key AND s.user_id IS NOT NULL)
         ORDER BY o.device, o.object_key
        """)
}
