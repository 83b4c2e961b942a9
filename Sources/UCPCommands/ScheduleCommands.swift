import APIServer
import ArgumentParser
import Foundation
import Postgres
import Runtime
import Schedules
import ScheduleRules

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Schedule synchronization (seed Table 3): stored schedules and their previews.",
        discussion: """
            A schedule synchronizes either the schedule builder's mass syncs (--builder all|cp|mp|pp|ldap|domain, \
            repeatable or a comma list) or custom granular text (--granular FILE, or - for standard input), one \
            '<class>.<name>: <type>' a line: cp.Test-UCM: infra, mp.all: sub, pp.all: both, ad.all:, domain.Test-Dom:. \
            --preview (on add and edit) and 'preview NAME' list the syncs a run would perform, in order, without \
            storing or synchronizing anything. A schedule runs once at a time: due times missed while no \
            coordinator ran fire once, and a due time that comes while its last run has not ended is skipped \
            (that run's log says so).
            """,
        subcommands: [Add.self, Edit.self, Delete.self, List.self, Show.self, Preview.self, RunNow.self, Cancel.self, Log.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a schedule (with --preview: only show its plan).")
        @Option(help: "The job name: letters, digits, space, '_', '-' (1 to 100).") var name: String
        @OptionGroup var fields: ScheduleFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let definition = try fields.change().definition(name: name)
            let connection = Connection(try await Database.open())
            if fields.preview {
                try await ScheduleOutput.preview(definition, connection: connection, header: "preview of new schedule '\(name)' (nothing stored)")
                return
            }
            let store = ScheduleStore(connection)
            let schedule = try await store.scheduleAdd(definition, actor: global.actorName, allowUnknown: fields.allowUnknown)
            print("schedule '\(schedule.name)' added (\(schedule.definition.timingSummary))")
            try await ScheduleOutput.warnUnknown(schedule, store: store, allowed: fields.allowUnknown)
            if fields.runNow { try await ScheduleOutput.runNow(schedule.name, connection: connection, actor: global.actorName) }
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a schedule; only the options given change (with --preview: only show the changed plan).")
        @Argument(help: "The job name.") var name: String
        @OptionGroup var fields: ScheduleFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let change = try fields.change()
            let connection = Connection(try await Database.open())
            let store = ScheduleStore(connection)
            if fields.preview {
                guard var definition = try await store.scheduleGet(name: name)?.definition else {
                    throw ScheduleStore.noSuchSchedule(name)
                }
                try change.apply(to: &definition)
                try await ScheduleOutput.preview(definition, connection: connection, header: "preview of schedule '\(name)' as edited (nothing stored)")
                return
            }
            let before = try await store.scheduleGet(name: name)
            let schedule = try await store.scheduleUpdate(name: name, actor: global.actorName, allowUnknown: fields.allowUnknown) {
                try change.apply(to: &$0)
            }
            print(before.map { $0.updatedAt == schedule.updatedAt } == true
                  ? "schedule '\(name)': nothing changed" : "schedule '\(name)' changed")
            try await ScheduleOutput.warnUnknown(schedule, store: store, allowed: fields.allowUnknown)
            if fields.runNow { try await ScheduleOutput.runNow(name, connection: connection, actor: global.actorName) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete one or more schedules (all of them, or none when one does not exist).")
        @Argument(help: "The job names.") var names: [String]
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard !names.isEmpty else { throw ValidationError("name: give at least one schedule") }
        }

        func run() async throws {
            try await ScheduleStore(Connection(try await Database.open())).scheduleDelete(names: names, actor: global.actorName)
            for name in names { print("schedule '\(name)' deleted") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the schedules.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let connection = Connection(try await Database.open())
            let schedules = try await ScheduleStore(connection).scheduleList()
            let runs = ScheduleRunStore(connection)
            var latest: [String: ScheduleRunStatus] = [:]
            for schedule in schedules {
                latest[schedule.name] = try await runs.runStatusLatest(schedule: schedule.name)
            }
            if json {
                print(try Output.json(schedules.map { ScheduleOutput.json($0, latestRun: latest[$0.name]) }))
                return
            }
            print(pad("NAME", 24) + pad("EVERY", 7) + pad("NEXT RUN", 27) + pad("TIME ZONE", 20) + pad("LAST RUN", 26)
                  + pad("OPTIONS", 34) + "SYNCHRONIZES")
            for schedule in schedules {
                let definition = schedule.definition
                print(pad(schedule.name, 24) + pad(definition.frequency.cliForm, 7)
                      + pad(schedule.nextRunAt().map { ScheduleStart.format($0, timeZone: definition.timeZone) } ?? "-", 27)
                      + pad(definition.timeZone.identifier, 20)
                      + pad(latest[schedule.name].map { "\($0.run.id) \($0.state)" } ?? "never", 26)
                      + pad(definition.optionNames.isEmpty ? "-" : definition.optionNames.joined(separator: ","), 34)
                      + definition.selection.summary)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one schedule.")
        @Argument(help: "The job name.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let connection = Connection(try await Database.open())
            guard let schedule = try await ScheduleStore(connection).scheduleGet(name: name) else {
                throw ScheduleStore.noSuchSchedule(name)
            }
            let latest = try await ScheduleRunStore(connection).runStatusLatest(schedule: name)
            if json {
                print(try Output.json(ScheduleOutput.json(schedule, latestRun: latest)))
                return
            }
            let definition = schedule.definition
            let lines: [(String, String)] = [
                ("name", schedule.name),
                ("every", "\(definition.frequency.cliForm) (\(definition.frequency))"),
                ("start", ScheduleStart.format(definition.start, timeZone: definition.timeZone)),
                ("time zone", definition.timeZone.identifier),
                ("synchronizes", definition.selection.summary),
                ("force domain", definition.forceDomain ? "on" : "off"),
                ("parallel", definition.parallel ? "on" : "off"),
                ("abort on failure", definition.abortOnFailure ? "on" : "off"),
                ("next run", schedule.nextRunAt().map { ScheduleStart.format($0, timeZone: definition.timeZone) } ?? "none"),
                ("last fired at", Output.shortTime(schedule.lastFiredAt)),
                ("created at", Output.shortTime(schedule.createdAt)),
                ("updated at", Output.shortTime(schedule.updatedAt)),
                ("updated by", schedule.updatedBy),
            ]
            for (key, value) in lines { print(pad(key, 17) + value) }
            if case .granular(let text) = definition.selection {
                print("granular text:")
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) { print("  \(line)") }
            }
            ScheduleOutput.printRunStatus(latest)
        }
    }

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the syncs a run of the schedule would perform, in order, without synchronizing anything.")
        @Argument(help: "The job name.") var name: String

        func run() async throws {
            let connection = Connection(try await Database.open())
            guard let schedule = try await ScheduleStore(connection).scheduleGet(name: name) else {
                throw ScheduleStore.noSuchSchedule(name)
            }
            try await ScheduleOutput.preview(schedule.definition, connection: connection, header: "preview of schedule '\(name)'")
        }
    }
}

