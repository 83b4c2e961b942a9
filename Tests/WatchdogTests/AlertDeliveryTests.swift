import Foundation
import Inventory
import Postgres
import Queue
import Runtime
import TestSupport
import Watchdog
import XCTest

/// What the alert sender gives up, and when: only a recipient the relay refuses for good, or a message
/// still not sent after the age limit; anything an operator can mend is tried again until it is.
final class AlertDeliveryTests: XCTestCase {
    // The relay's certificate is not trusted (no mail.ca-file yet): the alert waits, and goes out at
    // the next try after the operator names the CA file, with no manual retry. Before, a TLS,
    // login, settings or key failure failed the alert for good at its first try.
    func testAnAlertFailingOnAMisconfigurationIsSentOnceTheOperatorMendsIt() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let sink = try SMTPSink.start(for: self, security: .startTLS)
        var mail = MailSettings()
        mail.url = sink.url
        mail.starttls = "required"
        mail.from = "ucprovision@example.test"
        mail.recipients = ["ops@example.test"]
        try await SettingsStore(connection).settingSet(MailSettings.key, mail, actor: "test")
        let store = AlertStore(connection)
        try await store.alertEnqueue(kind: "test", recipients: mail.recipients, subject: "stuck", body: "a sync is stuck\r\n")
        let clock = ManualTimeSource(now: Date())
        let sender = AlertSender(database: database.app, mailer: SMTPAlertMailer(), logger: .init(label: "test"), clock: clock)

        await assertEqual(try await sender.runOnce(connection), 0, "the relay's certificate is not trusted")
        let waiting = try await store.alertList(state: nil, limit: 10)
        XCTAssertEqual(waiting.map(\.state), ["pending"], "a setting to mend is no reason to give the alert up")
        XCTAssertTrue(waiting.first?.lastError?.contains("curl 60") == true, waiting.first?.lastError ?? "")

