import Foundation
import Postgres
import Queue
import TestSupport
import XCTest

/// `ucp device …` as operators type it: the password comes from standard input, never argv, and
/// is never shown; bad input is one line on stderr and a non-zero exit.
final class DeviceCommandTests: XCTestCase {
    func testAddListShowRemoveThroughUCP() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        let keyFile = NSTemporaryDirectory() + "ucp-key-\(database.name)"
        defer { unlink(keyFile) }
        let password = "pa55-\(UInt32.random(in: 0...UInt32.max))"
        let addArguments = ["device", "add", "--name", "CUCM pub", "--kind", "cucm", "--address", "cucm1.lab.example",
                            "--backup-address", "10.1.1.2", "--backup-port", "8443", "--user", "axladmin",
                            "--version", "12.5", "--axl-version", "12.0", "--password-stdin"]
        let piped = ["/bin/sh", "-c", "printf '%s\\n' \"$PW\" | \"$0\" \"$@\"", PackagePaths.ucp]

        // No key configured: one line that says how to make one, and nothing written.
        let noKey = try CommandResult.run(piped + addArguments,
                                          environment: processes.environment.merging(["PW": password]) { $1 })
        XCTAssertNotEqual(noKey.status, 0)
        XCTAssertEqual(noKey.stderr.split(separator: "\n").count, 1, noKey.stderr)
        XCTAssertTrue(noKey.stderr.contains("ucp secret-key generate --file"), noKey.stderr)
        XCTAssertTrue(noKey.stderr.contains("UCP_SECRET_KEY_FILE"), noKey.stderr)

        let generated = try processes.run(["secret-key", "generate", "--file", keyFile])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        let environment = ["UCP_SECRET_KEY_FILE": keyFile]
        let added = try CommandResult.run(
            piped + addArguments, environment: processes.environment.merging(environment.merging(["PW": password]) { $1 }) { $1 })
        XCTAssertEqual(added.status, 0, added.stderr)
        XCTAssertTrue(added.stdout.contains("device 'CUCM pub' added"), added.stdout)

        let listed = try processes.run(["device", "list", "--json"], environment: environment)
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let devices = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(devices.count, 1)
        XCTAssertEqual(devices.first?["name"] as? String, "CUCM pub")
        XCTAssertEqual(devices.first?["kind"] as? String, "call_processor")
        XCTAssertEqual(devices.first?["port"] as? Int, 8443)
        XCTAssertEqual(devices.first?["backup_address"] as? String, "10.1.1.2")
        XCTAssertEqual(devices.first?["axl_version"] as? String, "12.0")
        XCTAssertEqual(devices.first?["verify_tls"] as? Bool, true)
        XCTAssertEqual(devices.first?["password"] as? String, "set (encrypted)")
        XCTAssertFalse(listed.stdout.contains(password))
        XCTAssertFalse(listed.stdout.contains("v1:"))

        for arguments in [["device", "show", "CUCM pub"], ["device", "show", "CUCM pub", "--json"], ["device", "list"]] {
            let shown = try processes.run(arguments, environment: environment)
            XCTAssertEqual(shown.status, 0, shown.stderr)
            XCTAssertTrue(shown.stdout.contains("CUCM pub"), shown.stdout)
            XCTAssertFalse(shown.stdout.contains(password), "\(arguments)")
            XCTAssertFalse(shown.stdout.contains("v1:"), "\(arguments)")
            if arguments[1] == "show" { XCTAssertTrue(shown.stdout.contains("set (encrypted)"), shown.stdout) }
        }
        let stored: String = try await Connection(database.owner).query(
            Statement("", "SELECT d::text AS row FROM devices d")).first!.decode("row")
        XCTAssertFalse(stored.contains(password), "stored sealed")

