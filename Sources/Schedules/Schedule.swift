import Foundation
import Postgres
import Runtime
import ScheduleRules

/// What a schedule synchronizes, as stored: builder choices, or the granular text exactly as typed
/// (comments and blank lines kept, so `show` gives back what the operator wrote).
public enum ScheduleSelection: Sendable, Equatable {
    case builder(Set<ScheduleBuilderChoice>)
    case granular(String)

    /// `builder` or `granular`, as `schedules.selection_kind` stores it.
    public var kind: String {
        switch self {
        case .builder: return "builder"
        case .granular: return "granular"
        }
    }

    /// The builder choices in the seed's order (All, call, message, presence processors, LDAP, domains).
    public var builderChoices: [ScheduleBuilderChoice] {
        guard case .builder(let choices) = self else { return [] }
        return ScheduleBuilderChoice.allCases.filter(choices.contains)
    }

    /// For people: `builder: All Call Processors, All IMPs` or `granular (3 lines)`.
    public var summary: String {
        switch self {
        case .builder: return "builder: " + builderChoices.map(\.title).joined(separator: ", ")
        case .granular(let text):
            let lines = GranularSync.check(text).entries.count
            return "granular (\(lines) \(lines == 1 ? "line" : "lines"))"
        }
    }
}

/// The fields an operator sets on a schedule (Table 3), everything but its bookkeeping.
public struct ScheduleDefinition: Sendable, Equatable {
    public var name: JobName
    public var frequency: ScheduleFrequency
    public var start: Date
    public var timeZone: TimeZone
    public var selection: ScheduleSelection
    public var forceDomain: Bool
    public var parallel: Bool
    public var abortOnFailure: Bool
    /// No start was given: the schedule starts when it is stored, on the database's clock (`scheduleAdd`);
    /// until then `start` is only the host's guess, for a preview.
    public var startsWhenStored = false

    public init(name: JobName, frequency: ScheduleFrequency = .once, start: Date, timeZone: TimeZone,
                selection: ScheduleSelection, forceDomain: Bool = false, parallel: Bool = false,
                abortOnFailure: Bool = false) {
        self.name = name
        self.frequency = frequency
        self.start = start
        self.timeZone = timeZone
        self.selection = selection
        self.forceDomain = forceDomain
        self.parallel = parallel
        self.abortOnFailure = abortOnFailure
    }

    /// Refuses a definition that cannot be stored: no builder choice, or granular text with a bad line
    /// (every bad line reported) or no line at all.
    public func validate() throws(InputError) {
        switch selection {
        case .builder(let choices):
            if choices.isEmpty { throw ScheduleChange.selectionMissing }
        case .granular(let text):
            do {
                _ = try GranularSync(parsing: text)
            } catch {
                throw InputError(granular: error)
            }
        }
    }

    /// The selection the planner takes. Granular text with bad lines plans its good lines only.
    public var syncSelection: SyncSelection {
        switch selection {
        case .builder(let choices): return .builder(choices)
        case .granular(let text): return .granular(GranularSync(entries: GranularSync.check(text).entries))
        }
    }

    /// `every 6 hours from 2026-11-23T10:00:00+01:00 (Europe/Berlin)`.
    public var timingSummary: String {
        "\(frequency) from \(ScheduleStart.format(start, timeZone: timeZone)) (\(timeZone.identifier))"
    }

    /// The options that are on, by their command-line names.
    public var optionNames: [String] {
        var names: [String] = []
        if forceDomain { names.append("force-domain") }
        if parallel { names.append("parallel") }
        if abortOnFailure { names.append("abort-on-failure") }
        return names
    }

    /// The names of the fields that differ from `other`, as the audit trail names them.
    func changedFields(from other: ScheduleDefinition) -> [String] {
        var fields: [String] = []
        if frequency != other.frequency { fields.append("every") }
        if start != other.start { fields.append("start") }
        if timeZone.identifier != other.timeZone.identifier { fields.append("time_zone") }
        if selection != other.selection { fields.append(selection.kind == other.selection.kind ? selection.kind : "selection") }
        if forceDomain != other.forceDomain { fields.append("force_domain") }
        if parallel != other.parallel { fields.append("parallel") }
        if abortOnFailure != other.abortOnFailure { fields.append("abort_on_failure") }
        return fields
    }
}

