import Directory
import Foundation
import Postgres
import Runtime
import ScheduleRules

/// Table 5, "Mode".
public enum LDAPMode: String, Sendable, CaseIterable, Codable {
    /// The directory only authenticates users.
    case authenticationOnly = "authentication_only"
    /// The directory authenticates users and provides them (LDAP synchronization).
    case authenticationAndSynchronization = "authentication_and_synchronization"

    public var title: String {
        self == .authenticationOnly ? "Authentication Only" : "Authentication and Synchronization"
    }
}

/// Table 5, "Update Existing User Details".
public enum UpdatePolicy: String, Sendable, CaseIterable, Codable {
    case allFields = "all_fields"
    case doNotUpdate = "do_not_update"

    public var title: String { self == .allFields ? "All fields" : "Do not update" }
}

/// Table 5, the action for stale LDAP users (no longer under the search base or matching the filter).
public enum StaleUserAction: String, Sendable, CaseIterable, Codable {
    /// "Do not make changes in Provisioning".
    case doNotChange = "do_not_change"
    /// "Delete user if there are no services in Provisioning".
    case deleteIfNoServices = "delete_if_no_services"
    /// "Delete user in Provisioning" (its services move to the global namespace).
    case deleteUser = "delete_user"
    /// "Delete user, but keep services in Provisioning and CUCM" (the user is deleted in Unified CM too).
    case deleteUserKeepServices = "delete_user_keep_services"
    /// "Delete user and all services from Provisioning and CUCM": one delete order per user.
    case deleteUserAndServices = "delete_user_and_services"

    public var title: String {
        switch self {
        case .doNotChange: return "Do not make changes in Provisioning"
        case .deleteIfNoServices: return "Delete user if there are no services in Provisioning"
        case .deleteUser: return "Delete user in Provisioning"
        case .deleteUserKeepServices: return "Delete user, but keep services in Provisioning and CUCM"
        case .deleteUserAndServices: return "Delete user and all services from Provisioning and CUCM"
        }
    }

    /// Whether the action ever deletes a user (and so is subject to the deletion guard).
    public var deletes: Bool { self != .doNotChange }
}

/// Beyond the seed: a sync that would delete more of the domain's users than either threshold
/// deletes none (and says why). The defaults are 500 users or 10 percent.
public struct DeletionGuard: Sendable, Equatable, Codable {
    public var maximumCount: Int
    public var maximumPercent: Int

    public static let defaultCount = 500
    public static let defaultPercent = 10

    public init(maximumCount: Int = DeletionGuard.defaultCount, maximumPercent: Int = DeletionGuard.defaultPercent) {
        self.maximumCount = maximumCount
        self.maximumPercent = maximumPercent
    }

    /// Whether deleting `deletions` of `existing` users stays within both thresholds.
    public func allows(deletions: Int, of existing: Int) -> Bool {
        guard deletions > 0 else { return true }
        guard deletions <= maximumCount else { return false }
        guard existing > 0 else { return true }
        return deletions * 100 <= maximumPercent * existing
    }
}

/// A service area or user role LDAP filter (Table 7), as stored: the service area's (or role's)
/// name, the filter (RFC 4515, checked when saved), and for service areas the line options.
public struct NamedLDAPFilter: Sendable, Equatable, Codable {
    public var name: String
    public var filter: String
    /// Service areas: "Apply mask to LDAP synchronized telephone numbers" (nil: unchecked).
    public var mask: String?
    /// Service areas: "Assign new line from the extension block".
    public var assignNewLine: Bool

    public init(name: String, filter: String, mask: String? = nil, assignNewLine: Bool = false) {
        self.name = name
        self.filter = filter
        self.mask = mask
        self.assignNewLine = assignNewLine
    }

    enum CodingKeys: String, CodingKey {
        case name, filter, mask
        case assignNewLine = "assign_new_line"
    }
}

/// The fields an operator sets on a domain: its directory source and LDAP settings.
public struct DomainDraft: Sendable, Equatable {
    public var name: String
    /// The directory source: a device of kind directory; nil for a domain without LDAP.
    public var directory: String?
    public var mode: LDAPMode
    public var updatePolicy: UpdatePolicy
    public var staleUserAction: StaleUserAction
    /// The one user search base (a DN); required with a directory.
    public var searchBase: String?
    /// Sync inactive (disabled) users: AD and ADAM/LDS only.
    public var syncInactiveUsers: Bool
    /// The field-mapping choices; nil fields take the server type's default.
    public var mapping: FieldMappingChoices
    /// The domain LDAP filter (filter query for synchronization).
    public var filter: FilterQuery
    public var serviceAreaFilters: [NamedLDAPFilter]
    public var userRoleFilters: [NamedLDAPFilter]
    /// "Write Primary DN to LDAP": ipPhone, telephoneNumber or mobile; nil: do not write.
    public var writeBackAttribute: String?
    public var writeBackMask: String?
    public var deletionGuard: DeletionGuard
    /// Synchronization Interval; nil: no automatic LDAP synchronization.
    public var syncInterval: ScheduleFrequency?
    /// Synchronization Start Date (with an interval).
    public var syncStart: Date?

