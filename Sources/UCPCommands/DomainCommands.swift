import APIServer
import ArgumentParser
import Directory
import Foundation
import Inventory
import Postgres
import Runtime
import ScheduleRules

struct DomainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "domain",
        abstract: "Domains and their LDAP settings: directory source, sync policy, field mapping, filters, masks.",
        discussion: """
            Filter query: --all-users, a simple query (--where 'FIELD OP VALUE', repeatable, joined by \
            --match all|any; OP is =, != or in; '*' at the start or end of a value is the wildcard; \
            'in' lists use ';' for ip-phone-number and ',' otherwise; '/+' is a plus sign), or \
            --advanced-filter with any LDAP filter (RFC 4515). Fields: \
            \(QueryField.allCases.map(\.rawValue).joined(separator: ", ")).
            """,
        subcommands: [Add.self, Edit.self, List.self, Show.self, Remove.self, DomainLogCommand.self, DomainOrphansCommand.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a domain.")
        @Option(help: "The domain name: letters, digits, space, '_', '-', '.', '@' (1 to 100).") var name: String
        @OptionGroup var fields: DomainFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var draft = DomainDraft(name: name)
            try fields.apply(to: &draft)
            let store = DomainStore(Connection(try await Database.open()))
            let domain = try await store.domainAdd(draft, actor: global.actorName)
            print("domain '\(domain.name)' added (\(DomainOutput.source(domain)))")
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a domain. Only the options given change; --directory '' removes the directory source.")
        @Argument(help: "The domain name.") var name: String
        @OptionGroup var fields: DomainFieldOptions
        @Option(name: .customLong("rule"), help: ArgumentHelp(
            "A domain synchronization rule (repeatable; replaces the set; '' clears it): sync-all-users, sync-existing-users, match-department=A,B, match-location=A,B, match-device-pool=A,B, sync-all-unity-users, sync-primary-user-from-unity.",
            valueName: "rule"))
        var rules: [String] = []
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            // Everything that can be checked without the database, before it is opened.
            var probe = DomainDraft(name: name)
            try fields.apply(to: &probe)
            let newRules = rules.isEmpty ? nil : try DomainRules.parse(rules)
            let store = DomainStore(Connection(try await Database.open()))
            let before = try await store.domain(named: name)
            let fields = fields
            let domain = try await store.domainUpdate(name: name, actor: global.actorName) { draft in
                try fields.apply(to: &draft)
            }
            var changed = before.map { $0.updatedAt != domain.updatedAt } ?? true
            if let newRules, try await store.domainRulesSet(name: name, newRules, actor: global.actorName) { changed = true }
            print(changed ? "domain '\(name)' changed" : "domain '\(name)': nothing changed")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the domains.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let domains = try await DomainStore(Connection(try await Database.open())).domainList()
            if json {
                print(try Output.json(domains.map(DomainOutput.json)))
                return
            }
            print(pad("NAME", 24) + pad("DIRECTORY", 24) + pad("TYPE", 10) + pad("MODE", 11) + pad("STALE USERS", 27) + "FILTER")
            for domain in domains {
                print(pad(domain.name, 24) + pad(domain.directory ?? "-", 24) + pad(domain.serverType?.rawValue ?? "-", 10)
                      + pad(domain.mode == .authenticationOnly ? "auth" : "auth+sync", 11)
                      + pad(DomainOutput.cliName(domain.staleUserAction.rawValue), 27) + domain.filter.summary)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one domain with its compiled LDAP filter.")
        @Argument(help: "The domain name.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let connection = Connection(try await Database.open())
            let store = DomainStore(connection)
            guard let domain = try await store.domain(named: name) else {
                throw DomainStore.noSuchDomain(name)
            }
            let rules = try await store.domainRules(name: name)
            let areas = try await ServiceAreaStore(connection).serviceAreaList(domain: name)
            // A domain's processors are those of its service areas.
            let callProcessors = Array(Set(areas.map(\.settings.callProcessor))).sorted()
            let messageProcessors = Array(Set(areas.compactMap(\.settings.messageProcessor))).sorted()
            if json {
                print(try Output.json(Representation.domainDetail(domain, rules: rules, areas: areas)))
                return
            }
            var lines: [(String, String)] = [
                ("name", domain.name), ("directory", DomainOutput.source(domain)), ("search base", domain.searchBase ?? "-"),
                ("mode", "\(DomainOutput.cliName(domain.mode.rawValue)) (\(domain.mode.title))"),
                ("update", "\(DomainOutput.cliName(domain.updatePolicy.rawValue)) (\(domain.updatePolicy.title))"),
                ("stale users", "\(DomainOutput.cliName(domain.staleUserAction.rawValue)) (\(domain.staleUserAction.title))"),
                ("inactive users", domain.syncInactiveUsers ? "synchronized" : "not synchronized"),
                ("filter", domain.filter.summary),
            ]
            if let ldap = domain.ldap {
                lines.append(("ldap filter", ldap.ldapFilter))
                for (field, attribute) in ldap.mapping.attributes {
                    lines.append(("map \(field.rawValue)", attribute + (DomainOutput.isDefault(domain, field) ? "" : " (chosen)")))
                }
                if ldap.mapping.directoryURI == nil { lines.append(("map directory_uri", "none")) }
            }
            for named in domain.serviceAreaFilters {
                var text = "\(named.name): \(named.filter)"
                if let mask = named.mask { text += ", mask \(mask)" }
                if named.assignNewLine { text += ", new line from the extension block" }
                lines.append(("service area", text))
            }
            for named in domain.userRoleFilters { lines.append(("user role", "\(named.name): \(named.filter)")) }
            lines += [
                ("write back", domain.writeBackAttribute.map { $0 + (domain.writeBackMask.map { ", mask \($0)" } ?? "") } ?? "do not write to LDAP"),
                ("delete guard", "\(domain.deletionGuard.maximumCount) users or \(domain.deletionGuard.maximumPercent)%"),
                ("sync interval", domain.syncInterval.map { "\($0.description), from \(Output.shortTime(domain.syncStart)) UTC" } ?? "none"),
                ("sync rules", rules.summary + (rules.inEffect == nil ? " (a domain sync is refused until one of the required rules is on)" : "")),
                ("service areas", areas.isEmpty ? "none" : areas.map(\.name).joined(separator: ", ")),
                ("call processors", callProcessors.isEmpty ? "none" : callProcessors.joined(separator: ", ")),
                ("message processors", messageProcessors.isEmpty ? "none" : messageProcessors.joined(separator: ", ")),
                ("created at", Output.shortTime(domain.createdAt)), ("updated at", Output.shortTime(domain.updatedAt)),
            ]
            for (key, value) in lines { print(pad(key, 19) + value) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a domain no synchronization is working on.")
        @Argument(help: "The domain name.") var name: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await DomainStore(Connection(try await Database.open())).domainRemove(name: name, actor: global.actorName)
            print("domain '\(name)' removed")
        }
    }
}

/// The options `domain add` and `domain edit` share; on edit, only those given change.
struct DomainFieldOptions: ParsableArguments {
    @Option(help: "The directory source: a device of kind ldap ('' on edit: none).") var directory: String?
    @Option(help: "authentication-only or authentication-and-synchronization (default).") var mode: String?
    @Option(help: "Update existing user details: all-fields (default) or do-not-update.") var update: String?
    @Option(name: .customLong("stale-users"),
            help: "Action for stale users: do-not-change (default), delete-if-no-services, delete-user, delete-user-keep-services, delete-user-and-services.")
    var staleUsers: String?
    @Option(name: .customLong("search-base"), help: "The one user search base, e.g. CN=Users,DC=example,DC=com.")
    var searchBase: [String] = []
    @Flag(name: .customLong("sync-inactive-users"), inversion: .prefixedNo,
          help: "Synchronize inactive (disabled) users (AD and ADAM/LDS only).")
    var syncInactiveUsers: Bool?
    @Option(name: .customLong("user-id-attribute"), help: "sAMAccountName (AD) or uid, mail, employeeNumber, telephoneNumber, userPrincipalName; 'default' for the server type's.")
    var userIDAttribute: String?
    @Option(name: .customLong("phone-attribute"), help: "telephoneNumber or ipPhone ('default').") var phoneAttribute: String?
    @Option(name: .customLong("email-attribute"), help: "mail or sAMAccountName ('default').") var emailAttribute: String?
    @Option(name: .customLong("middle-name-attribute"), help: "middleName or initials ('default').") var middleNameAttribute: String?
    @Option(name: .customLong("directory-uri-attribute"), help: "mail, msRTCSIP-PrimaryUserAddress or none ('default': none).")
    var directoryURIAttribute: String?
    @Flag(name: .customLong("all-users"), help: "Filter query: synchronize all users.") var allUsers = false
    @Option(name: .customLong("where"), help: "Simple query condition 'FIELD OP VALUE' (repeatable; replaces the filter).")
    var conditions: [String] = []
    @Option(help: "How --where conditions combine: all (default) or any.") var match: String?
    @Option(name: .customLong("advanced-filter"), help: "Advanced query: any LDAP filter, e.g. '(&(department=Sales*)(mail=*))'.")
    var advancedFilter: String?
    @Option(name: .customLong("service-area-filter"), help: "SERVICE_AREA=FILTER (repeatable; replaces the list; '' clears it).")
    var serviceAreaFilters: [String] = []
    @Option(name: .customLong("service-area-mask"), help: "SERVICE_AREA=MASK: apply the mask to LDAP synchronized numbers (e.g. +XX234).")
    var serviceAreaMasks: [String] = []
    @Option(name: .customLong("service-area-new-line"), help: "SERVICE_AREA: assign a new line from the extension block.")
    var serviceAreaNewLines: [String] = []
    @Option(name: .customLong("user-role-filter"), help: "USER_ROLE=FILTER (repeatable; replaces the list; '' clears it).")
    var userRoleFilters: [String] = []
    @Option(name: .customLong("write-back-attribute"), help: "Write the primary DN to: none (default), ipPhone, telephoneNumber or mobile.")
    var writeBackAttribute: String?
    @Option(name: .customLong("write-back-mask"), help: "Mask applied before writing back ('' clears).") var writeBackMask: String?
    @Option(name: .customLong("delete-guard-count"), help: "Delete no users when a sync would delete more than this many (default 500).")
    var deleteGuardCount: Int?
    @Option(name: .customLong("delete-guard-percent"), help: "… or more than this percentage of the domain's users (default 10).")
    var deleteGuardPercent: Int?
    @Option(name: .customLong("sync-interval"), help: "Synchronization interval: <N>h, <N>d, <N>w, once, or none.")
    var syncInterval: String?
    @Option(name: .customLong("sync-start"), help: "Synchronization start date: 2026-11-23T10:00:00Z or 2026-11-23 10:00 (UTC; default now).")
    var syncStart: String?

    /// Applies the options given to `draft`; the refusals that need no database are thrown here.
    func apply(to draft: inout DomainDraft) throws {
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
            let choices = T.allCases.map { DomainOutput.cliName($0.rawValue) }
            throw InputError(field: field, problem: "must be \(choices.dropLast().joined(separator: ", ")) or \(choices.last!) (got '\(text)')")
        }
        return value
    }
}

enum DomainOutput {
    /// `delete-if-no-services` for the stored `delete_if_no_services`.
    static func cliName(_ rawValue: String) -> String {
        rawValue.replacingOccurrences(of: "_", with: "-")
    }

    /// `AD (ad, Microsoft Active Directory)` or `none`.
    static func source(_ domain: Domain) -> String {
        guard let directory = domain.directory, let type = domain.serverType else { return "no directory source" }
        return "directory '\(directory)', \(type.title)"
    }

    static func isDefault(_ domain: Domain, _ field: UserField) -> Bool {
        switch field {
        case .userID: return domain.mapping.userID == nil
        case .phone: return domain.mapping.phone == nil
        case .email: return domain.mapping.email == nil
        case .middleName: return domain.mapping.middleName == nil
        case .directoryURI: return domain.mapping.directoryURI == nil
        default: return true
        }
    }

    static func json(_ domain: Domain) -> [String: Any] { Representation.domain(domain) }
}