/// A stored schedule: its definition and bookkeeping.
public struct Schedule: Sendable, Equatable {
    public var definition: ScheduleDefinition
    /// When the coordinator last fired it; nil until then (firing is a later duty).
    public var lastFiredAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public var updatedBy: String
    /// The database's time when it was read: what "now" is for `nextRunAt` (not the host's clock).
    public var readAt: Date

    public var name: String { definition.name.value }

    /// When the coordinator fires it next: a due time not fired yet (it fires at the next firing pass),
    /// else the first due time after `now` (by default when it was read, on the database's clock); nil
    /// when it has no more runs (a one-time schedule that ran).
    public func nextRunAt(now: Date? = nil) -> Date? {
        let timing = ScheduleTiming(frequency: definition.frequency, start: definition.start, timeZone: definition.timeZone)
        let due = timing.dueRuns(lastFired: lastFiredAt, now: now ?? readAt)
        return due.due ?? due.next
    }

    init(row: Row) throws {
        let name: String = try row.decode("name")
        let frequencyText: String = try row.decode("frequency")
        let zoneText: String = try row.decode("time_zone")
        func corrupt(_ what: String) -> PostgresError {
            PostgresError(kind: .decoding, message: "schedule '\(name)': stored \(what) cannot be read")
        }
        guard let jobName = try? JobName(name) else { throw corrupt("name") }
        guard let frequency = try? ScheduleFrequency(parsing: frequencyText) else { throw corrupt("frequency") }
        guard let timeZone = TimeZone(identifier: zoneText) else { throw corrupt("time zone") }
        let selection: ScheduleSelection
        switch try row.decode("selection_kind", as: String.self) {
        case "builder":
            let words = (try row.decodeIfPresent("builder_text", as: String.self) ?? "").split(separator: ",")
            selection = .builder(Set(try words.map { word in
                guard let choice = ScheduleBuilderChoice(rawValue: String(word)) else { throw corrupt("builder choice") }
                return choice
            }))
        default:
            selection = .granular(try row.decode("granular_text"))
        }
        definition = ScheduleDefinition(
            name: jobName, frequency: frequency, start: try row.decode("start_at"), timeZone: timeZone,
            selection: selection, forceDomain: try row.decode("force_domain"), parallel: try row.decode("parallel"),
            abortOnFailure: try row.decode("abort_on_failure"))
        lastFiredAt = try row.decodeIfPresent("last_fired_at")
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
        updatedBy = try row.decode("updated_by")
        readAt = try row.decode("read_at")
    }

    /// The same schedule, whenever each was read.
    public static func == (left: Schedule, right: Schedule) -> Bool {
        left.definition == right.definition && left.lastFiredAt == right.lastFiredAt && left.createdAt == right.createdAt
            && left.updatedAt == right.updatedAt && left.updatedBy == right.updatedBy
    }
}

extension InputError {
    /// Refused granular text: one line per bad line (`granular: line 3: …`), or that it names nothing.
    public init(granular error: GranularSyncError) {
        self.init(error.lineErrors.isEmpty
            ? [InputError(line: GranularSyncError.noEntriesMessage)]
            : error.lineErrors.map { InputError(field: "granular", problem: $0.description) })
    }
}

/// The fields an `add` or `edit` gives, already parsed; nil means "not given" (edit keeps the value,
/// add uses the default). `start` is kept as text because it is read in the schedule's final time zone.
public struct ScheduleChange: Sendable, Equatable {
    public var frequency: ScheduleFrequency?
    public var startText: String?
    public var timeZone: TimeZone?
    public var selection: ScheduleSelection?
    public var forceDomain: Bool?
    public var parallel: Bool?
    public var abortOnFailure: Bool?

    public static let selectionMissing =
        InputError(field: "builder", problem: "give --builder all|cp|mp|pp|ldap|domain or --granular FILE (one of them)")
    public static let selectionTwice = InputError(field: "builder", problem: "give --builder or --granular, not both")

    public init(frequency: ScheduleFrequency? = nil, startText: String? = nil, timeZone: TimeZone? = nil,
                selection: ScheduleSelection? = nil, forceDomain: Bool? = nil, parallel: Bool? = nil,
                abortOnFailure: Bool? = nil) {
        self.frequency = frequency
        self.startText = startText
        self.timeZone = timeZone
        self.selection = selection
        self.forceDomain = forceDomain
        self.parallel = parallel
        self.abortOnFailure = abortOnFailure
    }

