import Foundation
import Postgres
import TestSupport
import XCTest

/// Text handed over on standard input or in a file — a password, granular text — must be UTF-8:
/// bytes that are not are refused with one line naming the field, where they came from and the rule
/// (never the text), exit 64 and nothing written, rather than silently repaired to U+FFFD.
final class InvalidTextInputTests: XCTestCase {
    func testPasswordsAndGranularTextThatAreNotUTF8AreRefused() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        let folder = NSTemporaryDirectory() + "ucp-utf8-\(database.name)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let keyFile = folder + "/key"
        let generated = try processes.run(["secret-key", "generate", "--file", keyFile])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        let environment = processes.environment.merging(["UCP_SECRET_KEY_FILE": keyFile]) { $1 }

        // A byte no UTF-8 has (0xFF) and a sequence cut short (0xC3), inside a password's line...
        let password = folder + "/password"
        try Data(Array("Xq7z".utf8) + [0xFF, 0xC3] + Array("Vk9m\n".utf8)).write(to: URL(fileURLWithPath: password))
        // ...and a Latin-1 'é' in granular text.
        let granular = folder + "/granular"
        try Data(Array("cp: CUCM-A\nad: Caf".utf8) + [0xE9] + Array("\n".utf8)).write(to: URL(fileURLWithPath: granular))
        func written() async throws -> String {
            try await Connection(database.owner).query(Statement("", """
                SELECT concat_ws(' ', (SELECT count(*) FROM devices), (SELECT count(*) FROM schedules),
                                 (SELECT count(*) FROM audit_log), (SELECT string_agg(value::text, ',') FROM settings)) AS t
                """)).first!.decode("t")
        }
        let before = try await written()

        let rule = "must hold UTF-8 text (it holds bytes that are not)"
        let addDevice = ["device", "add", "--name", "cucm1", "--kind", "cucm", "--address", "cucm1.lab.example", "--user", "axl"]
        let addSchedule = ["schedule", "add", "--name", "Nightly", "--every", "1d"]
        let cases: [(arguments: [String], standardInput: String?, expected: String)] = [
            (addDevice + ["--password-file", password], nil, "password-file: '\(password)' \(rule)"),
            (addDevice + ["--password-stdin"], password, "password: standard input \(rule)"),
            (["settings", "set", "mail.password"], password, "mail.password: standard input \(rule)"),
            (addSchedule + ["--granular", granular], nil, "granular: '\(granular)' \(rule)"),
            (addSchedule + ["--granular", "-"], granular, "granular: standard input \(rule)"),
        ]
        for (arguments, standardInput, expected) in cases {
            let result = try CommandResult.run(
                ["/bin/sh", "-c", "exec \"$0\" \"$@\" <\"$INPUT\"", PackagePaths.ucp] + arguments,
                environment: environment.merging(["INPUT": standardInput ?? "/dev/null"]) { $1 })
            XCTAssertEqual(result.status, 64, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr, "ucp: \(expected)\n", "\(arguments)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
            XCTAssertFalse(result.stderr.contains("Xq7z") || result.stderr.contains("Vk9m"), "the password is never printed")
        }
        await assertEqual(try await written(), before, "refused text wrote nothing")

        // Valid UTF-8 beyond ASCII is taken as it is: only what is not UTF-8 is refused.
        try Data("Xq7z\u{FF}Vk9m\n".utf8).write(to: URL(fileURLWithPath: password))
        let added = try processes.run(addDevice + ["--password-file", password], environment: ["UCP_SECRET_KEY_FILE": keyFile])
        XCTAssertEqual(added.status, 0, added.stderr)
    }
}
