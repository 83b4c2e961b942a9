import JobCatalog
import Runtime

/// The objects a run can synchronize, by class, each list in the order runs should take them (the
/// order `all` expands to). Devices and domains live in the database, which this module does not read,
/// so the caller builds the catalog from its own tables.
public struct InventoryCatalog: Hashable, Sendable {
    public var callProcessors: [String]
    public var messageProcessors: [String]
    public var presenceProcessors: [String]
    /// The LDAP directories, under the names the granular text uses after `ad.`.
    public var ldapDirectories: [String]
    public var domains: [String]
    /// An LDAP synchronization reads one domain's users from its directory, so synchronizing a
    /// directory means synchronizing each domain that synchronizes from it: by directory, those
    /// domains in order.
    public var ldapDomainsByDirectory: [String: [String]]

    public init(
        callProcessors: [String] = [],
        messageProcessors: [String] = [],
        presenceProcessors: [String] = [],
        ldapDirectories: [String] = [],
        domains: [String] = [],
        ldapDomainsByDirectory: [String: [String]] = [:]
    ) {
        self.callProcessors = callProcessors
        self.messageProcessors = messageProcessors
        self.presenceProcessors = presenceProcessors
        self.ldapDirectories = ldapDirectories
        self.domains = domains
        self.ldapDomainsByDirectory = ldapDomainsByDirectory
    }

    public func names(of objectClass: SyncObjectClass) -> [String] {
        switch objectClass {
        case .callProcessor: return callProcessors
        case .messageProcessor: return messageProcessors
        case .presenceProcessor: return presenceProcessors
        case .ldapDirectory: return ldapDirectories
        case .domain: return domains
        }
    }
}

/// The Synchronization Schedule Builder's mass synchronizations (Table 3). The raw values are the
/// command line's `--builder` words.
public enum ScheduleBuilderChoice: String, CaseIterable, Hashable, Sendable, Codable {
    case all = "all"
    case callProcessors = "cp"
    case messageProcessors = "mp"
    case presenceProcessors = "pp"
    case ldapDirectories = "ldap"
    case domains = "domain"

    /// The seed's label for the choice.
    public var title: String {
        switch self {
        case .all: return "All"
        case .callProcessors: return "All Call Processors"
        case .messageProcessors: return "All Message Processors"
        case .presenceProcessors: return "All IMPs"
        case .ldapDirectories: return "All LDAPs"
        case .domains: return "All Domains"
        }
    }

    /// Parses one `--builder` word.
    public init(parsing text: String) throws(InputError) {
        guard let choice = Self(rawValue: text) else {
            throw InputError(field: "builder", problem: "unknown choice \(InputError.quoted(text)) (use all, cp, mp, pp, ldap or domain)")
        }
        self = choice
    }

    /// The object classes the choice synchronizes, every object of each.
    var objectClasses: [SyncObjectClass] {
        switch self {
        case .all: return SyncObjectClass.allCases
        case .callProcessors: return [.callProcessor]
        case .messageProcessors: return [.messageProcessor]
        case .presenceProcessors: return [.presenceProcessor]
        case .ldapDirectories: return [.ldapDirectory]
        case .domains: return [.domain]
        }
    }
}

/// What a schedule synchronizes: builder choices (the seed's default is `[.all]`) or granular text.
public enum SyncSelection: Hashable, Sendable {
    case builder(Set<ScheduleBuilderChoice>)
    case granular(GranularSync)
}

/// One sync of a run.
public struct PlannedSync: Hashable, Sendable, Codable, CustomStringConvertible {
    public var kind: SyncType
    public var objectClass: SyncObjectClass
    /// The device or domain name, as the catalog spells it (an LDAP sync targets a domain).
    public var target: String
    /// For an LDAP sync: the directory the domain synchronizes from.
    public var directory: String?
    /// The granular line that first asked for this sync; nil for builder choices.
    public var line: Int?

    public init(kind: SyncType, objectClass: SyncObjectClass, target: String, directory: String? = nil, line: Int? = nil) {
        self.kind = kind
        self.objectClass = objectClass
        self.target = target
        self.directory = directory
        self.line = line
    }

    /// For previews and run logs: `infrastructure synchronization of call processor 'Test-UCM'`,
    /// `LDAP synchronization of domain 'Sales' from LDAP directory 'Corp LDAP'`.
    public var description: String {
        guard let directory else { return "\(kind.title) of \(objectClass.noun) '\(target)'" }
        return "\(kind.title) of domain '\(target)' from \(objectClass.noun) '\(directory)'"
    }
}

