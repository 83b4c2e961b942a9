import Directory
import Foundation
import Runtime

/// The rules for domain fields (DESIGN.md §4 rule 6). Each failure is one line that names the field
/// and the rule; `DomainStore` checks everything before it writes anything.
public enum DomainValidation {
    public static let longestSearchBase = 1024
    public static let largestGuardCount = 10_000_000

    /// Checks every field of `draft` for the directory's server type (nil: the domain has no
    /// directory) and returns it with the field-mapping choices spelled as the seed does.
    @discardableResult
    public static func draft(_ draft: DomainDraft, serverType: DirectoryServerType?) throws -> DomainDraft {
        var checked = draft
        try withoutNUL(draft)
        try name(draft.name)
        try directoryFields(draft, serverType: serverType)
        do {
            checked.mapping = try draft.mapping.validated(for: serverType)
            try draft.filter.validate()
            if let serverType {
                _ = try draft.filter.userFilter(mapping: checked.mapping.resolved(for: serverType))
            }
            if let attribute = draft.writeBackAttribute {
                checked.writeBackAttribute = try WriteBackAttribute.validate(attribute, for: serverType)
            }
            if let mask = draft.writeBackMask {
                guard checked.writeBackAttribute != nil else {
                    throw InputError(field: "write_back_mask", problem: "needs a write_back_attribute (ipPhone, telephoneNumber or mobile)")
                }
                _ = try PhoneMask(parsing: mask, field: "write_back_mask")
            }
        }
        try namedFilters(draft.serviceAreaFilters, field: "service_area_filter", what: "service area", masks: true)
        try namedFilters(draft.userRoleFilters, field: "user_role_filter", what: "user role", masks: false)
        if draft.mode == .authenticationOnly && !(draft.serviceAreaFilters.isEmpty && draft.userRoleFilters.isEmpty) {
            // Seed: "Service Area and User Role filters are not enabled, if you have selected the
            // synchronization mode as Authentication Only."
            throw InputError(field: draft.serviceAreaFilters.isEmpty ? "user_role_filter" : "service_area_filter",
                             problem: "not available with mode authentication_only (seed: only with authentication_and_synchronization)")
        }
        try deletionGuard(draft.deletionGuard)
        try schedule(interval: draft.syncInterval != nil, start: draft.syncStart != nil)
        return checked
    }

    /// PostgreSQL text cannot hold the NUL character: a value typed with one is refused here, naming its
    /// field, instead of failing in the database. (A NUL in a query value would be escaped as `\00` in
    /// the filter; it simply cannot be stored.)
    static func withoutNUL(_ draft: DomainDraft) throws {
        var fields: [(String, String?)] = [("name", draft.name), ("directory", draft.directory), ("search_base", draft.searchBase),
                                           ("write_back_mask", draft.writeBackMask)]
        switch draft.filter {
        case .allUsers: break
        case .simple(let query): fields += query.conditions.map { ("where", $0.text) }
        case .advanced(let text): fields.append(("advanced_filter", text))
        }
        fields += draft.serviceAreaFilters.flatMap { [("service_area_filter", $0.name), ("service_area_filter", $0.filter)] }
        fields += draft.userRoleFilters.flatMap { [("user_role_filter", $0.name), ("user_role_filter", $0.filter)] }
        for case let (field, value?) in fields where value.unicodeScalars.contains("\u{0}") {
            throw InputError(field: field, problem: "may not contain the NUL character (U+0000)")
        }
    }

    /// The seed's rule for device names holds for domain, service area and user role names too.
    public static func name(_ name: String, field: String = "name") throws {
        try DeviceValidation.name(name, field: field)
    }

