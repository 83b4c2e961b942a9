import Foundation
import Runtime
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
        XCTAssertEqual(ChildProcess.wait(pid), 128 + SIGINT, "the tool did not end by the signal")
        XCTAssertTrue(terminal.echoes, "the terminal was left without echo after Ctrl-C at the password prompt")
    }

    /// A typed password that is not UTF-8 is refused, not repaired to U+FFFD: one line naming the
    /// field and the rule (never what was typed), exit 64, the terminal echoing again.
    func testATypedPasswordThatIsNotUTF8IsRefused() throws {
        let terminal = try PseudoTerminal()
        let pid = try terminal.spawn([PackagePaths.ucp, "settings", "set", "mail.password"])
        XCTAssertTrue(terminal.read(until: "SMTP password: ", timeout: 30), "no prompt: \(terminal.output)")
        terminal.type(Array("Xq7z".utf8) + [0xFF, 0xC3] + Array("Vk9m\n".utf8))
        let refusal = "ucp: mail.password: the typed password must hold UTF-8 text (it holds bytes that are not)"
        XCTAssertTrue(terminal.read(until: refusal, timeout: 30), terminal.output)
        XCTAssertEqual(ChildProcess.wait(pid), 64, terminal.output)
        XCTAssertFalse(terminal.output.contains("Xq7z") || terminal.output.contains("Vk9m"), "the password is never printed")
        XCTAssertTrue(terminal.echoes, "the terminal was left without echo")
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

    /// Starts a program with this terminal as its standard input, output and error.
    func spawn(_ arguments: [String]) throws -> pid_t {
        try ChildProcess.spawn(arguments, outputPath: devicePath, inputPath: devicePath)
    }

    /// Types `bytes` at the terminal, as the keyboard would.
    func type(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Foundation.write(controller, $0.baseAddress!, $0.count) }
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
