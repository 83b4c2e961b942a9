import Directory
import Foundation
import Postgres
import Queue
import Runtime

/// A user role of a domain (seed 004, "Role LDAP filter"; orders-brief §B.1): the default services
/// automatic provisioning orders for a user of the role, in the shape of an order's services. The
/// phone is named after the user (`UserRole.phoneName(for:)`); the line follows the service area's
/// number rules (`LineChoice`).
public struct UserRole: Sendable, Equatable {
    public var name: String
    /// One of the models orders provision (`ucp order plan` lists them).
    public var phoneModel: String
    public var voicemail: Bool
    public var extensionMobility: Bool
    /// IM and Presence with this service profile; nil: none.
    public var imPresence: String?
    /// The domain's default role.
    public var isDefault: Bool

    public init(name: String, phoneModel: String, voicemail: Bool = false, extensionMobility: Bool = false, imPresence: String? = nil,
                isDefault: Bool = false) {
        self.name = name
        self.phoneModel = phoneModel
        self.voicemail = voicemail
        self.extensionMobility = extensionMobility
        self.imPresence = imPresence
        self.isDefault = isDefault
    }

    init(row: Row) throws {
        name = try row.decode("name")
        phoneModel = try row.decode("phone_model")
        voicemail = try row.decode("voicemail")
        extensionMobility = try row.decode("extension_mobility")
        imPresence = try row.decodeIfPresent("im_presence")
        isDefault = try row.decodeIfPresent("is_default") ?? false
    }

    /// `Cisco 8845, voicemail, extension mobility, IM&P SP_Jabber`.
    public var services: String {
        var parts = ["phone \(phoneModel)"]
        if voicemail { parts.append("voicemail") }
        if extensionMobility { parts.append("extension mobility") }
        if let imPresence { parts.append("IM and Presence (service profile \(imPresence))") }
        return parts.joined(separator: ", ")
    }

    /// The Jabber for desktop device automatic provisioning orders for a user, named as Jabber names
    /// it: `CSF` and the user ID in capitals, at most 15 characters. A user ID that does not fit whole
    /// (longer than 12 letters and digits, or with other characters: `j.doe`, `alexander.hamilton1`)
    /// keeps its first 7 letters and digits and a 5-character digest of the whole user ID, so that
    /// `jdoe` and `j.doe`, or two long IDs alike at the start, do not ask for one name.
    public static func phoneName(for userID: String) -> String {
        let upper = userID.uppercased()
        let kept = upper.filter { ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
        if kept == upper, kept.count <= 12, !kept.isEmpty { return "CSF" + kept }
        return "CSF" + kept.prefix(7) + digest(userID.lowercased())
    }

    /// Five characters of base 36 from a 64-bit FNV-1a of the text: stable across runs and hosts.
    static func digest(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let digits = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var out = ""
        for _ in 0..<5 {
            out.append(digits[Int(hash % 36)])
            hash /= 36
        }
        return out
    }

    /// The services of several roles at once (a user's matching roles and the default role): every
    /// service any of them gives; the phone model and service profile of the first that names one.
    public static func union(_ roles: [UserRole]) -> UserRole? {
        guard var union = roles.first else { return nil }
        union.name = roles.map(\.name).joined(separator: ", ")
        for role in roles.dropFirst() {
            union.voicemail = union.voicemail || role.voicemail
            union.extensionMobility = union.extensionMobility || role.extensionMobility
            union.imPresence = union.imPresence ?? role.imPresence
        }
        return union
    }
}

/// How a service area LDAP filter chooses the line of a user automatic provisioning brings in (seed
/// 004: "Assign new line from the extension block", "Apply mask to LDAP synchronized telephone numbers").
public enum LineChoice: Sendable, Equatable {
    /// This number.
    case number(String)
    /// The next free number of the area's block.
    case fromBlock
    /// No line service, with why (automatic provisioning then orders only the services that need no line).
    case none(String)

