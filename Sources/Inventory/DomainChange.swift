import Directory
import Foundation
import Runtime
import ScheduleRules

/// The fields of a domain as an operator gives them: `ucp domain add|edit` and `POST /api/v1/domains`,
/// `PATCH /api/v1/domains/{name}` both fill one and go through here, so both refuse the same input with
/// the same message, before anything is written. On edit, only the fields given change.
public struct DomainChange: Sendable {
    public var directory: String?
    public var mode: String?
    public var update: String?
    public var staleUsers: String?
    public var searchBase: [String]
    public var syncInactiveUsers: Bool?
    public var userIDAttribute: String?
    public var phoneAttribute: String?
    public var emailAttribute: String?
    public var middleNameAttribute: String?
    public var directoryURIAttribute: String?
    public var allUsers: Bool
    public var conditions: [String]
    public var match: String?
    public var advancedFilter: String?
    public var serviceAreaFilters: [String]
    public var serviceAreaMasks: [String]
    public var serviceAreaNewLines: [String]
    public var userRoleFilters: [String]
    public var writeBackAttribute: String?
    public var writeBackMask: String?
    public var deleteGuardCount: Int?
    public var deleteGuardPercent: Int?
    public var syncInterval: String?
    public var syncStart: String?
    public var rules: [String]?

    public init(directory: String? = nil, mode: String? = nil, update: String? = nil, staleUsers: String? = nil, searchBase: [String] = [], syncInactiveUsers: Bool? = nil, userIDAttribute: String? = nil, phoneAttribute: String? = nil, emailAttribute: String? = nil, middleNameAttribute: String? = nil, directoryURIAttribute: String? = nil, allUsers: Bool = false, conditions: [String] = [], match: String? = nil, advancedFilter: String? = nil, serviceAreaFilters: [String] = [], serviceAreaMasks: [String] = [], serviceAreaNewLines: [String] = [], userRoleFilters: [String] = [], writeBackAttribute: String? = nil, writeBackMask: String? = nil, deleteGuardCount: Int? = nil, deleteGuardPercent: Int? = nil, syncInterval: String? = nil, syncStart: String? = nil, rules: [String]? = nil) {
        self.directory = directory
        self.mode = mode
        self.update = update
        self.staleUsers = staleUsers
        self.searchBase = searchBase
        self.syncInactiveUsers = syncInactiveUsers
        self.userIDAttribute = userIDAttribute
        self.phoneAttribute = phoneAttribute
        self.emailAttribute = emailAttribute
        self.middleNameAttribute = middleNameAttribute
        self.directoryURIAttribute = directoryURIAttribute
        self.allUsers = allUsers
        self.conditions = conditions
        self.match = match
        self.advancedFilter = advancedFilter
        self.serviceAreaFilters = serviceAreaFilters
        self.serviceAreaMasks = serviceAreaMasks
        self.serviceAreaNewLines = serviceAreaNewLines
        self.userRoleFilters = userRoleFilters
        self.writeBackAttribute = writeBackAttribute
        self.writeBackMask = writeBackMask
        self.deleteGuardCount = deleteGuardCount
        self.deleteGuardPercent = deleteGuardPercent
        self.syncInterval = syncInterval
        self.syncStart = syncStart
        self.rules = rules
    }

    /// Everything that can be checked without the database (the rules included), before it is opened.
    public func check(name: String) throws {
        var probe = DomainDraft(name: name)
        try apply(to: &probe)
        _ = try rules.map(DomainRules.parse)
    }

    /// Applies the fields given to `draft`; the refusals that need no database are thrown here.
    public func apply(to draft: inout DomainDraft) throws {
        if let directory {
            draft.directory = directory.isEmpty ? nil : directory
            if directory.isEmpty && searchBase.isEmpty {
                draft.searchBase = nil
                draft.syncInactiveUsers = false
            }
        }
        if let mode { draft.mode = try Self.choice(mode, field: "mode", as: LDAPMode.self) }
        if let update { draft.updatePolicy = try Self.choice(update, field: "update_policy", as: UpdatePolicy.self) }
        if let staleUsers { draft.staleUserAction = try Self.choice(staleUsers, field: "stale_user_action", as: StaleUserAction.self) }
        guard searchBase.count <= 1 else {
            throw InputError(field: "search_base", problem: "a domain has exactly one user search base (seed); give --search-base once and create another domain for another base")
        }
        if let base = searchBase.first { draft.searchBase = base.isEmpty ? nil : base }
        if let syncInactiveUsers { draft.syncInactiveUsers = syncInactiveUsers }
        let attributes: [(MappedField, String?)] = [(.userID, userIDAttribute), (.phone, phoneAttribute), (.email, emailAttribute),
                                                    (.middleName, middleNameAttribute), (.directoryURI, directoryURIAttribute)]
        for case let (field, text?) in attributes {
            draft.mapping[field] = text.lowercased() == "default" ? nil : text
        }
        try applyFilter(to: &draft)
        try applyNamedFilters(to: &draft)
        if let writeBackAttribute {
            draft.writeBackAttribute = writeBackAttribute.lowercased() == "none" ? nil : writeBackAttribute
            if draft.writeBackAttribute == nil && writeBackMask == nil { draft.writeBackMask = nil }
        }
        if let writeBackMask { draft.writeBackMask = writeBackMask.isEmpty ? nil : writeBackMask }
        if let deleteGuardCount { draft.deletionGuard.maximumCount = deleteGuardCount }
        if let deleteGuardPercent { draft.deletionGuard.maximumPercent = deleteGuardPercent }
        if let syncInterval {
            if syncInterval.lowercased() == "none" {
                draft.syncInterval = nil
                draft.syncStart = nil
            } else {
                do {
                    draft.syncInterval = try ScheduleFrequency(parsing: syncInterval)
                } catch {
                    throw InputError(field: "sync_interval", problem: "\(error.problem)")
                }
                if draft.syncStart == nil && syncStart == nil { draft.syncStart = Date() }
            }
        }
        if let syncStart {
            do {
                draft.syncStart = try ScheduleStart.parse(syncStart, timeZone: TimeZone(identifier: "UTC")!)
            } catch {
                throw InputError(field: "sync_start", problem: "\(error.problem)")
            }
        }
    }