extension ScheduleCommand {
    struct RunNow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run-now", abstract: "Start a run of one or more schedules now, whatever their timing (a worker runs them).")
        @Argument(help: "The job names.") var names: [String]
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard !names.isEmpty else { throw ValidationError("name: give at least one schedule") }
        }

        func run() async throws {
            let connection = Connection(try await Database.open())
            // Every name is checked before anything starts: a typo starts nothing.
            for name in names where try await ScheduleStore(connection).scheduleGet(name: name) == nil {
                throw ScheduleStore.noSuchSchedule(name)
            }
            for name in names {
                try await ScheduleOutput.runNow(name, connection: connection, actor: global.actorName)
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel the unfinished runs of one or more schedules: each run's job shows canceling while it stops, then canceled.")
        @Argument(help: "The job names (several cancel together).") var names: [String]
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard !names.isEmpty else { throw ValidationError("name: give at least one schedule") }
        }

        func run() async throws {
            let connection = Connection(try await Database.open())
            let schedules = ScheduleStore(connection)
            // Every name is checked before anything is canceled: a typo cancels nothing.
            for name in names where try await schedules.scheduleGet(name: name) == nil {
                throw ScheduleStore.noSuchSchedule(name)
            }
            let runs = ScheduleRunStore(connection)
            var idle: [String] = []
            for name in names {
                let canceled = try await runs.runCancel(schedule: name, actor: global.actorName)
                if canceled.isEmpty { idle.append(name) }
                for run in canceled {
                    print("schedule '\(name)': cancel of run \(run.id) requested (job \(run.jobID.map(String.init) ?? "?"))")
                }
            }
            if idle.count == names.count {
                let field = idle.count == 1 ? "schedule '\(idle[0])'" : "schedules \(idle.map { "'\($0)'" }.joined(separator: ", "))"
                throw InputError(field: field, problem: "no run in progress")
            }
            for name in idle { print("schedule '\(name)': no run in progress") }
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the log of the schedule's latest run (or of --run ID).")
        @Argument(help: "The job name.") var name: String
        @Option(help: "A run id of this schedule (default: the latest run).") var run: Int64?

        func run() async throws {
            let store = ScheduleRunStore(Connection(try await Database.open()))
            let found: ScheduleRun?
            if let id = run {
                found = try await store.runGet(id: id).flatMap { $0.scheduleName == name ? $0 : nil }
            } else {
                found = try await store.runLatest(schedule: name)
            }
            guard let found else {
                throw run.map { InputError(field: "run", problem: "schedule '\(name)' has no run \($0)") }
                    ?? InputError(field: "schedule '\(name)'", problem: "no run yet")
            }
            print("run \(found.id) of schedule '\(name)': \(found.state.rawValue) (\(found.trigger), due \(Output.shortTime(found.dueAt)), "
                  + "started \(Output.shortTime(found.startedAt)), finished \(Output.shortTime(found.finishedAt)))")
            for line in try await store.runLog(id: found.id) { print("  \(line)") }
            ScheduleOutput.printRunStatus(try await store.runStatus(found))
        }
    }
}

