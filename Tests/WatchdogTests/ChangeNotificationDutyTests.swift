import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime
import TestSupport
import Watchdog
import XCTest

/// The coordinator's change-notification duty: which devices get a poll, and the alerts of a backlog
/// near the change cache or of polls overdue by 3 intervals, through the outbox, once per episode.
final class ChangeNotificationDutyTests: XCTestCase {
    var database: TestDatabase!
    var owner: Connection!

    override func setUp() async throws {
        database = try await TestServer.freshDatabase()
        owner = Connection(database.owner)
    }

    /// A device as the registry and a first sync leave it (tests may write any table).
    func device(_ name: String, kind: String = "call_processor", version: String? = nil, synced: Bool = true) async throws {
        try await owner.query(Statement("", """
            INSERT INTO devices (name, kind, version, address, port, admin_user, first_synced_at)
            VALUES ($1, $2, $3, '127.0.0.1', 8443, 'admin', CASE WHEN $4::boolean THEN now() END)
            """), [name, kind, version, synced])
    }

    func testPollsAreQueuedForSynchronizedUnifiedCMsOfVersion10AndLaterOnePerDevice() async throws {
        try await device("cucm-12", version: "12.5")
        try await device("cucm-any")
        try await device("cucm-9", version: "9.1")
        try await device("cucm-new", synced: false)
        try await device("unity", kind: "message_processor")
        let store = ChangeNotificationStore(Connection(database.app))
        await assertEqual(try await store.cnPollsEnqueue(actor: "coordinator"), ["cucm-12", "cucm-any"])
        await assertEqual(try await store.cnPollsEnqueue(actor: "coordinator"), [], "one poll per device is queued at a time")
        let jobs = try await database.store().jobList(state: .queued, type: ChangeNotificationPoll.jobType, limit: 10)
        XCTAssertEqual(Set(jobs.compactMap(\.target)), ["cucm-12", "cucm-any"])
        XCTAssertTrue(jobs.allSatisfy { $0.kind == .task })
        // Switched on by hand, a 9.x device is refused (the seed: not supported before 10.0); off by hand, none.
        do {
            try await store.cnConfigure(device: "cucm-9", enabled: true, intervalSeconds: nil, actor: "test")
            XCTFail("change notification was enabled on Unified CM 9.1")
        } catch let error as InputError {
            XCTAssertEqual(error.field, "enable")
        }
        try await store.cnConfigure(device: "cucm-any", enabled: false, intervalSeconds: 60, actor: "test")
        await assertEqual(try await store.cnState(device: "cucm-any")?.on, false)
        await assertEqual(try await store.cnState(device: "cucm-any")?.intervalSeconds, 60)
    }

    func testABacklogNearTheCacheAndOverduePollsRaiseOneAlertEach() async throws {
        try await device("cucm")
        var mail = MailSettings()
        mail.recipients = ["ops@example.test", "noc@example.test"]
        try await SettingsStore(Connection(database.app)).settingSet(MailSettings.key, mail, actor: "test")
        try await owner.query(Statement("", """
            INSERT INTO device_change_notification (device, interval_seconds, queue_id, next_start_change_id, baseline_at,
                                                    last_poll_started_at, last_success_at, backlog)
            VALUES ('cucm', 300, 'q1', 100, now() - interval '2 hours', now() - interval '16 minutes',
                    now() - interval '16 minutes', 10)
            """))
        let duty = ChangeNotificationDuty()
        let app = Connection(database.app)
        let first = try await duty.raiseAlerts(app, actor: "coordinator", now: nil)
        XCTAssertEqual(first.map(\.device), ["cucm"])
        XCTAssertEqual(first.first?.overdue, true, "no success for 16 minutes: more than 3 intervals of 5 minutes")
        XCTAssertEqual(first.first?.backlog, false)
        await assertEqual(try await duty.raiseAlerts(app, actor: "coordinator", now: nil).count, 0, "one alert per episode")

        try await owner.query(Statement("", "UPDATE device_change_notification SET backlog = 85000"))
        let second = try await duty.raiseAlerts(app, actor: "coordinator", now: nil)
        XCTAssertEqual(second.first?.backlog, true, "85,000 of a 100,000 cache")
        let alerts = try await AlertStore(app).alertList(state: nil, limit: 10)
        XCTAssertEqual(alerts.count, 4, "two alerts, one message to each of the two recipients")
        XCTAssertTrue(alerts.allSatisfy { $0.kind == "change_notification" && $0.subject.contains("cucm") })
        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100).filter { $0.action == "cn.alert" }
        XCTAssertEqual(audit.count, 2)
        XCTAssertTrue(audit.contains { $0.message.contains("nears the device's change cache") })
        XCTAssertTrue(audit.contains { $0.message.contains("more than 3 intervals") })
    }
}
