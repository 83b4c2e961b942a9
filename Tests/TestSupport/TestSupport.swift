import Foundation
import Postgres
import PostgresCluster
import Queue
import Runtime
import Schema
import Synchronization

/// The PostgreSQL server the tests use: `UCP_TEST_DATABASE_URL` (scripts/test.sh starts one),
/// else a private cluster this process starts once under /tmp.
public enum TestServer {
    private static let shared = Mutex<ConnectionConfiguration?>(nil)

    public static func configuration() throws -> ConnectionConfiguration {
        try shared.withLock { cached in
            if let cached { return cached }
            let configuration: ConnectionConfiguration
            if let url = ProcessInfo.processInfo.environment["UCP_TEST_DATABASE_URL"] {
                configuration = try ConnectionConfiguration(conninfo: url)
            } else {
                let cluster = LocalCluster(directory: "/tmp/ucp-test-server-\(getuid())", database: "postgres")
                configuration = try cluster.start(settings: ["max_connections": "300"])
            }
            cached = configuration
            return configuration
        }
    }

    /// A new database with the schema migrated; `owner` connects as the login role, `app` as ucp_app.
    public static func freshDatabase() async throws -> TestDatabase {
        let server = try configuration()
        let name = "t_\(UInt32.random(in: 0...UInt32.max))_\(getpid())"
        try await Connection(server).withSession { session in
            // CREATE DATABASE takes no parameters; the name is made above from digits only.
            try session.execute("CREATE DATABASE \(name)")
        }
        let owner = server.with(database: name)
        _ = try await Migrator(directory: PackagePaths.root + "/migrations").apply(Connection(owner), actor: "test")
        return TestDatabase(name: name, owner: owner)
    }
}

public struct TestDatabase: Sendable {
    public let name: String
    public let owner: ConnectionConfiguration

    public init(name: String, owner: ConnectionConfiguration) {
        self.name = name
        self.owner = owner
    }

    /// The configuration the processes use: the same database, switched to role ucp_app.
    public var app: ConnectionConfiguration {
        var configuration = owner
        configuration.role = "ucp_app"
        return configuration
    }

    /// A libpq connection string for child processes (DATABASE_URL).
    public var url: String {
        var parts: [String] = []
        if let host = owner.host { parts.append("host=\(host)") }
        if let port = owner.port { parts.append("port=\(port)") }
        if let user = owner.user { parts.append("user=\(user)") }
        parts.append("dbname=\(name)")
        return parts.joined(separator: " ")
    }

    public func store() -> QueueStore { QueueStore(Connection(app)) }
}

public enum PackagePaths {
    /// The package root, found from this file's path.
    public static let root: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    public static var ucp: String {
        ProcessInfo.processInfo.environment["UCP_BIN"] ?? root + "/.build/debug/ucp"
    }
}

/// `ucp` child processes of one test, stopped when the test ends.
public final class UCPProcesses: @unchecked Sendable {
    public let environment: [String: String]
    public let logDirectory: String
    private var children: [String: pid_t] = [:]

    /// `environment` adds to (or overrides) what every child gets, e.g. UCP_SECRET_KEY_FILE.
    public init(database: TestDatabase, environment extra: [String: String] = [:]) throws {
        environment = ["DATABASE_URL": database.url, "UCP_LOG_LEVEL": "info",
                       "UCP_MIGRATIONS_DIR": PackagePaths.root + "/migrations"].merging(extra) { $1 }
        logDirectory = NSTemporaryDirectory() + "ucp-test-\(database.name)"
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
    }

    /// Starts `ucp ARGUMENTS…` in the background, its output in `<logDirectory>/<name>.log`.
    @discardableResult
    public func start(_ name: String, _ arguments: [String], environment extra: [String: String] = [:]) throws -> pid_t {
        let pid = try ChildProcess.spawn([PackagePaths.ucp] + arguments, outputPath: "\(logDirectory)/\(name).log",
                                         environment: environment.merging(extra) { $1 })
        children[name] = pid
        return pid
    }

    public func kill(_ name: String, signal: Int32 = SIGKILL) {
        guard let pid = children[name] else { return }
        Foundation.kill(pid, signal)
        if signal == SIGKILL {
            ChildProcess.wait(pid)
            children[name] = nil
        }
    }

    /// Waits for a child to exit after a signal; returns its status.
    public func waitForExit(_ name: String) -> Int32? {
        guard let pid = children.removeValue(forKey: name) else { return nil }
        return ChildProcess.wait(pid)
    }

    public func log(_ name: String) -> String {
        (try? String(contentsOfFile: "\(logDirectory)/\(name).log", encoding: .utf8)) ?? ""
    }

    /// Runs `ucp ARGUMENTS…` to completion.
    public func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> CommandResult {
        try CommandResult.run([PackagePaths.ucp] + arguments, environment: environment.merging(extra) { $1 })
    }

    public func stopAll() {
        for (_, pid) in children { Foundation.kill(pid, SIGTERM) }
        for (_, pid) in children { ChildProcess.wait(pid) }
        children.removeAll()
    }

    deinit {
        for (_, pid) in children {
            Foundation.kill(pid, SIGKILL)
            ChildProcess.wait(pid)
        }
    }
}

/// A finished command: exit status, standard output and standard error apart.
public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public static func run(_ arguments: [String], environment: [String: String]) throws -> CommandResult {
        let base = NSTemporaryDirectory() + "ucp-cmd-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(base + ".out"); unlink(base + ".err") }
        // stdout and stderr go to separate files: spawn with stdout to .out, then read .err via a shell-free dup.
        let shellArguments = ["/bin/sh", "-c", "exec \"$0\" \"$@\" 2>\"\(base).err\""] + arguments
        let pid = try ChildProcess.spawn(shellArguments, outputPath: base + ".out", environment: environment)
        let status = ChildProcess.wait(pid)
        let stdout = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        return CommandResult(status: status, stdout: stdout, stderr: stderr)
    }
}

/// Polls `condition` until it holds or `timeout` passes.
public func eventually(timeout: Double, interval: Double = 0.1, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
    }
    return try await condition()
}
