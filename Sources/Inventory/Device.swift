import Directory
import Foundation
import Postgres

/// What a device is. The raw values are what the `devices` table stores; `commandName` is what
/// operators type (`ucp device add --kind cucm|unity|imp|ldap`).
public enum DeviceKind: String, Sendable, CaseIterable, Codable {
    /// Cisco Unified Communications Manager.
    case callProcessor = "call_processor"
    /// Cisco Unity Connection.
    case messageProcessor = "message_processor"
    /// Cisco Unified Communications Manager IM and Presence.
    case presenceProcessor = "presence_processor"
    /// An LDAP directory server (Active Directory, ADAM/LDS, OpenLDAP, Oracle Directory).
    case directory = "directory"

    public var commandName: String {
        switch self {
        case .callProcessor: return "cucm"
        case .messageProcessor: return "unity"
        case .presenceProcessor: return "imp"
        case .directory: return "ldap"
        }
    }

    public var title: String {
        switch self {
        case .callProcessor: return "Unified CM"
        case .messageProcessor: return "Unity Connection"
        case .presenceProcessor: return "IM and Presence"
        case .directory: return "LDAP directory"
        }
    }

    /// The port its administrative API listens on by default (AXL: 8443, CUPI: 443, LDAP: 389;
    /// a directory's port follows its security, see `LDAPSecurity.defaultPort`).
    public var defaultPort: Int {
        switch self {
        case .callProcessor, .presenceProcessor: return 8443
        case .messageProcessor: return 443
        case .directory: return LDAPSecurity.ldap.defaultPort
        }
    }

    /// Accepts the command names (cucm, unity, imp) and the stored names (call_processor, …).
    public init?(text: String) {
        if let kind = DeviceKind(rawValue: text) {
            self = kind
        } else if let kind = DeviceKind.allCases.first(where: { $0.commandName == text }) {
            self = kind
        } else {
            return nil
        }
    }
}

/// The outcome of the last connection test of a device.
public enum DeviceTestState: String, Sendable, Codable {
    case never
    case inProgress = "in_progress"
    case success
    case failure
}

/// A registered device: the fields an operator sets (`settings`, read through as `device.address`
/// and so on) plus what the system records. The password is never part of it: `passwordSet` says
/// whether one is stored, and `DeviceStore.devicePassword(name:)` opens it where a client needs it.
@dynamicMemberLookup
public struct Device: Sendable, Equatable {
    public var settings: DeviceDraft
    public var passwordSet: Bool
    public var lastTestState: DeviceTestState
    public var lastTestMessage: String?
    public var lastTestedAt: Date?
    public var firstSyncedAt: Date?
    /// A call processor's LDAP integration as the infrastructure synchronization last read it (AXL
    /// getLdapSystem syncEnabled); nil when never read (DirectorySource, migration 036).
    public var ldapIntegrated: Bool?
    public var ldapIntegrationReadAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public subscript<Value>(dynamicMember field: KeyPath<DeviceDraft, Value>) -> Value {
        settings[keyPath: field]
    }

    init(row: Row) throws {
        let kindText: String = try row.decode("kind")
        guard let kind = DeviceKind(rawValue: kindText) else { throw PostgresError(kind: .decoding, message: "devices.kind: unknown kind '\(kindText)'") }
        settings = DeviceDraft(
            name: try row.decode("name"), kind: kind, version: try row.decodeIfPresent("version"),
            address: try row.decode("address"), port: try row.decode("port"),
            backupAddress: try row.decodeIfPresent("backup_address"), backupPort: try row.decodeIfPresent("backup_port"),
            adminUser: try row.decode("admin_user"), axlVersion: try row.decode("axl_version"),
            verifyTLS: try row.decode("verify_tls"), caFile: try row.decodeIfPresent("ca_file"),
            directoryType: try row.decodeIfPresent("directory_type", as: String.self).map { text in
                guard let type = DirectoryServerType(rawValue: text) else {
                    throw PostgresError(kind: .decoding, message: "devices.directory_type: unknown type '\(text)'")
                }
                return type
            },
            ldapSecurity: try row.decodeIfPresent("ldap_security", as: String.self).map { text in
                guard let security = LDAPSecurity(rawValue: text) else {
                    throw PostgresError(kind: .decoding, message: "devices.ldap_security: unknown value '\(text)'")
                }
                return security
            },
            maxWritesInFlight: Int(try row.decode("max_writes_in_flight") as Int32))
        passwordSet = try row.decodeIfPresent("sealed_password", as: String.self) != nil
        let stateText: String = try row.decode("last_test_state")
        guard let state = DeviceTestState(rawValue: stateText) else {
            throw PostgresError(kind: .decoding, message: "devices.last_test_state: unknown state '\(stateText)'")
        }
        lastTestState = state
        lastTestMessage = try row.decodeIfPresent("last_test_message")
        lastTestedAt = try row.decodeIfPresent("last_tested_at")
        firstSyncedAt = try row.decodeIfPresent("first_synced_at")
        ldapIntegrated = try row.decodeIfPresent("ldap_integrated")
        ldapIntegrationReadAt = try row.decodeIfPresent("ldap_integration_read_at")
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
    }
}

extension DeviceDraft {
    /// For a directory, the URL libldap connects to (`ldaps://host:636`; StartTLS starts on `ldap://`).
    public var ldapURL: String? {
        ldapSecurity.map { Self.url($0, address, port) }
    }

    /// For a directory with a backup server, the backup's URL (same security).
    public var ldapBackupURL: String? {
        guard let security = ldapSecurity, let backup = backupAddress, let port = backupPort else { return nil }
        return Self.url(security, backup, port)
    }

    private static func url(_ security: LDAPSecurity, _ host: String, _ port: Int) -> String {
        let host = host.contains(":") ? "[\(host)]" : host
        return "\(security.scheme)://\(host):\(port)"
    }
}

