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
        if key == "mail.password" {
            guard !value.isEmpty else { throw InputError(field: key, problem: "expected the password") }
            return
        }
        var probe = MailSettings()
        try apply(key: key, value: value, to: &probe)
    }

    /// Sets `key` to `value` (for `mail.password`, the password itself, sealed with the key of
    /// `UCP_SECRET_KEY_FILE`), with its audit line in the same transaction.
    public static func set(key: String, value: String?, connection: Connection, actor: String) async throws {
        try check(key: key, value: value)
        let settings = SettingsStore(connection)
        if switches.contains(key) {
            let on = value == "on"
            try await settings.settingSet(key, on, actor: actor, auditMessage: "Setting \(key) changed to \(on ? "on" : "off")")
        } else {
            var mail = try await settings.settingGet(MailSettings.key, as: MailSettings.self) ?? MailSettings()
            if key == "mail.password" {
                do {
                    mail.sealedPassword = try SecretBox(key: try SecretKey.fromEnvironment()).seal(value ?? "")
                } catch let error as SecretsError {
                    throw InputError(field: key, problem: error.message)
                }
            } else {
                try apply(key: key, value: value ?? "", to: &mail)
            }
            try await settings.settingSet(MailSettings.key, mail, actor: actor, auditMessage: "Setting \(key) changed")
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
            guard ["required", "opportunistic", "none"].contains(value) else {
                throw InputError(field: "mail.starttls", problem: "must be required, opportunistic or none (got '\(value)')")
            }
            mail.starttls = value
        case "mail.username":
            mail.username = cleared ? nil : value
        case "mail.from":
            guard cleared || isAddress(value) else { throw InputError(field: "mail.from", problem: "'\(value)' is not a mail address") }
            mail.from = cleared ? nil : value
        case "mail.recipients":
            let addresses = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if let bad = addresses.first(where: { !isAddress($0) }) {
                throw InputError(field: "mail.recipients", problem: "'\(bad)' is not a mail address")
            }
            mail.recipients = addresses
        case "mail.verify-tls":
            guard ["on", "off"].contains(value) else { throw InputError(field: "mail.verify-tls", problem: "must be on or off (got '\(value)')") }
            mail.verifyTLS = value == "on"
        case "mail.ca-file":
            guard cleared || FileManager.default.isReadableFile(atPath: value) else {
                throw InputError(field: "mail.ca-file", problem: "cannot read '\(value)'")
            }
            mail.caFile = cleared ? nil : value
        default:
            throw InputError(field: "key", problem: "unknown setting '\(key)' (\(keys.joined(separator: ", ")))")
        }
    }

    /// A plain `local@domain` address: no spaces, no angle brackets, no line breaks.
    public static func isAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !text.contains(where: { $0.isWhitespace || "<>\"".contains($0) })
    }
}