    /// The seed's four cases. The LDAP number is the user's synchronized number with every
    /// non-numeric character removed first; then, with the mask box checked, the mask.
    /// - neither box: the LDAP number; without one, no line service;
    /// - assign only: the block, even when there is an LDAP number;
    /// - mask only: the masked number; without one, no line service;
    /// - both: the masked number; without one, the block.
    public static func choose(ldapNumber: String?, mask: PhoneMask?, assignNewLine: Bool) -> LineChoice {
        let digits = (ldapNumber ?? "").filter { $0.isASCII && $0.isNumber }
        if assignNewLine && mask == nil { return .fromBlock }
        guard !digits.isEmpty else {
            if assignNewLine { return .fromBlock }
            return .none(mask == nil ? "no LDAP synchronized number" : "no LDAP synchronized number to apply the mask to")
        }
        guard let mask else { return .number(digits) }
        guard let masked = mask.apply(to: digits) else { return .none("no LDAP synchronized number to apply the mask to") }
        return .number(masked)
    }
}

/// A domain's automatic provisioning settings: the switch and the default role.
public struct AutomaticProvisioningSettings: Sendable, Equatable {
    public var on: Bool
    public var defaultRole: String?
    /// How many roles the domain has.
    public var roles: Int
}

/// The user roles of the domains and their automatic provisioning switch (`ucp domain role`,
/// `ucp domain edit --automatic-provisioning --default-role`).
public struct UserRoleStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    public func roleList(domain: String) async throws -> [UserRole] {
        _ = try await provisioning(domain: domain)
        return try await connection.query(UserRoleSQL.roleList, [domain]).map(UserRole.init(row:))
    }

    public func role(domain: String, name: String) async throws -> UserRole {
        guard let role = try await roleList(domain: domain).first(where: { $0.name == name }) else { throw Self.noSuchRole(name, domain: domain) }
        return role
    }

    /// Checks a role's fields (the phone model is the caller's to check against the models orders know).
    public static func check(_ role: UserRole) throws {
        try ServiceAreaValidation.name(role.name)
        if let profile = role.imPresence {
            guard (1...50).contains(profile.count),
                  !InputError.hasControlCharacters(profile), !profile.unicodeScalars.contains(where: { "\"<>&".unicodeScalars.contains($0) }) else {
                throw InputError(field: "im-and-presence", problem: "\(InputError.quoted(profile)) must be a service profile's name: 1 to 50 characters without quotes, '<', '>', '&' or control characters")
            }
        }
    }

