import ArgumentParser
import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime
import Sync

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit", abstract: "Enqueue jobs.",
        subcommands: [SubmitJobCommand.self, SubmitSyncCommand.self])
}

/// How long to wait and what to show while a submitted job runs.
struct WaitOptions: ParsableArguments {
    @Flag(help: "Wait for the job to end, showing its progress; the exit status tells the outcome (0 succeeded, 1 failed, 3 canceled).")
    var wait = false
}

struct SubmitJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Enqueue a job of any registered type (the low-level form of every submit command).")

    @Argument(help: "The job type, e.g. noop or \(InfrastructureSync.jobType).")
    var type: String

    @Option(help: "The job's parameters as a JSON object.")
    var payload: String = "{}"

    @Option(help: "When to run it: an ISO 8601 time (2026-11-23T10:00:00Z) or a delay such as 90s, 15m, 2h.")
    var runAt: String?

    @Option(help: "Higher runs first (-32768 to 32767).")
    var priority: Int = 0

    @Option(help: "De-duplication key: no second job with this key is queued while one is pending. A sync or a change notification poll has its own (that of `ucp submit sync`, the coordinator's): give none.")
    var key: String?

    @Option(help: "What the job acts on: the device or domain its type needs (or the payload's \"device\" or \"domain\" field; the two must agree).")
    var target: String?

    @OptionGroup var waitOptions: WaitOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        var submission = try SubmitValidation.submission(
            contract: try JobTypes.contract(named: type), payload: payload, priority: priority, key: key, target: target,
            actor: global.actorName)
        let due = try runAt.map(SubmitValidation.parseRunAt)
        let connection = Connection(try await Database.open())
        submission.params.runAt = try await due?.resolve(connection)
        let (id, created) = try await submission.enqueue(connection)
        try await Submission.report(submission.params, id: id, created: created, store: QueueStore(connection), wait: waitOptions.wait)
    }
}

struct SubmitSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Enqueue a synchronization: infra or user of a device, domain or ldap of a domain.")

    @Argument(help: "infra, user, domain or ldap.")
    var kind: String

    @Option(help: "The device (infra, user).")
    var device: String?

    @Option(help: "The domain (domain, ldap).")
    var domain: String?

    @Flag(help: "LDAP and domain: run the whole sync and report what would be created, updated and deleted; change nothing (waits and prints the report).")
    var dryRun = false

    @Option(help: "LDAP only: let this run delete up to N users past the deletion guard.")
    var allowDeletes: Int?

    @Option(help: "Higher runs first (-32768 to 32767).")
    var priority: Int = 0

    @OptionGroup var waitOptions: WaitOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let submission = try SyncSubmission(kind: kind, device: device, domain: domain, dryRun: dryRun,
                                            allowDeletes: allowDeletes, priority: priority, actor: global.actorName)
        let connection = Connection(try await Database.open())
        let store = QueueStore(connection)
        // Checked and queued as the API's are (`SyncSubmission.enqueue`: under the submission locks of its domains).
        let (id, created) = try await submission.enqueue(connection)
        guard dryRun else {
            return try await Submission.report(submission.params, id: id, created: created, store: store, wait: waitOptions.wait)
        }
        // A dry run is asked for its report: wait for it and print the job's log.
        print("job \(id) queued (dry run of the \(submission.type.title) of \(submission.target))")
        do {
            try await JobWatcher.wait(for: id, store: store)
        } catch {
            for line in try await store.jobLogRead(id: id) { print(line.message) }
            throw error
        }
        for line in try await store.jobLogRead(id: id) { print(line.message) }
    }
}

