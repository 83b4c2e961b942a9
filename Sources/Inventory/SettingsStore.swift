import Foundation
import Postgres

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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(value), as: UTF8.self)
        try await connection.query(Self.settingSet, [key, text, actor])
    }
}
