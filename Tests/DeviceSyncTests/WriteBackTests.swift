import DirectoryFixtures
import Foundation
import LDAP
@testable import Orders
import Postgres
import Queue
import Secrets
import TestSupport
import XCTest

/// Write primary directory number to LDAP (issue 15 item 5; seed 004 "Write Primary DN to LDAP"):
/// orders through a real worker against `ucp devsim` and a real slapd, and the whole-domain job.
final class WriteBackTests: OrderTestCase {
    var slapd: SlapdServer!
    var passwordFile: String!

    override func tearDown() async throws {
        slapd?.destroy()
        if let passwordFile { unlink(passwordFile) }
        try await super.tearDown()
    }

    static let people = DirectoryFixture.peopleBase
    static let jdoe = FixtureUser(cn: "John Doe", uid: "jdoe", sAMAccountName: "jdoe", givenName: "John", sn: "Doe",
                                  mail: "jdoe@example.com", telephoneNumber: "+1 408 555 0100", userAccountControl: 512)

    /// The order fixtures, plus slapd holding jdoe and user000001-4, the directory "corp-ad" (AD, bound as
    /// the sync account) as domain Cisco's source, and one LDAP synchronization: those four become
    /// directory users (their entries' DNs recorded).
    func prepareDirectory() async throws {
        try await prepare()
        slapd = try SlapdServer(users: [Self.jdoe] + (1...4).map(DirectoryFixture.user))
        passwordFile = folder + "/ldap-password"
        try DirectoryFixture.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        try ucp(["device", "add", "--name", "corp-ad", "--kind", "ldap", "--server-type", "ad", "--address", "127.0.0.1",
                 "--port", String(slapd.port), "--user", DirectoryFixture.syncDN, "--password-file", passwordFile])
        try ucp(["domain", "edit", Self.domain, "--directory", "corp-ad", "--search-base", Self.people])
        try ucp(["submit", "sync", "ldap", "--domain", Self.domain, "--wait"])
        let directoryUsers = try await sql("SELECT user_id FROM users WHERE directory_dn IS NOT NULL ORDER BY user_id")
            .map { try $0.decode("user_id", as: String.self) }
        XCTAssertEqual(directoryUsers, ["jdoe", "user000001", "user000002", "user000003", "user000004"])
    }

    /// One attribute of an entry, read as the directory's superuser.
    func attribute(_ name: String, of user: FixtureUser) async throws -> [String] {
        let configuration = LDAPConfiguration(primary: LDAPEndpoint(url: slapd.url)!, bindDN: DirectoryFixture.rootDN,
                                              password: Secret(DirectoryFixture.password))
        let connection = try await LDAPConnection.connect(configuration)
        let values = try await connection.read(DirectoryFixture.dn(of: user), attributes: [name])?[name] ?? []
        await connection.close()
        return values
    }

    func writeBack(_ id: Int64) async throws -> [String: Any] {
        let shown = try ucp(["order", "show", String(id), "--json"])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        return try XCTUnwrap(object["write_back"] as? [String: Any], shown.stdout)
    }

    /// Submits an add order for `user` (phone `SEP00AA00BB000<number>`, no voicemail), waits, checks it
    /// succeeded whatever its write-back did; returns its id and the write-back's outcome and message.
    func succeededOrder(user: String, number: Int) async throws -> (Int64, (outcome: String?, message: String)) {
        let file = try orderFile("\(number).yaml", user: user, phone: "SEP00AA00BB000\(number)", voicemail: false)
        let id = try orderID(try ucp(["order", "submit", "-f", file, "--wait"]))
        await assertEqual(try await order(id).state, "succeeded")
        let outcome = try await writeBack(id)
        return (id, (outcome["outcome"] as? String, outcome["message"] as? String ?? "\(outcome)"))
    }

