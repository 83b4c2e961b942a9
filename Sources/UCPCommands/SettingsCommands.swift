import ArgumentParser
import Foundation
import Inventory
import Postgres
import Queue
import Sync
import Watchdog

struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings", abstract: "Settings: mail for alerts (set, show, send a test message) and analog_phone_support.",
        subcommands: [Set.self, Show.self, TestMail.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set one setting.",
            discussion: """
                Keys: mail.url (smtp://host[:port] or smtps://host[:port]), mail.starttls (required, opportunistic, none), \
                mail.username, mail.password (read from standard input, never from the command line), mail.from, \
                mail.recipients (comma-separated addresses), mail.verify-tls (on, off), mail.ca-file. An empty value clears it. \
                analog_phone_support (on, off): user synchronization keeps analog phones (off by default, seed). \
                extension_mobility_enterprise (on, off): the Extension Mobility service is enterprise-subscribed, so the \
                domain synchronization counts every device profile as Extension Mobility access (off by default, seed).
                """)

        @Argument(help: "The key, e.g. mail.url.") var key: String
        @Argument(help: "The value (not for mail.password).") var value: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let database = try await Database.open()
            let settings = SettingsStore(Connection(database))
            if [DeviceSync.analogPhoneSetting, DomainSynchronization.extensionMobilityEnterpriseSetting].contains(key) {
                guard let value, let on = ["on": true, "off": false, "": false][value] else {
                    throw ValidationError("\(key): must be on or off")
                }
                try await settings.settingSet(key, on, actor: global.actorName)
                try await QueueStore(Connection(database)).auditAppend(
                    actor: global.actorName, action: "settings.changed", message: "Setting \(key) changed to \(on ? "on" : "off")")
                print("\(key) set")
                return
            }
            var mail = try await settings.settingGet(MailSettings.key, as: MailSettings.self) ?? MailSettings()
            if key == "mail.password" {
                guard value == nil else {
                    throw ValidationError("mail.password: give it on standard input, never on the command line (ps shows it)")
                }
                mail.sealedPassword = try MailPassword.seal(try MailPassword.readFromStandardInput())
            } else {
                guard let value else { throw ValidationError("\(key): a value is required") }
                try MailSettingsEditor.apply(key: key, value: value, to: &mail)
            }
            try await settings.settingSet(MailSettings.key, mail, actor: global.actorName)
            try await QueueStore(Connection(database)).auditAppend(
                actor: global.actorName, action: "settings.changed", message: "Setting \(key) changed")
            print("\(key) set")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the settings (the password never).")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let settings = SettingsStore(Connection(try await Database.open()))
            let mail = try await settings.settingGet(MailSettings.key, as: MailSettings.self) ?? MailSettings()
            let shown: [(String, Any)] = [
                ("mail.url", mail.url ?? NSNull()), ("mail.starttls", mail.starttls ?? "required"),
                ("mail.username", mail.username ?? NSNull()),
                ("mail.password", mail.sealedPassword == nil ? "not set" : "set (encrypted)"),
                ("mail.from", mail.from ?? NSNull()), ("mail.recipients", mail.recipients),
                ("mail.verify-tls", mail.verifyTLS ?? true), ("mail.ca-file", mail.caFile ?? NSNull()),
                (DeviceSync.analogPhoneSetting, try await settings.settingGet(DeviceSync.analogPhoneSetting, as: Bool.self) ?? false),
                (DomainSynchronization.extensionMobilityEnterpriseSetting,
                 try await settings.settingGet(DomainSynchronization.extensionMobilityEnterpriseSetting, as: Bool.self) ?? false),
            ]
            if json {
                print(try Output.json(Dictionary(uniqueKeysWithValues: shown)))
                return
            }
            for (key, value) in shown {
                let text: String
                switch value {
                case is NSNull: text = "-"
                case let list as [String]: text = list.isEmpty ? "-" : list.joined(separator: ", ")
                case let flag as Bool: text = flag ? "on" : "off"
                default: text = "\(value)"
                }
                print(pad(key, 18) + text)
            }
        }
    }

    struct TestMail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test-mail", abstract: "Send a test message to the recipients now, through the configured server.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let settings = SettingsStore(Connection(try await Database.open()))
            guard let mail = try await settings.settingGet(MailSettings.key, as: MailSettings.self), mail.url != nil,
                  !mail.recipients.isEmpty
            else {
                throw ValidationError("mail.url and mail.recipients: set them first (ucp settings set mail.url smtp://…)")
            }
            let mailer = SMTPAlertMailer()
            for recipient in mail.recipients {
                try await mailer.send(to: recipient, subject: "UCProvision test message",
                                      body: "This is a test message from UCProvision, sent by \(global.actorName).\r\n",
                                      settings: mail)
                print("sent to \(recipient)")
            }
        }
    }
}

