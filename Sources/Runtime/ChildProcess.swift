import Foundation

/// Starting other programs with posix_spawn and waitpid. Foundation's Process can wait for ever
/// for a child's exit inside async code on Linux; this cannot. Output goes to a file, so a daemon
/// the child leaves behind (pg_ctl's server) never holds a pipe of ours open.
public enum ChildProcess {
    /// Runs a program to completion; returns its exit status and what it printed.
    public static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let outputPath = NSTemporaryDirectory() + "ucp-child-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).log"
        defer { unlink(outputPath) }
        let pid = try spawn(arguments, outputPath: outputPath, environment: environment)
        let status = wait(pid)
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (status, output)
    }

    /// Starts a program in the background with stdin from `inputPath` (/dev/null unless a test gives
    /// it a terminal) and stdout and stderr appended to `outputPath`; `environment` entries are added
    /// to ours.
    public static func spawn(_ arguments: [String], outputPath: String, inputPath: String = "/dev/null",
                             environment: [String: String] = [:]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY | O_NOCTTY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        // Threads of the Swift runtime block signals, and posix_spawn hands the caller's mask on:
        // the child starts with an empty mask and default handlers instead (pgbench's -T relies on
        // SIGALRM, a worker on SIGTERM).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            throw ChildProcessError(program: arguments[0], reason: String(cString: strerror(spawned)))
        }
        return pid
    }

    /// Waits for a child to exit; returns its exit status (128 + signal when a signal ended it).
    @discardableResult
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return -1 }
        }
        return decode(status)
    }

    /// The exit status if the child has exited, nil while it runs.
    public static func poll(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        return result == pid ? decode(status) : nil
    }

    static func decode(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// The path of the running executable (for starting more of ourselves).
    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// A program that could not be started.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var program: String
    public var reason: String
    public var description: String { "\(program): cannot start (\(reason))" }
}
