import Foundation
import Runtime
import Secrets

/// The fields of a device as an operator gives them: `ucp device add|edit` and `POST /api/v1/devices`,
/// `PATCH /api/v1/devices/{name}` both fill one and go through here, so both refuse the same input
/// with the same message. On edit, only the fields given change; '' clears a backup address or CA file.
public struct DeviceChange: Sendable {
    public var kind: String?
    public var serverType: String?
    public var security: String?
    public var version: String?
    public var address: String?
    public var port: Int?
    public var backupAddress: String?
    public var backupPort: Int?
    public var adminUser: String?
    public var axlVersion: String?
    public var verifyTLS: Bool?
    public var caFile: String?
    public var maxWritesInFlight: Int?

    public init(kind: String? = nil, serverType: String? = nil, security: String? = nil, version: String? = nil,
                address: String? = nil, port: Int? = nil, backupAddress: String? = nil, backupPort: Int? = nil,
                adminUser: String? = nil, axlVersion: String? = nil, verifyTLS: Bool? = nil, caFile: String? = nil,
                maxWritesInFlight: Int? = nil) {
        self.kind = kind
        self.serverType = serverType
        self.security = security
        self.version = version
        self.address = address
        self.port = port
        self.backupAddress = backupAddress
        self.backupPort = backupPort
        self.adminUser = adminUser
        self.axlVersion = axlVersion
        self.verifyTLS = verifyTLS
        self.caFile = caFile
        self.maxWritesInFlight = maxWritesInFlight
    }

    /// The choices parsed (kind, server type, security): the refusals that need no device.
    public func checkChoices() throws {
        _ = try kind.map(DeviceValidation.kind)
        _ = try serverType.map(DeviceValidation.serverType)
        _ = try security.map(DeviceValidation.security)
        _ = try maxWritesInFlight.map(DeviceValidation.maxWritesInFlight)
    }

    /// A new device named `name` (add): kind, address and admin user are required; the draft is validated.
    public func draft(name: String) throws -> DeviceDraft {
        guard let kindText = kind else { throw InputError(field: "kind", problem: "is required: cucm, unity, imp or ldap") }
        guard let address else { throw InputError(field: "address", problem: "is required: the host name or IP address") }
        guard let adminUser else {
            throw InputError(field: "admin_user", problem: "is required: the administrator's user name (for a directory its admin DN)")
        }
        let draft = DeviceDraft(
            name: name, kind: try DeviceValidation.kind(kindText), version: version.flatMap { $0.isEmpty ? nil : $0 }, address: address,
            port: port, backupAddress: backupAddress, backupPort: backupPort, adminUser: adminUser,
            axlVersion: axlVersion ?? DeviceValidation.defaultAXLVersion, verifyTLS: verifyTLS ?? true, caFile: caFile,
            directoryType: try serverType.map(DeviceValidation.serverType), ldapSecurity: try security.map(DeviceValidation.security),
            maxWritesInFlight: maxWritesInFlight ?? DeviceValidation.defaultMaxWritesInFlight)
        try DeviceValidation.draft(draft)
        return draft
    }

    /// Applies the fields given to a stored device's draft (edit); `DeviceStore.deviceUpdate` validates the result.
    public func apply(to draft: inout DeviceDraft) throws {
        if let kind = try kind.map(DeviceValidation.kind) {
            draft.kind = kind
            if kind != .directory { draft.directoryType = nil; draft.ldapSecurity = nil }
            if kind == .directory && draft.ldapSecurity == nil { draft.ldapSecurity = .ldap }
        }
        if let serverType = try serverType.map(DeviceValidation.serverType) { draft.directoryType = serverType }
        if let security = try security.map(DeviceValidation.security) {
            // The port follows the security unless it is given too.
            if port == nil, draft.port == draft.ldapSecurity?.defaultPort { draft.port = security.defaultPort }
            draft.ldapSecurity = security
        }
        if let version { draft.version = version.isEmpty ? nil : version }
        if let address { draft.address = address }
        if let port { draft.port = port }
        if let backupAddress {
            draft.backupAddress = backupAddress.isEmpty ? nil : backupAddress
            if backupAddress.isEmpty && backupPort == nil { draft.backupPort = nil }
        }
        if let backupPort { draft.backupPort = backupPort }
        if let adminUser { draft.adminUser = adminUser }
        if let axlVersion { draft.axlVersion = axlVersion }
        if let verifyTLS { draft.verifyTLS = verifyTLS }
        if let caFile { draft.caFile = caFile.isEmpty ? nil : caFile }
        if let maxWritesInFlight { draft.maxWritesInFlight = maxWritesInFlight }
    }
}

extension DeviceStore {
    /// The key that seals device passwords, from the file `UCP_SECRET_KEY_FILE` names, with the fix in
    /// the message when none is configured (the command line and `ucp serve` both open it here).
    public static func secretBoxFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SecretBox {
        let path = environment[SecretKey.environmentVariable] ?? ""
        guard !path.isEmpty else { throw noKey }
        do {
            return SecretBox(key: try SecretKey.load(path: path))
        } catch let error as SecretsError {
            throw InputError(field: "password", problem: error.message)
        }
    }
}
