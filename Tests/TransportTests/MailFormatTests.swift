import CCurl
import Foundation
@testable import Transport
import XCTest

/// Settings validation, message rendering and failure classification, without a server.
final class MailFormatTests: XCTestCase {
    func testServerSettingsAreCheckedFieldByField() {
        let cases: [(MailServer, String)] = [
            (MailServer(url: "http://mail.example.com"), "url: must start with smtp:// or smtps://"),
            (MailServer(url: "mail.example.com:25"), "url: must start with smtp:// or smtps://"),
            (MailServer(url: "smtp://"), "url: must be smtp://host[:port] or smtps://host[:port]: the host is missing"),
            (MailServer(url: "smtp://:25"), "url: must be smtp://host[:port] or smtps://host[:port]: the host is missing"),
            (MailServer(url: "smtp://mail.example.com:0"), "url: the port must be a number from 1 to 65535"),
            (MailServer(url: "smtp://mail.example.com:70000"), "url: the port must be a number from 1 to 65535"),
            (MailServer(url: "smtp://mail.example.com:25x"), "url: the port must be a number from 1 to 65535"),
            (MailServer(url: "smtp://mail.example.com:+25"), "url: the port must be a number from 1 to 65535"),
            (MailServer(url: "smtp://user:pw@mail.example.com"),
             "url: must not hold a user name or password: set username and password instead"),
            (MailServer(url: "smtp://mail.example.com/path"),
             "url: must be smtp://host[:port] or smtps://host[:port], with nothing after the port"),
            (MailServer(url: "smtp://mail.example.com?x=1"),
             "url: must be smtp://host[:port] or smtps://host[:port], with nothing after the port"),
            (MailServer(url: "smtp://mail example.com"), "url: must not contain spaces or control characters"),
            (MailServer(url: "smtp://mail.example.com\r\n"), "url: must not contain spaces or control characters"),
            (MailServer(url: "smtp://::1:25"), "url: must be smtp://host[:port] or smtps://host[:port]; put an IPv6 address in brackets"),
            (MailServer(url: "smtp://mail.example.com", password: "pw"), "username: is required when a password is set"),
            (MailServer(url: "smtp://mail.example.com", startTLS: .opportunistic, username: "u", password: "pw"),
             "password: is sent only over TLS: use smtps:// or starttls required"),
            (MailServer(url: "smtp://mail.example.com", startTLS: .none, username: "u", password: "pw"),
             "password: is sent only over TLS: use smtps:// or starttls required"),
            (MailServer(url: "smtps://mail.example.com", username: "u", password: "pw\n"),
             "password: must not contain control characters"),
            (MailServer(url: "smtps://mail.example.com", username: "u\r\n"), "username: must not contain control characters"),
            (MailServer(url: "smtps://mail.example.com", caFile: "/nonexistent/ca.pem"),
             "ca-file: cannot read '/nonexistent/ca.pem' (it must be a readable PEM file)"),
            // Readable, but a directory: the devices' rule refuses it too.
            (MailServer(url: "smtps://mail.example.com", caFile: "/tmp"), "ca-file: cannot read '/tmp' (it must be a readable PEM file)"),
            (MailServer(url: "smtps://mail.example.com", connectTimeout: .zero), "connect-timeout: must be more than 0 seconds"),
            (MailServer(url: "smtps://mail.example.com", timeout: .seconds(-1)), "timeout: must be more than 0 seconds"),
        ]
        for (server, expected) in cases {
            XCTAssertThrowsError(try server.validate(), expected) { error in
                XCTAssertEqual("\(error)", expected)
                XCTAssertFalse("\(error)".contains("pw"), "\(error)")
            }
        }
        let valid = ["smtp://mail.example.com", "SMTP://mail.example.com:587/", "smtps://127.0.0.1:465", "smtp://[::1]:2525",
                     "smtp://mail_relay-1.example.com"]
        for url in valid {
            XCTAssertNoThrow(try MailServer(url: url).validate(), url)
        }
        XCTAssertNoThrow(try MailServer(url: "smtp://mail.example.com", startTLS: .required, username: "u", password: "pw").validate())
        XCTAssertNoThrow(try MailServer(url: "smtps://mail.example.com", startTLS: .none, username: "u", password: "pw").validate())
    }