    /// Reads the command line's words: `--every`, `--time-zone` (an IANA name), `--builder` words (each
    /// may be a comma list) and `--granular` text; every refusal is one line naming the field.
    public init(every: String?, start: String?, timeZone: String?, builder: [String], granularText: String?,
                forceDomain: Bool?, parallel: Bool?, abortOnFailure: Bool?) throws(InputError) {
        if !builder.isEmpty && granularText != nil { throw Self.selectionTwice }
        frequency = try every.map { text throws(InputError) in try ScheduleFrequency(parsing: text) }
        var choices: Set<ScheduleBuilderChoice> = []
        for word in builder.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
            choices.insert(try ScheduleBuilderChoice(parsing: word.trimmingCharacters(in: .whitespaces)))
        }
        selection = builder.isEmpty ? granularText.map { .granular($0) } : .builder(choices)
        if let timeZone {
            guard let zone = TimeZone(identifier: timeZone) else {
                throw InputError(field: "time-zone", problem: "unknown time zone '\(timeZone)' (use an IANA name such as Europe/Berlin or UTC)")
            }
            self.timeZone = zone
        }
        startText = start
        self.forceDomain = forceDomain
        self.parallel = parallel
        self.abortOnFailure = abortOnFailure
    }

    /// A new schedule from these fields: every once, start when stored (on the database's clock; `now`
    /// until then, for a preview), the given (else the machine's) time zone, options off unless given.
    /// Granular text is not checked here (`validate` does, and previews show it).
    public func definition(name: String, now: Date = Date(), defaultTimeZone: TimeZone = .current) throws(InputError) -> ScheduleDefinition {
        let jobName = try JobName(name)
        guard let selection else { throw Self.selectionMissing }
        let zone = timeZone ?? defaultTimeZone
        var definition = ScheduleDefinition(
            name: jobName, frequency: frequency ?? .once, start: now, timeZone: zone, selection: selection,
            forceDomain: forceDomain ?? false, parallel: parallel ?? false, abortOnFailure: abortOnFailure ?? false)
        definition.startsWhenStored = startText == nil
        try applyStart(to: &definition)
        return definition
    }

    /// Applies the given fields to `definition`; a `start` is read in the final time zone.
    public func apply(to definition: inout ScheduleDefinition) throws(InputError) {
        if let frequency { definition.frequency = frequency }
        if let timeZone { definition.timeZone = timeZone }
        if let selection { definition.selection = selection }
        if let forceDomain { definition.forceDomain = forceDomain }
        if let parallel { definition.parallel = parallel }
        if let abortOnFailure { definition.abortOnFailure = abortOnFailure }
        try applyStart(to: &definition)
    }

    private func applyStart(to definition: inout ScheduleDefinition) throws(InputError) {
        guard let startText else { return }
        definition.start = try ScheduleStart.parse(startText, timeZone: definition.timeZone)
    }
}

/// What a preview shows: the numbered syncs and warnings of the plan (`SyncPlan.previewLines`), and the
/// bad granular lines (`granular: line N: …`), without synchronizing anything.
public struct SchedulePreview: Sendable, Equatable {
    public var lines: [String]
    public var errors: [String]
    /// Granular lines naming an object the catalog does not have: warnings in `lines`, and refused
    /// when the schedule is stored unless the operator allows them (`ScheduleStore`).
    public var unknownObjects: [SyncPlanWarning]

    public init(_ definition: ScheduleDefinition, catalog: InventoryCatalog) {
        let plan: SyncPlan
        switch definition.selection {
        case .builder(let choices):
            plan = SyncPlan(builder: choices, catalog: catalog)
            errors = choices.isEmpty ? [ScheduleChange.selectionMissing.description] : []
        case .granular(let text):
            let check = GranularSync.check(text)
            plan = SyncPlan(entries: check.entries, catalog: catalog)
            errors = check.errors.map { "granular: \($0)" }
            if check.errors.isEmpty && check.entries.isEmpty { errors = [GranularSyncError.noEntriesMessage] }
        }
        lines = plan.previewLines
        unknownObjects = plan.unknownObjects
    }
}
