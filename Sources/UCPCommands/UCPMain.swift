import ArgumentParser
import Foundation

/// The entry point: parses the command line and runs the command. Errors become one line on
/// standard error and a non-zero exit status; help goes to standard output.
public enum UCPMain {
    public static func run() async {
        do {
            var command = try UCP.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
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

struct UCP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ucp",
        abstract: "UCProvision: keeps a provisioning inventory in step with Cisco collaboration systems and pushes orders to them.",
        discussion: """
            Every role runs from this one binary. PostgreSQL is where they meet: set DATABASE_URL (a libpq URI) \
            or the PG* variables; with neither, ucp uses a private PostgreSQL cluster of its own ($UCP_HOME/postgres).
            """,
        subcommands: [
            MigrateCommand.self, SubmitCommand.self, JobsCommand.self, MaintenanceCommand.self, StatusCommand.self,
            AuditCommand.self, WorkerCommand.self, CoordinatorCommand.self, WatchdogCommand.self,
            SettingsCommand.self, AlertsCommand.self, SecretKeyCommand.self, DemoCommand.self, BenchCommand.self,
            DeviceCommand.self, DomainCommand.self, ScheduleCommand.self, DevsimCommand.self, UsersCommand.self,
            LDAPSimulatorCommand.self,
        ])
}
