import Directory
import Foundation
import Postgres
import Queue
import Runtime
import Secrets

/// The fields an operator sets on a device (everything but its password, test result and sync marks).
/// Directories (kind `directory`) also have a server type and a security; their admin user is the
/// admin distinguished name.
public struct DeviceDraft: Sendable, Equatable {
    public var name: String
    public var kind: DeviceKind
    public var version: String?
    public var address: String
    public var port: Int
    public var backupAddress: String?
    public var backupPort: Int?
    public var adminUser: String
    public var axlVersion: String
    public var verifyTLS: Bool
    public var caFile: String?
    /// Directories only: the server type (required for them, nil for every other kind).
    public var directoryType: DirectoryServerType?
    /// Directories only: ldap://, ldaps:// or StartTLS (a directory's default: ldap).
    public var ldapSecurity: LDAPSecurity?
    /// Device writes of orders in flight at once on this device, over every worker and host (1 to 64).
    public var maxWritesInFlight: Int

    public init(name: String, kind: DeviceKind, version: String? = nil, address: String, port: Int? = nil,
                backupAddress: String? = nil, backupPort: Int? = nil, adminUser: String,
                axlVersion: String = DeviceValidation.defaultAXLVersion, verifyTLS: Bool = true, caFile: String? = nil,
                directoryType: DirectoryServerType? = nil, ldapSecurity: LDAPSecurity? = nil,
                maxWritesInFlight: Int = DeviceValidation.defaultMaxWritesInFlight) {
        let ldapSecurity = kind == .directory ? ldapSecurity ?? .ldap : ldapSecurity
        self.name = name
        self.kind = kind
        self.version = version
        self.address = address
        self.port = port ?? ldapSecurity?.defaultPort ?? kind.defaultPort
        self.backupAddress = backupAddress
        self.backupPort = backupPort
        self.adminUser = adminUser
        self.axlVersion = axlVersion
        self.verifyTLS = verifyTLS
        self.caFile = caFile
        self.directoryType = directoryType
        self.ldapSecurity = ldapSecurity
        self.maxWritesInFlight = maxWritesInFlight
    }

    /// The names of the fields that differ from `other`, as the audit trail names them.
    func changedFields(from other: DeviceDraft) -> [String] {
        var fields: [String] = []
        if kind != other.kind { fields.append("kind") }
        if version != other.version { fields.append("version") }
        if address != other.address { fields.append("address") }
        if port != other.port { fields.append("port") }
        if backupAddress != other.backupAddress { fields.append("backup_address") }
        if backupPort != other.backupPort { fields.append("backup_port") }
        if adminUser != other.adminUser { fields.append("admin_user") }
        if axlVersion != other.axlVersion { fields.append("axl_version") }
        if verifyTLS != other.verifyTLS { fields.append("verify_tls") }
        if caFile != other.caFile { fields.append("ca_file") }
        if directoryType != other.directoryType { fields.append("directory_type") }
        if ldapSecurity != other.ldapSecurity { fields.append("ldap_security") }
        if maxWritesInFlight != other.maxWritesInFlight { fields.append("max_writes_in_flight") }
        return fields
    }

    var parameters: [any PostgresEncodable] {
        [name, kind.rawValue, version, address, port, backupAddress, backupPort, adminUser]
    }

    /// `$13`, `$14`, `$15` of the insert and update statements.
    var directoryParameters: [any PostgresEncodable] {
        [directoryType?.rawValue, ldapSecurity?.rawValue, maxWritesInFlight]
    }
}

/// A setting that exposes a device's admin password on the network. Each is warned (`ucp device
/// add|edit`) and audited when a device takes it on: when added with it, or on the edit that turns
/// it on. The defaults stay as they are (the tests and the demo bind to a local slapd in plain LDAP).
public enum DeviceExposure: String, CaseIterable, Sendable {
    /// The TLS certificate is not verified: anyone in the path can pose as the device.
    case tlsVerificationOff = "device.tls_verification_off"
    /// A directory on plain ldap:// (neither StartTLS nor ldaps, a directory's default): its simple
    /// bind sends the admin DN's password — the write-back account's too — in clear text.
    case clearTextBind = "device.clear_text_bind"