    /// The directory source and the settings that depend on having one.
    static func directoryFields(_ draft: DomainDraft, serverType: DirectoryServerType?) throws {
        guard draft.directory != nil else {
            if draft.searchBase != nil { throw InputError(field: "search_base", problem: "needs a directory source (--directory NAME)") }
            if draft.syncInactiveUsers { throw InputError(field: "sync_inactive_users", problem: "needs a directory source (--directory NAME)") }
            return
        }
        guard let searchBase = draft.searchBase else {
            throw InputError(field: "search_base", problem: "required with a directory source (one user search base, e.g. CN=Users,DC=example,DC=com)")
        }
        try self.searchBase(searchBase)
        if draft.syncInactiveUsers {
            if let serverType, !serverType.canSyncInactiveUsers {
                throw InputError(field: "sync_inactive_users", problem: "only for Active Directory or ADAM/LDS directories (this directory is \(serverType.title))")
            }
            if draft.mode == .authenticationOnly {
                throw InputError(field: "sync_inactive_users", problem: "applies only with mode authentication_and_synchronization")
            }
        }
    }

    /// One distinguished name: `attribute=value` parts separated by ','. Seed: "Cisco Prime
    /// Collaboration Provisioning supports only one user search base per domain", so a second base
    /// (after an unescaped ';', '|' or a line break) is refused.
    public static func searchBase(_ text: String) throws {
        let secondBase = InputError(field: "search_base",
                                    problem: "a domain has exactly one user search base (seed); create another domain for another base")
        guard !text.contains(where: { $0.isNewline }) else { throw secondBase }
        guard text.utf8.count <= longestSearchBase else {
            throw InputError(field: "search_base", problem: "longer than \(longestSearchBase) characters")
        }
        var parts: [String] = [""]
        var escaped = false
        for character in text {
            if escaped {
                parts[parts.count - 1].append(character)
                escaped = false
            } else if character == "\\" {
                parts[parts.count - 1].append(character)
                escaped = true
            } else if character == ";" || character == "|" {
                throw secondBase
            } else if character == "," {
                parts.append("")
            } else {
                parts[parts.count - 1].append(character)
            }
        }
        let valid = parts.allSatisfy { part in
            guard let equals = part.firstIndex(of: "=") else { return false }
            let attribute = part[..<equals].trimmingCharacters(in: .whitespaces)
            return !attribute.isEmpty && attribute.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
                && !part[part.index(after: equals)...].trimmingCharacters(in: .whitespaces).isEmpty
        }
        guard valid else {
            throw InputError(field: "search_base", problem: "\(InputError.quoted(text)) must be a distinguished name such as CN=Users,DC=example,DC=com")
        }
    }

    /// Service area or user role filters: a name each (once), a filter that parses, masks that hold.
    static func namedFilters(_ filters: [NamedLDAPFilter], field: String, what: String, masks: Bool) throws {
        var seen: Set<String> = []
        for named in filters {
            try name(named.name, field: field)
            guard seen.insert(named.name.lowercased()).inserted else {
                throw InputError(field: field, problem: "\(what) \(InputError.quoted(named.name)) has two filters (one per \(what))")
            }
            do {
                _ = try LDAPFilter(parsing: named.filter, field: field)
                if let mask = named.mask { _ = try PhoneMask(parsing: mask) }
            }
            if !masks && (named.mask != nil || named.assignNewLine) {
                throw InputError(field: field, problem: "a user role filter has no mask or line option (those are service area settings)")
            }
        }
    }

    public static func deletionGuard(_ guardrail: DeletionGuard) throws {
        guard (0...largestGuardCount).contains(guardrail.maximumCount) else {
            throw InputError(field: "delete_guard_count", problem: "must be a whole number from 0 to \(largestGuardCount) (got \(guardrail.maximumCount))")
        }
        guard (0...100).contains(guardrail.maximumPercent) else {
            throw InputError(field: "delete_guard_percent", problem: "must be a whole number from 0 to 100 (got \(guardrail.maximumPercent))")
        }
    }

    /// The Synchronization Interval and Start Date come as a pair.
    static func schedule(interval: Bool, start: Bool) throws {
        if interval && !start { throw InputError(field: "sync_start", problem: "required with sync_interval (give both or neither)") }
        if start && !interval { throw InputError(field: "sync_interval", problem: "required with sync_start (give both or neither)") }
    }


}
