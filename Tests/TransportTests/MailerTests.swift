import Foundation
import Runtime
import Transport
import TestSupport
import XCTest

/// Sends through a real SMTP server (aiosmtpd) on 127.0.0.1 and reads what it stored.
final class MailerTests: XCTestCase {
    private let mailer = Mailer()

    func testMessageArrivesOnceWithItsFields() async throws {
        let sink = try SMTPSink.start(for: self)
        let body = "Sync of Test-UCM stuck since 10:00.\n.a line that starts with a dot\n..two dots\nnon-ASCII: café ✓\n"
            + String(repeating: "long line ", count: 120) + "\nlast line\n"
        let message = MailMessage(from: "ucp@example.com", to: ["ops@example.com", "oncall@example.net"],
                                  subject: "Synchronisation bloquée : Test-UCM ✓ " + String(repeating: "é", count: 40),
                                  body: body)
        try await mailer.send(message, via: MailServer(url: sink.url, startTLS: .none))

        let mails = try sink.delivered()
        XCTAssertEqual(mails.count, 1)
        let mail = try XCTUnwrap(mails.first)
        XCTAssertEqual(mail.envelopeFrom, "ucp@example.com")
        XCTAssertEqual(mail.envelopeTo, ["ops@example.com", "oncall@example.net"])
        XCTAssertEqual(mail.from, "ucp@example.com")
        XCTAssertEqual(mail.to.replacingOccurrences(of: "\n ", with: " "), "ops@example.com, oncall@example.net")
        XCTAssertEqual(mail.subject, message.subject)
        XCTAssertEqual(mail.body.replacingOccurrences(of: "\r\n", with: "\n"), body)
        XCTAssertEqual(mail.messageID, message.messageID)
        XCTAssertFalse(mail.date.isEmpty)
    }

    func testPlainASCIIMessageArrivesAsIs() async throws {
        let sink = try SMTPSink.start(for: self)
        let message = MailMessage(from: "ucp@example.com", to: ["ops@example.com"], subject: "Automatic synchronization status check Failed",
                                  body: "one\r\ntwo\rthree\n")
        try await mailer.send(message, via: MailServer(url: sink.url, startTLS: .opportunistic))
        let mails = try sink.delivered()
        XCTAssertEqual(mails.map(\.subject), ["Automatic synchronization status check Failed"])
        XCTAssertEqual(mails.first?.body.replacingOccurrences(of: "\r\n", with: "\n"), "one\ntwo\nthree\n")
    }

    func testServerDownIsARetryableFailureThatNamesIt() async throws {
        let port = try freeLoopbackPort()
        let server = MailServer(url: "smtp://127.0.0.1:\(port)", startTLS: .none, connectTimeout: .seconds(5))
        let message = MailMessage(from: "ucp@example.com", to: ["ops@example.com"], subject: "s", body: "b")
        do {
            try await mailer.send(message, via: server)
            XCTFail("sent with no server listening")
        } catch let error as TransportError {
            XCTAssertTrue(error.isRetryable)
            XCTAssertEqual(error.curlCode, 7)
            XCTAssertTrue(error.message.hasPrefix("SMTP smtp://127.0.0.1:\(port): "), error.message)
            XCTAssertTrue(error.message.contains("connect"), error.message)
            XCTAssertTrue(error.message.hasSuffix("(curl 7)"), error.message)
        }
    }

    func testPermanentRejectionIsNotRetryableAndTemporaryIs() async throws {
        let sink = try SMTPSink.start(for: self)
        let server = MailServer(url: sink.url, startTLS: .none)
        // A relay that will not relay for us (550 5.7.1) refuses at RCPT TO with the code a missing
        // mailbox gets: only its reply's text tells them apart, and it is a configuration to mend.
        for (recipient, reply, retryable, said) in [
            ("refused@example.com", 550, false, "the server said: '5.1.1 mailbox unavailable'"),
            ("relay@example.com", 550, true, "the relay refuses to relay for this server: '5.7.1 relaying denied'"),
            ("later@example.com", 451, true, "the server said: '4.3.0 try again later'"),
        ] {
            let message = MailMessage(from: "ucp@example.com", to: ["ops@example.com", recipient], subject: "s", body: "b")
            do {
                try await mailer.send(message, via: server)
                XCTFail("\(recipient) was accepted")
            } catch let error as TransportError {
                XCTAssertEqual(error.responseCode, reply, error.message)
                XCTAssertEqual(error.isRetryable, retryable, error.message)
                XCTAssertTrue(error.message.hasSuffix(", SMTP \(reply))"), error.message)
                XCTAssertTrue(error.message.contains("RCPT failed: \(reply), \(said) (curl 55"), "libcurl names the command: \(error.message)")
            }
        }
        XCTAssertEqual(try sink.delivered().count, 0)
    }

