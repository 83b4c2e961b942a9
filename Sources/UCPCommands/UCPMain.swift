import ArgumentParser
import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime

/// The entry point: parses the command line and runs the command. Errors become one line on
/// standard error and a non-zero exit status; help goes to standard output.
public enum UCPMain {
    /// What `ucp` carries beside the operator commands (DevTools); set once, before parsing.
    nonisolated(unsafe) static var tooling = Tooling()

    public static func run(tooling: Tooling = Tooling()) async {
        self.tooling = tooling
        do {
            var command = try UCP.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as InputError {
            // Refused input, from any store or rule: one line per refusal, status 64, nothing written.
            for line in error.lines { FileHandle.standardError.write(Data("ucp: \(line)\n".utf8)) }
            exit(64)
        } catch let error as PostgresError where error.kind == .raised {
            // A refusal raised by the queue's own SQL functions (`job 7: no such job`, `… already finished`):
            // meant for operators, and refused alike by the API (its problem documents carry the same line).
            let line = error.message.split(whereSeparator: \.isNewline).first.map(String.init) ?? error.message
            FileHandle.standardError.write(Data("ucp: \(InputError(line: line).lines[0])\n".utf8))
            exit(64)
        } catch {
            let code = UCP.exitCode(for: error)
            if code == .success {
                print(UCP.fullMessage(for: error))
                exit(0)
            }
            if error is ExitCode {
                exit(code.rawValue)
            }
            let message = UCP.message(for: error)
                .split(separator: "\n").first.map(String.init) ?? "failed"
            FileHandle.standardError.write(Data("ucp: \(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)\n".utf8))
            exit(code == .validationFailure ? 64 : max(1, code.rawValue))
        }
    }
}

/// Tooling that `ucp` carries without the operator commands depending on it: the demo, benchmarks
/// and simulators as subcommands, and the stand-in job types a worker installs only when asked.
public struct Tooling {
    public var subcommands: [any ParsableCommand.Type]
    /// The contracts of the stand-in job types (`ucp submit job` accepts them).
    public var standInContracts: [any JobParameters.Type]
    /// Installs the stand-ins in a worker's registry, given the values of `--stand-in-sync`.
    public var installStandIns: (_ standInSyncs: [String], _ registry: inout JobRegistry) throws -> Void

    public init(subcommands: [any ParsableCommand.Type] = [], standInContracts: [any JobParameters.Type] = [],
                installStandIns: @escaping (_ standInSyncs: [String], _ registry: inout JobRegistry) throws -> Void = { _, _ in
                    throw ValidationError("stand-in-jobs: this build of ucp carries no stand-in job types")
                }) {
        self.subcommands = subcommands
        self.standInContracts = standInContracts
        self.installStandIns = installStandIns
    }
}

struct UCP: AsyncParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(
        commandName: "ucp",
        abstract: "UCProvision: keeps a provisioning inventory in step with Cisco collaboration systems and pushes orders to them.",
        discussion: """
            Every role runs from this one binary. PostgreSQL is where they meet: set DATABASE_URL (a libpq URI) \
            or the PG* variables; with neither, ucp uses a private PostgreSQL cluster of its own ($UCP_HOME/postgres).
            """,
        subcommands: [
            MigrateCommand.self, SubmitCommand.self, JobsCommand.self, MaintenanceCommand.self, StatusCommand.self,
            AuditCommand.self, WorkerCommand.self, CoordinatorCommand.self, WatchdogCommand.self,
            SettingsCommand.self, AlertsCommand.self, SecretKeyCommand.self,
            DeviceCommand.self, DomainCommand.self, ServiceAreaCommand.self, ScheduleCommand.self, UsersCommand.self,
            TokenCommand.self, ServeCommand.self, OrderCommand.self,
        ] + UCPMain.tooling.subcommands)
    }
}
