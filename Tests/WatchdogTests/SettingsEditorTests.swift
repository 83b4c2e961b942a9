import Foundation
import Inventory
import Postgres
import Queue
import Runtime
import TestSupport
import Watchdog
import XCTest

/// The mail settings accept only what the mailer accepts, as a whole, and keep every change.
final class SettingsEditorTests: XCTestCase {
    // Addresses the mailer would refuse at sending time (non-ASCII, `()[]:;,`), a directory as the
    // CA file, a password without a user name or TLS: refused when set, one line naming the
    // setting, nothing written. Before, each was stored and the alerts then failed.
    func testValuesTheMailerRefusesAreRefusedWhenSet() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        var mail = MailSettings()
        mail.url = "smtp://relay.example.test"
        mail.starttls = "required"
        mail.username = "bob"
        mail.sealedPassword = "v1:sealed-elsewhere"
        mail.from = "ucprovision@example.test"
        mail.recipients = ["ops@example.test"]
        try await SettingsStore(connection).settingSet(MailSettings.key, mail, actor: "test")
        let stored = { () async throws -> String in
            try await Connection(database.owner).query(
                Statement("", "SELECT value::text AS v FROM settings WHERE key = 'mail'")).first!.decode("v")
        }
        let before = try await stored()
        let directory = NSTemporaryDirectory()
        let refusals: [(String, String, String)] = [
            ("mail.from", "ops@exämple.test", #"mail.from: "ops@exämple.test" is not an email address (expected name@domain, in ASCII)"#),
            ("mail.from", "o(ps)@example.test", #"mail.from: "o(ps)@example.test" is not an email address (expected name@domain, in ASCII)"#),
            ("mail.recipients", "ops@example.test, noc;it@example.test",
             #"mail.recipients: "noc;it@example.test" is not an email address (expected name@domain, in ASCII)"#),
            ("mail.recipients", "[ops]@example.test",
             #"mail.recipients: "[ops]@example.test" is not an email address (expected name@domain, in ASCII)"#),
            ("mail.ca-file", directory, "mail.ca-file: cannot read '\(directory)' (it must be a readable PEM file)"),
            ("mail.starttls", "none", "mail.password: is sent only over TLS: use smtps:// or starttls required"),
            ("mail.username", "", "mail.username: is required when a password is set"),
        ]
        for (key, value, expected) in refusals {
            do {
                try await SettingsEditor.set(key: key, value: value, connection: connection, actor: "test")
                XCTFail("\(key) = \(value) was stored")
            } catch let error as InputError {
                XCTAssertEqual("\(error)", expected)
            }
        }
        await assertEqual(try await stored(), before, "nothing written")
        await assertEqual(try await database.store().auditList(since: nil, jobID: nil, limit: 100, action: "settings.changed").count, 0)

        // Over implicit TLS the password needs no STARTTLS: the same change is then accepted.
        try await SettingsEditor.set(key: "mail.url", value: "smtps://relay.example.test", connection: connection, actor: "test")
        try await SettingsEditor.set(key: "mail.starttls", value: "none", connection: connection, actor: "test")
        let changed = try await SettingsStore(connection).settingGet(MailSettings.key, as: MailSettings.self)
        XCTAssertEqual(changed?.starttls, "none")
    }

    // Each change reads, changes and writes the mail settings under the row's lock: seven keys set at
    // once, each on its own connection, all stay (before, one could overwrite the others' changes).
    func testChangesAtOnceAreAllKept() async throws {
        let database = try await TestServer.freshDatabase()
        let caFile = NSTemporaryDirectory() + "ucp-ca-\(database.name).pem"
        try "not checked beyond being a readable file\n".write(toFile: caFile, atomically: true, encoding: .utf8)
        defer { unlink(caFile) }
        for round in 1...5 {
            let values = [
                "mail.url": "smtp://relay\(round).example.test:25", "mail.starttls": round % 2 == 0 ? "none" : "opportunistic",
                "mail.username": "bob\(round)", "mail.from": "ucp\(round)@example.test",
                "mail.recipients": "ops\(round)@example.test", "mail.verify-tls": round % 2 == 0 ? "on" : "off",
                "mail.ca-file": caFile,
            ]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (key, value) in values {
                    group.addTask {
                        let connection = Connection(database.app)
                        try await SettingsEditor.set(key: key, value: value, connection: connection, actor: "test")
                        await connection.close()
                    }
                }
                try await group.waitForAll()
            }
            let mail = try await SettingsStore(Connection(database.app)).settingGet(MailSettings.key, as: MailSettings.self)
            XCTAssertEqual(mail?.url, values["mail.url"], "round \(round)")
            XCTAssertEqual(mail?.starttls, values["mail.starttls"], "round \(round)")
            XCTAssertEqual(mail?.username, values["mail.username"], "round \(round)")
            XCTAssertEqual(mail?.from, values["mail.from"], "round \(round)")
            XCTAssertEqual(mail?.recipients, [values["mail.recipients"]!], "round \(round)")
            XCTAssertEqual(mail?.verifyTLS, values["mail.verify-tls"] == "on", "round \(round)")
            XCTAssertEqual(mail?.caFile, caFile, "round \(round)")
        }
    }

    // `ucp settings unset mail.password` clears the password (audited); `set mail.password` still
    // wants one on standard input. The API's empty value clears it too (ServeTests).
    func testThePasswordCanBeCleared() async throws {
        let database = try await TestServer.freshDatabase()
        let keyFile = NSTemporaryDirectory() + "ucp-key-\(database.name)"
        defer { unlink(keyFile) }
        let processes = try UCPProcesses(database: database, environment: ["UCP_SECRET_KEY_FILE": keyFile])
        XCTAssertEqual(try processes.run(["secret-key", "generate", "--file", keyFile]).status, 0)
        for (key, value) in [("mail.url", "smtps://relay.example.test"), ("mail.username", "bob")] {
            let set = try processes.run(["settings", "set", key, value])
            XCTAssertEqual(set.status, 0, set.stderr)
        }
        let password = try CommandResult.run(
            ["/bin/sh", "-c", "printf 'pw\\n' | \"$0\" settings set mail.password", PackagePaths.ucp],
            environment: processes.environment)
        XCTAssertEqual(password.status, 0, password.stderr)
        XCTAssertTrue(try processes.run(["settings", "show"]).stdout.contains("set (encrypted)"))

        let empty = try CommandResult.run(["/bin/sh", "-c", "printf '' | \"$0\" settings set mail.password", PackagePaths.ucp],
                                          environment: processes.environment)
        XCTAssertNotEqual(empty.status, 0, "no password on standard input is not taken as clearing it")
        let cleared = try processes.run(["settings", "unset", "mail.password", "--actor", "alice"])
        XCTAssertEqual(cleared.status, 0, cleared.stderr)
        XCTAssertEqual(cleared.stdout, "mail.password cleared\n")
        let shown = try processes.run(["settings", "show", "--json"])
        XCTAssertTrue(shown.stdout.contains(#""mail.password" : "not set""#) || shown.stdout.contains(#""mail.password":"not set""#),
                      shown.stdout)
        let mail = try await SettingsStore(Connection(database.app)).settingGet(MailSettings.key, as: MailSettings.self)
        XCTAssertNil(mail?.sealedPassword)
        XCTAssertEqual(mail?.username, "bob")
        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100, action: "settings.changed")
        XCTAssertTrue(audit.contains { $0.message == "Setting mail.password cleared" && $0.actor == "alice" },
                      audit.map(\.message).joined(separator: "; "))
        let help = try processes.run(["settings", "set", "--help"]).stdout
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssertTrue(help.contains("is how mail.password is cleared"), help)
    }
}
