import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime
import TestSupport
import Watchdog
import XCTest

final class WatchdogTests: XCTestCase {
    // A hanging sync is stopped once, with one audit line and one email per recipient, even with
    // two watchdogs; the sync queued behind it then starts.
    func testTwoWatchdogsStopAStuckSyncOnceAndMailEachRecipientOnce() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let sink = try SMTPSink.start(for: self)
        _ = try await storeMailSettings(connection, url: sink.url)
        let store = database.store()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("worker", ["worker", "--name", "w", "--stand-in-sync", "cucm1=hang",
                                       "--stand-in-sync", "Test-Dom=seconds:0.5"])
        let stuck = try await store.jobEnqueue(.init(InfrastructureSync.self, target: "cucm1", actor: "t")).id
        let behind = try await store.jobEnqueue(.init(DomainSync.self, target: "Test-Dom", actor: "t")).id
        await assertTrue(try await eventually(timeout: 10) { try await store.jobGet(id: stuck)?.state == .running })
        try processes.start("watchdog1", ["watchdog", "--name", "wd1", "--interval", "1s", "--threshold", "2s"])
        try processes.start("watchdog2", ["watchdog", "--name", "wd2", "--interval", "1s", "--threshold", "2s"])
        await assertTrue(try await eventually(timeout: 15) { try await store.jobGet(id: stuck)?.state == .failed })
        await assertTrue(try await eventually(timeout: 15) { try await store.jobGet(id: behind)?.state == .succeeded },
                         "the sync queued behind the stuck one starts")
        // Both watchdogs look again, at once and an hour later: there is nothing more to stop.
        let later = ManualTimeSource(now: Date().addingTimeInterval(3600))
        let lookAgain = ["wd1", "wd2"].map { name in
            var configuration = WatchdogConfiguration(name: name)
            configuration.stuckThresholdSeconds = 2
            return Watchdog(configuration: configuration, database: database.app, logger: .init(label: "test"), clock: later)
        }
        async let again1 = lookAgain[0].runOnce(Connection(database.app))
        async let again2 = lookAgain[1].runOnce(Connection(database.app))
        let (stoppedAgain1, stoppedAgain2) = try await (again1, again2)
        XCTAssertEqual(stoppedAgain1 + stoppedAgain2, [])

        let job = try await store.jobGet(id: stuck)
        XCTAssertEqual(job?.error, "Automatic synchronization status check Failed")
        let audit = try await store.auditList(since: nil, jobID: stuck, limit: 100).filter { $0.action == "sync.watchdog" }
        XCTAssertEqual(audit.map(\.message), ["Automatic synchronization status check Failed"])
        XCTAssertTrue(["wd1", "wd2"].contains(audit.first?.actor ?? ""))
        await assertFalse(try await store.maintenanceState().active)

