import ArgumentParser
import Foundation
import Inventory
import Orders
import Postgres
import Queue
import Runtime
import Watchdog

struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings", abstract: "Settings: mail for alerts (set, unset, show, send a test message) and analog_phone_support.",
        subcommands: [Set.self, Unset.self, Show.self, TestMail.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set one setting.",
            discussion: """
                Keys: mail.url (smtp://host[:port] or smtps://host[:port]), mail.starttls (required, opportunistic, none), \
                mail.username, mail.password (read from standard input, never from the command line), mail.from, \
                mail.recipients (comma-separated addresses), mail.verify-tls (on, off), mail.ca-file. An empty value clears a \
                mail setting (back to its default); 'ucp settings unset KEY' does too, and is how mail.password is cleared. \
                Once mail.url is set, the mail settings as a whole must be ones the mailer accepts (a password needs \
                mail.username and TLS: smtps:// or mail.starttls required), else nothing is changed. \
                analog_phone_support (on, off): user synchronization keeps analog phones (off by default, seed). \
                extension_mobility_enterprise (on, off): the Extension Mobility service is enterprise-subscribed, so the \
                domain synchronization counts every device profile as Extension Mobility access (off by default, seed). \
                directory_source (ldap, call_processor): where directory search reads users — the LDAP server (default) or \
                the call processor (UDS); call_processor is refused while a call processor is LDAP-integrated, and queues the \
                directory job that copies the provisioned users to every Unified CM of version 10 or later (seed).
                """)

        @Argument(help: "The key, e.g. mail.url.") var key: String
        @Argument(help: "The value (not for mail.password).") var value: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var value = value
            if DirectorySource.isSettingKey(key) {
                guard let value else { throw InputError(field: DirectorySourceStore.key, problem: "a value is required (ldap or call_processor)") }
                print(try await DirectorySource.set(value, connection: Connection(try await Database.open()), actor: global.actorName))
                return
            }
            if key == "mail.password" {
                guard value == nil else {
                    throw ValidationError("mail.password: give it on standard input, never on the command line (ps shows it)")
                }
                value = try MailPassword.readFromStandardInput()
            }
            try SettingsEditor.check(key: key, value: value)
            try await SettingsEditor.set(key: key, value: value, connection: Connection(try await Database.open()), actor: global.actorName)
            print("\(key) set")
        }
    }

    struct Unset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Clear one mail setting (back to its default), e.g. mail.password; an on/off setting goes off.")

        @Argument(help: "The key, e.g. mail.password.") var key: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            if DirectorySource.isSettingKey(key) {
                throw InputError(field: DirectorySourceStore.key, problem: "cannot be unset: set it to ldap or call_processor")
            }
            try SettingsEditor.check(key: key, value: "")
            try await SettingsEditor.set(key: key, value: "", connection: Connection(try await Database.open()), actor: global.actorName)
            print("\(key) cleared")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the settings (the password never).")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let connection = Connection(try await Database.open())
            let shown = try await SettingsEditor.shown(connection: connection) + DirectorySource.shown(connection: connection)
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
                                      uniqueID: nil, settings: mail)
                print("sent to \(recipient)")
            }
        }
    }
}

struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "The alert outbox.", subcommands: [List.self, Retry.self])

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send failed alerts again: one by its id, or every failed one with --failed (audited).",
            discussion: """
                The sender gives an alert up only when the relay refuses its recipient for good, or when it is still \
                not sent five days after it was queued. Once the cause is mended, this puts it back in the outbox, \
                due now, for another five days.
                """)
        @Argument(help: "The alert's id (ucp alerts list --state failed).") var id: Int64?
        @Flag(help: "Every failed alert.") var failed = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            guard (id != nil) != failed else { throw ValidationError("id: give an alert's id or --failed (not both)") }
            let requeued = try await AlertStore(Connection(try await Database.open())).alertRequeue(id: id, actor: global.actorName)
            print(requeued.isEmpty ? "no failed alerts" : "queued again: \(requeued.map(String.init).joined(separator: ", "))")
        }
    }

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