    /// The masked number is written to the attribute of the user's entry as the order's last action;
    /// each of the seed's four reasons is recorded on the order (permission: the directory bound as an
    /// account that may only read), and none of them fails the order.
    func testOrdersWriteTheMaskedNumberAndRecordEachReason() async throws {
        try await prepareDirectory()
        let shown = try ucp(["domain", "show", Self.domain])
        XCTAssertTrue(shown.stdout.contains("do not write to LDAP"), "the default: \(shown.stdout)")
        // A bad mask: one line naming the field and the rule, nothing written.
        for (mask, problem) in [("+1408x", "write_back_mask: '+1408x' has a lower-case 'x' (use upper-case X)"),
                                ("1\\+408", "write_back_mask: '1\\+408' has '\\+' at character 2 (+ and \\+ may only begin the mask)")] {
            let bad = try harness.ucp(["domain", "edit", Self.domain, "--write-back-attribute", "ipPhone", "--write-back-mask", mask])
            XCTAssertNotEqual(bad.status, 0)
            XCTAssertEqual(bad.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count, 1, bad.stderr)
            XCTAssertTrue(bad.stderr.contains(problem), bad.stderr)
        }
        XCTAssertTrue(try ucp(["domain", "show", Self.domain]).stdout.contains("do not write to LDAP"), "nothing written")

        // Written: line 4000 through the mask +1408555XXXX.
        try ucp(["domain", "edit", Self.domain, "--write-back-attribute", "ipPhone", "--write-back-mask", "+1408555XXXX"])
        XCTAssertTrue(try ucp(["domain", "show", Self.domain]).stdout.contains("ipPhone, mask +1408555XXXX"))
        let first = try ucp(["order", "submit", "-f", try orderFile(), "--wait"])
        XCTAssertTrue(first.stdout.contains("  write-back: Primary DN written to LDAP: ipPhone = +14085554000"), first.stdout)
        let firstID = try orderID(first)
        await assertEqual(try await order(firstID).state, "succeeded")
        await assertEqual(try await attribute("ipPhone", of: Self.jdoe), ["+14085554000"])
        let written = try await writeBack(firstID)
        XCTAssertEqual(written["outcome"] as? String, "written")
        XCTAssertEqual(written["value"] as? String, "+14085554000")
        let text = try ucp(["order", "show", String(firstID)]).stdout
        XCTAssertTrue(text.contains("write-back: Primary DN written to LDAP: ipPhone = +14085554000 (cn=John Doe,\(Self.people))"), text)

        // "The Domain level LDAP attribute is set to Do not write to LDAP."
        try ucp(["domain", "edit", Self.domain, "--write-back-attribute", "none"])
        let (_, notWritten) = try await succeededOrder(user: "user000001", number: 2)
        XCTAssertEqual(notWritten.outcome, "do_not_write")
        XCTAssertEqual(notWritten.message, "Primary DN not written to LDAP: The Domain level LDAP attribute is set to Do not write to LDAP")

        // "Admin user account entered in "Admin Distinguished Name" does not have permission to perform a write operation."
        try ucp(["domain", "edit", Self.domain, "--write-back-attribute", "telephoneNumber"])
        try ucp(["device", "edit", "corp-ad", "--user", DirectoryFixture.readerDN])
        let user2 = DirectoryFixture.user(2)
        let (_, refused) = try await succeededOrder(user: "user000002", number: 3)
        XCTAssertEqual(refused.outcome, "permission")
        XCTAssertTrue(refused.message.hasPrefix("Primary DN not written to LDAP: Admin user account entered in \"Admin Distinguished Name\" "
                                                + "does not have permission to perform a write operation ("), refused.message)
        await assertEqual(try await attribute("telephoneNumber", of: user2), [user2.telephoneNumber!], "the entry is unchanged")

        // "LDAP server is unreachable or incorrect LDAP credentials": a wrong password, then the server down.
        let unreachableReason = "Primary DN not written to LDAP: LDAP server is unreachable or incorrect LDAP credentials ("
        let wrongPassword = folder + "/wrong-password"
        try "not-the-password".write(toFile: wrongPassword, atomically: true, encoding: .utf8)
        try ucp(["device", "edit", "corp-ad", "--user", DirectoryFixture.syncDN, "--password-file", wrongPassword])
        let (_, credentials) = try await succeededOrder(user: "user000004", number: 5)
        XCTAssertEqual(credentials.outcome, "unreachable")
        XCTAssertTrue(credentials.message.hasPrefix(unreachableReason + "bind to "), credentials.message)
        XCTAssertTrue(credentials.message.contains("Invalid credentials"), credentials.message)
        XCTAssertFalse(credentials.message.contains("not-the-password"), "no secret in the message")
        try ucp(["device", "edit", "corp-ad", "--password-file", passwordFile])
        slapd.slapd.stop()
        let (fourth, unreachable) = try await succeededOrder(user: "user000003", number: 4)
        XCTAssertEqual(unreachable.outcome, "unreachable")
        XCTAssertTrue(unreachable.message.hasPrefix(unreachableReason), unreachable.message)
        try slapd.slapd.start()

        // "User does not have any primary directory number": an order without a line (no such order
        // exists yet; User Services orders will be) — the hook's outcome, recorded on the order.
        // The hook reads the key from this process's environment: set it for this test only, so that the
        // tests after it still start without a key.
        setenv(SecretKey.environmentVariable, harness.keyPath, 1)
        defer { unsetenv(SecretKey.environmentVariable) }
        var lineless = try await order(fourth)
        lineless.line = nil
        let database = Connection(harness.database.app)
        let hooked = await WriteBack.afterOrder(lineless, database: database)
        let outcome = try XCTUnwrap(hooked)
        XCTAssertEqual(outcome.kind, .noPrimaryNumber)
        try await database.transaction { session in try outcome.record(orderID: fourth, in: session) }
        let none = try ucp(["order", "show", String(fourth)]).stdout
        XCTAssertTrue(none.contains("write-back: Primary DN not written to LDAP: User does not have any primary directory number"), none)
    }