    func testHeaderInjectionIsRefusedBeforeConnecting() async throws {
        let sink = try SMTPSink.start(for: self)
        let server = MailServer(url: sink.url, startTLS: .none)
        let attempts: [(MailMessage, String)] = [
            (MailMessage(from: "ucp@example.com", to: ["ops@example.com"], subject: "Hi\r\nBcc: victim@example.org", body: "b"),
             "subject: must not contain CR, LF or other control characters"),
            (MailMessage(from: "ucp@example.com", to: ["ops@example.com\nBcc: victim@example.org"], subject: "s", body: "b"),
             "to: must not contain CR, LF or other control characters"),
            (MailMessage(from: "ucp@example.com\r\nX-Injected: yes", to: ["ops@example.com"], subject: "s", body: "b",
                         messageID: "<1@example.com>"),
             "from: must not contain CR, LF or other control characters"),
        ]
        for (message, expected) in attempts {
            do {
                try await mailer.send(message, via: server)
                XCTFail("sent \(expected)")
            } catch let error as InputError {
                XCTAssertEqual("\(error)", expected)
            }
        }
        XCTAssertEqual(try sink.delivered().count, 0)
    }

    func testStartTLSRequiredVerifiesTheServer() async throws {
        let sink = try SMTPSink.start(for: self, security: .startTLS)
        let message = MailMessage(from: "ucp@example.com", to: ["ops@example.com"], subject: "over TLS", body: "b")
        try await mailer.send(message, via: MailServer(url: sink.url, startTLS: .required, caFile: sink.certificate))
        XCTAssertEqual(try sink.delivered().map(\.subject), ["over TLS"])

        // Not signed by an authority the system trusts: refused, and tried again once an operator
        // names the CA file.
        do {
            try await mailer.send(message, via: MailServer(url: sink.url, startTLS: .required))
            XCTFail("an unverified certificate was accepted")
        } catch let error as TransportError {
            XCTAssertEqual(error.curlCode, 60, error.message)
            XCTAssertTrue(error.isRetryable)
        }
        XCTAssertEqual(try sink.delivered().count, 1)
    }

    func testStartTLSRequiredFailsWhenTheServerCannotUpgrade() async throws {
        let sink = try SMTPSink.start(for: self)
        let message = MailMessage(from: "ucp@example.com", to: ["ops@example.com"], subject: "s", body: "b")
        do {
            try await mailer.send(message, via: MailServer(url: sink.url, startTLS: .required))
            XCTFail("sent in plain text although STARTTLS is required")
        } catch let error as TransportError {
            XCTAssertEqual(error.curlCode, 64, error.message)
            XCTAssertTrue(error.isRetryable, "the relay may be given STARTTLS")
        }
        XCTAssertEqual(try sink.delivered().count, 0)
    }

    func testImplicitTLS() async throws {
        let sink = try SMTPSink.start(for: self, security: .implicitTLS)
        XCTAssertTrue(sink.url.hasPrefix("smtps://"))
        let message = MailMessage(from: "ucp@example.com", to: ["ops@example.com"], subject: "smtps", body: "b")
        try await mailer.send(message, via: MailServer(url: sink.url, caFile: sink.certificate))
        XCTAssertEqual(try sink.delivered().map(\.subject), ["smtps"])
    }

    func testBlockingSend() throws {
        let sink = try SMTPSink.start(for: self)
        let message = MailMessage(from: "ucp@example.com", to: ["ops@example.com"], subject: "blocking", body: "b")
        try mailer.send(message, via: MailServer(url: sink.url, startTLS: .none))
        XCTAssertEqual(try sink.delivered().map(\.subject), ["blocking"])
    }
}
