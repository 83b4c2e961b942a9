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

/// Passwords typed at a terminal: prompted on standard error, not echoed.
enum PasswordInput {
    static func promptWithoutEcho(_ prompt: String, field: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var terminal = termios()
        tcgetattr(STDIN_FILENO, &terminal)
        let saved = terminal
        terminal.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &terminal)
        defer {
            var restore = saved
            tcsetattr(STDIN_FILENO, TCSANOW, &restore)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("\(field): none typed")
        }
        return line
    }
}
