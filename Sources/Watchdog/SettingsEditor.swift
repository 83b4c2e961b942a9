import Foundation
import Inventory
import Postgres
import Runtime
import Secrets
import Transport

/// `ucp settings set|show` and `PUT /api/v1/settings/{key}`, `GET /api/v1/settings`: one place that
/// checks a setting's value (the same one-line message either way), stores it and audits the change.
public enum SettingsEditor {
    /// The on/off settings.
    public static let switches = [SettingsStore.analogPhoneSupport, SettingsStore.extensionMobilityEnterprise]
    public static let keys = ["mail.url", "mail.starttls", "mail.username", "mail.password", "mail.from", "mail.recipients",
                              "mail.verify-tls", "mail.ca-file"] + switches

    /// The refusals that need neither the database nor the key: the key known, the value of its shape.
    public static func check(key: String, value: String?) throws {
        if switches.contains(key) {
            guard let value, ["on", "off", ""].contains(value) else { throw InputError(field: key, problem: "must be on or off") }
            return
        }
        guard keys.contains(key) else {
            throw InputError(field: "key", problem: "unknown setting '\(key)' (\(keys.joined(separator: ", ")))")
        }
        guard let value else { throw InputError(field: key, problem: "a value is required") }
        // The password's only rule is the mail server's (no control characters), checked by `set` with the others.
        if key == "mail.password" { return }
        var probe = MailSettings()
        try apply(key: key, value: value, to: &probe)
    }

    /// Sets `key` to `value` (for `mail.password`, the password itself, sealed with the key of
    /// `UCP_SECRET_KEY_FILE`); an empty value clears a mail setting (back to its default). The mail
    /// settings that result must be ones the mailer accepts (`checkWhole`), else nothing is written.
    /// Read, change and write hold the row's lock, with the audit line in the same transaction.
    public static func set(key: String, value: String?, connection: Connection, actor: String) async throws {
        try check(key: key, value: value)
        let settings = SettingsStore(connection)
        let value = value ?? ""
        if switches.contains(key) {
            let on = value == "on"
            try await settings.settingSet(key, on, actor: actor, auditMessage: "Setting \(key) changed to \(on ? "on" : "off")")
            return
        }
        // Sealed before the transaction: the key file is read once, and its refusal writes nothing.
        var sealedPassword: String?
        if key == "mail.password", !value.isEmpty {
            do {
                try MailServer.checkPassword(value)
            } catch let error as InputError {
                throw InputError(field: key, problem: error.problem)
            }
            do {
                sealedPassword = try SecretBox(key: try SecretKey.fromEnvironment()).seal(value)
            } catch let error as SecretsError {
                throw InputError(field: key, problem: error.message)
            }
        }
        try await settings.settingUpdate(MailSettings.key, as: MailSettings.self, actor: actor) { stored in
            var mail = stored ?? MailSettings()
            if key == "mail.password" {
                mail.sealedPassword = sealedPassword
            } else {
                try apply(key: key, value: value, to: &mail)
            }
            try checkWhole(mail)
            return (mail, "Setting \(key) \(value.isEmpty ? "cleared" : "changed")")
        }
    }

    /// The mailer's own check of the server the settings name (a password needs a user name and
    /// TLS, the CA file a readable file …), once `mail.url` is set: settings it would refuse at
    /// sending time are refused when they are set, the field named as a setting (`mail.username`).
    static func checkWhole(_ mail: MailSettings) throws {
        guard mail.url != nil else { return }
        do {
            try mail.server(password: mail.sealedPassword == nil ? nil : "sealed").validate()
        } catch let error as InputError {
            throw InputError(field: "mail.\(error.field)", problem: error.problem)
        }
    }

    /// Every setting with its value as shown (the password only as set or not).
    public static func shown(connection: Connection) async throws -> [(String, Any)] {
        let settings = SettingsStore(connection)
        let mail = try await settings.settingGet(MailSettings.key, as: MailSettings.self) ?? MailSettings()
        var shown: [(String, Any)] = [
            ("mail.url", mail.url ?? NSNull()), ("mail.starttls", mail.starttls ?? "required"),
            ("mail.username", mail.username ?? NSNull()),
            ("mail.password", mail.sealedPassword == nil ? "not set" : "set (encrypted)"),
            ("mail.from", mail.from ?? NSNull()), ("mail.recipients", mail.recipients),
            ("mail.verify-tls", mail.verifyTLS ?? true), ("mail.ca-file", mail.caFile ?? NSNull()),
        ]
        for key in switches { shown.append((key, try await settings.settingGet(key, as: Bool.self) ?? false)) }
        return shown
    }

    static func apply(key: String, value: String, to mail: inout MailSettings) throws {
        let cleared = value.isEmpty
        switch key {
        case "mail.url":
            // The mailer's own rule, checked when set: a URL it would refuse at sending time (or one
            // carrying a password, which `settings show`, the API and its errors would then show) is
            // never stored.
            if !cleared {
                do { try MailServer.checkURL(value) } catch let error as InputError { throw InputError(field: "mail.url", problem: error.problem) }
            }
            mail.url = cleared ? nil : value
        case "mail.starttls":
            guard cleared || ["required", "opportunistic", "none"].contains(value) else {
                throw InputError(field: "mail.starttls", problem: "must be required, opportunistic or none (got '\(value)')")
            }
            mail.starttls = cleared ? nil : value
        case "mail.username":
            mail.username = cleared ? nil : value
        case "mail.from":
            if !cleared { try MailMessage.checkAddress(value, field: "mail.from") }
            mail.from = cleared ? nil : value
        case "mail.recipients":
            let addresses = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for address in addresses { try MailMessage.checkAddress(address, field: "mail.recipients") }
            mail.recipients = addresses
        case "mail.verify-tls":
            guard cleared || ["on", "off"].contains(value) else {
                throw InputError(field: "mail.verify-tls", problem: "must be on or off (got '\(value)')")
            }
            mail.verifyTLS = cleared ? nil : value == "on"
        case "mail.ca-file":
            if !cleared { try CAFileRule.check(value, field: "mail.ca-file") }
            mail.caFile = cleared ? nil : value
        default:
            throw InputError(field: "key", problem: "unknown setting '\(key)' (\(keys.joined(separator: ", ")))")
        }
    }
}