/// Something a run will not do that the text or builder asked for, e.g. a name with no match.
public struct SyncPlanWarning: Hashable, Sendable, CustomStringConvertible {
    /// The granular line it is about; nil for builder choices and the plan as a whole.
    public var line: Int?
    public var message: String

    public init(line: Int?, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}

/// The ordered syncs one schedule run performs, and the warnings about what it will not do. Runs and
/// previews both come from here, so a preview lists exactly what a run would do.
///
/// Order (seed: infrastructure before user synchronization, devices before domains): all infrastructure
/// syncs, then all user syncs, then LDAP syncs, then domain syncs. Within the two device phases, call
/// processors come first, then message processors, then presence processors; within one class, targets
/// keep the order the text names them, `all` expanding in catalog order where it stands. A sync asked for
/// twice is planned once, where it first appears.
///
/// IM and Presence: the seed disables user synchronization for IM and Presence 9.0 and later (its users
/// come from Unified CM) and uses infrastructure synchronization for its user settings; it also calls
/// `pp.all: both` the presence processor mass sync. So a presence processor only ever gets an
/// infrastructure sync: `both` (and the builder's All IMPs) plans that alone, quietly, and a `pp` line
/// asking for `sub` only plans nothing and says so in a warning. Presence processors older than 9.0 are
/// out of support and not modelled.
///
/// Names that match nothing in the catalog, and `all` lines of a class the catalog has none of, are
/// warnings with their line number, never dropped silently. A run with nothing to do says so too.
public struct SyncPlan: Hashable, Sendable {
    public var syncs: [PlannedSync]
    public var warnings: [SyncPlanWarning]
    /// The warnings about granular lines naming an object the catalog does not have (also among
    /// `warnings`): storing such a line is refused unless the operator allows it.
    public var unknownObjects: [SyncPlanWarning]

    public static let nothingToSynchronize = "nothing to synchronize"

    public init(selection: SyncSelection, catalog: InventoryCatalog) {
        switch selection {
        case .builder(let choices): self.init(builder: choices, catalog: catalog)
        case .granular(let granular): self.init(granular: granular, catalog: catalog)
        }
    }

    public init(granular: GranularSync, catalog: InventoryCatalog) {
        self.init(entries: granular.entries, catalog: catalog)
    }

    /// Plans the good entries of checked text (the preview of text that still has bad lines).
    public init(entries: [GranularSyncEntry], catalog: InventoryCatalog) {
        let requests = entries.map {
            Request(line: $0.line, objectClass: $0.objectClass, object: $0.object,
                    syncTypes: $0.syncTypes, warnsWhenClassIsEmpty: true)
        }
        self.init(requests: requests, catalog: catalog)
    }

    /// Every processor gets both infrastructure and user synchronization (Table 3: "Both infrastructure
    /// and subscriber synchronization are run for each processor").
    public init(builder choices: Set<ScheduleBuilderChoice>, catalog: InventoryCatalog) {
        var requests: [Request] = []
        for choice in ScheduleBuilderChoice.allCases where choices.contains(choice) {
            for objectClass in choice.objectClasses {
                requests.append(Request(
                    line: nil, objectClass: objectClass, object: .all,
                    syncTypes: objectClass.isDevice ? [.infrastructure, .subscriber] : [],
                    // "All" quietly skips classes the inventory has none of; "All Message Processors"
                    // with no message processor is worth a word.
                    warnsWhenClassIsEmpty: choice != .all))
            }
        }
        self.init(requests: requests, catalog: catalog)
    }

    /// The plan as preview lines: numbered syncs, then the warnings.
    public var previewLines: [String] {
        let numbered = syncs.enumerated().map { "\($0.offset + 1). \($0.element)" }
        return numbered + warnings.map { "warning: \($0)" }
    }

    private struct Request {
        var line: Int?
        var objectClass: SyncObjectClass
        var object: SyncObjectSelector
        var syncTypes: Set<DeviceSyncType>
        var warnsWhenClassIsEmpty: Bool
    }

    /// The phases in run order; each collects its syncs in request order.
    private enum Phase: CaseIterable {
        case callProcessorInfra, messageProcessorInfra, presenceProcessorInfra
        case callProcessorUser, messageProcessorUser
        case ldap, domain

        static func of(_ kind: SyncType, _ objectClass: SyncObjectClass) -> Phase {
            switch (kind, objectClass) {
            case (.infra, .messageProcessor): return .messageProcessorInfra
            case (.infra, .presenceProcessor): return .presenceProcessorInfra
            case (.infra, _): return .callProcessorInfra
            case (.user, .messageProcessor): return .messageProcessorUser
            case (.user, _): return .callProcessorUser
            case (.ldap, _): return .ldap
            case (.domain, _): return .domain
            }
        }
    }