package enum SubmitValidation {
    /// `ucp submit job`'s fields checked, due when queued (the caller sets a `--run-at`); the payload,
    /// target and inventory rules are `JobSubmission`'s.
    package static func submission(contract: any JobParameters.Type, payload: String, priority: Int,
                                   key: String?, target: String?, actor: String) throws -> JobSubmission {
        try JobSubmission(contract: contract, payload: payload, target: target, priority: priority,
                          runAt: nil, key: key, actor: actor)
    }

    /// When a job is to run: a time, or a delay from now on the database's clock (the host's may be off).
    package enum RunAt: Equatable {
        case at(Date)
        case after(seconds: Double)

        package func resolve(_ connection: Connection) async throws -> Date {
            switch self {
            case .at(let date): return date
            case .after(let seconds): return try await DatabaseClock.now(connection).addingTimeInterval(seconds)
            }
        }
    }

    package static func parseRunAt(_ text: String) throws -> RunAt {
        if DurationText.parse(text) != nil {
            return .after(seconds: try DurationText.seconds(text, field: "run-at"))
        }
        // ISO8601DateFormatter reads dates before 1582-10-15 in the Julian calendar, PostgreSQL in the
        // proleptic Gregorian one: so early a run-at is days off (the first two days of year 1 are
        // refused), which matters to no job; DateRange keeps what is stored within PostgreSQL's years.
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return .at(try DateRange.check(date, field: "run-at", text: text)) }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return .at(try DateRange.check(date, field: "run-at", text: text)) }
        throw ValidationError("run-at: '\(text)' is neither an ISO 8601 time (2026-11-23T10:00:00Z) nor a delay (90s, 15m, 2h)")
    }
}

package enum Submission {
    package static func enqueue(_ params: QueueStore.EnqueueParams, store: QueueStore, wait: Bool) async throws {
        let (id, created) = try await store.jobEnqueue(params)
        try await report(params, id: id, created: created, store: store, wait: wait)
    }

    /// Says what was queued (or that the same job already was) and, with `wait`, follows it.
    package static func report(_ params: QueueStore.EnqueueParams, id: Int64, created: Bool, store: QueueStore, wait: Bool) async throws {
        if created {
            print("job \(id) queued (\(params.type)\(params.target.map { " of \($0)" } ?? ""))")
        } else {
            print("job \(id) is already queued with the same key; not queued again")
        }
        if wait { try await JobWatcher.wait(for: id, store: store) }
    }
}

/// Follows a job until it ends: a progress bar on a terminal, plain lines otherwise.
package enum JobWatcher {
    package static func wait(for id: Int64, store: QueueStore) async throws {
        let terminal = isatty(STDOUT_FILENO) == 1
        var lastLine = ""
        while true {
            guard let job = try await store.jobGet(id: id) else {
                throw InputError(field: "job \(id)", problem: "no such job")
            }
            let line = describe(job)
            if terminal {
                print("\r\u{1B}[2K" + bar(job) + " " + line, terminator: "")
                fflush(nil)
            } else if line != lastLine {
                print(line)
            }
            lastLine = line
            if job.state.isFinal {
                if terminal { print("") }
                switch job.state {
                case .succeeded: return
                case .canceled: throw ExitCode(3)
                default:
                    FileHandle.standardError.write(Data("ucp: job \(id) failed: \(job.error ?? "unknown error")\n".utf8))
                    throw ExitCode(1)
                }
            }
            try await Task.sleep(nanoseconds: 300_000_000)
        }
    }

    package static func describe(_ job: Job) -> String {
        var text = "job \(job.id) \(job.state.rawValue)"
        let progress = Output.progressText(job.progress)
        if !progress.isEmpty, job.state != .queued { text += ": \(progress)" }
        if job.state == .queued { text += " (waiting for its turn)" }
        if let error = job.error, job.state.isFinal, job.state != .succeeded { text += ": \(error)" }
        return text
    }

    package static func bar(_ job: Job) -> String {
        let width = 30
        var fraction = 0.0
        if job.state == .succeeded { fraction = 1 }
        else if let total = job.progress.total, total > 0 { fraction = min(1, Double(job.progress.done) / Double(total)) }
        let filled = Int(fraction * Double(width))
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
    }
}
