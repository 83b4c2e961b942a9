import Foundation
import Postgres

/// What orders (Sources/Orders) read from and write to the inventory: the numbers in use on a call
/// processor, whether the user syncs saw an object, and — once an order succeeded — the services it
/// made, recorded as the user sync and the domain sync would (device objects and user services), so
/// the user record shows them placed in the area without waiting for a sync.
enum OrderInventorySQL {
    /// Numbers of lines the call processor's user sync read in one partition, of one length, within
    /// [$3, $4]. $1 device, $2 partition ('' for none).
    static let numbersInUse = Statement("order_inventory_numbers_in_use", """
        SELECT o.attributes->>'pattern' AS number
          FROM device_objects o
         WHERE o.device = $1 AND o.sync_kind = 'user' AND o.object_type = 'Line' AND o.removed_at IS NULL
           AND coalesce(o.attributes->>'routePartitionName', '') = $2
           AND length(o.attributes->>'pattern') = length($3) AND o.attributes->>'pattern' BETWEEN $3 AND $4
        UNION
        SELECT s.detail->>'number' FROM user_services s
         WHERE s.device = $1 AND s.service_type = 'line' AND coalesce(s.detail->>'partition', '') = $2
           AND length(s.detail->>'number') = length($3) AND s.detail->>'number' BETWEEN $3 AND $4
        """)
    /// Whether a present object of $2 (type) keyed $3 (without case) was read from $1.
    static let objectPresent = Statement("order_inventory_object_present", """
        SELECT EXISTS (SELECT 1 FROM device_objects
                        WHERE device = $1 AND object_type = $2 AND lower(object_key) = lower($3) AND removed_at IS NULL) AS present
        """)
    /// The call processors other than $1 whose user sync read user $2 (without case) with Unified
    /// CM as its home cluster (orders-brief §A.1 12: one home cluster per user). One index look per
    /// call processor (device_objects_name); `device <> $1` on the objects would read all of them.
    static let homeClusters = Statement("order_inventory_home_clusters", """
        SELECT d.name AS device FROM devices d
         WHERE d.name <> $1 AND d.kind = 'call_processor'
           AND EXISTS (SELECT 1 FROM device_objects o
                        WHERE o.device = d.name AND o.object_type = 'User' AND lower(o.object_key) = lower($2)
                          AND o.removed_at IS NULL AND o.sync_kind = 'user' AND o.attributes->>'homeCluster' = 'true')
         ORDER BY d.name
        """)
    /// For each (type $2[i], key $3[i]): whether a present object of it was read from $1 (keys
    /// without case), in their order, in one read.
    static let objectsPresent = Statement("order_inventory_objects_present", """
        SELECT EXISTS (SELECT 1 FROM device_objects o
                        WHERE o.device = $1 AND o.object_type = c.type AND lower(o.object_key) = lower(c.key) AND o.removed_at IS NULL) AS present
          FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS c(type, key, n)
         ORDER BY c.n
        """)
    /// The line appearances of the phones $2 (names in lower case) on $1, as the user sync read them
    /// (or the order that made the phone recorded them): phone, index, number and partition.
    static let phoneLines = Statement("order_inventory_phone_lines", """
        SELECT o.object_key AS phone, nullif(l.line->>'index', '') AS index, l.line->'dirn'->>'pattern' AS pattern,
               coalesce(l.line->'dirn'->>'routePartitionName', '') AS partition
          FROM device_objects o
         CROSS JOIN LATERAL jsonb_array_elements(ucp_json_list(o.attributes->'lines'->'line')) l(line)
         WHERE o.device = $1 AND o.sync_kind = 'user' AND o.object_type = 'Phone' AND lower(o.object_key) = ANY ($2::text[])
           AND o.removed_at IS NULL AND coalesce(l.line->'dirn'->>'pattern', '') <> ''
         ORDER BY o.object_key, l.line->>'index'
        """)
    /// Whether any present object of type $2 was read from $1.
    static let objectTypePresent = Statement("order_inventory_object_type_present", """
        SELECT EXISTS (SELECT 1 FROM device_objects WHERE device = $1 AND object_type = $2 AND removed_at IS NULL) AS present
        """)
    /// Every service an order made with its object (arrays $1–$8, one element a service: device,
    /// object type, key, uuid, attributes JSON, detail JSON, service type, sync kind; $14 the
    /// before-image JSON of an object the order changed but did not make, else NULL) for user $9
    /// in domain $10, area $11, by job $13; and the user placed in the area (always for a move,
    /// $12; else only a user not placed yet) — in one statement (the services of one order have
    /// distinct keys). A changed object keeps what the sync read (its key's spelling, its uuid,
    /// its other fields) with the order's fields written over them; its service keeps what the
    /// record holds (its uuid, its other detail) with the order's detail written over it. Each
    /// object written is stamped (last seen now, by the job): a change-notification poll whose
    /// gets began before does not take it back (cn_upsert_unless_newer).
    static let servicesRecordAll = Statement("order_inventory_services_record_all", """
        WITH t AS MATERIALIZED (
            SELECT u.device, coalesce(e.object_key, u.object_key) AS object_key, u.object_type, u.service_type, u.sync_kind, u.detail,
                   u.uuid, coalesce(u.uuid, e.uuid) AS object_uuid, u.before IS NOT NULL AS changed,
                   CASE WHEN u.before IS NULL THEN u.attributes::jsonb ELSE coalesce(e.attributes, '{}') || u.attributes::jsonb END AS attributes
              FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $14::text[])
                       AS u(device, object_type, object_key, uuid, attributes, detail, service_type, sync_kind, before)
              LEFT JOIN LATERAL (SELECT o.object_key, o.uuid, o.attributes FROM device_objects o
                                  WHERE u.before IS NOT NULL AND o.device = u.device AND o.sync_kind = u.sync_kind
                                    AND o.object_type = u.object_type AND lower(o.object_key) = lower(u.object_key)
                                  ORDER BY o.removed_at IS NULL DESC LIMIT 1) e ON true),
        objects AS (
            INSERT INTO device_objects AS o (device, sync_kind, object_type, object_key, uuid, attributes, seen_by)
            SELECT t.device, t.sync_kind, t.object_type, t.object_key, t.object_uuid, t.attributes, $13 FROM t
            ON CONFLICT (device, sync_kind, object_type, object_key) DO UPDATE
               SET uuid = excluded.uuid, attributes = excluded.attributes, last_seen = clock_timestamp(),
                   seen_by = excluded.seen_by, removed_at = NULL),
        services AS (
            INSERT INTO user_services AS s (user_id, service_type, device, sync_kind, object_type, object_key, uuid, domain, service_area, detail)
            SELECT $9, t.service_type, t.device, t.sync_kind, t.object_type, t.object_key, coalesce(t.uuid, r.uuid), $10, $11,
                   coalesce(r.detail, '{}') || t.detail::jsonb
              FROM t
              LEFT JOIN user_services r ON t.changed AND r.user_id = $9 AND r.service_type = t.service_type AND r.device = t.device
                                       AND r.object_type = t.object_type AND r.object_key = t.object_key
            ON CONFLICT (user_id, service_type, device, object_type, object_key) DO UPDATE
               SET uuid = excluded.uuid, domain = excluded.domain, service_area = excluded.service_area,
                   detail = excluded.detail, updated_at = clock_timestamp())
        UPDATE users SET service_area = $11
         WHERE lower(user_id) = lower($9) AND NOT case_clash AND ($12 OR service_area IS NULL) AND service_area IS DISTINCT FROM $11
        """)
    /// An object a cancel order removed: gone from the device, so gone from the user's services. $4 the sync kind.
    static let objectRemoved = Statement("order_inventory_object_removed", """
        WITH gone AS (
            DELETE FROM user_services WHERE device = $1 AND sync_kind = $4 AND object_type = $2 AND lower(object_key) = lower($3))
        UPDATE device_objects SET removed_at = clock_timestamp()
         WHERE device = $1 AND sync_kind = $4 AND object_type = $2 AND lower(object_key) = lower($3) AND removed_at IS NULL
        """)
    /// An object a cancel order changed back (it changed it, did not make it): $1 device, $2 sync
    /// kind, $3 type, $4 key (without case); its fields $5 (JSON) written over what the inventory
    /// holds, and its service of type $6 given detail $7 — or gone, when $7 is NULL (the fields
    /// as they were give no such service).
    static let objectRestored = Statement("order_inventory_object_restored", """
        WITH object AS (
            UPDATE device_objects SET attributes = attributes || $5::jsonb, last_seen = clock_timestamp()
             WHERE device = $1 AND sync_kind = $2 AND object_type = $3 AND lower(object_key) = lower($4) AND removed_at IS NULL),
        gone AS (
            DELETE FROM user_services
             WHERE $7::text IS NULL AND device = $1 AND sync_kind = $2 AND object_type = $3 AND lower(object_key) = lower($4) AND service_type = $6)
        UPDATE user_services SET detail = $7::jsonb, updated_at = clock_timestamp()
         WHERE $7::text IS NOT NULL AND device = $1 AND sync_kind = $2 AND object_type = $3 AND lower(object_key) = lower($4) AND service_type = $6
        """)
    /// A moved user's services follow it into the new area. $1 user, $2 domain, $3 area.
    static let servicesMoved = Statement("order_inventory_services_moved", """
        UPDATE user_services SET service_area = $3, updated_at = clock_timestamp()
         WHERE lower(user_id) = lower($1) AND domain = $2 AND service_area IS DISTINCT FROM $3
        """)
}