    private init(requests: [Request], catalog: InventoryCatalog) {
        var phases: [Phase: [PlannedSync]] = [:]
        var planned: Set<PlannedSync> = []
        var warnings: [SyncPlanWarning] = []
        var unknownObjects: [SyncPlanWarning] = []

        for request in requests {
            let targets = Self.targets(of: request, in: catalog, warnings: &warnings, unknownObjects: &unknownObjects)
            let kinds = Self.kinds(for: request, hasTargets: !targets.isEmpty, warnings: &warnings)
            for kind in kinds {
                for (target, directory) in Self.syncTargets(kind, targets, request: request, catalog: catalog, warnings: &warnings) {
                    let sync = PlannedSync(kind: kind, objectClass: request.objectClass, target: target, directory: directory,
                                           line: request.line)
                    // Identity without the line: the first request to ask for a sync keeps it.
                    var key = sync
                    key.line = nil
                    guard planned.insert(key).inserted else { continue }
                    phases[Phase.of(kind, request.objectClass), default: []].append(sync)
                }
            }
        }

        let syncs = Phase.allCases.flatMap { phases[$0] ?? [] }
        if syncs.isEmpty {
            warnings.append(SyncPlanWarning(line: nil, message: Self.nothingToSynchronize))
        }
        self.syncs = syncs
        self.warnings = warnings
        self.unknownObjects = unknownObjects
    }

    /// The catalog names a request means; a warning when it means none.
    private static func targets(of request: Request, in catalog: InventoryCatalog, warnings: inout [SyncPlanWarning],
                                unknownObjects: inout [SyncPlanWarning]) -> [String] {
        let known = catalog.names(of: request.objectClass)
        switch request.object {
        case .all:
            if known.isEmpty && request.warnsWhenClassIsEmpty {
                warnings.append(SyncPlanWarning(line: request.line, message: "no \(request.objectClass.pluralNoun) to synchronize"))
            }
            return known
        case .named(let name):
            if known.contains(name) { return [name] }
            var message = "no \(request.objectClass.noun) named '\(name)'"
            // Names are matched exactly; a near miss in case is the likely typo, so point at it.
            if let sameButCase = known.first(where: { $0.lowercased() == name.lowercased() }) {
                message += " (did you mean '\(sameButCase)'?)"
            }
            let warning = SyncPlanWarning(line: request.line, message: message)
            warnings.append(warning)
            if request.line != nil { unknownObjects.append(warning) }
            return []
        }
    }

    /// What each sync of `kind` targets: the objects themselves, except that an LDAP sync of a directory
    /// is one per domain synchronizing from it (a directory with none is reported).
    private static func syncTargets(_ kind: SyncType, _ targets: [String], request: Request, catalog: InventoryCatalog,
                                    warnings: inout [SyncPlanWarning]) -> [(target: String, directory: String?)] {
        guard kind == .ldap else { return targets.map { ($0, nil) } }
        return targets.flatMap { directory -> [(target: String, directory: String?)] in
            let domains = catalog.ldapDomainsByDirectory[directory] ?? []
            // As with empty classes, builder "All" passes quietly over a directory no domain uses.
            if domains.isEmpty && (request.line != nil || request.warnsWhenClassIsEmpty) {
                warnings.append(SyncPlanWarning(line: request.line, message: "no domain synchronizes users from LDAP directory '\(directory)'"))
            }
            return domains.map { ($0, directory) }
        }
    }

    /// The sync kinds a request plans, in run order.
    private static func kinds(for request: Request, hasTargets: Bool, warnings: inout [SyncPlanWarning]) -> [SyncType] {
        switch request.objectClass {
        case .ldapDirectory: return [.ldap]
        case .domain: return [.domain]
        case .callProcessor, .messageProcessor:
            return DeviceSyncType.allCases.filter(request.syncTypes.contains).map { $0 == .infrastructure ? .infra : .user }
        case .presenceProcessor:
            if request.syncTypes.contains(.infrastructure) { return [.infra] }
            // Only `sub` was asked for. Unknown names and empty classes have had their warning already.
            if hasTargets {
                warnings.append(SyncPlanWarning(
                    line: request.line,
                    message: "user sync is disabled for IM and Presence 9.0 and later (users come from the call processors), so this line synchronizes nothing"))
            }
            return []
        }
    }
}