        await assertTrue(try await eventually(timeout: 15) { try sink.delivered().count >= 2 })
        await assertTrue(try await eventually(timeout: 15) {
            try await AlertStore(connection).alertList(state: "sent", limit: 100).count == 2
        })
        // A sender looks again, past the sending lease: nothing goes twice.
        let laterSender = AlertSender(database: database.app, mailer: SMTPAlertMailer(), logger: .init(label: "test"),
                                      clock: later)
        await assertEqual(try await laterSender.runOnce(connection), 0)
        let delivered = try sink.delivered()
        XCTAssertEqual(delivered.flatMap(\.envelopeTo).sorted(), ["noc@example.test", "ops@example.test"])
        for message in delivered {
            XCTAssertEqual(message.subject, "UCProvision: sync.infra of cucm1 stopped (Automatic synchronization status check Failed)")
            XCTAssertTrue(message.body.contains("Target: cucm1"), message.body)
            XCTAssertTrue(message.body.contains("Last progress message: reading cucm1"), message.body)
        }
        let alerts = try await AlertStore(connection).alertList(state: nil, limit: 100)
        XCTAssertEqual(alerts.map(\.recipient).sorted(), ["noc@example.test", "ops@example.test"])
        XCTAssertEqual(alerts.map(\.state), ["sent", "sent"])
        XCTAssertTrue(alerts.allSatisfy { $0.jobID == stuck && $0.kind == "sync_stuck" })
        let body: String = try await Connection(database.owner).query(
            Statement("", "SELECT body FROM alerts WHERE recipient = $1"), ["ops@example.test"]).first!.decode("body")
        for field in ["Automatic synchronization status check Failed", "Synchronization: sync.infra (job \(stuck))",
                      "Target: cucm1", "Started: ", "Last progress: ", "Last progress message: reading cucm1"] {
            XCTAssertTrue(body.contains(field), "alert body lacks '\(field)': \(body)")
        }
    }

    func testARunningSyncThatProgressesIsLeftAlone() async throws {
        let database = try await TestServer.freshDatabase()
        let store = database.store()
        _ = try await store.jobEnqueue(.init(kind: .sync, type: "sync.ldap", target: "d", actor: "t"))
        let clock = ManualTimeSource(now: Date())  // after the enqueue: the sync is due at its time
        let sync = try await store.jobClaim(worker: "w", slots: 1, leaseSeconds: 30, now: clock.now)[0]
        // The seed's hour: a sync that reports progress every 40 minutes runs for more than an hour.
        let watchdog = Watchdog(configuration: WatchdogConfiguration(name: "wd"), database: database.app,
                                logger: .init(label: "test"), clock: clock)
        XCTAssertEqual(watchdog.configuration.stuckThresholdSeconds, 3600)
        let connection = Connection(database.app)
        for step in 1...4 {
            clock.advance(by: 2400)
            _ = try await store.jobProgress(.init(id: sync.id, attempt: sync.attempt), done: Int64(step), total: 10,
                                            message: "page \(step)", leaseSeconds: 30, now: clock.now)
            await assertEqual(try await watchdog.runOnce(connection), [])
        }
        clock.advance(by: 3599)
        await assertEqual(try await watchdog.runOnce(connection), [], "not stuck before the threshold")
        clock.advance(by: 2)
        await assertEqual(try await watchdog.runOnce(connection), [sync.id], "stuck once progress stands still")
    }
}