/// An object an order made (or changed) and the service it gives the user.
public struct OrderedService: Sendable, Equatable {
    /// phone, line or voicemail.
    public var serviceType: String
    public var device: String
    /// The inventory type (Phone, Line, VoiceMailInfo) and key, as the user syncs spell them.
    public var objectType: String
    public var objectKey: String
    public var uuid: String?
    /// The object's fields as a sync would store them (JSON object).
    public var attributes: String
    /// What the user record shows for the service (JSON object; with `attributesBefore`, written
    /// over what it shows).
    public var detail: String
    /// The sync that reads the object: user, or infra (a device profile).
    public var syncKind = "user"
    /// For an object the order changed but did not make (the user's account it adopted, a moved
    /// user's phone and lines): the fields it changed as they were (JSON object). Recording writes
    /// `attributes` over what the sync read; a cancel writes these back (the object stays) instead
    /// of removing the object.
    public var attributesBefore: String?
    /// With `attributesBefore`: the service's detail those fields give (nil: none, a cancel removes the service).
    public var detailBefore: String?

    public init(serviceType: String, device: String, objectType: String, objectKey: String, uuid: String?, attributes: String, detail: String) {
        self.serviceType = serviceType
        self.device = device
        self.objectType = objectType
        self.objectKey = objectKey
        self.uuid = uuid
        self.attributes = attributes
        self.detail = detail
    }
}