    func holds(for settings: DeviceDraft) -> Bool {
        switch self {
        case .tlsVerificationOff: return !settings.verifyTLS
        case .clearTextBind: return settings.kind == .directory && settings.ldapSecurity == .ldap
        }
    }

    /// The exposures `after` has and `before` (nil: a device being added) had not.
    public static func taken(before: DeviceDraft?, after: DeviceDraft) -> [DeviceExposure] {
        allCases.filter { $0.holds(for: after) && !(before.map($0.holds) ?? false) }
    }

    /// The operator's warning, with the way back.
    public func warning(device name: String) -> String {
        switch self {
        case .tlsVerificationOff:
            return "warning: TLS certificate verification is off for '\(name)'"
        case .clearTextBind:
            return "warning: directory '\(name)' sends its admin password in clear text (security ldap); switch with --security starttls or --security ldaps"
        }
    }

    func auditMessage(device name: String) -> String {
        switch self {
        case .tlsVerificationOff:
            return "TLS certificate verification turned off for device '\(name)'"
        case .clearTextBind:
            return "Directory '\(name)' binds in clear text (security ldap): its admin password crosses the network unencrypted"
        }
    }
}

/// The device registry: every change is validated first, written with its audit lines in one
/// transaction, and refused whole (nothing written) when any rule fails.
///
/// Passwords are sealed with `secretBox` before they reach the database and are never part of an
/// audit line or an error message. A store without a box can read devices but not store a password.
public struct DeviceStore: Sendable {
    public let connection: Connection
    public let secretBox: SecretBox?

    public static let noKey = InputError(
        field: "password",
        problem: "no secret key is configured; run 'ucp secret-key generate --file PATH' and set UCP_SECRET_KEY_FILE to that file")

    public init(_ connection: Connection, secretBox: SecretBox? = nil) {
        self.connection = connection
        self.secretBox = secretBox
    }

    // MARK: reads

    public func deviceGet(name: String) async throws -> Device? {
        try await connection.query(DeviceSQL.deviceGet, [name]).first.map(Device.init(row:))
    }

    public func deviceList() async throws -> [Device] {
        try await connection.query(DeviceSQL.deviceList).map(Device.init(row:))
    }

    /// The devices of `names` that exist, each with its password as stored (sealed; nil when none
    /// is), in one read: for a caller that opens the passwords itself and keeps them.
    public func devicesWithSealedPasswords(names: [String]) async throws -> [(device: Device, sealedPassword: String?)] {
        try await connection.query(DeviceSQL.devicesGetSealed, [PostgresTextArray(names)]).map { row in
            (try Device(row: row), try row.decodeIfPresent("sealed_password", as: String.self))
        }
    }

    /// The device's password, opened with the key; nil when none is stored.
    public func devicePassword(name: String) async throws -> Secret? {
        guard let row = try await connection.query(DeviceSQL.devicePassword, [name]).first else {
            throw Self.noSuchDevice(name)
        }
        guard let sealed: String = try row.decodeIfPresent("sealed_password") else { return nil }
        guard let secretBox else { throw Self.noKey }
        return try secretBox.openSecret(sealed)
    }

    // MARK: changes

