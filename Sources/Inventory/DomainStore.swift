import Directory
import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime
import ScheduleRules

/// The domains and their LDAP settings: every change is validated first (against the directory's
/// server type, read in the same transaction), written with its audit line in one transaction, and
/// refused whole (nothing written) when any rule fails.
public struct DomainStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    // MARK: reads

    /// The domain with its LDAP settings resolved (`domain.ldap`), or nil when there is none.
    public func domain(named name: String) async throws -> Domain? {
        try await connection.query(DomainSQL.domainGet, [name]).first.map(Domain.init(row:))
    }

    /// Every domain, by name.
    public func domainList() async throws -> [Domain] {
        try await connection.query(DomainSQL.domainList).map(Domain.init(row:))
    }

    // MARK: changes

    @discardableResult
    public func domainAdd(_ draft: DomainDraft, actor: String) async throws -> Domain {
        try DomainValidation.draft(draft, serverType: nil) // what holds for any directory, before a round trip
        return try await connection.transaction { session in
            guard try session.query(DomainSQL.domainGet, [draft.name]).isEmpty else { throw Self.alreadyExists(draft.name) }
            let serverType = try Self.directoryType(session, draft.directory)
            let checked = try DomainValidation.draft(draft, serverType: serverType)
            do {
                try session.query(DomainSQL.domainInsert, try checked.parameters)
            } catch let error as PostgresError where error.kind == .uniqueViolation {
                throw Self.alreadyExists(draft.name)
            }
            let domain = try Domain(row: try session.query(DomainSQL.domainGet, [draft.name]).first!)
            try Self.audit(session, actor: actor, action: "domain.added", target: domain.name,
                           message: "Domain '\(domain.name)' added: \(Self.summary(domain))")
            return domain
        }
    }

    /// Applies `change` to the domain's settings. The name cannot change. An edit that changes
    /// nothing writes nothing.
    @discardableResult
    public func domainUpdate(name: String, actor: String,
                             _ change: @escaping @Sendable (inout DomainDraft) throws -> Void) async throws -> Domain {
        try await connection.transaction { session in try Self.update(session, name: name, actor: actor, change).domain }
    }

    /// `domainUpdate` in the caller's transaction (the domain's row locked until it ends); also
    /// whether anything changed.
    static func update(_ session: Session, name: String, actor: String,
                       _ change: (inout DomainDraft) throws -> Void) throws -> (domain: Domain, changed: Bool) {
        guard try session.query(DomainSQL.domainLock, [name]).first != nil,
              let row = try session.query(DomainSQL.domainGet, [name]).first else {
            throw Self.noSuchDomain(name)
        }
        let current = try Domain(row: row)
        var after = current.settings
        try change(&after)
        guard after.name == current.name else {
            throw InputError(field: "name", problem: "a domain cannot be renamed (remove it and add it again)")
        }
        let serverType = try Self.directoryType(session, after.directory)
        after = try DomainValidation.draft(after, serverType: serverType)
        let fields = after.changedFields(from: current.settings)
        guard !fields.isEmpty else { return (current, false) }
        try session.query(DomainSQL.domainUpdate, try after.parameters)
        let domain = try Domain(row: try session.query(DomainSQL.domainGet, [name]).first!)
        try Self.audit(session, actor: actor, action: "domain.changed", target: name,
                       message: "Domain '\(name)' changed: \(fields.joined(separator: ", "))")
        return (domain, true)
    }

    /// Removes a domain; refused while a synchronization of it is queued or running.
    ///
    /// The users of a domain arrive with the LDAP synchronization (migration 007, `users`); refusing
    /// the removal of a domain that has users is to be added here, in this transaction, with them.
    public func domainRemove(name: String, actor: String) async throws {
        try await connection.transaction { session in
            guard try session.query(DomainSQL.domainLock, [name]).first != nil else { throw Self.noSuchDomain(name) }
            // A synchronization of the domain that has not ended would act on a domain that is gone.
            if let job = try QueueStore.InTransaction(session).jobUnfinishedByTarget(kind: .sync, target: name) {
                throw InputError(field: "domain '\(name)'", problem: "cannot be removed while its synchronization (job \(job.id), \(job.type)) is queued or running")
            }
            let users: Int64 = try session.query(DomainSQL.domainUserCount, [name]).first!.decode("n")
            guard users == 0 else {
                throw InputError(field: "domain '\(name)'", problem: "cannot be removed while it has users (\(users))")
            }
            try session.query(DomainSQL.domainDelete, [name])
            try Self.audit(session, actor: actor, action: "domain.removed", target: name, message: "Domain '\(name)' removed")
        }
    }

    // MARK: helpers

    public static func noSuchDomain(_ name: String) -> InputError {
        InputError(field: "domain '\(name)'", problem: "no such domain")
    }

    static func alreadyExists(_ name: String) -> InputError {
        InputError(field: "name", problem: "a domain named '\(name)' already exists")
    }

    /// The server type of the directory a domain names (locked until the commit); nil for none.
    static func directoryType(_ session: Session, _ directory: String?) throws -> DirectoryServerType? {
        guard let directory else { return nil }
        guard let row = try session.query(DomainSQL.directoryGet, [directory]).first else {
            throw InputError(field: "directory", problem: "no device named '\(directory)' (add it with ucp device add --kind ldap)")
        }
        let kindText: String = try row.decode("kind")
        guard kindText == DeviceKind.directory.rawValue, let typeText: String = try row.decodeIfPresent("directory_type"),
              let type = DirectoryServerType(rawValue: typeText) else {
            let title = DeviceKind(rawValue: kindText)?.title ?? kindText
            throw InputError(field: "directory", problem: "device '\(directory)' is a \(title), not an LDAP directory (--kind ldap)")
        }
        return type
    }

    /// `directory 'AD' (Microsoft Active Directory), base CN=Users,…, mode …, filter: all users`.
    static func summary(_ domain: Domain) -> String {
        guard let directory = domain.directory, let type = domain.serverType else { return "no directory source" }
        var text = "directory '\(directory)' (\(type.title)), search base '\(domain.searchBase ?? "")'"
        text += ", mode \(domain.mode.title), update \(domain.updatePolicy.title), stale users: \(domain.staleUserAction.title)"
        if domain.syncInactiveUsers { text += ", inactive users synchronized" }
        text += ", filter: \(domain.filter.summary)"
        return text
    }

    private static func audit(_ session: Session, actor: String, action: String, target: String, message: String) throws {
        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: action, target: target, message: message)
    }
}