final class AlertOutboxTests: XCTestCase {
    // A claim takes a batch under one lease; each send here takes 100 s of a 120 s lease, so the
    // batch's second message starts after the claim's lease ran out. A second sender looking then
    // must find it still taken: every recipient gets one message (before, the second sender sent
    // it again beside the first).
    func testAMessageWhoseSendStartsAfterTheClaimsLeaseIsSentByOneSender() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let sink = try SMTPSink.start(for: self)
        let mail = try await storeMailSettings(connection, url: sink.url)
        try await AlertStore(connection).alertEnqueue(kind: "test", recipients: mail.recipients, subject: "stuck", body: "a sync is stuck\r\n")
        let clock = ManualTimeSource(now: Date())
        let other = AlertSender(database: database.app, mailer: SMTPAlertMailer(), logger: .init(label: "other"), clock: clock)
        let otherSent = SequentialBox(-1)
        let slow = SlowMailer { call in
            clock.advance(by: 50)
            if call == 2 { otherSent.value = try await other.runOnce(Connection(database.app)) }  // 150 s after the claim
            clock.advance(by: 50)
        }
        let first = AlertSender(database: database.app, mailer: slow, logger: .init(label: "first"), clock: clock)
        await assertEqual(try await first.runOnce(connection), 2)
        XCTAssertEqual(otherSent.value, 0, "the second message was taken again while the first sender sent it")
        XCTAssertEqual(try sink.delivered().flatMap(\.envelopeTo).sorted(), ["noc@example.test", "ops@example.test"])
        let alerts = try await AlertStore(connection).alertList(state: nil, limit: 10)
        XCTAssertEqual(alerts.map(\.state), ["sent", "sent"])
        XCTAssertEqual(alerts.map(\.attempts), [1, 1])
    }

    // The SMTP server is down when the alert is raised: it is retried, and delivered once the
    // server is up; none is lost, none is sent twice.
    func testAlertWaitsForTheServerAndIsSentOnce() async throws {
        _ = recordedSample("ucp_alerts_pending")  // metrics recorded from here on (swift-metrics bootstrapped)
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let port = try freeLoopbackPort()
        var mail = MailSettings()
        mail.url = "smtp://127.0.0.1:\(port)"
        mail.starttls = "none"
        mail.from = "ucprovision@example.test"
        mail.recipients = ["ops@example.test"]
        try await SettingsStore(connection).settingSet(MailSettings.key, mail, actor: "test")
        try await AlertStore(connection).alertEnqueue(kind: "test", recipients: mail.recipients,
                                                      subject: "stuck", body: "a sync is stuck\r\n")
        var configuration = AlertSenderConfiguration()
        configuration.maximumBackoffSeconds = 0.2
        let clock = ManualTimeSource(now: Date())
        let sender = AlertSender(configuration: configuration, database: database.app, mailer: SMTPAlertMailer(),
                                 logger: .init(label: "test"), clock: clock)
        await assertEqual(try await sender.runOnce(connection), 0, "the server is down")
        let pending = try await AlertStore(connection).alertList(state: nil, limit: 10)
        XCTAssertEqual(pending.map(\.state), ["pending"])
        XCTAssertEqual(pending.first?.attempts, 1)
        XCTAssertTrue(pending.first?.lastError?.contains("127.0.0.1") == true, pending.first?.lastError ?? "")

        await assertEqual(try await sender.runOnce(connection), 0, "not due again before its backoff")
        XCTAssertEqual(recordedSample("ucp_alerts_pending"), 1, "the outbox's gauge")
        let sink = try SMTPSink.start(for: self, port: port)
        // Each look comes after the backoff, on the sender's clock.
        await assertTrue(try await eventually(timeout: 10, interval: 0.3) {
            clock.advance(by: 1)
            return try await sender.runOnce(connection) == 1
        })
        for _ in 0..<3 {
            clock.advance(by: 300)  // past the sending lease, too
            await assertEqual(try await sender.runOnce(connection), 0)
        }
        XCTAssertEqual(try sink.delivered().map(\.subject), ["stuck"])
        XCTAssertEqual(recordedSample("ucp_alerts_pending"), 0, "the outbox's gauge")
        let sent = try await AlertStore(connection).alertList(state: nil, limit: 10)
        XCTAssertEqual(sent.map(\.state), ["sent"])
        XCTAssertEqual(sent.first?.attempts, 2)
    }
}

final class AlertRetryClockTests: XCTestCase {
    // The sender's clock runs a day ahead of the database's. A message it could not send — no mail
    // server configured, then a relay that refuses — is due again after its backoff (about a second
    // for a first attempt) on the database's clock; before, its retry time was the sender's, a day late.
    func testARetryIsTimedByTheDatabasesClockNotTheSenders() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let store = AlertStore(connection)
        let sender = AlertSender(database: database.app, mailer: RefusingMailer(), logger: .init(label: "test"),
                                 clock: SkewedHostClock(offset: 86400))
        try await store.alertEnqueue(kind: "test", recipients: ["ops@example.test"], subject: "unconfigured", body: "no mail server\r\n")
        await assertEqual(try await sender.runOnce(connection), 0, "no mail server configured")
        _ = try await storeMailSettings(connection, url: "smtp://127.0.0.1:9")
        try await store.alertEnqueue(kind: "test", recipients: ["noc@example.test"], subject: "refused", body: "the relay refuses\r\n")
        await assertEqual(try await sender.runOnce(connection), 0, "the relay refused")

        let databaseNow: Date = try await connection.query(Statement("", "SELECT clock_timestamp() AS now")).first!.decode("now")
        let alerts = try await store.alertList(state: nil, limit: 10)
        XCTAssertEqual(alerts.map(\.subject).sorted(), ["refused", "unconfigured"])
        for alert in alerts {
            XCTAssertEqual(alert.state, "pending", alert.subject)
            XCTAssertLessThan(alert.nextAttemptAt, databaseNow.addingTimeInterval(60), "\(alert.subject): due again after its backoff")
        }
    }
}

/// A relay that refuses every message, for now (another try may succeed).
private struct RefusingMailer: AlertMailer {
    func send(to recipient: String, subject: String, body: String, uniqueID: String?, settings: MailSettings) async throws {
        throw AlertDeliveryError("451 try again later", retryable: true)
    }
}

