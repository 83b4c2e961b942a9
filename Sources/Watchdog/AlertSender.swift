import CoreMetrics
import Foundation
import Inventory
import Logging
import Postgres
import Queue
import Runtime
import ServiceLifecycle

/// What the alert sender needs of a mail transport.
public protocol AlertMailer: Sendable {
    /// Sends one message; throws `AlertDeliveryError` saying whether another try may succeed.
    /// `uniqueID`: the unique part of its Message-ID, the same for every try of one alert (nil: a new one).
    func send(to recipient: String, subject: String, body: String, uniqueID: String?, settings: MailSettings) async throws
}

public struct AlertDeliveryError: Error, CustomStringConvertible {
    public var description: String
    /// False only for a failure no later try can mend: the relay refused this recipient for good
    /// (5xx at RCPT TO) or its address is not one. Bad settings, an unreadable key, a refused login,
    /// TLS and any other 5xx are mended by an operator, after which the next try sends.
    public var retryable: Bool

    public init(_ description: String, retryable: Bool) {
        self.description = description
        self.retryable = retryable
    }
}

public struct AlertSenderConfiguration: Sendable {
    public var pollIntervalSeconds: Double = 2
    /// A message not sent this long after it was queued (or requeued by `ucp alerts retry`) is given
    /// up: five days, so a relay down or misconfigured from a Friday evening over a long weekend
    /// (back on Tuesday morning, about 3.6 days) still delivers, with a day to spare for the fix;
    /// past that the news is stale, and `ucp alerts retry --failed` still sends it.
    public var maximumAgeSeconds: Double = 5 * 86400
    /// How long a claimed message stays ours before another sender may take it, counted again when
    /// its send starts: longer than a send may take (the mailer's connect and send timeouts).
    public var leaseSeconds: Double = 120
    /// At most 15 minutes between tries: once an operator mends the settings or the relay, the
    /// waiting alerts go out within a quarter of an hour, without a manual retry.
    public var maximumBackoffSeconds: Double = 900

    public init() {}

    /// 1 s, 2 s, 4 s … with jitter, up to the maximum.
    func retryDelay(afterAttempt attempt: Int) -> Double {
        let ceiling = min(maximumBackoffSeconds, pow(2, Double(max(0, attempt - 1))))
        return Double.random(in: ceiling / 2 ... ceiling)
    }
}

/// Sends the alert outbox in the background: each due message is claimed with a lease, sent, and
/// marked sent; when the server is down it is tried again later, with backoff.
public final class AlertSender: Service, Sendable {
    public let configuration: AlertSenderConfiguration
    private let database: ConnectionConfiguration
    private let mailer: any AlertMailer
    private let logger: Logger
    private let clock: any TimeSource

    public init(configuration: AlertSenderConfiguration = .init(), database: ConnectionConfiguration,
                mailer: any AlertMailer, logger: Logger, clock: any TimeSource = SystemTimeSource()) {
        self.configuration = configuration
        self.database = database
        self.mailer = mailer
        self.logger = logger
        self.clock = clock
    }

    public func run() async throws {
        let connection = Connection(database)
        let loop = PeriodicLoop(.init(name: "alert outbox", intervalSeconds: configuration.pollIntervalSeconds),
                                clock: clock, logger: logger)
        await loop.run { _ = try await runOnce(connection) }
        await connection.close()
    }

    /// Sends what is due at the clock's time; returns how many messages went out.
    public func runOnce(_ connection: Connection) async throws -> Int {
        let store = AlertStore(connection)
        // The gauge of the outbox, `ucp_alerts_pending`: read each round, before anything is sent.
        Gauge(label: "ucp_alerts_pending").record(try await store.alertCountPending())
        let due = try await store.alertClaimDue(limit: 20, leaseSeconds: configuration.leaseSeconds, now: clock.sqlNow)
        guard !due.isEmpty else { return 0 }
        guard let settings = try await SettingsStore(connection).settingGet(MailSettings.key, as: MailSettings.self),
              settings.url != nil
        else {
            for alert in due {
                try await store.alertMarkFailedAttempt(
                    alert, maximumAgeSeconds: configuration.maximumAgeSeconds,
                    retryDelaySeconds: configuration.retryDelay(afterAttempt: alert.attempt), now: clock.sqlNow,
                    permanent: false, error: "no mail server configured (ucp settings set mail.url …)")
            }
            logger.error("\(due.count) alert(s) waiting: no mail server configured (ucp settings set mail.url …)")
            return 0
        }
        var sent = 0
        for alert in due {
            // Each message gets a whole lease from when its own send starts, and is skipped if its
            // lease ran out while the ones before it were sent and another sender took it.
            guard try await store.alertLeaseRenew(alert, leaseSeconds: configuration.leaseSeconds, now: clock.sqlNow) else {
                logger.info("alert \(alert.id) to \(alert.recipient) left to the sender that took it after this one's lease ran out")
                continue
            }
            do {
                try await mailer.send(to: alert.recipient, subject: alert.subject, body: alert.body,
                                      uniqueID: "alert-\(alert.id)", settings: settings)
                try await store.alertMarkSent(alert)
                sent += 1
            } catch {
                let retryable = (error as? AlertDeliveryError)?.retryable ?? true
                try await store.alertMarkFailedAttempt(alert, maximumAgeSeconds: configuration.maximumAgeSeconds,
                                                       retryDelaySeconds: configuration.retryDelay(afterAttempt: alert.attempt),
                                                       now: clock.sqlNow, permanent: !retryable, error: "\(error)")
                logger.warning("alert \(alert.id) to \(alert.recipient) not sent (attempt \(alert.attempt)): \(error)")
            }
        }
        return sent
    }
}