    @discardableResult
    public func deviceAdd(_ draft: DeviceDraft, password: Secret, actor: String) async throws -> Device {
        try DeviceValidation.draft(draft)
        let sealed = try seal(password)
        return try await connection.transaction { session in
            guard try session.query(DeviceSQL.deviceGet, [draft.name]).isEmpty else {
                throw InputError(field: "name", problem: "a device named '\(draft.name)' already exists")
            }
            let rows: Rows
            do {
                rows = try session.query(DeviceSQL.deviceInsert,
                                         draft.parameters + [sealed, draft.axlVersion, draft.verifyTLS, draft.caFile]
                                             + draft.directoryParameters)
            } catch let error as PostgresError where error.kind == .uniqueViolation {
                throw InputError(field: "name", problem: "a device named '\(draft.name)' already exists")
            }
            let device = try Device(row: rows.first!)
            try Self.audit(session, actor: actor, action: "device.added", target: device.name,
                           message: "Device '\(device.name)' added: \(Self.summary(device))")
            try Self.auditExposures(session, actor: actor, name: device.name, before: nil, after: device.settings)
            return device
        }
    }

    /// Applies `change` to the device's fields; with `password`, replaces the stored password too.
    /// The kind cannot change once the device has been synchronized (seed 004).
    @discardableResult
    public func deviceUpdate(name: String, password: Secret? = nil, actor: String,
                             _ change: @escaping @Sendable (inout DeviceDraft) throws -> Void) async throws -> Device {
        let sealed = try password.map(seal)
        return try await connection.transaction { session in
            guard let row = try session.query(DeviceSQL.deviceGetForUpdate, [name]).first else {
                throw Self.noSuchDevice(name)
            }
            let current = try Device(row: row)
            let before = current.settings
            var after = before
            try change(&after)
            guard after.name == before.name else {
                throw InputError(field: "name", problem: "a device cannot be renamed (remove it and add it again)")
            }
            try DeviceValidation.draft(after)
            if after.kind != before.kind, current.firstSyncedAt != nil {
                throw Self.kindFixed
            }
            if after.kind != before.kind || after.directoryType != before.directoryType {
                // A domain's field mapping and filters were checked against this directory's server type.
                let referrers = try Self.deviceReferrers(session, name: name)
                if !referrers.isEmpty {
                    let field = after.kind != before.kind ? "kind" : "server_type"
                    throw InputError(field: field, problem: "cannot change while \(referrers.joined(separator: ", ")) use\(referrers.count == 1 ? "s" : "") the directory (its field mapping and filters depend on the server type)")
                }
            }
            var fields = after.changedFields(from: before)
            if sealed != nil { fields.insert("password", at: fields.firstIndex(of: "axl_version") ?? fields.endIndex) }
            guard !fields.isEmpty else { return current }
            let updated: Rows
            do {
                updated = try session.query(DeviceSQL.deviceUpdate,
                                            after.parameters + [sealed, after.axlVersion, after.verifyTLS, after.caFile]
                                              + after.directoryParameters)
            } catch let error as PostgresError where error.kind == .raised {
                throw InputError(line: error.message)
            }
            let device = try Device(row: updated.first!)
            let named = fields.map { field in
                field == "verify_tls" ? "verify_tls (now \(device.verifyTLS ? "on" : "off"))" : field
            }
            try Self.audit(session, actor: actor, action: "device.changed", target: name,
                           message: "Device '\(name)' changed: \(named.joined(separator: ", "))")
            try Self.auditExposures(session, actor: actor, name: name, before: before, after: device.settings)
            return device
        }
    }

    /// Removes a device; refused while a domain or service area refers to it.
    public func deviceRemove(name: String, actor: String) async throws {
        try await connection.transaction { session in
            guard try session.query(DeviceSQL.deviceGetForUpdate, [name]).first != nil else {
                throw Self.noSuchDevice(name)
            }
            let referrers = try Self.deviceReferrers(session, name: name)
            guard referrers.isEmpty else {
                throw InputError(field: "device '\(name)'", problem: "cannot be removed while \(referrers.joined(separator: ", ")) \(referrers.count == 1 ? "refers" : "refer") to it")
            }
            try session.query(DeviceSQL.deviceDelete, [name])
            try Self.audit(session, actor: actor, action: "device.removed", target: name,
                           message: "Device '\(name)' removed")
        }
    }

