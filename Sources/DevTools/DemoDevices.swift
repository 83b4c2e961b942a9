import Foundation
import Postgres
import Runtime
import Secrets

/// The demo's device part: `ucp devsim` (started with the workers) registered as a Unified CM and a
/// Unity Connection, both connections tested, then infrastructure and user synchronization of each
/// with its progress on screen, and what they read counted. It drives `ucp` itself, so the output
/// shows the commands an operator would type.
enum DemoDevices {
    static let adminUser = "axladmin"
    static let devices = [("demo-cucm", "cucm"), ("demo-unity", "unity")]

    static func passwordFile(_ logFolder: String) -> String { logFolder + "/devsim.password" }
    static func certificateFile(_ logFolder: String) -> String { logFolder + "/devsim-cert.pem" }

    /// A secret key for the device passwords and the simulator's password, in the log folder;
    /// returns the environment the demo's processes and commands share.
    static func prepare(logFolder: String) throws -> [String: String] {
        let keyFile = logFolder + "/secret.key"
        _ = try SecretKey.generateFile(at: keyFile)
        let password = "demo-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        _ = FileManager.default.createFile(atPath: passwordFile(logFolder), contents: Data((password + "\n").utf8),
                                       attributes: [.posixPermissions: 0o600])
        return [SecretKey.environmentVariable: keyFile]
    }

    static func run(port: Int, logFolder: String, environment: [String: String]) async throws -> Bool {
        print("\nDevices: ucp devsim (\(DemoProcesses.simulatorUsers) users) registered as a Unified CM and a Unity Connection, tested, synchronized")
        do {
            for (name, kind) in devices {
                let exists = try ChildProcess.run([ChildProcess.currentExecutable, "device", "show", name]).status == 0
                let place = ["--address", "127.0.0.1", "--port", String(port), "--user", adminUser,
                             "--ca-file", certificateFile(logFolder), "--password-file", passwordFile(logFolder), "--actor", "demo"]
                try DemoSchedule.step(exists ? ["device", "edit", name] + place : ["device", "add", "--name", name, "--kind", kind] + place,
                                      environment: environment)
            }
            for (name, _) in devices {
                try DemoSchedule.step(["device", "test", name, "--wait"], environment: environment)
            }
            for (name, _) in devices {
                for kind in ["infra", "user"] {
                    try live(["submit", "sync", kind, "--device", name, "--wait", "--actor", "demo"], environment: environment)
                }
            }
            try DemoSchedule.step(["device", "objects", "demo-cucm", "--kind", "user", "--count"], environment: environment)
            try DemoSchedule.step(["device", "log", "demo-cucm", "--kind", "infra"], environment: environment)
            return true
        } catch let failure as DemoSchedule.DemoStepError {
            print("  \(failure)")
            return false
        }
    }

    /// Runs one `ucp` command with its output going straight to ours (inherited), so a progress
    /// bar moves live on a terminal.
    static func live(_ arguments: [String], environment: [String: String]) throws {
        print("  $ ucp " + arguments.joined(separator: " "))
        fflush(nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ChildProcess.currentExecutable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        try process.run()
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            throw DemoSchedule.DemoStepError(description: "'ucp \(arguments.joined(separator: " "))' failed (exit \(process.terminationStatus))")
        }
    }
}