    /// `ucp domain write-back`: every directory user's primary number written, per-user lines and a
    /// summary in the domain's detailed log; refused beside the domain's LDAP and domain
    /// synchronizations both ways, during a user synchronization of its processor, and while the
    /// attribute is "Do not write to LDAP".
    func testDomainWriteBackJobAndItsRefusals() async throws {
        try await prepareDirectory()
        try ucp(["order", "submit", "-f", try orderFile(), "--wait"])
        let refusedNone = try harness.ucp(["domain", "write-back", Self.domain])
        XCTAssertNotEqual(refusedNone.status, 0)
        XCTAssertTrue(refusedNone.stderr.contains("write-back attribute is Do not write to LDAP, so Start Write Back to LDAP is disabled"), refusedNone.stderr)
        try ucp(["domain", "edit", Self.domain, "--write-back-attribute", "ipPhone", "--write-back-mask", "\\+1408555XXXX"])

        // With no worker, jobs stay queued: each refuses the other.
        harness.processes.kill("worker", signal: SIGTERM)
        _ = harness.processes.waitForExit("worker")
        let queued = try ucp(["domain", "write-back", Self.domain])
        let writeBackJob = try XCTUnwrap(Int64(queued.stdout.split(separator: " ")[1]), queued.stdout)
        for kind in ["ldap", "domain"] {
            let refused = try harness.ucp(["submit", "sync", kind, "--domain", Self.domain])
            XCTAssertNotEqual(refused.status, 0, refused.stdout)
            XCTAssertTrue(refused.stderr.contains("domain 'Cisco': its \(kind == "ldap" ? "LDAP" : "domain") synchronization is disabled while its write back to LDAP (job \(writeBackJob), queued) is queued or running"),
                          refused.stderr)
        }
        try ucp(["jobs", "cancel", String(writeBackJob)])
        let ldapSync = try ucp(["submit", "sync", "ldap", "--domain", Self.domain])
        let ldapJob = try XCTUnwrap(Int64(ldapSync.stdout.split(separator: " ")[1]), ldapSync.stdout)
        let refusedBySync = try harness.ucp(["domain", "write-back", Self.domain])
        XCTAssertNotEqual(refusedBySync.status, 0)
        XCTAssertTrue(refusedBySync.stderr.contains("domain 'Cisco': write back to LDAP is disabled while its LDAP synchronization (job \(ldapJob), queued) is queued or running"),
                      refusedBySync.stderr)
        try ucp(["jobs", "cancel", String(ldapJob)])
        let userSync = try ucp(["submit", "sync", "user", "--device", "TestCCM"])
        let userJob = try XCTUnwrap(Int64(userSync.stdout.split(separator: " ")[1]), userSync.stdout)
        let refusedByUserSync = try harness.ucp(["domain", "write-back", Self.domain])
        XCTAssertTrue(refusedByUserSync.stderr.contains("write back to LDAP is not performed during the user synchronization of its processor 'TestCCM' (job \(userJob), queued)"),
                      refusedByUserSync.stderr)
        try ucp(["jobs", "cancel", String(userJob)])

        // The primary number is the primary extension the call processor holds for the user (as a
        // sync read it), not the line the order recorded: jdoe's was changed on the device to 4007.
        _ = try await sql("""
            INSERT INTO device_objects (device, sync_kind, object_type, object_key, uuid, attributes, seen_by)
            VALUES ('TestCCM', 'user', 'User', 'jdoe', '{0000AAAA-0000-0000-0000-000000000001}',
                    '{"userid": "jdoe", "primaryExtension": {"pattern": "4007", "routePartitionName": ""}}', 0)
            ON CONFLICT (device, sync_kind, object_type, object_key) DO UPDATE SET attributes = EXCLUDED.attributes, removed_at = NULL
            """)

        // The whole domain: the five directory users; jdoe's primary extension 4007, masked.
        try harness.startWorker()
        let ran = try harness.ucp(["domain", "write-back", Self.domain, "--wait"])
        XCTAssertEqual(ran.status, 0, ran.stdout + ran.stderr)
        await assertEqual(try await attribute("ipPhone", of: Self.jdoe), ["+14085554007"])
        let log = try ucp(["domain", "log", Self.domain, "--kind", "writeback"]).stdout
        XCTAssertTrue(log.contains("writeback synchronization of 'Cisco'"), log)
        XCTAssertTrue(log.contains("jdoe: Primary DN written to LDAP: ipPhone = +14085554007 (cn=John Doe,\(Self.people))"), log)
        let lines = log.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("user00000") }.count, 4, log)
        let summary = try XCTUnwrap(lines.last)
        XCTAssertTrue(summary.hasPrefix("Completed. 5 directory users: 5 written"), summary)
        XCTAssertTrue(summary.hasSuffix(", 0 not written"), summary)
        // Each written value is in its entry.
        for line in lines where line.hasPrefix("user00000") && line.contains(" written to LDAP: ipPhone = ") {
            let index = Int(line.prefix(10).suffix(6))!
            let value = String(line.split(separator: "=")[1].split(separator: " ")[0])
            await assertEqual(try await attribute("ipPhone", of: DirectoryFixture.user(index)), [value], line)
        }
    }

    /// Domain Cisco's directory prepared, its write-back to ipPhone queued with the worker stopped, and
    /// its job claimed in this process (so a test sets the page size); the secret key in the
    /// environment until the test ends.
    func claimedDomainWriteBack() async throws -> (jobID: Int64, context: JobContext) {
        try await prepareDirectory()
        try ucp(["domain", "edit", Self.domain, "--write-back-attribute", "ipPhone"])
        stopWorker()
        let queued = try ucp(["domain", "write-back", Self.domain])
        let jobID = try XCTUnwrap(Int64(queued.stdout.split(separator: " ")[1]), queued.stdout)
        setenv(SecretKey.environmentVariable, harness.keyPath, 1)
        addTeardownBlock { unsetenv(SecretKey.environmentVariable) }
        return (jobID, try await claimInProcess(jobID))
    }

    /// The whole-domain write-back two users a page (five directory users: three pages): each user
    /// written once and its line once in the detailed log, in user ID order between the start line and
    /// the summary, the log's outcome set at the end; run again (a retry), the log is replaced, not doubled.
    func testDomainWriteBackPagesThroughEveryUserOnce() async throws {
        let (jobID, context) = try await claimedDomainWriteBack()
        let users = ["jdoe", "user000001", "user000002", "user000003", "user000004"]
        for run in 1...2 {
            try await WriteBackJob.runDomain(Self.domain, connection: Connection(harness.database.app), context: context, pageSize: 2)
            let log = try ucp(["domain", "log", Self.domain, "--kind", "writeback"]).stdout
            var lines = log.split(separator: "\n").map(String.init)
            XCTAssertTrue(lines.removeFirst().hasPrefix("writeback synchronization of 'Cisco' (job \(jobID)): succeeded, "), "run \(run): \(log)")
            XCTAssertEqual(lines.first, "Write back to LDAP of domain 'Cisco' started: 5 directory users, attribute ipPhone", log)
            let userLines = lines.dropFirst().dropLast()
            XCTAssertEqual(userLines.map { String($0.prefix { $0 != ":" }) }, users, "run \(run): each user once, in order: \(log)")
            let written = userLines.filter { $0.contains(": Primary DN written to LDAP: ipPhone = ") }
            let unnumbered = userLines.filter { $0.hasSuffix(": Primary DN not written to LDAP: User does not have any primary directory number") }
            XCTAssertEqual(written.count + unnumbered.count, 5, log)
            XCTAssertGreaterThan(written.count, 2, log)
            XCTAssertEqual(lines.last, "Completed. 5 directory users: \(written.count) written (ipPhone), \(unnumbered.count) without a primary directory number, 0 not written")
            for line in written where line.hasPrefix("user00000") {
                let value = String(line.split(separator: "=")[1].split(separator: " ")[0])
                await assertEqual(try await attribute("ipPhone", of: DirectoryFixture.user(Int(line.prefix(10).suffix(6))!)), [value], line)
            }
        }
    }

    /// A write-back attempt that lost its job between two pages — the job's attempt bumped (another
    /// attempt holds it, as after a rescue and a new claim) while its first page's lines were saved —
    /// is refused at its next save (JobLostError): no line of the next page, no stop line, and no
    /// outcome from it in the detailed log. The log, left `running`, shows running while the job
    /// runs; once the coordinator's rescue ends the job (its worker gone) it shows how the job ended,
    /// and once the job is pruned that it is gone — never a stale `running`.
    func testADomainWriteBackThatLostItsJobAddsNothingMore() async throws {
        let (jobID, context) = try await claimedDomainWriteBack()
        // The job is taken from this attempt in the transaction that saves the first page (jdoe, user000001).
        try await Connection(harness.database.owner).withSession { try $0.execute("""
            CREATE FUNCTION take_the_job() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN UPDATE jobs SET attempt = attempt + 1 WHERE id = \(jobID); RETURN NULL; END $$;
            CREATE TRIGGER take_the_job AFTER INSERT ON sync_log_lines FOR EACH ROW WHEN (NEW.line LIKE 'user000001:%')
                EXECUTE FUNCTION take_the_job();
            """) }
        do {
            try await WriteBackJob.runDomain(Self.domain, connection: Connection(harness.database.app), context: context, pageSize: 2)
            XCTFail("the attempt that lost its job is refused")
        } catch is JobLostError {}
        await assertEqual(try await harness.queue.jobGet(id: jobID)?.attempt, 2, "another attempt holds the job")
        let log = try ucp(["domain", "log", Self.domain, "--kind", "writeback"]).stdout
        var lines = log.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.removeFirst().hasPrefix("writeback synchronization of 'Cisco' (job \(jobID)): running, started "), log)
        XCTAssertEqual(lines.map { String($0.prefix { $0 != ":" }) }, ["Write back to LDAP of domain 'Cisco' started", "jdoe", "user000001"],
                       "the first page's lines only: \(log)")

        // The attempt that holds the job is never heard from: its lease runs out, the rescue ends the
        // sync failed; the log still says running, and shows how the job ended.
        _ = try await sql("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = \(jobID)")
        _ = try await harness.queue.jobRescueExpired(actor: "test-coordinator")
        await assertEqual(try await harness.queue.jobGet(id: jobID)?.state, .failed, "the rescue ends a sync failed")
        await assertEqual(try await sql("SELECT outcome FROM sync_logs WHERE sync_type = 'writeback'")[0].decode("outcome", as: String.self),
                          "running", "the log as the lost attempt left it")
        func header() throws -> String {
            String(try ucp(["domain", "log", Self.domain, "--kind", "writeback"]).stdout.prefix { $0 != "\n" })
        }
        let ended = try header()
        XCTAssertTrue(ended.hasPrefix("writeback synchronization of 'Cisco' (job \(jobID)): failed: the job ended failed (worker lost) "
                                      + "without closing this log, "), ended)
        XCTAssertTrue(ended.contains(" to "), ended)
        XCTAssertFalse(ended.contains("running"), ended)

        // Pruned from the queue since: the log says so.
        _ = try await harness.queue.jobPrune(retentionSeconds: 0, limit: 1000, now: Date().addingTimeInterval(60))
        await assertEqual(try await harness.queue.jobGet(id: jobID)?.id, nil, "pruned")
        let gone = try header()
        XCTAssertTrue(gone.hasPrefix("writeback synchronization of 'Cisco' (job \(jobID)): failed: the job is gone from the queue "
                                     + "(it ended without closing this log), started "), gone)
    }

    /// An order's write-back checks that its attempt still owns the job once connected, right before
    /// the write: an attempt lost while its connect took long writes nothing. The check here finds the
    /// attempt lost as soon as a connection to the directory is open (as the kernel lists it): the
    /// check before connecting passes, the one after it refuses, and the entry keeps its number.
    func testAnOrdersWriteBackChecksItsAttemptOnceConnectedRightBeforeTheWrite() async throws {
        try await prepareDirectory()
        try ucp(["domain", "edit", Self.domain, "--write-back-attribute", "ipPhone"])
        let (id, written) = try await succeededOrder(user: "jdoe", number: 1)
        XCTAssertEqual(written.outcome, "written", written.message)
        let before = try await attribute("ipPhone", of: Self.jdoe)
        XCTAssertEqual(before, ["4000"])

        setenv(SecretKey.environmentVariable, harness.keyPath, 1)
        defer { unsetenv(SecretKey.environmentVariable) }
        var stale = try await order(id)
        stale.line = "4009"
        let port = slapd.port
        var checks: [Bool] = []  // whether a connection to the directory was open at each check
        let outcome = await WriteBack.afterOrder(stale, database: Connection(harness.database.app), beforeWriting: {
            let connected = Self.connectionsOpen(toPort: port)
            checks.append(connected)
            if connected { throw JobLostError() }
        })
        XCTAssertEqual(checks, [false, true], "checked before connecting, and once connected")
        XCTAssertEqual(outcome?.kind, .failed)
        XCTAssertTrue(outcome?.message.contains("this attempt no longer owns the job") == true, outcome?.message ?? "none")
        await assertEqual(try await attribute("ipPhone", of: Self.jdoe), before, "the lost attempt wrote nothing")
    }

    /// Whether a TCP connection to `port` on this host is established (/proc/net/tcp and tcp6).
    static func connectionsOpen(toPort port: Int) -> Bool {
        let remote = ":" + String(format: "%04X", port)
        return ["/proc/net/tcp", "/proc/net/tcp6"].contains { path in
            // Read to the end: a /proc file's size is 0, so whole-file reads by size get nothing.
            let table = String(decoding: FileHandle(forReadingAtPath: path)?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
            return table.split(separator: "\n").dropFirst().contains { line in
                let fields = line.split(separator: " ")
                return fields.count > 3 && fields[2].hasSuffix(remote) && fields[3] == "01"
            }
        }
    }
}