/// The options `schedule add` and `schedule edit` share; on edit, only those given change.
struct ScheduleFieldOptions: ParsableArguments {
    @Option(help: "once, or every N hours, days or weeks: <N>h, <N>d, <N>w (add's default: once).") var every: String?
    @Option(help: "Start date and time: 2026-11-23T10:00:00Z, or 2026-11-23 10:00 in the time zone (add's default: now).")
    var start: String?
    @Option(name: .customLong("time-zone"), help: "IANA time zone, e.g. Europe/Berlin (add's default: the machine's).")
    var timeZone: String?
    @Option(parsing: .singleValue, help: "Schedule builder: all, cp, mp, pp, ldap or domain (repeatable or a comma list).")
    var builder: [String] = []
    @Option(help: "Custom granular synchronization text: a file, or - for standard input.") var granular: String?
    @Flag(name: .customLong("force-domain"), inversion: .prefixedNo,
          help: "Run domain synchronization even after a device synchronization failed.")
    var forceDomain: Bool?
    @Flag(inversion: .prefixedNo, help: "Run the device synchronizations in parallel.") var parallel: Bool?
    @Flag(name: .customLong("abort-on-failure"), inversion: .prefixedNo,
          help: "Stop the run at the first device synchronization failure.")
    var abortOnFailure: Bool?
    @Flag(help: "Show the plan the schedule would run and store nothing.") var preview = false
    @Flag(help: "Store granular lines naming an object that does not exist (yet), with a warning; without it they are refused.")
    var allowUnknown = false
    @Flag(help: "Save, then start a run now (the seed's \"Save and Run Now\").") var runNow = false

    func change() throws -> ScheduleChange {
        if preview && runNow { throw ValidationError("run-now: not with --preview (a preview stores and runs nothing)") }
        if !builder.isEmpty && granular != nil { throw ScheduleChange.selectionTwice }
        return try ScheduleChange(every: every, start: start, timeZone: timeZone, builder: builder,
                                  granularText: try granular.map(Self.readGranular), forceDomain: forceDomain,
                                  parallel: parallel, abortOnFailure: abortOnFailure)
    }

    /// The granular text from a file, or from standard input for `-`.
    static func readGranular(_ path: String) throws -> String {
        path == "-" ? try InputText.standardInput(field: "granular") : try InputText.file(path, field: "granular")
    }
}

enum ScheduleOutput {
    /// Prints the plan (numbered syncs, then warnings); bad granular lines go to standard error, one
    /// each, and make the command fail.
    static func preview(_ definition: ScheduleDefinition, connection: Connection, header: String) async throws {
        let catalog = try await InventoryCatalogSource(connection).catalog()
        let preview = SchedulePreview(definition, catalog: catalog)
        print("\(header): \(definition.timingSummary), \(definition.selection.summary)")
        for line in preview.lines { print(line) }
        if !preview.errors.isEmpty {
            throw InputError(preview.errors.map(InputError.init(line:)))
        }
    }

    /// With --allow-unknown: the granular lines stored that name nothing (yet), one warning each on standard error.
    static func warnUnknown(_ schedule: Schedule, store: ScheduleStore, allowed: Bool) async throws {
        guard allowed else { return }
        for warning in try await store.unknownObjects(in: schedule.definition) {
            FileHandle.standardError.write(Data("ucp: warning: granular: \(warning)\n".utf8))
        }
    }

    /// Starts a run now and says so (`run-now`, and `--run-now` on add and edit: the seed's "Save and Run Now").
    static func runNow(_ name: String, connection: Connection, actor: String) async throws {
        let run = try await ScheduleRunStore(connection).runNow(name: name, actor: actor)
        print("schedule '\(name)': run \(run.id) queued (job \(run.jobID.map(String.init) ?? "?"))")
    }

    /// The latest run and the status of each of its synchronizations; a canceled run has none (seed).
    static func printRunStatus(_ status: ScheduleRunStatus?) {
        guard let status else {
            print(pad("last run", 17) + "never")
            return
        }
        let run = status.run
        print(pad("last run", 17) + "\(run.id), \(status.state) (\(run.trigger), started \(Output.shortTime(run.startedAt)), "
              + "finished \(Output.shortTime(run.finishedAt)))")
        guard let syncs = status.syncs else {
            print("synchronization status: not available (the run was canceled)")
            return
        }
        print("synchronization status:" + (syncs.isEmpty ? " no synchronization started" : ""))
        for sync in syncs {
            print("  job \(sync.id)  \(pad(sync.type, 12))\(pad(sync.target ?? "-", 24))\(sync.state.rawValue)"
                  + (sync.error.map { ": \($0)" } ?? ""))
        }
    }

    static func json(_ schedule: Schedule, latestRun: ScheduleRunStatus?) -> [String: Any] {
        Representation.schedule(schedule, latestRun: latestRun)
    }

}
