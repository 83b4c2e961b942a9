import Foundation
import Postgres
import Runtime

/// A private PostgreSQL cluster in a folder of its own, made with `initdb` and run with `pg_ctl`.
///
/// It backs the embedded default (when no server is configured), the tests and the benchmarks.
/// PostgreSQL refuses to run as root, so as root the server tools run as the `postgres` system
/// user, who then owns the folder. The server listens on a Unix socket inside the folder, and on
/// a loopback TCP port when one is given.
public struct LocalCluster: Sendable {
    public let directory: String
    public let tcpPort: Int?
    /// The database the application uses; created on first start.
    public let database: String

    public init(directory: String, tcpPort: Int? = nil, database: String = "ucp") {
        self.directory = directory
        self.tcpPort = tcpPort
        self.database = database
    }

    /// The folder the embedded default uses: `$UCP_HOME/postgres`; `UCP_HOME` defaults to
    /// `/var/lib/ucp` for root and `~/.local/share/ucp` for anyone else.
    public static func embeddedDefault(environment: [String: String] = ProcessInfo.processInfo.environment) -> LocalCluster {
        let home: String
        if let configured = environment["UCP_HOME"], !configured.isEmpty {
            home = configured
        } else if geteuid() == 0 {
            home = "/var/lib/ucp"
        } else {
            home = (environment["HOME"] ?? NSTemporaryDirectory()) + "/.local/share/ucp"
        }
        return LocalCluster(directory: home + "/postgres")
    }

    var dataDirectory: String { directory + "/data" }
    var logFile: String { directory + "/server.log" }
    var port: Int { tcpPort ?? 5432 }
    /// Where clients reach it: the socket folder, or the loopback address when it has a TCP port.
    public var host: String { tcpPort == nil ? dataDirectory : "127.0.0.1" }
    static var runsAsRoot: Bool { geteuid() == 0 }
    /// The superuser initdb creates: the OS user who runs it.
    var superuser: String { Self.runsAsRoot ? "postgres" : (ProcessInfo.processInfo.environment["USER"] ?? NSUserName()) }

    /// How to reach the cluster, as its superuser.
    public func configuration(database: String? = nil, role: String? = nil) throws -> ConnectionConfiguration {
        return try ConnectionConfiguration(
            conninfo: "host=\(host) port=\(port) user=\(superuser) dbname=\(database ?? self.database)",
            role: role)
    }

