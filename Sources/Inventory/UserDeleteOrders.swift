import Foundation
import Postgres

/// The inventory's side of the delete orders of the LDAP synchronization (issue 15 item 6;
/// migrations 007 and 034): the request the sync queued (`user_delete_orders`), linked to the real
/// order that runs it, what the user holds on the devices, and — when the order ends — its outcome
/// copied back and the user record removed.
enum UserDeleteSQL {
    static let requestGet = Statement("user_delete_request_get", """
        SELECT id, domain, user_id, action, state, order_id, sync_job_id FROM user_delete_orders WHERE id = $1 FOR UPDATE
        """)
    /// The request is now run by order $2.
    static let requestLink = Statement("user_delete_request_link", """
        UPDATE user_delete_orders SET order_id = $2, state = 'running' WHERE id = $1 AND order_id IS NULL RETURNING id
        """)
    /// A request that could not become an order (its plan was refused): failed, with the reason.
    static let requestRefused = Statement("user_delete_request_refused", """
        UPDATE user_delete_orders SET state = 'failed', message = $2, finished_at = clock_timestamp()
         WHERE id = $1 AND state IN ('pending', 'running')
        """)
    /// The order's end copied to its request ($2 succeeded, failed or running; $3 the order's error).
    static let requestOutcome = Statement("user_delete_request_outcome", """
        UPDATE user_delete_orders SET state = $2, message = $3,
                                      finished_at = CASE WHEN $2 IN ('succeeded', 'failed') THEN clock_timestamp() END
         WHERE order_id = $1 AND (state IS DISTINCT FROM $2 OR message IS DISTINCT FROM $3)
        """)
    /// What the user holds on the devices: each service with its object's uuid.
    static let targets = Statement("user_delete_targets", """
        SELECT service_type, device, object_type, object_key, uuid, detail::text AS detail FROM user_services
         WHERE lower(user_id) = lower($1) AND service_type IN ('phone', 'line', 'voicemail', 'remote_destination', 'remote_destination_profile', 'em_access')
         ORDER BY service_type, device, object_key
        """)
    /// The call processors whose user synchronization read the end user, with its uuid there.
    static let userOnDevices = Statement("user_delete_user_on_devices", """
        SELECT DISTINCT ON (o.device) o.device, o.uuid FROM device_objects o JOIN devices d ON d.name = o.device
         WHERE o.object_type = 'User' AND lower(o.object_key) = lower($1) AND o.removed_at IS NULL
         ORDER BY o.device, o.uuid IS NULL
        """)
    /// The user record of a delete order that succeeded (its services go with it, ON DELETE CASCADE).
    static let userRemove = Statement("user_delete_user_remove", """
        DELETE FROM users WHERE lower(user_id) = lower($1) AND state = 'deleting' RETURNING user_id
        """)
    /// The end user a delete order removed from a call processor: gone from the inventory's objects.
    static let userObjectRemoved = Statement("user_delete_user_object_removed", """
        UPDATE device_objects SET removed_at = clock_timestamp()
         WHERE device = $1 AND object_type = 'User' AND lower(object_key) = lower($2) AND removed_at IS NULL
        """)
}

/// A delete request of an LDAP synchronization.
public struct UserDeleteRequest: Sendable, Equatable {
    public var id: Int64
    public var domain: String
    public var userID: String
    /// delete_user_keep_services or delete_user_and_services.
    public var action: String
    public var state: String
    public var orderID: Int64?
    public var syncJobID: Int64?
}

/// A service of the user as the inventory holds it, with its object's uuid.
public struct UserDeleteTarget: Sendable, Equatable {
    /// phone, line or voicemail.
    public var serviceType: String
    public var device: String
    public var objectType: String
    public var key: String
    public var uuid: String?
    /// The service's detail (JSON object: number, partition, mailbox …).
    public var detail: [String: String]

    public init(serviceType: String, device: String, objectType: String, key: String, uuid: String?, detail: [String: String]) {
        self.serviceType = serviceType
        self.device = device
        self.objectType = objectType
        self.key = key
        self.uuid = uuid
        self.detail = detail
    }
}

extension OrderInventoryStore {
    /// The inventory's writes and reads of a delete order, inside the caller's transaction.
    public struct DeleteRequests {
        let session: Session

        public init(_ session: Session) {
            self.session = session
        }

        /// The request, locked for the caller's transaction.
        public func request(id: Int64) throws -> UserDeleteRequest? {
            guard let row = try session.query(UserDeleteSQL.requestGet, [id]).first else { return nil }
            return UserDeleteRequest(id: try row.decode("id"), domain: try row.decode("domain"), userID: try row.decode("user_id"),
                                     action: try row.decode("action"), state: try row.decode("state"),
                                     orderID: try row.decodeIfPresent("order_id"), syncJobID: try row.decodeIfPresent("sync_job_id"))
        }

        public func link(request: Int64, orderID: Int64) throws {
            try session.query(UserDeleteSQL.requestLink, [request, orderID])
        }

        public func refuse(request: Int64, message: String) throws {
            try session.query(UserDeleteSQL.requestRefused, [request, message])
        }

        /// Copies the order's end to its request: `state` succeeded, failed or running.
        public func outcome(orderID: Int64, state: String, message: String?) throws {
            try session.query(UserDeleteSQL.requestOutcome, [orderID, state, message])
        }

        public func targets(userID: String) throws -> [UserDeleteTarget] {
            try session.query(UserDeleteSQL.targets, [userID]).map { row in
                let detail = try row.decode("detail", as: String.self)
                let object = (try? JSONSerialization.jsonObject(with: Data(detail.utf8))) as? [String: Any] ?? [:]
                return UserDeleteTarget(serviceType: try row.decode("service_type"), device: try row.decode("device"),
                                        objectType: try row.decode("object_type"), key: try row.decode("object_key"),
                                        uuid: try row.decodeIfPresent("uuid"),
                                        detail: object.compactMapValues { $0 as? String })
            }
        }

        public func userOnDevices(userID: String) throws -> [(device: String, uuid: String?)] {
            try session.query(UserDeleteSQL.userOnDevices, [userID]).map { (try $0.decode("device"), try $0.decodeIfPresent("uuid")) }
        }

        /// The user record removed (a user the delete order was for); false when it was not there any more.
        @discardableResult
        public func userRemove(userID: String) throws -> Bool {
            !(try session.query(UserDeleteSQL.userRemove, [userID])).isEmpty
        }

        public func userObjectRemoved(device: String, userID: String) throws {
            try session.query(UserDeleteSQL.userObjectRemoved, [device, userID])
        }
    }
}
