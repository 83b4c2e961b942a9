import Directory
import Foundation
import Inventory
import LDAP
import Postgres
import Runtime
import Secrets

extension StaleUserAction {
    /// The actions that change a device too: they queue a delete order per user (the orders issue runs them).
    var needsOrder: Bool { self == .deleteUserKeepServices || self == .deleteUserAndServices }
}

/// How a server type marks a disabled account, read to fill `users.enabled` when disabled users are synchronized.
public enum DisabledAccountFlag: Sendable {
    /// AD: bit 2 (ACCOUNTDISABLE) of userAccountControl.
    case userAccountControl
    /// ADAM / LDS: msDS-UserAccountDisabled = TRUE.
    case userAccountDisabled

    public var attribute: String {
        switch self {
        case .userAccountControl: return "userAccountControl"
        case .userAccountDisabled: return "msDS-UserAccountDisabled"
        }
    }

    /// Whether the flag's value says the account is disabled.
    func isDisabled(_ value: String) -> Bool {
        switch self {
        case .userAccountControl: return (Int(value) ?? 0) & 2 != 0
        case .userAccountDisabled: return value.uppercased() == "TRUE"
        }
    }
}

/// Everything an LDAP synchronization of one domain needs, resolved from the domain and its
/// directory server: how to connect, what to search, how entries become users, what to do with the rest.
public struct LDAPSyncSettings: Sendable {
    public var domain: String
    public var connection: LDAPConfiguration
    public var searchBase: String
    /// The complete RFC 4515 filter: person objects, the domain's filter query, and — unless disabled
    /// users are synchronized — the enabled-accounts clause.
    public var filter: String
    /// Which attribute each user field is read from; user ID first.
    public var mapping: [(field: String, attribute: String)]
    /// How disabled accounts are marked (AD, ADAM/LDS); nil for types without the flag.
    public var disabledFlag: DisabledAccountFlag?
    public var updatePolicy: UpdatePolicy
    public var staleUserAction: StaleUserAction
    /// A sync that would delete more than its count, or percentage of the domain's directory users, deletes none.
    public var deletionGuard: DeletionGuard
    /// Entries per LDAP page (the server's limit: AD 1,000, OpenLDAP's default 500).
    public var pageSize: Int
    /// The domain's automatic provisioning when it is on (its filters are evaluated on each entry read).
    public var provisioning: AutomaticProvisioningRules?

    public init(domain: String, connection: LDAPConfiguration, searchBase: String, filter: String,
                mapping: [(field: String, attribute: String)], disabledFlag: DisabledAccountFlag? = nil,
                updatePolicy: UpdatePolicy = .allFields, staleUserAction: StaleUserAction = .doNotChange,
                deletionGuard: DeletionGuard = DeletionGuard(), pageSize: Int = 500) {
        self.domain = domain
        self.connection = connection
        self.searchBase = searchBase
        self.filter = filter
        self.mapping = mapping
        self.disabledFlag = disabledFlag
        self.updatePolicy = updatePolicy
        self.staleUserAction = staleUserAction
        self.deletionGuard = deletionGuard
        self.pageSize = pageSize
    }

    /// The attribute the user ID is read from.
    public var userIDAttribute: String { mapping.first { $0.field == "user_id" }?.attribute ?? "uid" }

    /// The attributes the search asks for: the mapped ones and the disabled flag.
    var requestedAttributes: [String] {
        var names: [String] = []
        for (_, attribute) in mapping where !names.contains(where: { $0.lowercased() == attribute.lowercased() }) {
            names.append(attribute)
        }
        if let disabledFlag { names.append(disabledFlag.attribute) }
        for attribute in provisioning?.attributes ?? [] where !names.contains(where: { $0.lowercased() == attribute.lowercased() }) {
            names.append(attribute)
        }
        return names
    }
}

/// What one run is asked to do beyond the domain's settings.
public struct LDAPSyncOptions: Sendable {
    /// Read everything, report what would change, change nothing.
    public var dryRun: Bool
    /// Lets this run delete up to this many users past the deletion guard.
    public var allowDeletes: Int?
    /// Entries written to PostgreSQL per batch (a few LDAP pages): few round trips, and small enough
    /// that memory is the same for every directory of more than a few batches.
    public var batchSize: Int
    /// How many names a dry run lists for each kind of change.
    public var sampleSize: Int

    public init(dryRun: Bool = false, allowDeletes: Int? = nil, batchSize: Int = 2_000, sampleSize: Int = 10) {
        self.dryRun = dryRun
        self.allowDeletes = allowDeletes
        self.batchSize = batchSize
        self.sampleSize = sampleSize
    }
}

extension LDAPSyncSettings {
    /// The settings of a domain's LDAP synchronization, from the inventory: the domain's resolved LDAP
    /// settings (`Domain.ldap`) and its directory device, whose password `secretBox` opens.
    /// Refused (one line) when the domain does not exist, has no directory source, or only authenticates.
    public static func load(domain name: String, connection: Postgres.Connection, secretBox: SecretBox?) async throws -> LDAPSyncSettings {
        guard let domain = try await DomainStore(connection).domain(named: name) else { throw DomainStore.noSuchDomain(name) }
        guard let ldap = domain.ldap else {
            throw InputError(field: "domain '\(name)'", problem: "has no directory source to synchronize (ucp domain edit \(name) --directory NAME --search-base DN)")
        }
        guard ldap.mode == .authenticationAndSynchronization else {
            throw InputError(field: "domain '\(name)'", problem: "mode is \(ldap.mode.title); LDAP synchronization needs Authentication and Synchronization")
        }
        let devices = DeviceStore(connection, secretBox: secretBox)
        guard let device = try await devices.deviceGet(name: ldap.directory),
              let configuration = LDAPConfiguration(directory: device, password: try await devices.devicePassword(name: ldap.directory))
        else {
            throw InputError(field: "domain '\(name)'", problem: "its directory '\(ldap.directory)' is not a directory device")
        }
        let flag: DisabledAccountFlag? = switch ldap.serverType {
        case .activeDirectory: .userAccountControl
        case .adam: .userAccountDisabled
        case .openLDAP, .oracle: nil
        }
        var settings = LDAPSyncSettings(
            domain: name, connection: configuration, searchBase: ldap.searchBase, filter: ldap.ldapFilter,
            mapping: ldap.mapping.attributes.map { (field: $0.field.rawValue, attribute: $0.attribute) },
            disabledFlag: flag, updatePolicy: ldap.updatePolicy, staleUserAction: ldap.staleUserAction,
            deletionGuard: ldap.deletionGuard)
        settings.provisioning = try await AutomaticProvisioningRules.load(domain: domain, connection: connection)
        return settings
    }
}

extension LDAPConfiguration {
    /// How to reach a directory device: its URL (ldap:// or ldaps://, StartTLS as set), backup server,
    /// TLS verification and CA file, and its admin DN with `password`. Nil for a device of another kind.
    public init?(directory device: Device, password: Secret?) {
        guard device.kind == .directory, let url = device.ldapURL, let primary = LDAPEndpoint(url: url) else { return nil }
        self.init(primary: primary, backup: device.ldapBackupURL.flatMap { LDAPEndpoint(url: $0) },
                  startTLS: device.ldapSecurity == .startTLS, verifyTLS: device.verifyTLS, caFile: device.caFile,
                  bindDN: device.adminUser, password: password)
    }
}