    public var isInitialized: Bool { FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION") }

    public var isRunning: Bool {
        (try? runServerTool(["pg_ctl", "status", "-D", dataDirectory], allowFailure: true)) == 0
    }

    /// Creates the cluster if needed and starts it if it is not running; returns how to connect.
    @discardableResult
    public func start(settings: [String: String] = [:]) throws -> ConnectionConfiguration {
        let fresh = !isInitialized
        if fresh { try initialize(settings: settings) }
        if !isRunning {
            try runServerTool(["pg_ctl", "start", "-w", "-t", "60", "-D", dataDirectory, "-l", logFile])
        }
        if fresh {
            let admin = Connection(try configuration(database: "postgres"))
            try admin.withSessionBlocking { session in
                let exists = try session.query(Statement("", "SELECT 1 FROM pg_database WHERE datname = $1"), [database])
                // CREATE DATABASE takes no parameters; the name is a constant of the caller.
                if exists.isEmpty { try session.execute("CREATE DATABASE \"\(database)\"") }
            }
        }
        return try configuration()
    }

    /// Makes this cluster a streaming replica of `primary` (`pg_basebackup -R`, WAL streamed during
    /// the copy) and starts it as a hot standby; returns how to connect (reads only, until promoted).
    /// `primary` must allow replication connections from its superuser (initdb's trust rules do) and
    /// have WAL senders (PostgreSQL's defaults). `settings` are added to the copied configuration,
    /// after this cluster's own port and socket folder: e.g. `synchronous_standby_names = ''`, so
    /// that once promoted it does not wait for a standby of its own.
    @discardableResult
    public func startStandby(of primary: LocalCluster, settings: [String: String] = [:]) throws -> ConnectionConfiguration {
        guard !isInitialized else {
            throw PostgresError(kind: .other, message: "\(directory) already holds a cluster; a standby starts from an empty folder")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if Self.runsAsRoot { try runTool(["chown", "postgres:postgres", directory]) }
        try runServerTool([Self.serverTool("pg_basebackup"), "-D", dataDirectory, "-R", "-X", "stream", "-c", "fast",
                           "-h", primary.host, "-p", "\(primary.port)", "-U", primary.superuser, "--no-sync"])
        // The primary's socket folder is its data folder: the copy holds the lock file of its socket.
        for name in try FileManager.default.contentsOfDirectory(atPath: dataDirectory) where name.hasPrefix(".s.PGSQL.") {
            try FileManager.default.removeItem(atPath: dataDirectory + "/" + name)
        }
        try appendSettings(ownSettings + settings.sorted(by: { $0.key < $1.key }).map { "\($0.key) = \($0.value)" })
        try runServerTool(["pg_ctl", "start", "-w", "-t", "60", "-D", dataDirectory, "-l", logFile])
        return try configuration()
    }

    /// Ends recovery: the standby becomes a primary that takes writes (`pg_ctl promote`, waiting
    /// until it does).
    public func promote() throws {
        try runServerTool(["pg_ctl", "promote", "-w", "-t", "60", "-D", dataDirectory])
    }

    public func stop(mode: String = "fast") throws {
        guard isInitialized, isRunning else { return }
        try runServerTool(["pg_ctl", "stop", "-w", "-m", mode, "-D", dataDirectory])
    }

    /// Stops the server and deletes the folder.
    public func destroy() {
        try? stop(mode: "immediate")
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func initialize(settings: [String: String]) throws {
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if Self.runsAsRoot {
            try runTool(["chown", "postgres:postgres", directory])
            // The folder is the postgres user's now, but a folder above it may still shut that user
            // out (a mktemp folder is 0700): initdb would only say "Permission denied".
            guard try runServerTool(["test", "-w", directory], allowFailure: true) == 0 else {
                throw PostgresError(kind: .invalidConfiguration, message: "the postgres system user cannot reach "
                    + "\(directory) (as root, the server runs as postgres): let it search every folder above it "
                    + "(chmod o+x) or choose another folder (UCP_HOME)")
            }
        }
        try runServerTool(["initdb", "-D", dataDirectory, "--auth=trust", "-U", superuser, "-E", "UTF8",
                           "--locale=C.UTF-8", "--no-sync"])
        var lines = ownSettings + ["max_connections = 200", "shared_buffers = 256MB"]
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) { lines.append("\(key) = \(value)") }
        try appendSettings(lines)
    }

    /// Where this cluster listens; a standby's copy of its primary's configuration says otherwise.
    private var ownSettings: [String] {
        ["listen_addresses = '\(tcpPort == nil ? "" : "127.0.0.1")'", "port = \(port)",
         "unix_socket_directories = '\(dataDirectory)'"]
    }

    /// Adds lines to postgresql.conf; a later line wins over an earlier one of the same setting.
    private func appendSettings(_ lines: [String]) throws {
        let conf = dataDirectory + "/postgresql.conf"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: conf))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(("\n# UCProvision local cluster\n" + lines.joined(separator: "\n") + "\n").utf8))
        try handle.close()
    }

    /// A server tool by its full path in the folder of the `pg_ctl` on PATH: Debian puts only some
    /// of them on PATH (`pg_basebackup` there is a wrapper that picks a version of its own).
    static func serverTool(_ name: String) -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/pg_ctl"
            guard FileManager.default.isExecutableFile(atPath: candidate) else { continue }
            let resolved = URL(fileURLWithPath: candidate).resolvingSymlinksInPath().deletingLastPathComponent()
                .appendingPathComponent(name).path
            return FileManager.default.isExecutableFile(atPath: resolved) ? resolved : name
        }
        return name
    }

    /// Runs initdb/pg_ctl, as `postgres` when we are root.
    @discardableResult
    func runServerTool(_ arguments: [String], allowFailure: Bool = false) throws -> Int32 {
        let command = Self.runsAsRoot ? ["runuser", "-u", "postgres", "--"] + arguments : arguments
        return try runTool(command, allowFailure: allowFailure)
    }

    @discardableResult
    func runTool(_ arguments: [String], allowFailure: Bool = false) throws -> Int32 {
        let (status, output) = try ChildProcess.run(arguments)
        if status != 0 && !allowFailure {
            let lastLine = output.split(separator: "\n").last.map(String.init) ?? "exit status \(status)"
            let tool = arguments.first(where: { !["runuser", "-u", "postgres", "--"].contains($0) }) ?? "tool"
            throw PostgresError(kind: .other, message: "\(tool) failed: \(lastLine)")
        }
        return status
    }
}