        try await SettingsEditor.set(key: "mail.ca-file", value: sink.certificate, connection: connection, actor: "operator")
        clock.advance(by: 2)  // past the first try's backoff (at most a second)
        await assertEqual(try await sender.runOnce(connection), 1)
        let sent = try await store.alertList(state: nil, limit: 10)
        XCTAssertEqual(sent.map(\.state), ["sent"])
        XCTAssertEqual(sent.map(\.attempts), [2])
        let delivered = try sink.delivered()
        XCTAssertEqual(delivered.map(\.subject), ["stuck"])
        // A stable Message-ID: a copy sent again after a crash between sending and marking it sent
        // carries the same one, so the receiver can drop it.
        XCTAssertEqual(delivered.map(\.messageID), ["<alert-\(sent[0].id)@example.test>"])
    }

    // The relay down for days: the alert is tried every quarter of an hour at most, well past the
    // 30 tries that used to end it, and given up only once five days old; `ucp alerts retry
    // --failed` puts it back (audited), and it goes out when the relay is up.
    func testAnAlertIsGivenUpOnlyAfterItsAgeLimitAndAlertsRetryRequeuesIt() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let port = try freeLoopbackPort()
        _ = try await storeMailSettings(connection, url: "smtp://127.0.0.1:\(port)")
        let store = AlertStore(connection)
        try await store.alertEnqueue(kind: "test", recipients: ["ops@example.test"], subject: "stuck", body: "a sync is stuck\r\n")
        let clock = ManualTimeSource(now: Date())
        let sender = AlertSender(database: database.app, mailer: SMTPAlertMailer(), logger: .init(label: "test"), clock: clock)
        XCTAssertEqual(sender.configuration.maximumBackoffSeconds, 900)
        for _ in 0..<40 {
            await assertEqual(try await sender.runOnce(connection), 0, "the relay is down")
            clock.advance(by: 901)  // each try is due at most 15 minutes after the one before
        }
        var alerts = try await store.alertList(state: nil, limit: 10)
        XCTAssertEqual(alerts.map(\.state), ["pending"], "40 tries in 10 hours: still waiting for the relay")
        XCTAssertEqual(alerts.map(\.attempts), [40], "every try was due")

        clock.advance(by: 5 * 86400)
        await assertEqual(try await sender.runOnce(connection), 0)
        alerts = try await store.alertList(state: nil, limit: 10)
        XCTAssertEqual(alerts.map(\.state), ["failed"], "given up once five days old")

        let processes = try UCPProcesses(database: database)
        let requeued = try processes.run(["alerts", "retry", "--failed", "--actor", "alice"])
        XCTAssertEqual(requeued.status, 0, requeued.stderr)
        XCTAssertEqual(requeued.stdout, "queued again: \(alerts[0].id)\n")
        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100, action: "alerts.retry")
        XCTAssertEqual(audit.map(\.message), ["Failed alert \(alerts[0].id) queued again for sending"])
        XCTAssertEqual(audit.map(\.actor), ["alice"])
        let none = try processes.run(["alerts", "retry", "--failed"])
        XCTAssertEqual(none.stdout, "no failed alerts\n", "nothing failed is left")

        let sink = try SMTPSink.start(for: self, port: port)
        let later = AlertSender(database: database.app, mailer: SMTPAlertMailer(), logger: .init(label: "test"))
        await assertEqual(try await later.runOnce(connection), 1, "due at once after the retry, for another five days")
        XCTAssertEqual(try sink.delivered().map(\.subject), ["stuck"])
        await assertEqual(try await store.alertList(state: nil, limit: 10).map(\.state), ["sent"])
    }

    // A recipient the relay refuses for good (550 at RCPT TO) fails at once; the others are sent. A
    // relay refusing to relay (550 5.7.1 at RCPT TO) is a configuration to mend: that alert waits,
    // the reason kept. `alerts retry ID` takes only a failed alert, and says which one it is not.
    func testARefusedRecipientFailsAtOnceAndRetryTakesOnlyFailedAlerts() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let sink = try SMTPSink.start(for: self)
        _ = try await storeMailSettings(connection, url: sink.url)
        let store = AlertStore(connection)
        try await store.alertEnqueue(kind: "test", recipients: ["refused@example.test", "relay@example.test", "ops@example.test"],
                                     subject: "stuck", body: "a sync is stuck\r\n")
        let sender = AlertSender(database: database.app, mailer: SMTPAlertMailer(), logger: .init(label: "test"))
        await assertEqual(try await sender.runOnce(connection), 1)
        let alerts = try await store.alertList(state: nil, limit: 10)
        let refused = try XCTUnwrap(alerts.first { $0.recipient == "refused@example.test" })
        let relayDenied = try XCTUnwrap(alerts.first { $0.recipient == "relay@example.test" })
        let sent = try XCTUnwrap(alerts.first { $0.recipient == "ops@example.test" })
        XCTAssertEqual([refused.state, relayDenied.state, sent.state], ["failed", "pending", "sent"])
        XCTAssertEqual([refused.attempts, relayDenied.attempts], [1, 1])
        XCTAssertTrue(refused.lastError?.contains("the server said: '5.1.1 mailbox unavailable'") == true, refused.lastError ?? "")
        XCTAssertTrue(refused.lastError?.contains("SMTP 550") == true, refused.lastError ?? "")
        XCTAssertTrue(relayDenied.lastError?.contains("the relay refuses to relay for this server: '5.7.1 relaying denied'") == true,
                      relayDenied.lastError ?? "")

        let processes = try UCPProcesses(database: database)
        for (arguments, error) in [
            (["alerts", "retry", String(sent.id)], "ucp: id: alert \(sent.id) is sent; only a failed alert can be retried\n"),
            (["alerts", "retry", "999999"], "ucp: id: no alert 999999\n"),
        ] {
            let refusal = try processes.run(arguments)
            XCTAssertEqual(refusal.status, 64, refusal.stderr)
            XCTAssertEqual(refusal.stderr, error)
        }
        let neither = try processes.run(["alerts", "retry"])
        XCTAssertNotEqual(neither.status, 0)
        XCTAssertTrue(neither.stderr.contains("give an alert's id or --failed"), neither.stderr)
        await assertEqual(try await database.store().auditList(since: nil, jobID: nil, limit: 100, action: "alerts.retry").count, 0,
                          "nothing requeued, nothing audited")

        let retried = try processes.run(["alerts", "retry", String(refused.id)])
        XCTAssertEqual(retried.stdout, "queued again: \(refused.id)\n", retried.stderr)
        let requeued = try await store.alertList(state: nil, limit: 10).first { $0.id == refused.id }
        XCTAssertEqual(requeued?.state, "pending")
    }

    // The watchdog with no recipients still runs, and says at start-up that alerts cannot be queued.
    func testAWatchdogWithoutRecipientsSaysSoAtStartUp() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        let pid = try processes.start("watchdog", ["watchdog", "--name", "wd", "--interval", "1s", "--threshold", "2s"])
        await assertTrue(try await eventually(timeout: 15) {
            processes.log("watchdog").contains("no mail recipients are configured: alerts of stuck synchronizations cannot be queued")
        }, processes.log("watchdog"))
        XCTAssertTrue(processes.log("watchdog").contains("watchdog started"), processes.log("watchdog"))
        XCTAssertNil(ChildProcess.poll(pid), "the watchdog runs on: \(processes.log("watchdog"))")
    }
}