    public init(name: String, directory: String? = nil, mode: LDAPMode = .authenticationAndSynchronization,
                updatePolicy: UpdatePolicy = .allFields, staleUserAction: StaleUserAction = .doNotChange,
                searchBase: String? = nil, syncInactiveUsers: Bool = false, mapping: FieldMappingChoices = FieldMappingChoices(),
                filter: FilterQuery = .allUsers, serviceAreaFilters: [NamedLDAPFilter] = [], userRoleFilters: [NamedLDAPFilter] = [],
                writeBackAttribute: String? = nil, writeBackMask: String? = nil, deletionGuard: DeletionGuard = DeletionGuard(),
                syncInterval: ScheduleFrequency? = nil, syncStart: Date? = nil) {
        self.name = name
        self.directory = directory
        self.mode = mode
        self.updatePolicy = updatePolicy
        self.staleUserAction = staleUserAction
        self.searchBase = searchBase
        self.syncInactiveUsers = syncInactiveUsers
        self.mapping = mapping
        self.filter = filter
        self.serviceAreaFilters = serviceAreaFilters
        self.userRoleFilters = userRoleFilters
        self.writeBackAttribute = writeBackAttribute
        self.writeBackMask = writeBackMask
        self.deletionGuard = deletionGuard
        self.syncInterval = syncInterval
        self.syncStart = syncStart
    }
}

/// A stored domain: the operator's settings (read through as `domain.searchBase` and so on), the
/// directory's server type, and — when it has a directory source — `ldap`, everything an LDAP
/// synchronization needs, resolved and compiled.
///
/// What `sync.ldap` should use, all from `domain.ldap` (nil: the domain has no directory source, so
/// there is nothing to synchronize — fail the job with that reason):
/// - `directory`: the device name; `DeviceStore.deviceGet(name:)` gives its `ldapURL`, `ldapBackupURL`,
///   `ldapSecurity` (StartTLS), `adminUser` (the bind DN), `verifyTLS`, `caFile`, and
///   `DeviceStore.devicePassword(name:)` the bind password.
/// - `searchBase`, scope subtree; `ldapFilter`, the complete search filter: the server type's person
///   filter, the enabled-accounts clause unless `syncInactiveUsers`, and the domain's filter query
///   (every typed value escaped). Users the search does not return are the stale ones.
/// - `readAttributes` to request, and `mapping.attribute(for:)` / `mapping.attributes` to read each
///   user field (user ID, names, email, phone, directory URI, manager, …).
/// - `mode` (authentication only: no synchronization), `updatePolicy`, `staleUserAction`,
///   `deletionGuard` (`allows(deletions:of:)`).
/// - `serviceAreaRules` / `userRoleRules` (`matches(entry:)`, with `mask` for the line number) for
///   automatic service provisioning, and `writeBackAttribute` / `writeBackMask` for write-back.
@dynamicMemberLookup
public struct Domain: Sendable, Equatable {
    public var settings: DomainDraft
    /// The directory's server type (nil without a directory).
    public var serverType: DirectoryServerType?
    public var ldap: DomainLDAP?
    public var createdAt: Date
    public var updatedAt: Date

    public subscript<Value>(dynamicMember field: KeyPath<DomainDraft, Value>) -> Value {
        settings[keyPath: field]
    }

    init(row: Row) throws {
        let settings = try DomainDraft(row: row)
        let serverType = try row.decodeIfPresent("directory_type", as: String.self).map { text in
            guard let type = DirectoryServerType(rawValue: text) else {
                throw PostgresError(kind: .decoding, message: "devices.directory_type: unknown type '\(text)'")
            }
            return type
        }
        self.settings = settings
        self.serverType = serverType
        do {
            ldap = try DomainLDAP(settings, serverType: serverType)
        } catch {
            throw PostgresError(kind: .decoding, message: "domains '\(settings.name)': stored settings no longer valid: \(error)")
        }
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
    }
}