    /// Records the device's first synchronization (later ones keep the first time). From then on
    /// its kind is fixed. `at` is for tests; nil means now.
    @discardableResult
    public func deviceMarkSynchronized(name: String, at: Date? = nil) async throws -> Device {
        guard let row = try await connection.query(DeviceSQL.deviceMarkSynchronized, [name, at]).first else {
            throw Self.noSuchDevice(name)
        }
        return try Device(row: row)
    }

    /// Records the state of a connection test; a finished one (success or failure) is one audit line.
    /// The message is the version read or the reason of the failure, never a password.
    @discardableResult
    /// `owner`: the test job's attempt; its record rolls back once the attempt no longer owns the job
    /// (a paused worker's late result never overwrites a newer test).
    public func deviceTestRecord(name: String, state: DeviceTestState, message: String?, actor: String,
                                 owner: QueueStore.Held? = nil) async throws -> Device {
        try await connection.transaction { session in
            if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
            guard let row = try session.query(DeviceSQL.deviceTestRecord, [name, state.rawValue, message]).first else {
                throw Self.noSuchDevice(name)
            }
            if state == .success || state == .failure {
                try Self.audit(session, actor: actor, action: "device.tested", target: name,
                               message: "Test connection of device '\(name)': \(state.rawValue)\(message.map { " (\($0))" } ?? "")")
            }
            return try Device(row: row)
        }
    }

    // MARK: helpers

    public static let kindFixed = InputError(field: "kind", problem: "cannot change after the device's first synchronization (seed)")

    /// What refers to the device and so forbids its removal or a change of its kind or server type,
    /// named for the operator (e.g. "domain 'Sales'"). Seed: "You cannot delete an LDAP server which is
    /// associated to a Domain." Service areas are not in the schema yet; when they arrive, this is the one
    /// place to look them up too, inside the caller's transaction.
    static func deviceReferrers(_ session: Session, name: String) throws -> [String] {
        try session.query(DeviceSQL.domainsUsingDirectory, [name]).map { row in
            "domain '\(try row.decode("name", as: String.self))'"
        }
    }

    public static func noSuchDevice(_ name: String) -> InputError {
        InputError(field: "device '\(name)'", problem: "no such device")
    }

    private func seal(_ password: Secret) throws -> String {
        try DeviceValidation.password(password.revealed)
        guard let secretBox else { throw Self.noKey }
        return try secretBox.seal(password)
    }

    private static func summary(_ device: Device) -> String {
        if device.kind == .directory, let type = device.directoryType, let url = device.ldapURL {
            var text = "\(device.kind.title) (\(type.title)) at \(url)"
            if device.ldapSecurity == .startTLS { text += " with StartTLS" }
            if let backup = device.ldapBackupURL { text += " (backup \(backup))" }
            text += ", admin DN '\(device.adminUser)'"
            text += ", TLS verification \(device.verifyTLS ? "on" : "off")"
            if let caFile = device.caFile { text += ", CA file \(caFile)" }
            return text
        }
        var text = device.kind.title
        if let version = device.version { text += " \(version)" }
        text += " at \(device.address):\(device.port)"
        if let backup = device.backupAddress, let port = device.backupPort { text += " (backup \(backup):\(port))" }
        text += ", admin user '\(device.adminUser)', AXL \(device.axlVersion)"
        text += ", TLS verification \(device.verifyTLS ? "on" : "off")"
        if let caFile = device.caFile { text += ", CA file \(caFile)" }
        return text
    }

    private static func audit(_ session: Session, actor: String, action: String, target: String, message: String) throws {
        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: action, target: target, message: message)
    }

    /// One audit line for each exposure the change makes the device take on.
    private static func auditExposures(_ session: Session, actor: String, name: String,
                                       before: DeviceDraft?, after: DeviceDraft) throws {
        for exposure in DeviceExposure.taken(before: before, after: after) {
            try audit(session, actor: actor, action: exposure.rawValue, target: name, message: exposure.auditMessage(device: name))
        }
    }
}
