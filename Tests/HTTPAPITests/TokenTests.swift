import Foundation
import HTTPAPI
import Postgres
import Queue
import Secrets
import TestSupport
import XCTest

/// `ucp token …` as operators type it: the secret printed once and kept only as its SHA-256, each
/// change audited, bad input refused with one line and nothing written, a revoked token dead at once.
final class TokenTests: XCTestCase {
    func testCreateListRevokeThroughUCP() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        let owner = Connection(database.owner)
        let tokens = TokenStore(Connection(database.app))
        func writes() async throws -> Int {
            try await owner.query(Statement("", """
                SELECT (SELECT count(*) FROM api_tokens) + (SELECT count(*) FROM audit_log) AS n
                """)).first!.decode("n")
        }

        let made = try processes.run(["token", "create", "--name", "hr-onboarding", "--role", "operator", "--actor", "alice"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let secret = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(secret.hasPrefix("ucp_"), secret)
        XCTAssertEqual(secret.count, 4 + 43, "32 random bytes in base64url")

        // Only the digest is stored: the secret appears in no column of the table.
        let stored: [String] = try await owner.query(Statement("", "SELECT api_tokens::text AS line FROM api_tokens"))
            .map { try $0.decode("line") }
        XCTAssertEqual(stored.count, 1)
        XCTAssertFalse(stored[0].contains(secret))
        XCTAssertTrue(stored[0].contains(BearerToken.digest(secret)))

        let authenticated = try await tokens.tokenAuthenticate(secret: secret)
        XCTAssertEqual(authenticated?.name, "hr-onboarding")
        XCTAssertEqual(authenticated?.role, .`operator`)
        // One character changed (never to itself: a secret ending in "A" once made this the secret).
        let wrongSecret = try await tokens.tokenAuthenticate(secret: secret.dropLast() + (secret.hasSuffix("A") ? "B" : "A"))
        XCTAssertNil(wrongSecret)

        // The listing never shows the secret.
        let listed = try processes.run(["token", "list", "--json"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        XCTAssertTrue(listed.stdout.contains("\"hr-onboarding\""))
        XCTAssertTrue(listed.stdout.contains("\"operator\""))
        XCTAssertFalse(listed.stdout.contains(secret))

        // Bad input: one line naming the field and the rule, status 64, nothing written.
        let before = try await writes()
        for (arguments, line) in [
            (["--name", "ops", "--role", "root"], "ucp: role: must be viewer, operator or admin (got 'root')\n"),
            (["--name", "no spaces", "--role", "viewer"],
             "ucp: name: must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (got 'no spaces')\n"),
            (["--name", "hr-onboarding", "--role", "viewer"],
             "ucp: name: a token named 'hr-onboarding' already exists (revoked tokens keep their names)\n"),
        ] {
            let refused = try processes.run(["token", "create"] + arguments)
            XCTAssertEqual(refused.status, 64, refused.stderr)
            XCTAssertEqual(refused.stderr, line)
            XCTAssertEqual(refused.stdout, "")
        }
        let unknown = try processes.run(["token", "revoke", "nobody"])
        XCTAssertEqual(unknown.status, 64)
        XCTAssertEqual(unknown.stderr, "ucp: name: no token is named 'nobody'\n")
        await assertEqual(try await writes(), before, "refusals wrote nothing")

        let revoked = try processes.run(["token", "revoke", "hr-onboarding", "--actor", "bob"])
        XCTAssertEqual(revoked.status, 0, revoked.stderr)
        let afterRevoke = try await tokens.tokenAuthenticate(secret: secret)
        XCTAssertNil(afterRevoke, "a revoked token no longer authenticates")
        let again = try processes.run(["token", "revoke", "hr-onboarding"])
        XCTAssertEqual(again.stderr, "ucp: name: the token 'hr-onboarding' is already revoked\n")

        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100)
            .filter { $0.action.hasPrefix("api.token.") }
        XCTAssertEqual(audit.map(\.actor), ["alice", "bob"])
        XCTAssertEqual(audit.map(\.message), ["API token 'hr-onboarding' made with role operator", "API token 'hr-onboarding' revoked"])
        XCTAssertFalse(audit.contains { $0.message.contains(secret) })
    }
}
