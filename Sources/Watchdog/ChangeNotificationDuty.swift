import Foundation
import Inventory
import Postgres
import Queue
import Runtime

/// The coordinator's change-notification duty (issue 13): queues a poll of every Unified CM whose
/// change notification is on and due (one statement, at most one poll per device queued or running),
/// and raises an alert through the outbox when a device's backlog nears its change cache's size or
/// no poll has succeeded for 3 intervals — the signs that changes may soon be evicted unread.
/// Leader only; safe with two leaders (the enqueue adds none beside a pending poll, and an alert's
/// episode is marked in the transaction that queues it).
public struct ChangeNotificationDuty: CoordinatorDuty {
    public let name = "change notification"
    public let intervalSeconds: Double

    public init(intervalSeconds: Double = 1) {
        self.intervalSeconds = intervalSeconds
    }

    static let alertInsert = Statement("cn_alert_insert", """
        INSERT INTO alerts (kind, recipient, subject, body) SELECT $1, recipient, $3, $4 FROM unnest($2::text[]) AS recipient
        """)

    public func runOnce(_ store: QueueStore, actor: String, clock: any TimeSource) async throws {
        _ = try await ChangeNotificationStore(store.connection).cnPollsEnqueue(actor: actor, now: clock.sqlNow)
        try await raiseAlerts(store.connection, actor: actor, now: clock.sqlNow)
    }

    /// Queues one message per recipient for each device that needs one, and audits it; returns the devices.
    @discardableResult
    public func raiseAlerts(_ connection: Connection, actor: String, now: Date?) async throws -> [ChangeNotificationAlert] {
        let recipients = try await SettingsStore(connection).settingGet(MailSettings.key, as: MailSettings.self)?.recipients ?? []
        return try await connection.transaction { session in
            let alerts = try ChangeNotificationStore.InTransaction(session).cnAlertsDue(now: now)
            for alert in alerts {
                var reasons: [String] = []
                if alert.backlog {
                    reasons.append("backlog of \(alert.backlogCount ?? 0) changes nears the device's change cache of \(alert.cacheSize): changes past it are lost and force a full synchronization")
                }
                if alert.overdue {
                    let since = alert.lastSuccessAt.map { "since \(PostgresTimestamp.format($0))" } ?? "yet"
                    reasons.append("no successful poll \(since), more than 3 intervals of \(alert.intervalSeconds) s (last outcome: \(alert.lastOutcome ?? "none"))")
                }
                let subject = "UCProvision: change notification of \(alert.device) needs attention"
                let body = "Change notification of \(alert.device):\r\n\r\n" + reasons.map { "- \($0)\r\n" }.joined()
                if !recipients.isEmpty {
                    try session.query(Self.alertInsert, ["change_notification", PostgresTextArray(recipients), subject, body])
                }
                try QueueStore.InTransaction(session).auditAppend(
                    actor: actor, action: "cn.alert", target: alert.device,
                    message: "Change notification of '\(alert.device)': " + reasons.joined(separator: "; "))
            }
            return alerts
        }
    }
}
