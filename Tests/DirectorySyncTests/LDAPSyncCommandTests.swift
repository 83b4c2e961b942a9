import DirectoryFixtures
import Foundation
import Postgres
import TestSupport
import XCTest

/// The LDAP synchronization as operators run it: a directory device and a domain added with `ucp`,
/// `ucp submit sync ldap` run by a real worker, and what `ucp users` and `ucp domain log` show.
final class LDAPSyncCommandTests: XCTestCase {
    func testSyncThroughAWorkerWithTheGuardDryRunAndAllowDeletes() async throws {
        let slapd = try SlapdServer(users: generatedUsers(1...60))
        defer { slapd.destroy() }
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        let keyFile = NSTemporaryDirectory() + "ucp-key-\(database.name)"
        let passwordFile = NSTemporaryDirectory() + "ucp-ldap-pw-\(database.name)"
        defer { unlink(keyFile); unlink(passwordFile) }
        try DirectoryFixture.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let environment = ["UCP_SECRET_KEY_FILE": keyFile]
        func ucp(_ arguments: String...) throws -> CommandResult { try processes.run(arguments, environment: environment) }

        XCTAssertEqual(try ucp("secret-key", "generate", "--file", keyFile).status, 0)
        let device = try ucp("device", "add", "--name", "corp-ad", "--kind", "ldap", "--server-type", "ad", "--address", "127.0.0.1",
                             "--port", String(slapd.port), "--user", DirectoryFixture.syncDN, "--password-file", passwordFile)
        XCTAssertEqual(device.status, 0, device.stderr)
        let domain = try ucp("domain", "add", "--name", "Sales", "--directory", "corp-ad", "--search-base", DirectoryFixture.peopleBase,
                             "--stale-users", "delete-user")
        XCTAssertEqual(domain.status, 0, domain.stderr)
        try processes.start("worker", ["worker", "--name", "w1"], environment: environment)

        // Test connection: bind, the root DSE, the domain's search base.
        let tested = try ucp("device", "test", "corp-ad", "--wait")
        XCTAssertEqual(tested.status, 0, tested.stdout + tested.stderr)
        let shownDevice = try ucp("device", "show", "corp-ad", "--json")
        XCTAssertTrue(shownDevice.stdout.contains("search base '\(DirectoryFixture.peopleBase)' readable"), shownDevice.stdout)
        try await Connection(database.owner).query(Statement("", "UPDATE domains SET search_base = 'ou=Gone,dc=example,dc=com'"))
        let missingBase = try ucp("device", "test", "corp-ad", "--wait")
        XCTAssertEqual(missingBase.status, 1)
        XCTAssertTrue((missingBase.stdout + missingBase.stderr).contains("does not exist"), missingBase.stdout + missingBase.stderr)
        try await Connection(database.owner).query(Statement("", "UPDATE domains SET search_base = $1"), [DirectoryFixture.peopleBase])

        // The first sync creates the 54 enabled users.
        let first = try ucp("submit", "sync", "ldap", "--domain", "Sales", "--wait")
        XCTAssertEqual(first.status, 0, first.stderr + processes.log("worker"))
        let listed = try ucp("users", "list", "--domain", "Sales", "--json")
        let users = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(users.count, 54)
        let shown = try ucp("users", "show", "user000007", "--json")
        let user = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(user["first_name"] as? String, DirectoryFixture.user(7).givenName)
        XCTAssertEqual(user["source"] as? String, "ldap")
        XCTAssertEqual(user["domain"] as? String, "Sales")
        let table = try ucp("users", "list", "--domain", "Sales")
        XCTAssertTrue(table.stdout.contains("user000007"), table.stdout)
        XCTAssertEqual(try ucp("users", "show", "nobody").status, 64)

        let log = try ucp("domain", "log", "Sales", "--kind", "ldap")
        XCTAssertEqual(log.status, 0, log.stderr)
        XCTAssertTrue(log.stdout.contains("54 users created"), log.stdout)

        // 60% of the users leave the directory: the guard holds, says why, writes the audit line.
        try slapd.reload(users: generatedUsers(37...60))
        let held = try ucp("submit", "sync", "ldap", "--domain", "Sales", "--wait")
        XCTAssertEqual(held.status, 1)
        XCTAssertTrue(held.stderr.contains("Deletion guard"), held.stderr)
        XCTAssertTrue(held.stderr.contains("--allow-deletes 33"), held.stderr)
        let audit = try ucp("audit", "--json")
        XCTAssertTrue(audit.stdout.contains("ldap_sync.deletion_guard"), audit.stdout)
        XCTAssertTrue(try ucp("domain", "log", "Sales").stdout.contains("Deletion guard"))
        await assertEqual(try await Self.count(database, "SELECT count(*)::bigint AS n FROM users"), 54)

        // The same sync again, no flag: the refused run was not the baseline, so it is refused again.
        let heldAgain = try ucp("submit", "sync", "ldap", "--domain", "Sales", "--wait")
        XCTAssertEqual(heldAgain.status, 1)
        XCTAssertTrue(heldAgain.stderr.contains("Deletion guard: this synchronization would delete 33 of the domain's 54 directory users (61%); "
                                                + "the directory returned 21 users, far fewer than the 54 of the last accepted synchronization"),
                      heldAgain.stderr)
        XCTAssertTrue(heldAgain.stderr.contains("--allow-deletes 33"), heldAgain.stderr)
        await assertEqual(try await Self.count(database, "SELECT count(*)::bigint AS n FROM users"), 54)

        // A dry run shows what the allowed run would do, and does nothing.
        let dry = try ucp("submit", "sync", "ldap", "--domain", "Sales", "--dry-run", "--allow-deletes", "33")
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stdout.contains("Would delete 33, first: user000001, user000002"), dry.stdout)
        await assertEqual(try await Self.count(database, "SELECT count(*)::bigint AS n FROM users"), 54)

        // Allowed once: the deletions go through.
        let allowed = try ucp("submit", "sync", "ldap", "--domain", "Sales", "--allow-deletes", "33", "--wait")
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        await assertEqual(try await Self.count(database, "SELECT count(*)::bigint AS n FROM users"), 21)

        // The production command carries no stand-in knob (stand-ins are a worker's hidden flag now).
        let standIn = try ucp("submit", "sync", "ldap", "--domain", "Sales", "--seconds", "0.2", "--wait")
        XCTAssertEqual(standIn.status, 64, standIn.stderr)

        // Bad input: one line, nothing queued.
        let bad = try ucp("submit", "sync", "ldap", "--domain", "Sales", "--allow-deletes", "0")
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("allow-deletes:"), bad.stderr)
        let wrongKind = try ucp("submit", "sync", "domain", "--domain", "Sales", "--dry-run")
        XCTAssertEqual(wrongKind.status, 64)
    }

    static func count(_ database: TestDatabase, _ sql: String) async throws -> Int64 {
        try await Connection(database.owner).query(Statement("", sql)).first!.decode("n")
    }
}
