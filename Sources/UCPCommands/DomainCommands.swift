import APIServer
import ArgumentParser
import Directory
import Foundation
import Inventory
import Orders
import Postgres
import Queue
import Runtime
import ScheduleRules

struct DomainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "domain",
        abstract: "Domains and their LDAP settings: directory source, sync policy, field mapping, filters, masks.",
        discussion: """
            Filter query: --all-users, a simple query (--where 'FIELD OP VALUE', repeatable, joined by \
            --match all|any; OP is =, != or in; '*' at the start or end of a value is the wildcard; \
            'in' lists use ';' for ip-phone-number and manager-id and ',' otherwise; '/+' is a plus sign; \
            manager-id takes the manager's full DN, e.g. 'manager-id in CN=jdoe,OU=Users,DC=x;CN=ann,OU=Users,DC=x', \
            or '*' for any manager), or \
            --advanced-filter with any LDAP filter (RFC 4515). Fields: \
            \(QueryField.allCases.map(\.rawValue).joined(separator: ", ")).

            Automatic service provisioning (--automatic-provisioning on, off by default; user roles: ucp \
            domain role): each user an LDAP synchronization brings in gets one ordinary order of its roles' \
            services (the matching role LDAP filters' and --default-role's) in the first service area whose \
            service area LDAP filter matches; the line: neither box, the LDAP number (digits only); \
            --service-area-new-line only, the next free number of the area's block; --service-area-mask \
            only, the masked LDAP number; both, the masked number, else the block. Without a line (no \
            LDAP number where one is needed) the order holds only the services that need none (the user, \
            IM and Presence); the log says what was left out. The sync's log lists the orders queued; \
            --dry-run lists those it would queue.
            """,
        subcommands: [Add.self, Edit.self, List.self, Show.self, Remove.self, DomainLogCommand.self, DomainOrphansCommand.self,
                      DomainWriteBackCommand.self, MoveFilterCommand.self, UserRoleCommand.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a domain.")
        @Option(help: "The domain name: letters, digits, space, '_', '-', '.', '@' (1 to 100).") var name: String
        @OptionGroup var fields: DomainFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var draft = DomainDraft(name: name)
            try fields.change.apply(to: &draft)
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
        @Option(help: "on: after each LDAP and domain synchronization, the move filters place the users not placed yet; off: they do not.")
        var automaticMove: String?
        @Option(help: "on: each user an LDAP synchronization brings in gets an order of its user roles' services; off (default): none.")
        var automaticProvisioning: String?
        @Option(help: "The user role every user automatic provisioning brings in gets ('' clears it).")
        var defaultRole: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            // Everything that can be checked without the database, before it is opened.
            var change = fields.change
            change.rules = rules.isEmpty ? nil : rules
            try change.check(name: name)
            let automatic = try automaticMove.map { text in
                guard ["on", "off"].contains(text) else { throw InputError(field: "automatic-move", problem: "\(InputError.quoted(text)) must be on or off") }
                return text == "on"
            }
            let provisioning = try UserRoleOutput.provisioningOptions(automaticProvisioning, defaultRole)
            let provisioningGiven = provisioning.on != nil || provisioning.defaultRole != nil
            // One transaction: a refusal of any option (the LDAP settings, the rules, the switches) writes nothing.
            let changed = try await DomainStore(Connection(try await Database.open())).domainEdit(
                name: name, change, automaticMove: automatic, provisioning: provisioningGiven ? provisioning : nil, actor: global.actorName)
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
            let moveFilters = MoveFilterStore(connection)
            let automaticMove = try await moveFilters.automaticMove(domain: name), filters = try await moveFilters.moveFilterList(domain: name)
            let userRoles = UserRoleStore(connection)
            let provisioning = try await userRoles.provisioning(domain: name), roles = try await userRoles.roleList(domain: name)
            if json {
                var object = Representation.domainDetail(domain, rules: rules, areas: areas)
                object["automatic_provisioning"] = provisioning.on
                object["default_role"] = provisioning.defaultRole as Any? ?? NSNull()
                object["user_roles"] = roles.map(UserRoleOutput.json)
                object["automatic_move"] = automaticMove
                object["move_filters"] = filters.map(MoveFilterOutput.json)
                print(try Output.json(object))
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
            lines.append(("automatic move", automaticMove ? "on (LDAP and domain synchronizations place unplaced users by the move filters)" : "off"))
            lines += filters.map { ("move filter", MoveFilterOutput.text($0)) }
            lines.append(("auto provisioning", provisioning.on ? "on, default role " + (provisioning.defaultRole.map { "'\($0)'" } ?? "none") : "off"))
            lines += roles.map { ("role", "\($0.name)\($0.isDefault ? " (default)" : ""): \($0.services)") }
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

    /// The options given, as `DomainChange` (the one place the command line and the API share) reads them.
    var change: DomainChange {
        DomainChange(directory: directory, mode: mode, update: update, staleUsers: staleUsers, searchBase: searchBase,
                     syncInactiveUsers: syncInactiveUsers, userIDAttribute: userIDAttribute, phoneAttribute: phoneAttribute,
                     emailAttribute: emailAttribute, middleNameAttribute: middleNameAttribute,
                     directoryURIAttribute: directoryURIAttribute, allUsers: allUsers, conditions: conditions, match: match,
                     advancedFilter: advancedFilter, serviceAreaFilters: serviceAreaFilters, serviceAreaMasks: serviceAreaMasks,
                     serviceAreaNewLines: serviceAreaNewLines, userRoleFilters: userRoleFilters,
                     writeBackAttribute: writeBackAttribute, writeBackMask: writeBackMask, deleteGuardCount: deleteGuardCount,
                     deleteGuardPercent: deleteGuardPercent, syncInterval: syncInterval, syncStart: syncStart)
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

/// The seed's "Start Write Back to LDAP": every directory user's primary directory number, after the
/// domain's mask, written to its write-back attribute, as a job (Sources/Orders/WriteBackJob.swift).
struct DomainWriteBackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write-back",
        abstract: "Write every directory user's primary directory number to LDAP (seed: Start Write Back to LDAP), as a job.",
        discussion: """
            Refused while the domain's attribute is 'none' (Do not write to LDAP), while a domain or LDAP \
            synchronization of the domain is queued or running, and during a user synchronization or change \
            notification of its processors. While it is queued or running, the domain's domain and LDAP \
            synchronizations are refused. Its detailed log: ucp domain log NAME --kind writeback.
            """)
    @Argument(help: "The domain.") var name: String
    @OptionGroup var waitOptions: WaitOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let connection = Connection(try await Database.open())
        let (id, created) = try await WriteBackSubmission.enqueue(domain: name, actor: global.actorName, connection: connection)
        print(created ? "job \(id) queued (write back to LDAP of '\(name)')" : "job \(id): a write back to LDAP of '\(name)' is already queued; not queued again")
        if waitOptions.wait { try await JobWatcher.wait(for: id, store: QueueStore(connection)) }
    }
}