    public func roleAdd(domain: String, _ role: UserRole, actor: String) async throws {
        try Self.check(role)
        try await connection.transaction { session in
            guard try session.query(DomainSQL.domainLock, [domain]).first != nil else { throw DomainStore.noSuchDomain(domain) }
            guard try session.query(UserRoleSQL.roleInsert, Self.values(domain, role)).first != nil else {
                throw InputError(field: "name", problem: "domain '\(domain)' already has a user role \(InputError.quoted(role.name))")
            }
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "domain.user_role_added", target: domain,
                                                              message: "Domain '\(domain)' user role '\(role.name)' added: \(role.services)")
        }
    }

    /// Replaces the role's services; returns whether anything changed.
    public func roleEdit(domain: String, _ role: UserRole, actor: String) async throws -> Bool {
        try Self.check(role)
        _ = try await self.role(domain: domain, name: role.name)
        return try await connection.transaction { session in
            guard try session.query(UserRoleSQL.roleUpdate, Self.values(domain, role)).first != nil else { return false }
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "domain.user_role_changed", target: domain,
                                                              message: "Domain '\(domain)' user role '\(role.name)' changed: \(role.services)")
            return true
        }
    }

    /// Refused while the role is the domain's default role.
    public func roleRemove(domain: String, name: String, actor: String) async throws {
        let role = try await self.role(domain: domain, name: name)
        guard !role.isDefault else {
            throw InputError(field: "role", problem: "\(InputError.quoted(name)) is the default role of domain '\(domain)' (choose another: ucp domain edit '\(domain)' --default-role ROLE)")
        }
        try await connection.transaction { session in
            guard try session.query(DomainSQL.domainLock, [domain]).first != nil else { throw DomainStore.noSuchDomain(domain) }
            let settings = try Self.provisioning(session, domain: domain)
            guard settings.defaultRole != name else {
                throw InputError(field: "role", problem: "\(InputError.quoted(name)) is the default role of domain '\(domain)'")
            }
            guard !(settings.on && settings.roles == 1) else {
                throw InputError(field: "role", problem: "\(InputError.quoted(name)) is the last user role of domain '\(domain)', whose automatic provisioning is on (turn it off first)")
            }
            guard try session.query(UserRoleSQL.roleDelete, [domain, name]).first != nil else { throw Self.noSuchRole(name, domain: domain) }
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "domain.user_role_removed", target: domain,
                                                              message: "Domain '\(domain)' user role '\(name)' removed")
        }
    }

    static func values(_ domain: String, _ role: UserRole) -> [any PostgresEncodable] {
        [domain, role.name, role.phoneModel, role.voicemail, role.extensionMobility, role.imPresence]
    }

    static func noSuchRole(_ name: String, domain: String) -> InputError {
        InputError(field: "role", problem: "domain '\(domain)' has no user role \(InputError.quoted(name)) (ucp domain role list '\(domain)')")
    }

    public func provisioning(domain: String) async throws -> AutomaticProvisioningSettings {
        try await connection.withSession { session in try Self.provisioning(session, domain: domain) }
    }

    static func provisioning(_ session: Session, domain: String) throws -> AutomaticProvisioningSettings {
        guard let row = try session.query(UserRoleSQL.provisioningGet, [domain]).first else { throw DomainStore.noSuchDomain(domain) }
        return AutomaticProvisioningSettings(on: try row.decode("automatic_provisioning"), defaultRole: try row.decodeIfPresent("default_role"),
                                             roles: Int(try row.decode("roles", as: Int64.self)))
    }

    /// What `domain edit --automatic-provisioning on|off --default-role R|''` would set (nil: unchanged),
    /// or the one-line refusal: an unknown default role; automatic provisioning on without any role.
    /// Writes nothing (the command checks before it changes anything).
    public func provisioningCheck(domain: String, on: Bool?, defaultRole: String??) async throws -> AutomaticProvisioningSettings {
        try await connection.withSession { session in try Self.provisioningCheck(session, domain: domain, on: on, defaultRole: defaultRole) }
    }

    static func provisioningCheck(_ session: Session, domain: String, on: Bool?, defaultRole: String??) throws -> AutomaticProvisioningSettings {
        var settings = try provisioning(session, domain: domain)
        if let defaultRole {
            if let name = defaultRole {
                guard try session.query(UserRoleSQL.roleList, [domain]).contains(where: { try $0.decode("name") == name }) else {
                    throw InputError(field: "default-role", problem: "domain '\(domain)' has no user role \(InputError.quoted(name)) (add it first: ucp domain role add '\(domain)' --name \(InputError.quoted(name)) --phone-model MODEL)")
                }
            }
            settings.defaultRole = defaultRole
        }
        if let on { settings.on = on }
        if settings.on && settings.roles == 0 {
            throw InputError(field: "automatic-provisioning", problem: "on needs a user role in domain '\(domain)' (add one first: ucp domain role add '\(domain)' --name NAME --phone-model MODEL)")
        }
        return settings
    }

    /// Sets the switch and the default role (each nil: unchanged); returns whether anything changed.
    public func provisioningSet(domain: String, on: Bool?, defaultRole: String??, actor: String) async throws -> Bool {
        try await connection.transaction { session in
            try Self.provisioningSet(session, domain: domain, on: on, defaultRole: defaultRole, actor: actor)
        }
    }

    /// `provisioningSet` in the caller's transaction.
    static func provisioningSet(_ session: Session, domain: String, on: Bool?, defaultRole: String??, actor: String) throws -> Bool {
        guard try session.query(DomainSQL.domainLock, [domain]).first != nil else { throw DomainStore.noSuchDomain(domain) }
        let settings = try Self.provisioningCheck(session, domain: domain, on: on, defaultRole: defaultRole)
        guard try session.query(UserRoleSQL.provisioningSet, [domain, settings.on, settings.defaultRole]).first != nil else { return false }
        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "domain.automatic_provisioning", target: domain,
                                                          message: "Domain '\(domain)' automatic provisioning \(settings.on ? "on" : "off"), default role "
                                                              + (settings.defaultRole.map { "'\($0)'" } ?? "none"))
        return true
    }

    /// The user's order is submitted (or was before): it awaits no more; fenced on the sync's attempt.
    public func provisioningDone(user: String, owner: QueueStore.Held?) async throws {
        try await connection.transaction { session in
            if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
            try session.query(UserRoleSQL.provisioned, [user])
        }
    }
}