enum MailSettingsEditor {
    static func apply(key: String, value: String, to mail: inout MailSettings) throws {
        let cleared = value.isEmpty
        switch key {
        case "mail.url":
            guard cleared || value.hasPrefix("smtp://") || value.hasPrefix("smtps://"),
                  cleared || URLComponents(string: value)?.host?.isEmpty == false
            else { throw ValidationError("mail.url: must be smtp://host[:port] or smtps://host[:port] (got '\(value)')") }
            mail.url = cleared ? nil : value
        case "mail.starttls":
            guard ["required", "opportunistic", "none"].contains(value) else {
                throw ValidationError("mail.starttls: must be required, opportunistic or none (got '\(value)')")
            }
            mail.starttls = value
        case "mail.username":
            mail.username = cleared ? nil : value
        case "mail.from":
            guard cleared || isAddress(value) else { throw ValidationError("mail.from: '\(value)' is not a mail address") }
            mail.from = cleared ? nil : value
        case "mail.recipients":
            let addresses = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if let bad = addresses.first(where: { !isAddress($0) }) {
                throw ValidationError("mail.recipients: '\(bad)' is not a mail address")
            }
            mail.recipients = addresses
        case "mail.verify-tls":
            guard ["on", "off"].contains(value) else { throw ValidationError("mail.verify-tls: must be on or off (got '\(value)')") }
            mail.verifyTLS = value == "on"
        case "mail.ca-file":
            guard cleared || FileManager.default.isReadableFile(atPath: value) else {
                throw ValidationError("mail.ca-file: cannot read '\(value)'")
            }
            mail.caFile = cleared ? nil : value
        default:
            throw ValidationError("key: unknown setting '\(key)' (mail.url, mail.starttls, mail.username, mail.password, mail.from, mail.recipients, mail.verify-tls, mail.ca-file, analog_phone_support, extension_mobility_enterprise)")
        }
    }

    /// A plain `local@domain` address: no spaces, no angle brackets, no line breaks.
    static func isAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !text.contains(where: { $0.isWhitespace || "<>\"".contains($0) })
    }
}

struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "The alert outbox.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List alerts, newest first: pending, sending, sent, failed.")
        @Option(help: "Only alerts in this state.") var state: String?
        @Option(help: "At most this many (1 to 10000).") var limit: Int = 50
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            if let state, !["pending", "sending", "sent", "failed"].contains(state) {
                throw ValidationError("state: must be pending, sending, sent or failed (got '\(state)')")
            }
            guard (1...10000).contains(limit) else { throw ValidationError("limit: must be from 1 to 10000") }
            let alerts = try await AlertStore(Connection(try await Database.open())).alertList(state: state, limit: limit)
            if json {
                print(try Output.json(alerts.map { alert -> [String: Any] in
                    ["id": alert.id, "kind": alert.kind, "job_id": alert.jobID.map { $0 as Any } ?? NSNull(),
                     "recipient": alert.recipient, "subject": alert.subject, "state": alert.state,
                     "attempts": alert.attempts, "next_attempt_at": Output.iso(alert.nextAttemptAt),
                     "last_error": alert.lastError.map { $0 as Any } ?? NSNull(), "created_at": Output.iso(alert.createdAt),
                     "sent_at": Output.iso(alert.sentAt)]
                }))
                return
            }
            print(pad("ID", 6) + pad("STATE", 9) + pad("TRIES", 6) + pad("RECIPIENT", 28) + pad("JOB", 7) + "SUBJECT / LAST ERROR")
            for alert in alerts {
                print(pad(String(alert.id), 6) + pad(alert.state, 9) + pad(String(alert.attempts), 6) + pad(alert.recipient, 28)
                      + pad(alert.jobID.map(String.init) ?? "-", 7) + (alert.state == "sent" ? alert.subject : alert.lastError ?? alert.subject))
            }
        }
    }
}
