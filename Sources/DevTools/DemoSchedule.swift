import Foundation
import Postgres
import Runtime
import Schedules

/// The demo's second part: a device is registered, a schedule with a granular line is previewed,
/// then run now; the run's log shows what it synchronized. It drives `ucp` itself, so the output
/// shows the commands an operator would type.
enum DemoSchedule {
    static let scheduleName = "demo-schedule"
    static let granularLine = "cp.demo-cucm: both"

    /// `environment` names the secret key the demo's devices were registered with (see `DemoDevices`),
    /// which registered demo-cucm against the device simulator.
    static func run(database: ConnectionConfiguration, logFolder: String, environment: [String: String]) async throws -> Bool {
        print("\nA schedule with a granular line: previewed, then run now")
        // A nightly schedule whose first run is tomorrow, so the only run now is the one asked for.
        let tomorrow = Date().addingTimeInterval(86400)
        let start = String(PostgresTimestamp.format(tomorrow).prefix(10)) + "T02:00:00Z"
        let timing = ["--every", "1d", "--start", start, "--time-zone", "UTC"]
        let textFile = logFolder + "/granular.txt"
        try (granularLine + "\n").write(toFile: textFile, atomically: true, encoding: .utf8)
        try step(["schedule", "add", "--name", scheduleName] + timing + ["--granular", textFile, "--preview"],
                 environment: environment)
        let exists = try ChildProcess.run([ChildProcess.currentExecutable, "schedule", "show", scheduleName]).status == 0
        try step((exists ? ["schedule", "edit", scheduleName] : ["schedule", "add", "--name", scheduleName])
                 + timing + ["--granular", textFile, "--actor", "demo"], environment: environment)
        try step(["schedule", "run-now", scheduleName, "--actor", "demo"], environment: environment)
        let runs = ScheduleRunStore(Connection(database))
        let deadline = Date().addingTimeInterval(90)
        var latest = try await runs.runLatest(schedule: scheduleName)
        while latest.map({ !$0.state.isFinal }) ?? true, Date() < deadline {
            try await Task.sleep(nanoseconds: 300_000_000)
            latest = try await runs.runLatest(schedule: scheduleName)
        }
        guard let run = latest, run.state.isFinal else {
            print("  the run did not end within 90 s")
            return false
        }
        try step(["schedule", "log", scheduleName], environment: environment)
        print("  run \(run.id) of \(scheduleName): \(run.state.rawValue)")
        return run.state == .succeeded
    }

    /// Runs one `ucp` command, printing it and its output indented.
    static func step(_ arguments: [String], shown: String? = nil, environment: [String: String],
                             raw: Bool = false, quietly: Bool = false) throws {
        let command = raw ? arguments : [ChildProcess.currentExecutable] + arguments
        let (status, output) = try ChildProcess.run(command, environment: environment)
        if quietly && status == 0 { return }
        print("  $ " + (shown ?? "ucp " + arguments.joined(separator: " ")))
        for line in output.split(separator: "\n") where !line.hasPrefix("ucp: using the embedded default") {
            print("    " + line)
        }
        if status != 0 && !quietly { throw DemoStepError(description: "'\(shown ?? arguments.joined(separator: " "))' failed (exit \(status))") }
    }

    struct DemoStepError: Error, CustomStringConvertible { var description: String }
}