    func testServerDescriptionHidesThePassword() {
        let server = MailServer(url: "smtp://mail.example.com:587", username: "alice", password: "hunter2")
        var dumped = ""
        dump(server, to: &dumped)
        for rendering in ["\(server)", String(reflecting: server), dumped] {
            XCTAssertFalse(rendering.contains("hunter2"), rendering)
        }
        XCTAssertEqual("\(server)", "smtp://mail.example.com:587 (STARTTLS required, user alice, password ********)")
    }

    /// A device client's configuration holds the password for libcurl only: printing or dumping the
    /// configuration (or a connection's) never shows it.
    func testHTTPConfigurationDescriptionHidesThePassword() {
        let configuration = HTTPConfiguration(username: "axl", password: "hunter2")
        var dumped = ""
        dump(configuration, to: &dumped)
        for rendering in ["\(configuration)", String(reflecting: configuration), dumped] {
            XCTAssertFalse(rendering.contains("hunter2"), rendering)
        }
        XCTAssertEqual("\(configuration)", "certificate verified, user axl, password ********, timeouts 10.0 s connect, 300.0 s total")
    }

    func testMessageFieldsAreChecked() {
        let cases: [(MailMessage, String)] = [
            (MailMessage(from: "ucp", to: ["a@b"], subject: "s", body: ""), "from: \"ucp\" is not an email address (expected name@domain, in ASCII)"),
            (MailMessage(from: "ucp@example.com", to: [], subject: "s", body: ""), "to: needs at least one recipient"),
            (MailMessage(from: "ucp@example.com", to: ["a@b", "Ops <ops@x>"], subject: "s", body: ""),
             "to: \"Ops <ops@x>\" is not an email address (expected name@domain, in ASCII)"),
            (MailMessage(from: "ucp@example.com", to: ["a@b,c@d"], subject: "s", body: ""),
             "to: \"a@b,c@d\" is not an email address (expected name@domain, in ASCII)"),
            (MailMessage(from: "ucp@example.com", to: ["josé@example.com"], subject: "s", body: ""),
             "to: \"josé@example.com\" is not an email address (expected name@domain, in ASCII)"),
            (MailMessage(from: "ucp@example.com", to: ["a@b"], subject: "x\ny", body: ""),
             "subject: must not contain CR, LF or other control characters"),
            (MailMessage(from: "ucp@example.com", to: ["a@b"], subject: "s", body: "", messageID: "<1@x>\r\nBcc: c@d"),
             "message-id: must not contain CR, LF or other control characters"),
            (MailMessage(from: "ucp@example.com", to: ["a@b"], subject: "s", body: "", messageID: "1@x"),
             "message-id: must look like <unique@domain>"),
        ]
        for (message, expected) in cases {
            XCTAssertThrowsError(try message.rendered(), expected) { error in
                XCTAssertEqual("\(error)", expected)
            }
        }
    }

    func testRenderedMessage() throws {
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        let message = MailMessage(from: "ucp@example.com", to: ["ops@example.com"], subject: "Sync stuck",
                                  body: "line one\nline two", messageID: "<42@example.com>", date: date)
        XCTAssertEqual(try message.rendered(), [
            "Date: Tue, 14 Nov 2023 22:13:20 +0000",
            "From: ucp@example.com",
            "To: ops@example.com",
            "Subject: Sync stuck",
            "Message-ID: <42@example.com>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 7bit",
            "",
            "line one",
            "line two",
        ].map { $0 + "\r\n" }.joined())
        XCTAssertEqual(MailMessage(from: "ucp@example.com", to: ["a@b"], subject: "", body: "").messageID.hasSuffix("@example.com>"), true)
    }