        let before = try await Connection(database.owner).query(
            Statement("", "SELECT (SELECT count(*) FROM devices) + (SELECT count(*) FROM audit_log) AS n")).first!.decode("n", as: Int.self)
        let bad: [([String], String)] = [
            (["device", "edit", "CUCM pub", "--port", "70000"], "ucp: port: must be a whole number from 1 to 65535 (got 70000)\n"),
            (["device", "add", "--name", "x#y", "--kind", "cucm", "--address", "h", "--user", "u", "--password-file", keyFile],
             "ucp: name: 'x#y' may hold only letters, digits, space, '_', '-', '.' and '@' (1 to 100 characters)\n"),
            (["device", "add", "--name", "x", "--kind", "cme", "--address", "h", "--user", "u", "--password-file", keyFile],
             "ucp: kind: must be cucm (Unified CM), unity (Unity Connection), imp (IM and Presence) or ldap (LDAP directory) (got 'cme')\n"),
            (["device", "show", "ghost"], "ucp: device 'ghost': no such device\n"),
            (["device", "remove", "ghost"], "ucp: device 'ghost': no such device\n"),
        ]
        for (arguments, expected) in bad {
            let result = try processes.run(arguments, environment: environment)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertEqual(result.stderr, expected, "\(arguments)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
        }
        // A password on the command line is not an option at all; with no stdin, add refuses to guess.
        let onArgv = try processes.run(["device", "add", "--name", "y", "--kind", "cucm", "--address", "h", "--user", "u",
                                        "--password", password], environment: environment)
        XCTAssertNotEqual(onArgv.status, 0)
        XCTAssertEqual(onArgv.stderr.split(separator: "\n").count, 1, onArgv.stderr)
        let noPassword = try CommandResult.run(
            ["/bin/sh", "-c", "\"$0\" \"$@\" </dev/null", PackagePaths.ucp, "device", "add", "--name", "y", "--kind", "imp",
             "--address", "h", "--user", "u"], environment: processes.environment.merging(environment) { $1 })
        XCTAssertNotEqual(noPassword.status, 0)
        XCTAssertTrue(noPassword.stderr.hasPrefix("ucp: password: required;"), noPassword.stderr)
        XCTAssertEqual(noPassword.stderr.split(separator: "\n").count, 1, noPassword.stderr)
        let after = try await Connection(database.owner).query(
            Statement("", "SELECT (SELECT count(*) FROM devices) + (SELECT count(*) FROM audit_log) AS n")).first!.decode("n", as: Int.self)
        XCTAssertEqual(after, before, "bad input wrote nothing")

        let insecure = try processes.run(["device", "edit", "CUCM pub", "--no-verify-tls"], environment: environment)
        XCTAssertEqual(insecure.status, 0, insecure.stderr)
        XCTAssertEqual(insecure.stdout, "device 'CUCM pub' changed\nwarning: TLS certificate verification is off for 'CUCM pub'\n")
        let removed = try processes.run(["device", "remove", "CUCM pub"], environment: environment)
        XCTAssertEqual(removed.status, 0, removed.stderr)
        XCTAssertEqual(removed.stdout, "device 'CUCM pub' removed\n")
        let empty = try processes.run(["device", "list", "--json"], environment: environment)
        XCTAssertEqual(empty.status, 0, empty.stderr)
        let remaining = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(empty.stdout.utf8)) as? [Any])
        XCTAssertTrue(remaining.isEmpty)

        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100)
            .filter { $0.target == "CUCM pub" }.sorted { $0.id < $1.id }
        XCTAssertEqual(audit.map(\.action), ["device.added", "device.changed", "device.tls_verification_off", "device.removed"])
        XCTAssertFalse(audit.contains { $0.message.contains(password) })
    }

    /// A directory on plain LDAP (the default security) sends its admin password in clear text:
    /// `device add` and the `device edit` that switches to it warn, saying how to switch back, and
    /// audit it; StartTLS does neither.
    func testAClearTextDirectoryIsWarnedAndAudited() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        let keyFile = NSTemporaryDirectory() + "ucp-key-\(database.name)"
        defer { unlink(keyFile) }
        XCTAssertEqual(try processes.run(["secret-key", "generate", "--file", keyFile]).status, 0)
        let passwordFile = NSTemporaryDirectory() + "ucp-pw-\(database.name)"
        defer { unlink(passwordFile) }
        try "dir-secret\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let environment = ["UCP_SECRET_KEY_FILE": keyFile]
        let warning = "warning: directory 'dir' sends its admin password in clear text (security ldap); switch with --security starttls or --security ldaps"

        let added = try processes.run(["device", "add", "--name", "dir", "--kind", "ldap", "--server-type", "openldap",
                                       "--address", "ldap.lab.example", "--user", "CN=admin,DC=lab,DC=com",
                                       "--password-file", passwordFile], environment: environment)
        XCTAssertEqual(added.status, 0, added.stderr)
        XCTAssertEqual(added.stdout, "device 'dir' added (LDAP directory at ldap://ldap.lab.example:389)\n\(warning)\n")
        let secured = try processes.run(["device", "edit", "dir", "--security", "starttls"], environment: environment)
        XCTAssertEqual(secured.status, 0, secured.stderr)
        XCTAssertEqual(secured.stdout, "device 'dir' changed\n")
        let plain = try processes.run(["device", "edit", "dir", "--security", "ldap"], environment: environment)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(plain.stdout, "device 'dir' changed\n\(warning)\n")
        let again = try processes.run(["device", "edit", "dir", "--address", "ldap2.lab.example"], environment: environment)
        XCTAssertEqual(again.stdout, "device 'dir' changed\n", "warned once, when taken on")

        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100)
            .filter { $0.target == "dir" }.sorted { $0.id < $1.id }
        XCTAssertEqual(audit.map(\.action), ["device.added", "device.clear_text_bind", "device.changed", "device.changed",
                                             "device.clear_text_bind", "device.changed"])
        XCTAssertFalse(audit.contains { $0.message.contains("dir-secret") })
    }
}