final class MailSettingsCommandTests: XCTestCase {
    // The SMTP password is read from standard input, stored sealed, and never shown.
    func testPasswordIsStoredEncryptedAndNeverShown() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        let keyFile = NSTemporaryDirectory() + "ucp-key-\(database.name)"
        defer { unlink(keyFile) }
        let generated = try processes.run(["secret-key", "generate", "--file", keyFile])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        let password = "pa55-\(UInt32.random(in: 0...UInt32.max))"
        let environment = ["UCP_SECRET_KEY_FILE": keyFile]
        let onCommandLine = try processes.run(["settings", "set", "mail.password", password], environment: environment)
        XCTAssertNotEqual(onCommandLine.status, 0)
        XCTAssertTrue(onCommandLine.stderr.contains("never on the command line"), onCommandLine.stderr)
        let fromStdin = try CommandResult.run(
            ["/bin/sh", "-c", "printf '%s\\n' \"$PW\" | \"$0\" settings set mail.password", PackagePaths.ucp],
            environment: processes.environment.merging(environment.merging(["PW": password]) { $1 }) { $1 })
        XCTAssertEqual(fromStdin.status, 0, fromStdin.stderr)
        for arguments in [["settings", "show"], ["settings", "show", "--json"]] {
            let shown = try processes.run(arguments, environment: environment)
            XCTAssertTrue(shown.stdout.contains("set (encrypted)"), shown.stdout)
            XCTAssertFalse(shown.stdout.contains(password))
        }
        let stored: String = try await Connection(database.owner).query(
            Statement("", "SELECT value::text AS v FROM settings WHERE key = 'mail'")).first!.decode("v")
        XCTAssertFalse(stored.contains(password), "the password is stored sealed")
        XCTAssertTrue(stored.contains("v1:"))
        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100)
        XCTAssertFalse(audit.contains { $0.message.contains(password) })
        let badURL = try processes.run(["settings", "set", "mail.url", "http://x"], environment: environment)
        XCTAssertEqual(badURL.stderr, "ucp: mail.url: must start with smtp:// or smtps://\n")
        // A password in the URL would be shown by `settings show` and the API: refused, not echoed.
        let withPassword = try processes.run(["settings", "set", "mail.url", "smtp://bob:\(password)@mail.example.com"], environment: environment)
        XCTAssertEqual(withPassword.status, 64, withPassword.stderr)
        XCTAssertEqual(withPassword.stderr, "ucp: mail.url: must not hold a user name or password: set username and password instead\n")
        let unstored: String = try await Connection(database.owner).query(
            Statement("", "SELECT value::text AS v FROM settings WHERE key = 'mail'")).first!.decode("v")
        XCTAssertFalse(unstored.contains(password), "nothing written")
    }
}

/// Sends through SMTP after `delay` (given the call's number from 1), which moves the test clock
/// as a slow relay would take time.
private final class SlowMailer: AlertMailer, @unchecked Sendable {
    let delay: (Int) async throws -> Void
    let smtp = SMTPAlertMailer()
    let calls = SequentialBox(0)

    init(delay: @escaping (Int) async throws -> Void) {
        self.delay = delay
    }

    func send(to recipient: String, subject: String, body: String, uniqueID: String?, settings: MailSettings) async throws {
        calls.value += 1
        try await delay(calls.value)
        try await smtp.send(to: recipient, subject: subject, body: body, uniqueID: uniqueID, settings: settings)
    }
}

/// A value the test's one task reads and writes in turn (the sender awaits each send).
private final class SequentialBox<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// Mail settings for the tests' SMTP server at `url` (no STARTTLS), to ops@ and noc@, stored.
func storeMailSettings(_ connection: Connection, url: String) async throws -> MailSettings {
    var mail = MailSettings()
    mail.url = url
    mail.starttls = "none"
    mail.from = "ucprovision@example.test"
    mail.recipients = ["ops@example.test", "noc@example.test"]
    try await SettingsStore(connection).settingSet(MailSettings.key, mail, actor: "test")
    return mail
}
