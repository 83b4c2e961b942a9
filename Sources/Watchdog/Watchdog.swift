import Foundation
import Inventory
import Logging
import Postgres
import Queue
import Runtime
import ServiceLifecycle
import Transport

public struct WatchdogConfiguration: Sendable {
    public var name: String
    /// How often to look (seed: every hour).
    public var checkIntervalSeconds: Double = 3600
    /// How long a sync's progress may stand still before it counts as stuck (seed: one hour).
    public var stuckThresholdSeconds: Double = 3600

    public init(name: String) {
        self.name = name
    }

    public func validate() throws {
        try Names.validateProcessName(name)
        guard checkIntervalSeconds >= 1 else { throw InputError(field: "interval", problem: "must be at least 1 second") }
        guard stuckThresholdSeconds >= 1 else { throw InputError(field: "threshold", problem: "must be at least 1 second") }
    }
}

/// The stuck-sync watchdog: every interval, each running sync whose progress has not changed for
/// the threshold is stopped, audited (`Automatic synchronization status check Failed`) and
/// reported by mail to the configured recipients. Safe to run twice: the database does each once.
public final class Watchdog: Service, Sendable {
    public let configuration: WatchdogConfiguration
    private let database: ConnectionConfiguration
    private let logger: Logger
    private let clock: any TimeSource

    public init(configuration: WatchdogConfiguration, database: ConnectionConfiguration, logger: Logger,
                clock: any TimeSource = SystemTimeSource()) {
        self.configuration = configuration
        self.database = database
        var logger = logger
        logger[metadataKey: "watchdog"] = "\(configuration.name)"
        self.logger = logger
        self.clock = clock
    }

    public func run() async throws {
        try configuration.validate()
        let connection = Connection(database)
        logger.info("watchdog started", metadata: [
            "interval_s": "\(configuration.checkIntervalSeconds)", "threshold_s": "\(configuration.stuckThresholdSeconds)",
        ])
        // Runs without recipients (the syncs are still stopped and audited), but says so at once.
        do {
            let mail = try await SettingsStore(connection).settingGet(MailSettings.key, as: MailSettings.self)
            if mail?.recipients.isEmpty ?? true { logger.error("\(Self.noRecipients)") }
        } catch {
            logger.warning("cannot read the mail settings at start-up: \(error)")
        }
        let loop = PeriodicLoop(.init(name: "status check", intervalSeconds: configuration.checkIntervalSeconds),
                                clock: clock, logger: logger)
        await loop.run { _ = try await runOnce(connection) }
        await connection.close()
    }

    static let noRecipients = "no mail recipients are configured: alerts of stuck synchronizations cannot be queued (ucp settings set mail.recipients …)"

    /// One status check at the clock's time; returns the ids of the syncs it stopped.
    public func runOnce(_ connection: Connection) async throws -> [Int64] {
        let mail = try await SettingsStore(connection).settingGet(MailSettings.key, as: MailSettings.self)
        let recipients = mail?.recipients ?? []
        let stopped = try await AlertStore(connection).watchdogCheck(
            thresholdSeconds: configuration.stuckThresholdSeconds, actor: configuration.name, recipients: recipients,
            now: clock.sqlNow)
        for id in stopped {
            logger.warning("Automatic synchronization status check Failed: stopped a stuck synchronization",
                           metadata: ["job.id": "\(id)", "recipients": "\(recipients.count)"])
        }
        if !stopped.isEmpty && recipients.isEmpty {
            logger.error("\(Self.noRecipients)", metadata: ["job.ids": "\(stopped.map(String.init).joined(separator: ","))"])
        }
        return stopped
    }
}

/// Where alerts go: kept under the settings key `mail`. The password is sealed (Secrets).
public struct MailSettings: Codable, Sendable, Equatable {
    public static let key = "mail"

    /// `smtp://host[:port]` or `smtps://host[:port]`.
    public var url: String?
    /// For smtp://: `required`, `opportunistic` or `none`.
    public var starttls: String?
    public var username: String?
    /// The password, sealed with the key of `UCP_SECRET_KEY_FILE`; never shown.
    public var sealedPassword: String?
    public var from: String?
    public var recipients: [String] = []
    public var verifyTLS: Bool?
    public var caFile: String?

    public init() {}

    /// The sender when `from` is not set.
    public static let defaultFrom = "ucprovision@localhost"

    /// The server these settings name (`url` must be set), with the opened `password`.
    public func server(password: String?) -> MailServer {
        MailServer(url: url ?? "", startTLS: MailServer.StartTLS(rawValue: starttls ?? "required") ?? .required,
                   username: username, password: password, verifyTLS: verifyTLS ?? true, caFile: caFile)
    }
}
