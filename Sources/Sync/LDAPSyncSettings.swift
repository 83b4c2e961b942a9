import Foundation
import LDAP

/// Seed, "Update Existing User Details".
public enum LDAPUpdatePolicy: String, Sendable, CaseIterable {
    /// "All fields": what changed in the directory changes in UCProvision.
    case allFields = "all_fields"
    /// "Do not update": existing users keep what they have.
    case doNotUpdate = "do_not_update"
}

/// Seed, "Action when LDAP users deleted": what happens to a stale user, one that no longer matches
/// the user search base or the domain's LDAP filter.
public enum StaleUserAction: String, Sendable, CaseIterable {
    /// "Do not make changes in Provisioning".
    case doNotChange = "do_not_change"
    /// "Delete user if there are no services in Provisioning".
    case deleteIfNoServices = "delete_if_no_services"
    /// "Delete user in Provisioning" (even with services).
    case deleteUser = "delete_user"
    /// "Delete user, but keep services in Provisioning and CUCM": a delete order (device and inventory).
    case deleteUserKeepServices = "delete_user_keep_services"
    /// "Delete user and all services from Provisioning and CUCM": a delete order (device and inventory).
    case deleteUserAndServices = "delete_user_and_services"

    /// The actions that need an order (they change a device); the others change only the inventory.
    public var needsOrder: Bool { self == .deleteUserKeepServices || self == .deleteUserAndServices }
    public var deletes: Bool { self != .doNotChange }
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

    func isDisabled(_ entry: LDAPEntry) -> Bool {
        guard let value = entry.first(attribute) else { return false }
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
    public var updatePolicy: LDAPUpdatePolicy
    public var staleUserAction: StaleUserAction
    /// The deletion guard: a sync that would delete more than this many users, or more than this
    /// percentage of the domain's directory users, deletes none.
    public var deleteGuardCount: Int
    public var deleteGuardPercent: Int
    /// Entries per LDAP page (the server's limit: AD 1,000, OpenLDAP's default 500).
    public var pageSize: Int

    public init(domain: String, connection: LDAPConfiguration, searchBase: String, filter: String,
                mapping: [(field: String, attribute: String)], disabledFlag: DisabledAccountFlag? = nil,
                updatePolicy: LDAPUpdatePolicy = .allFields, staleUserAction: StaleUserAction = .doNotChange,
                deleteGuardCount: Int = 500, deleteGuardPercent: Int = 10, pageSize: Int = 500) {
        self.domain = domain
        self.connection = connection
        self.searchBase = searchBase
        self.filter = filter
        self.mapping = mapping
        self.disabledFlag = disabledFlag
        self.updatePolicy = updatePolicy
        self.staleUserAction = staleUserAction
        self.deleteGuardCount = deleteGuardCount
        self.deleteGuardPercent = deleteGuardPercent
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
        return names
    }
}

/// What one run is asked to do beyond the domain's settings.
public struct LDAPSyncOptions: Sendable {
    /// Read everything, report what would change, change nothing.
    public var dryRun: Bool
    /// Lets this run delete up to this many users past the deletion guard.
    public var allowDeletes: Int?
    /// Entries written to PostgreSQL per batch (a few LDAP pages): fewer round trips, memory still flat.
    public var batchSize: Int
    /// How many names a dry run lists for each kind of change.
    public var sampleSize: Int

    public init(dryRun: Bool = false, allowDeletes: Int? = nil, batchSize: Int = 5_000, sampleSize: Int = 10) {
        self.dryRun = dryRun
        self.allowDeletes = allowDeletes
        self.batchSize = batchSize
        self.sampleSize = sampleSize
    }
}