/// A domain that synchronizes from its directory on its own interval (the seed's "Synchronization
/// Interval" and "Synchronization Start Date" of a domain).
public struct DomainSyncTiming: Sendable {
    public var name: String
    /// The interval as stored (`6h`, `1d`, …).
    public var interval: String
    /// The start date, or when the domain was created.
    public var startAt: Date
    public var lastFiredAt: Date?
    /// `lastFiredAt` as stored text, which `domainSyncFiredMark` compares with (exact).
    public var lastFiredText: String?
}

extension DomainStore {
    /// The domains that synchronize from a directory on their own interval, by name.
    public func domainListSyncScheduled() async throws -> [DomainSyncTiming] {
        try await connection.query(DomainSQL.domainListSyncScheduled).map { row in
            DomainSyncTiming(name: try row.decode("name"), interval: try row.decode("sync_interval"),
                             startAt: try row.decode("start_at"), lastFiredAt: try row.decodeIfPresent("ldap_sync_last_fired_at"),
                             lastFiredText: try row.decodeIfPresent("last_fired_text"))
        }
    }

    /// The domain operations another module runs inside a transaction of its own (a domain's LDAP
    /// sync fired with its job and audit line at once).
    public struct InTransaction {
        let session: Session

        public init(_ session: Session) {
            self.session = session
        }

        /// Records that the domain's sync fired for `dueAt`; false when somebody fired it since
        /// `lastFiredText` was read (then the caller fires nothing).
        public func domainSyncFiredMark(name: String, dueAt: Date, lastFiredText: String?) throws -> Bool {
            !(try session.query(DomainSQL.domainSyncFiredMark, [name, dueAt, lastFiredText])).isEmpty
        }
    }
}