    private func applyFilter(to draft: inout DomainDraft) throws {
        let given = [allUsers, !conditions.isEmpty, advancedFilter != nil].filter { $0 }.count
        guard given <= 1 else {
            throw InputError(field: "filter", problem: "give one of --all-users, --where or --advanced-filter")
        }
        if match != nil && conditions.isEmpty { throw InputError(field: "match", problem: "applies to --where conditions (give them too)") }
        if allUsers { draft.filter = .allUsers }
        if let advancedFilter {
            draft.filter = .advanced(advancedFilter)
            try draft.filter.validate()
        }
        if !conditions.isEmpty {
            let match = try match.map { text in
                guard let match = SimpleQuery.Match(rawValue: text.lowercased()) else {
                    throw InputError(field: "match", problem: "must be all or any (got '\(text)')")
                }
                return match
            } ?? .all
            var parsed: [QueryCondition] = []
            for condition in conditions { parsed.append(try QueryCondition(parsing: condition)) }
            draft.filter = .simple(SimpleQuery(conditions: parsed, match: match))
        }
    }

    private func applyNamedFilters(to draft: inout DomainDraft) throws {
        if !serviceAreaFilters.isEmpty {
            draft.serviceAreaFilters = try serviceAreaFilters == [""] ? [] : serviceAreaFilters.map { text in
                let (name, filter) = try Self.pair(text, field: "service_area_filter", shape: "SERVICE_AREA=FILTER")
                return NamedLDAPFilter(name: name, filter: filter)
            }
        }
        if !userRoleFilters.isEmpty {
            draft.userRoleFilters = try userRoleFilters == [""] ? [] : userRoleFilters.map { text in
                let (name, filter) = try Self.pair(text, field: "user_role_filter", shape: "USER_ROLE=FILTER")
                return NamedLDAPFilter(name: name, filter: filter)
            }
        }
        for text in serviceAreaMasks {
            let (name, mask) = try Self.pair(text, field: "service_area_mask", shape: "SERVICE_AREA=MASK ('' clears)", emptyValue: true)
            let index = try Self.serviceArea(name, in: draft, field: "service_area_mask")
            draft.serviceAreaFilters[index].mask = mask.isEmpty ? nil : mask
        }
        for name in serviceAreaNewLines {
            let index = try Self.serviceArea(name, in: draft, field: "service_area_new_line")
            draft.serviceAreaFilters[index].assignNewLine = true
        }
    }

    private static func serviceArea(_ name: String, in draft: DomainDraft, field: String) throws -> Int {
        guard let index = draft.serviceAreaFilters.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
            throw InputError(field: field, problem: "no service area filter named '\(name)' (add it with --service-area-filter)")
        }
        return index
    }

    /// `NAME=VALUE`, split at the first '=' (names cannot hold one).
    private static func pair(_ text: String, field: String, shape: String, emptyValue: Bool = false) throws -> (String, String) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex,
              emptyValue || text.index(after: equals) != text.endIndex else {
            throw InputError(field: field, problem: "'\(text)' must be \(shape)")
        }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    /// A choice typed with '-' or '_' (do-not-update, do_not_update).
    private static func choice<T: RawRepresentable & CaseIterable>(_ text: String, field: String, as type: T.Type) throws -> T
        where T.RawValue == String {
        let key = text.lowercased().replacingOccurrences(of: "-", with: "_")
        guard let value = T(rawValue: key) else {
            let choices = T.allCases.map { $0.rawValue.replacingOccurrences(of: "_", with: "-") }
            throw InputError(field: field, problem: "must be \(choices.dropLast().joined(separator: ", ")) or \(choices.last!) (got '\(text)')")
        }
        return value
    }
}

extension DomainStore {
    /// `domain edit`: the fields given, the synchronization rules, and — when given — the automatic
    /// move switch and the automatic provisioning switch and default role, all in one transaction:
    /// every check runs before the commit, so a refusal of any of them writes nothing (no audit line
    /// either). True when anything changed.
    public func domainEdit(name: String, _ change: DomainChange, automaticMove: Bool? = nil,
                           provisioning: (on: Bool?, defaultRole: String??)? = nil, actor: String) async throws -> Bool {
        let newRules = try change.rules.map(DomainRules.parse)
        return try await connection.transaction { session in
            var changed = try Self.update(session, name: name, actor: actor) { try change.apply(to: &$0) }.changed
            if let newRules, try Self.rulesSet(session, name: name, newRules, actor: actor) { changed = true }
            if let automaticMove, try MoveFilterStore.automaticMoveSet(session, domain: name, on: automaticMove, actor: actor) { changed = true }
            if let provisioning, try UserRoleStore.provisioningSet(session, domain: name, on: provisioning.on,
                                                                   defaultRole: provisioning.defaultRole, actor: actor) {
                changed = true
            }
            return changed
        }
    }
}
