import ArgumentParser
import Foundation
import Secrets
import Watchdog

enum MailPassword {
    /// The password from standard input (one line), never from the command line where `ps` shows it.
    static func readFromStandardInput() throws -> String {
        if isatty(STDIN_FILENO) == 1 { return try PasswordInput.promptWithoutEcho("SMTP password: ", field: "mail.password") }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("mail.password: expected the password on standard input")
        }
        return line
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
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("\(field): none typed")
        }
        return line
    }
}