extension DomainDraft {
    init(row: Row) throws {
        func decodeEnum<T: RawRepresentable>(_ column: String, as type: T.Type) throws -> T where T.RawValue == String {
            let text: String = try row.decode(column)
            guard let value = T(rawValue: text) else {
                throw PostgresError(kind: .decoding, message: "domains.\(column): unknown value '\(text)'")
            }
            return value
        }
        func decodeJSON<T: Decodable>(_ column: String, as type: T.Type) throws -> T {
            let text: String = try row.decode(column)
            do {
                return try JSONDecoder().decode(T.self, from: Data(text.utf8))
            } catch {
                throw PostgresError(kind: .decoding, message: "domains.\(column): not the stored JSON shape")
            }
        }
        let filter: FilterQuery
        switch try row.decode("filter_kind", as: String.self) {
        case "simple":
            let conditions = try decodeJSON("filter_conditions_json", as: [String].self).map { text in
                do {
                    return try QueryCondition(parsing: text)
                } catch {
                    throw PostgresError(kind: .decoding, message: "domains.filter_conditions: \(error)")
                }
            }
            filter = .simple(SimpleQuery(conditions: conditions, match: try decodeEnum("filter_match", as: SimpleQuery.Match.self)))
        case "advanced":
            filter = .advanced(try row.decode("filter_advanced"))
        default:
            filter = .allUsers
        }
        let interval: ScheduleFrequency? = try row.decodeIfPresent("sync_interval", as: String.self).map { text in
            do {
                return try ScheduleFrequency(parsing: text)
            } catch {
                throw PostgresError(kind: .decoding, message: "domains.sync_interval: \(error)")
            }
        }
        self.init(
            name: try row.decode("name"), directory: try row.decodeIfPresent("directory"),
            mode: try decodeEnum("ldap_mode", as: LDAPMode.self), updatePolicy: try decodeEnum("update_policy", as: UpdatePolicy.self),
            staleUserAction: try decodeEnum("stale_user_action", as: StaleUserAction.self),
            searchBase: try row.decodeIfPresent("search_base"), syncInactiveUsers: try row.decode("sync_inactive_users"),
            mapping: FieldMappingChoices(
                userID: try row.decodeIfPresent("user_id_attribute"), phone: try row.decodeIfPresent("phone_attribute"),
                email: try row.decodeIfPresent("email_attribute"), middleName: try row.decodeIfPresent("middle_name_attribute"),
                directoryURI: try row.decodeIfPresent("directory_uri_attribute")),
            filter: filter,
            serviceAreaFilters: try decodeJSON("service_area_filters_json", as: [NamedLDAPFilter].self),
            userRoleFilters: try decodeJSON("user_role_filters_json", as: [NamedLDAPFilter].self),
            writeBackAttribute: try row.decodeIfPresent("write_back_attribute"),
            writeBackMask: try row.decodeIfPresent("write_back_mask"),
            deletionGuard: DeletionGuard(maximumCount: try row.decode("delete_guard_count"),
                                         maximumPercent: try row.decode("delete_guard_percent")),
            syncInterval: interval, syncStart: try row.decodeIfPresent("sync_start_at"))
    }

    /// `$1`…`$24` of the insert and update statements.
    var parameters: [any PostgresEncodable] {
        get throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            func json(_ filters: [NamedLDAPFilter]) throws -> String {
                String(decoding: try encoder.encode(filters), as: UTF8.self)
            }
            var kind = "all", match = SimpleQuery.Match.all.rawValue
            var conditions: [String] = [], advanced: String?
            switch filter {
            case .allUsers:
                break
            case .simple(let query):
                kind = "simple"
                match = query.match.rawValue
                conditions = query.conditions.map(\.text)
            case .advanced(let text):
                kind = "advanced"
                advanced = text
            }
            return [name, directory, mode.rawValue, updatePolicy.rawValue, staleUserAction.rawValue, searchBase,
                    syncInactiveUsers, mapping.userID, mapping.phone, mapping.email, mapping.middleName, mapping.directoryURI,
                    kind, match, PostgresTextArray(conditions), advanced, try json(serviceAreaFilters),
                    try json(userRoleFilters), writeBackAttribute, writeBackMask, deletionGuard.maximumCount,
                    deletionGuard.maximumPercent, syncInterval?.cliForm, syncStart]
        }
    }

    /// The names of the settings that differ from `other`, as the audit trail names them.
    func changedFields(from other: DomainDraft) -> [String] {
        var fields: [String] = []
        if directory != other.directory { fields.append("directory") }
        if mode != other.mode { fields.append("mode") }
        if updatePolicy != other.updatePolicy { fields.append("update_policy") }
        if staleUserAction != other.staleUserAction { fields.append("stale_user_action") }
        if searchBase != other.searchBase { fields.append("search_base") }
        if syncInactiveUsers != other.syncInactiveUsers { fields.append("sync_inactive_users (now \(syncInactiveUsers ? "on" : "off"))") }
        for field in MappedField.allCases where mapping[field] != other.mapping[field] { fields.append(field.settingName) }
        if filter != other.filter { fields.append("filter") }
        if serviceAreaFilters != other.serviceAreaFilters { fields.append("service_area_filters") }
        if userRoleFilters != other.userRoleFilters { fields.append("user_role_filters") }
        if writeBackAttribute != other.writeBackAttribute { fields.append("write_back_attribute") }
        if writeBackMask != other.writeBackMask { fields.append("write_back_mask") }
        if deletionGuard.maximumCount != other.deletionGuard.maximumCount { fields.append("delete_guard_count") }
        if deletionGuard.maximumPercent != other.deletionGuard.maximumPercent { fields.append("delete_guard_percent") }
        if syncInterval != other.syncInterval { fields.append("sync_interval") }
        if syncStart != other.syncStart { fields.append("sync_start") }
        return fields
    }
}
