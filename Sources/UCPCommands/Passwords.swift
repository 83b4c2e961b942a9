import ArgumentParser
import Foundation
import Runtime
import Secrets
import Watchdog

enum MailPassword {
    /// The password from standard input (one line), never from the command line where `ps` shows it.
    static func readFromStandardInput() throws -> String {
        if isatty(STDIN_FILENO) == 1 { return try PasswordInput.promptWithoutEcho("SMTP password: ", field: "mail.password") }
        guard let line = try InputText.standardInputLine(field: "mail.password", source: "standard input"), !line.isEmpty else {
            throw ValidationError("mail.password: expected the password on standard input")
        }
        return line
    }
}

/// Text an operator hands over in a file, on standard input or at a prompt — a password, granular
/// text — read as UTF-8 that must be valid: bytes that are not are refused, never repaired to
/// U+FFFD, since a password so changed would be stored and never match, and a line so changed is
/// not the line written. The refusal names the field and where the bytes came from, never the text.
enum InputText {
    static func utf8(_ bytes: some Collection<UInt8>, field: String, source: String) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw InputError(field: field, problem: "\(source) must hold UTF-8 text (it holds bytes that are not)")
        }
        return text
    }

    /// A file's whole text; `field` names the option that gave the path.
    static func file(_ path: String, field: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(field: field, problem: "cannot read \(InputError.quoted(path))")
        }
        return try utf8(data, field: field, source: InputError.quoted(path))
    }

    /// All of standard input.
    static func standardInput(field: String) throws -> String {
        try utf8(FileHandle.standardInput.readDataToEndOfFile(), field: field, source: "standard input")
    }

    /// One line of standard input without its line end (LF or CR LF); nil at the end of input. Read
    /// a byte at a time, so nothing after the line is taken from standard input.
    static func standardInputLine(field: String, source: String) throws -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = read(STDIN_FILENO, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1 else {
                if line.isEmpty { return nil }
                break
            }
            if byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return try utf8(line, field: field, source: source)
    }
}

/// The terminal's settings while a password prompt has echo off, for the signal handler below (a
/// C handler captures nothing; written before the handler is installed, read only by it).
nonisolated(unsafe) private var terminalBeforePrompt = termios()

/// Passwords typed at a terminal: prompted on standard error, not echoed.
enum PasswordInput {
    static func promptWithoutEcho(_ prompt: String, field: String) throws -> String {
        var terminal = termios()
        tcgetattr(STDIN_FILENO, &terminal)
        let saved = terminal
        terminalBeforePrompt = saved
        // Ctrl-C or a kill while echo is off must not leave the operator's terminal silent: restore it
        // (tcsetattr is async-signal-safe), then die of the signal as before.
        let interrupted: @convention(c) (Int32) -> Void = { signal in
            var restore = terminalBeforePrompt
            tcsetattr(STDIN_FILENO, TCSANOW, &restore)
            _ = Glibc.signal(signal, SIG_DFL)
            raise(signal)
        }
        let previous = [SIGINT, SIGTERM, SIGHUP, SIGQUIT].map { ($0, signal($0, interrupted)) }
        terminal.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &terminal)
        // Prompted once echo is off, so nothing typed at the prompt can appear.
        FileHandle.standardError.write(Data(prompt.utf8))
        defer {
            var restore = saved
            tcsetattr(STDIN_FILENO, TCSANOW, &restore)
            for (number, handler) in previous { _ = signal(number, handler) }
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = try InputText.standardInputLine(field: field, source: "the typed password"), !line.isEmpty else {
            throw ValidationError("\(field): none typed")
        }
        return line
    }
}