/// The inventory's side of orders.
public struct OrderInventoryStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    /// The numbers of `block` already used on `device` (read by its user sync, or a service).
    public func numbersInUse(device: String, block: DNBlock) async throws -> Set<String> {
        Set(try await connection.query(OrderInventorySQL.numbersInUse, [device, block.partition, block.first, block.last])
            .map { try $0.decode("number") })
    }

    public func objectPresent(device: String, type: String, key: String) async throws -> Bool {
        try await connection.query(OrderInventorySQL.objectPresent, [device, type, key]).first?.decode("present") ?? false
    }

    /// `objectPresent` of several (type, key) pairs in one read, in their order.
    public func objectsPresent(device: String, _ objects: [(type: String, key: String)]) async throws -> [Bool] {
        try await connection.query(OrderInventorySQL.objectsPresent, [device, PostgresTextArray(objects.map(\.type)),
                                                                      PostgresTextArray(objects.map(\.key))]).map { try $0.decode("present") }
    }

    /// The other call processors that are the user's home cluster, as their user syncs read it.
    public func homeClusters(userID: String, except device: String) async throws -> [String] {
        try await connection.query(OrderInventorySQL.homeClusters, [device, userID]).map { try $0.decode("device") }
    }

    /// The line appearances of `phones` on `device` the inventory knows (none for a phone whose lines it never read).
    public func phoneLines(device: String, phones: [String]) async throws -> [(phone: String, index: String?, pattern: String, partition: String)] {
        try await connection.query(OrderInventorySQL.phoneLines, [device, PostgresTextArray(phones.map { $0.lowercased() })]).map { row in
            (try row.decode("phone"), try row.decodeIfPresent("index"), try row.decode("pattern"), try row.decode("partition"))
        }
    }

    /// Whether the device's synchronizations read any object of `type` (for example credential policies).
    public func objectTypePresent(device: String, type: String) async throws -> Bool {
        try await connection.query(OrderInventorySQL.objectTypePresent, [device, type]).first?.decode("present") ?? false
    }

    /// Writes inside the caller's transaction (the order's end, fenced on its job).
    public struct InTransaction {
        let session: Session

        public init(_ session: Session) {
            self.session = session
        }

        public func numbersInUse(device: String, block: DNBlock) throws -> Set<String> {
            Set(try session.query(OrderInventorySQL.numbersInUse, [device, block.partition, block.first, block.last])
                .map { try $0.decode("number") })
        }

        /// After an order succeeded, in one statement: each service (and its object) recorded for
        /// `userID`, placed in `serviceArea` of `domain`, and the user placed in that area: always for
        /// a change order that moved it (`moved`: its services follow), else only a user at domain level.
        public func servicesRecordAndUserPlaced(_ services: [OrderedService], userID: String, domain: String, serviceArea: String,
                                                jobID: Int64, moved: Bool) throws {
            try session.query(OrderInventorySQL.servicesRecordAll, [
                PostgresTextArray(services.map(\.device)), PostgresTextArray(services.map(\.objectType)), PostgresTextArray(services.map(\.objectKey)),
                PostgresTextArray(services.map(\.uuid)), PostgresTextArray(services.map(\.attributes)), PostgresTextArray(services.map(\.detail)),
                PostgresTextArray(services.map(\.serviceType)), PostgresTextArray(services.map(\.syncKind)),
                userID, domain, serviceArea, moved, jobID, PostgresTextArray(services.map(\.attributesBefore)),
            ])
            if moved { try session.query(OrderInventorySQL.servicesMoved, [userID, domain, serviceArea]) }
        }

        /// Forgets objects a cancel order removed from the device; an object it changed back (it
        /// did not make it) keeps its place, with its fields as they were and the service they give.
        public func objectsRemoved(_ services: [OrderedService]) throws {
            for service in services {
                if let before = service.attributesBefore {
                    try session.query(OrderInventorySQL.objectRestored, [service.device, service.syncKind, service.objectType, service.objectKey,
                                                                        before, service.serviceType, service.detailBefore])
                } else {
                    try session.query(OrderInventorySQL.objectRemoved, [service.device, service.objectType, service.objectKey, service.syncKind])
                }
            }
        }
    }
}