    func testEveryLineEndsInCRLFAndStaysShort() throws {
        let message = MailMessage(from: "ucp@example.com", to: (1...12).map { "recipient\($0)@example.com" },
                                  subject: String(repeating: "Überwachung ", count: 20),
                                  body: "a\rb\nc\r\n" + String(repeating: "ü", count: 300) + "\ntrailing space \n=")
        let text = try message.rendered()
        let lines = text.components(separatedBy: "\r\n")
        XCTAssertEqual(lines.last, "")
        for line in lines {
            XCTAssertFalse(line.contains("\r") || line.contains("\n"), line)
            XCTAssertLessThanOrEqual(line.utf8.count, 78, line)
            XCTAssertTrue(line.unicodeScalars.allSatisfy(\.isASCII), line)
        }
        XCTAssertTrue(text.contains("Content-Transfer-Encoding: quoted-printable\r\n"))
        XCTAssertTrue(text.contains("\r\na\r\nb\r\nc\r\n"))
        XCTAssertTrue(text.contains("\r\ntrailing space=20\r\n=3D\r\n"))
    }

    func testEncodedWordsHoldWholeCharacters() throws {
        XCTAssertEqual(MailMessage.encodeHeaderText("plain"), "plain")
        XCTAssertEqual(MailMessage.encodeHeaderText("café"), "=?UTF-8?B?Y2Fmw6k=?=")
        XCTAssertEqual(MailMessage.encodeHeaderText("=?x?="), "=?UTF-8?B?PT94Pz0=?=")
        let subject = String(repeating: "✓", count: 30)
        let words = MailMessage.encodeHeaderText(subject).components(separatedBy: "\r\n ")
        XCTAssertEqual(words.count, 3)
        let decoded = words.map { word -> String in
            let base64 = word.dropFirst("=?UTF-8?B?".count).dropLast(2)
            return String(decoding: Data(base64Encoded: String(base64))!, as: UTF8.self)
        }
        XCTAssertEqual(decoded.joined(), subject)
        XCTAssertFalse(decoded.contains { $0.contains("\u{FFFD}") })
    }

    // Only a permanent refusal of a recipient is final: a 5xx elsewhere (auth required, a refused
    // login, a greeting 554), a TLS failure or a relay's refusal to relay for us is mended by an
    // operator and must be tried again. At RCPT TO only the server's text tells a relay's refusal
    // from a refused mailbox; 5.7.1 alone is also a policy's refusal of this recipient.
    func testFailureClassification() {
        let cases: [(Int, String, String?, Bool)] = [
            (0, "Failed to connect to 127.0.0.1 port 9", nil, true),
            (0, "Operation timed out", nil, true),
            (451, "RCPT failed: 451", nil, true),
            (550, "RCPT failed: 550", nil, false),
            (552, "RCPT failed: 552", nil, false),
            (530, "MAIL failed: 530", nil, true),
            (550, "MAIL failed: 550", nil, true),
            (535, "Login denied", nil, true),
            (554, "Got unexpected smtp-server response: 554", nil, true),
            (0, "SSL certificate problem: self-signed certificate", nil, true),
            (0, "error setting certificate file: /nonexistent", nil, true),
            (0, "STARTTLS not supported.", nil, true),
            (550, "RCPT failed: 550", "5.7.1 relaying denied", true),
            (554, "RCPT failed: 554", "5.7.1 <ops@example.org>: Relay access denied", true),
            (550, "RCPT failed: 550", "5.1.1 mailbox unavailable", false),
            (550, "RCPT failed: 550", "5.7.1 Recipient address rejected: Access denied", false),
            (550, "RCPT failed: 550", "5.1.1 <relay@example.org>: no such user", false),
        ]
        for (reply, detail, text, retryable) in cases {
            XCTAssertEqual(Mailer.isRetryable(responseCode: reply, detail: detail, replyText: text), retryable,
                           "SMTP \(reply): \(detail) \(text ?? "")")
        }
    }
}
