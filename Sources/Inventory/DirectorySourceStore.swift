import Foundation
import Postgres
import Queue

/// Where Jabber and the phones search the directory (seed 004, "Configuring Directory Search
/// Synchronization Source"): the LDAP server (the default) or the call processor (UDS, User Data
/// Services). Kept in `settings` under `directory_source`.
public enum DirectorySourceSetting: String, Sendable, Codable, CaseIterable {
    case ldap
    case callProcessor = "call_processor"

    /// Accepts the stored names and `call-processor`.
    public init?(text: String) {
        guard let source = Self(rawValue: text.replacingOccurrences(of: "-", with: "_")) else { return nil }
        self = source
    }

    public var title: String { self == .ldap ? "LDAP server" : "call processor (UDS)" }
}

/// The directory search source's setting and the call processors' LDAP integration (migration 036):
/// what the infrastructure synchronization reads (`ldapIntegrationRecord`) and what enabling UDS
/// checks, each in one transaction that holds the setting's lock (so an enable and a sync finding an
/// LDAP-integrated call processor cannot cross).
public struct DirectorySourceStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    public static let key = "directory_source"

    static let lock = Statement("directory_source_lock", "SELECT pg_advisory_xact_lock(hashtext('ucp.directory_source'))")
    /// first_read: the device's LDAP integration was never read before (the call processor was just added).
    static let ldapIntegrationSet = Statement("directory_source_ldap_integration_set", """
        WITH before AS (SELECT name, ldap_integration_read_at FROM devices WHERE name = $1 AND kind = 'call_processor' FOR UPDATE)
        UPDATE devices d SET ldap_integrated = $2, ldap_integration_read_at = now()
          FROM before WHERE d.name = before.name
        RETURNING before.ldap_integration_read_at IS NULL AS first_read
        """)
    static let ldapIntegrated = Statement("directory_source_ldap_integrated", """
        SELECT name FROM devices WHERE kind = 'call_processor' AND ldap_integrated ORDER BY name
        """)
    /// A page of the users with a service on a call processor, by user ID without case in the
    /// database's order: after $1 ('' for the first page), up to $2 (null: no bound), at most $3 of
    /// them; $4: one user only (without case), or null. Each with the first such call processor by
    /// name (the home cluster of a user without orders), and its `key` (the user ID without case);
    /// of two user IDs alike but for case, the one last by user ID.
    static let usersOnProcessorsPage = Statement("directory_source_users_on_processors_page", """
        SELECT DISTINCT ON (lower(s.user_id)) lower(s.user_id) AS key, s.user_id, min(s.device) AS device
          FROM user_services s JOIN devices d ON d.name = s.device AND d.kind = 'call_processor'
         WHERE lower(s.user_id) > $1 AND ($2::text IS NULL OR lower(s.user_id) <= $2)
           AND ($4::text IS NULL OR lower(s.user_id) = lower($4))
         GROUP BY lower(s.user_id), s.user_id
         ORDER BY lower(s.user_id), s.user_id DESC
         LIMIT $3
        """)
    static let callProcessors = Statement("directory_source_call_processors", """
        SELECT name, ldap_integrated FROM devices WHERE kind = 'call_processor' ORDER BY name
        """)
    /// The end users the user syncs read from call processors (present), with their homeCluster:
    /// those of the user IDs without case $1.
    static let usersPresent = Statement("directory_source_users_present", """
        SELECT o.device, lower(o.object_key) AS user_id, coalesce(o.attributes->>'homeCluster', '') AS home_cluster
          FROM device_objects o JOIN devices d ON d.name = o.device AND d.kind = 'call_processor'
         WHERE o.sync_kind = 'user' AND o.object_type = 'User' AND o.removed_at IS NULL
           AND lower(o.object_key) = ANY($1::text[])
        """)

    /// The setting (LDAP when never set).
    public func source() async throws -> DirectorySourceSetting {
        let text = try await SettingsStore(connection).settingGet(Self.key, as: String.self)
        return text.flatMap(DirectorySourceSetting.init(rawValue:)) ?? .ldap
    }

    /// The call processors last read as LDAP-integrated.
    public func ldapIntegratedProcessors() async throws -> [String] {
        try await connection.query(Self.ldapIntegrated).map { try $0.decode("name") }
    }

    /// A page of the users with services on call processors (`usersOnProcessorsPage`): keyset
    /// `after` (a user ID without case; "" for the first page) up to `through` (nil: no bound).
    public func usersOnProcessors(after: String, through: String?, user: String?, limit: Int) async throws
        -> [(key: String, userID: String, device: String)] {
        try await connection.query(Self.usersOnProcessorsPage, [after, through, limit, user]).map {
            (try $0.decode("key"), try $0.decode("user_id"), try $0.decode("device"))
        }
    }

    /// The call processors, each with its LDAP integration as last read (nil: never read).
    public func callProcessors() async throws -> [(name: String, ldapIntegrated: Bool?)] {
        try await connection.query(Self.callProcessors).map { (try $0.decode("name"), try $0.decodeIfPresent("ldap_integrated")) }
    }

    /// What the user syncs read of the users `keys` (user IDs without case): call processor → user
    /// ID (lower case) → its homeCluster ("true", "false" or empty).
    public func usersPresent(keys: [String]) async throws -> [String: [String: String]] {
        var present: [String: [String: String]] = [:]
        for row in try await connection.query(Self.usersPresent, [PostgresTextArray(keys)]) {
            present[try row.decode("device"), default: [:]][try row.decode("user_id")] = try row.decode("home_cluster")
        }
        return present
    }

    /// What storing a call processor's LDAP integration meant for the directory search source.
    public enum LDAPIntegrationOutcome: Equatable, Sendable {
        case unchanged
        /// UDS was the source and the call processor is LDAP-integrated: switched back to LDAP (the message).
        case switchedBack(String)
        /// UDS is the source and the call processor, read for the first time (just added), is not
        /// LDAP-integrated: its copies are to be made (`then` ran in the same transaction).
        case addedWhileUDS
    }

    /// Stores what a sync read of `device`'s LDAP integration, fenced on the sync's attempt `owner`,
    /// holding the setting's lock. When it is
    /// integrated while UDS is the source, switches the source back to LDAP with its audit line; when
    /// UDS is the source and this is the call processor's first read (it was just added) and it is not
    /// integrated, runs `whenAddedWhileUDS` in the same transaction (the caller queues the copies).
    public func ldapIntegrationRecord(device: String, integrated: Bool, actor: String, owner: QueueStore.Held,
                                      whenAddedWhileUDS: @escaping @Sendable (Session) throws -> Void) async throws -> LDAPIntegrationOutcome {
        try await connection.transaction { session -> LDAPIntegrationOutcome in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            try session.query(Self.lock)
            let firstRead = try session.query(Self.ldapIntegrationSet, [device, integrated]).first?.decode("first_read") ?? false
            guard try InTransaction(session).source() == .callProcessor else { return .unchanged }
            guard integrated else {
                guard firstRead else { return .unchanged }
                try whenAddedWhileUDS(session)
                return .addedWhileUDS
            }
            let message = "Directory search source switched back to the LDAP server: call processor '\(device)' is LDAP-integrated (UDS needs every call processor without LDAP integration)"
            try session.query(SettingsStore.settingSet, [Self.key, try SettingsStore.json(DirectorySourceSetting.ldap.rawValue), actor])
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "settings.changed", target: Self.key, message: message)
            return .switchedBack(message)
        }
    }

    /// The same, inside a transaction of the caller's.
    public struct InTransaction {
        let session: Session

        public init(_ session: Session) {
            self.session = session
        }

        /// Holds the setting's lock to the end of the transaction.
        public func lock() throws {
            try session.query(DirectorySourceStore.lock)
        }

        public func source() throws -> DirectorySourceSetting {
            guard let text: String = try session.query(SettingsStore.settingGet, [DirectorySourceStore.key]).first?.decode("value"),
                  let value = try? JSONDecoder().decode(String.self, from: Data(text.utf8)) else { return .ldap }
            return DirectorySourceSetting(rawValue: value) ?? .ldap
        }

        public func ldapIntegratedProcessors() throws -> [String] {
            try session.query(DirectorySourceStore.ldapIntegrated).map { try $0.decode("name") }
        }

        /// Sets the source, with its audit line.
        public func set(_ source: DirectorySourceSetting, actor: String, message: String) throws {
            try session.query(SettingsStore.settingSet, [DirectorySourceStore.key, try SettingsStore.json(source.rawValue), actor])
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "settings.changed", target: DirectorySourceStore.key, message: message)
        }
    }
}