/// A domain's LDAP settings resolved for its directory's server type: what a synchronization uses
/// (see `Domain`).
public struct DomainLDAP: Sendable, Equatable {
    public let directory: String
    public let serverType: DirectoryServerType
    public let searchBase: String
    /// The complete RFC 4515 search filter.
    public let ldapFilter: String
    /// The operator's part alone (nil: all users), e.g. for a report.
    public let userFilter: LDAPFilter?
    public let mapping: FieldMapping
    public let mode: LDAPMode
    public let updatePolicy: UpdatePolicy
    public let staleUserAction: StaleUserAction
    public let syncInactiveUsers: Bool
    public let deletionGuard: DeletionGuard
    public let serviceAreaRules: [ServiceAreaRule]
    public let userRoleRules: [UserRoleRule]
    public let writeBackAttribute: String?
    public let writeBackMask: PhoneMask?

    /// nil when the domain has no directory source. Throws when a setting does not hold for the
    /// server type (the store checks the same before it writes).
    public init?(_ settings: DomainDraft, serverType: DirectoryServerType?) throws(InputError) {
        guard let directory = settings.directory, let serverType, let searchBase = settings.searchBase else { return nil }
        self.directory = directory
        self.serverType = serverType
        self.searchBase = searchBase
        mapping = settings.mapping.resolved(for: serverType)
        userFilter = try settings.filter.userFilter(mapping: mapping)
        var parts = [serverType.personFilter]
        if !settings.syncInactiveUsers, let enabled = serverType.enabledAccountsFilter { parts.append(enabled) }
        if let userFilter { parts.append(userFilter) }
        ldapFilter = LDAPFilter.all(parts).text
        mode = settings.mode
        updatePolicy = settings.updatePolicy
        staleUserAction = settings.staleUserAction
        syncInactiveUsers = settings.syncInactiveUsers
        deletionGuard = settings.deletionGuard
        serviceAreaRules = try settings.serviceAreaFilters.map { named throws(InputError) in
            ServiceAreaRule(name: named.name, filter: try LDAPFilter(parsing: named.filter, field: "service_area_filter"),
                            mask: try named.mask.map { text throws(InputError) in try PhoneMask(parsing: text) },
                            assignNewLine: named.assignNewLine)
        }
        userRoleRules = try settings.userRoleFilters.map { named throws(InputError) in
            UserRoleRule(name: named.name, filter: try LDAPFilter(parsing: named.filter, field: "user_role_filter"))
        }
        writeBackAttribute = settings.writeBackAttribute
        writeBackMask = try settings.writeBackMask.map { text throws(InputError) in
            try PhoneMask(parsing: text, field: "write_back_mask")
        }
    }

    /// What a search requests: the mapped attributes and the disabled flag (`mapping.readAttributes`),
    /// then any other attribute a service area or user role filter tests, so they can be evaluated.
    public var readAttributes: [String] {
        var names = mapping.readAttributes
        for rule in serviceAreaRules.map(\.filter) + userRoleRules.map(\.filter) {
            for name in rule.attributes where !names.contains(where: { $0.lowercased() == name.lowercased() }) {
                names.append(name)
            }
        }
        return names
    }

    /// The position in `serviceAreaRules` of the first rule whose filter the entry matches (the
    /// first that matches decides); nil when none does.
    public func firstServiceAreaRuleIndex(matching entry: [String: [String]], rules: LDAPMatchingRules = .caseIgnore) -> Int? {
        serviceAreaRules.firstIndex { $0.filter.matches(entry: entry, rules: rules) }
    }

    /// The service area the entry's user goes to: the first whose filter it matches; nil when none does.
    public func serviceArea(matching entry: [String: [String]]) -> ServiceAreaRule? {
        firstServiceAreaRuleIndex(matching: entry).map { serviceAreaRules[$0] }
    }

    /// The user roles whose filter the entry matches, in the domain's order.
    public func userRoles(matching entry: [String: [String]], rules: LDAPMatchingRules = .caseIgnore) -> [UserRoleRule] {
        userRoleRules.filter { $0.filter.matches(entry: entry, rules: rules) }
    }
}

/// A service area LDAP filter, parsed: which users the service area takes, and how their line is chosen.
public struct ServiceAreaRule: Sendable, Equatable {
    public let name: String
    public let filter: LDAPFilter
    public let mask: PhoneMask?
    public let assignNewLine: Bool
}

/// A user role LDAP filter, parsed.
public struct UserRoleRule: Sendable, Equatable {
    public let name: String
    public let filter: LDAPFilter
}

/// A refused domain operation: one line that names the field and the rule.
