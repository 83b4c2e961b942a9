import Foundation
import Postgres
import Queue

/// Settings kept in the `settings` table as JSON values under dotted keys (`mail`, …).
public struct SettingsStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    /// On/off: user synchronization keeps analog phones (off by default, seed).
    public static let analogPhoneSupport = "analog_phone_support"
    /// On/off: the Extension Mobility service is enterprise-subscribed (off by default, seed).
    public static let extensionMobilityEnterprise = "extension_mobility_enterprise"

    static let settingGet = Statement("setting_get", "SELECT value::text AS value FROM settings WHERE key = $1")
    static let settingSet = Statement("setting_set", """
        INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2::jsonb, now(), $3)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now(), updated_by = excluded.updated_by
        """)

    /// The value under `key`, decoded; nil when it was never set.
    public func settingGet<T: Decodable>(_ key: String, as type: T.Type) async throws -> T? {
        guard let text: String = try await connection.query(Self.settingGet, [key]).first?.decode("value") else {
            return nil
        }
        return try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }

    public func settingSet<T: Encodable>(_ key: String, _ value: T, actor: String) async throws {
        try await connection.query(Self.settingSet, [key, try Self.json(value), actor])
    }

    /// Sets `key` and writes its audit line (`settings.changed`) in one transaction.
    public func settingSet<T: Encodable>(_ key: String, _ value: T, actor: String, auditMessage: String) async throws {
        let text = try Self.json(value)
        try await connection.transaction { session in
            try session.query(Self.settingSet, [key, text, actor])
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "settings.changed", message: auditMessage)
        }
    }

    /// A placeholder row for `key` (JSON null) if there is none, so the row lock below has a row to
    /// take even for a first change; the transaction that made it replaces it or rolls it back.
    static let settingReserve = Statement("setting_reserve", """
        INSERT INTO settings (key, value) VALUES ($1, 'null'::jsonb) ON CONFLICT (key) DO NOTHING
        """)
    static let settingGetForUpdate = Statement("setting_get_for_update", "SELECT value::text AS value FROM settings WHERE key = $1 FOR UPDATE")

    /// Changes the value under `key` in one transaction holding its row lock: reads it (nil when
    /// never set), lets `change` make the new value and its audit message, stores both. Two changes
    /// at once run one after the other, so neither loses the other's; `change` throwing writes nothing.
    public func settingUpdate<T: Codable>(_ key: String, as type: T.Type, actor: String,
                                          change: @escaping (T?) throws -> (value: T, auditMessage: String)) async throws {
        try await connection.transaction { session in
            try session.query(Self.settingReserve, [key])
            let text: String? = try session.query(Self.settingGetForUpdate, [key]).first?.decode("value")
            let current = try text.flatMap { try JSONDecoder().decode(T?.self, from: Data($0.utf8)) }
            let (value, auditMessage) = try change(current)
            try session.query(Self.settingSet, [key, try Self.json(value), actor])
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "settings.changed", message: auditMessage)
        }
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
