import Foundation
import TestSupport
import XCTest

/// A password prompt turns the terminal's echo off; whatever ends the prompt — a typed line or a
/// signal such as Ctrl-C — must leave the operator's terminal echoing again.
final class PasswordPromptTests: XCTestCase {
    func testAnInterruptedPromptGivesTheTerminalItsEchoBack() throws {
        let terminal = try PseudoTerminal()
        let pid = try terminal.spawn([PackagePaths.ucp, "settings", "set", "mail.password"])
        XCTAssertTrue(terminal.read(until: "SMTP password: ", timeout: 30), "no prompt: \(terminal.output)")
        XCTAssertFalse(terminal.echoes, "the prompt shows what is typed")
        kill(pid, SIGINT)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        XCTAssertEqual(status & 0x7f, SIGINT, "the tool did not end by the signal (status \(status))")
        XCTAssertTrue(terminal.echoes, "the terminal was left without echo after Ctrl-C at the password prompt")
    }
}

// Glibc declares these only under _XOPEN_SOURCE, which Swift's Glibc module is not built with.
@_silgen_name("posix_openpt") private func openPseudoTerminal(_ flags: Int32) -> Int32
@_silgen_name("grantpt") private func grantPseudoTerminal(_ descriptor: Int32) -> Int32
@_silgen_name("unlockpt") private func unlockPseudoTerminal(_ descriptor: Int32) -> Int32
@_silgen_name("ptsname") private func pseudoTerminalName(_ descriptor: Int32) -> UnsafeMutablePointer<CChar>?

/// A pseudo-terminal whose far end is a child's standard input, output and error.
private final class PseudoTerminal {
    let controller: Int32
    let devicePath: String
    private(set) var output = ""

    init() throws {
        controller = openPseudoTerminal(O_RDWR | O_NOCTTY)
        guard controller >= 0, grantPseudoTerminal(controller) == 0, unlockPseudoTerminal(controller) == 0,
              let name = pseudoTerminalName(controller) else {
            throw XCTSkip("no pseudo-terminal here: \(String(cString: strerror(errno)))")
        }
        devicePath = String(cString: name)
    }

    deinit { close(controller) }

    /// The terminal's echo flag as the child set it (the controller side reads the device's settings).
    var echoes: Bool {
        var settings = termios()
        tcgetattr(controller, &settings)
        return settings.c_lflag & tcflag_t(ECHO) != 0
    }

    func spawn(_ arguments: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, devicePath, O_RDWR | O_NOCTTY, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
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
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw XCTSkip("cannot start \(arguments[0]): \(String(cString: strerror(spawned)))") }
        return pid
    }

    /// Reads what the child writes until `text` appears or `timeout` seconds pass.
    func read(until text: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !output.contains(text) {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return false }
            var ready = pollfd(fd: controller, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, Int32(left * 1000)) > 0 else { continue }
            let count = Foundation.read(controller, &buffer, buffer.count)
            guard count > 0 else { return false }
            output += String(decoding: buffer[..<count], as: UTF8.self)
        }
        return true
    }
}
