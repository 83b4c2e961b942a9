import Foundation
import JobCatalog
import Postgres
import Queue
import TestSupport
import XCTest

/// What operators type: bad input gets one line on stderr, a non-zero exit, and writes nothing.
final class CommandLineTests: XCTestCase {
    func counts(_ database: TestDatabase) async throws -> [Int] {
        let row = try await Connection(database.owner).query(Statement("", """
            SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM audit_log) AS audit,
                   (SELECT count(*) FROM workers) AS workers
            """)).first!
        return [try row.decode("jobs"), try row.decode("audit"), try row.decode("workers")]
    }

    func testBadInputGetsOneLineAndChangesNothing() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        let store = database.store()
        let finished = try await store.jobEnqueue(.init(kind: .order, type: "noop", actor: "t")).id
        let claimed = try await store.jobClaim(worker: "w", slots: 1, leaseSeconds: 30)
        _ = try await store.jobEnd(.init(id: claimed[0].id, attempt: claimed[0].attempt), outcome: .succeeded, actor: "w")
        let before = try await counts(database)

        let cases: [(String, [String], [String: String], String)] = [
            ("unknown job id", ["jobs", "show", "999999"], [:], "job 999999: no such job"),
            ("cancel of a finished job", ["jobs", "cancel", "\(finished)"], [:], "already finished"),
            ("stop-stuck of a finished job", ["jobs", "stop-stuck", "\(finished)"], [:], "stop-stuck acts on synchronizations only"),
            ("malformed DATABASE_URL", ["status"], ["DATABASE_URL": "host=x port"], "DATABASE_URL"),
            ("unknown subcommand", ["frobnicate"], [:], "frobnicate"),
            ("unknown job type", ["submit", "job", "bogus"], [:], "job type: unknown type 'bogus'"),
            ("payload not an object", ["submit", "job", "noop", "--payload", "[1]"], [:], "payload: must be a JSON object"),
            ("payload of the wrong shape", ["submit", "job", "noop", "--payload", "{\"seconds\":\"x\"}"], [:], "payload: field 'seconds'"),
            ("negative concurrency", ["worker", "--concurrency=-1"], [:], "concurrency: must be a whole number from 1 to 1000"),
            ("bad device name", ["submit", "sync", "infra", "--device", "cucm#1"], [:], "device: 'cucm#1' may hold only"),
            ("device for a domain sync", ["submit", "sync", "ldap", "--device", "x"], [:], "domain: --domain NAME is required"),
            ("unknown sync kind", ["submit", "sync", "everything", "--device", "x"], [:], "sync kind: must be infra, user, domain or ldap"),
            ("bad state filter", ["jobs", "list", "--state", "done"], [:], "state: must be one of"),
            ("bad run-at", ["submit", "job", "noop", "--run-at", "tomorrow"], [:], "run-at: 'tomorrow'"),
            ("bad maintenance action", ["maintenance", "maybe"], [:], "action: must be on, off or status"),
        ]
        for (name, arguments, environment, expected) in cases {
            let result = try processes.run(arguments, environment: environment)
            XCTAssertNotEqual(result.status, 0, name)
            let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: true)
            XCTAssertEqual(lines.count, 1, "\(name): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(expected), "\(name): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", name)
        }
        await assertEqual(try await counts(database), before, "bad input wrote nothing")
    }

    /// Exact messages: bad ports in DATABASE_URL (refused when parsed, also by a worker, which does
    /// not wait for a server it could never reach), control characters escaped, a blank name's rule.
    func testBadInputMessagesAreExactAndEscaped() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        let before = try await counts(database)
        let nameRule = "may hold only letters, digits, space, '_', '-', '.' and '@' (1 to 100 characters)"
        let portRule = "must be a whole number from 1 to 65535"
        let cases: [([String], [String: String], String)] = [
            (["status"], ["DATABASE_URL": "postgresql://localhost:99999/db"], "DATABASE_URL: port '99999' \(portRule)"),
            (["status"], ["DATABASE_URL": "postgresql://user@:notaport/db"], "DATABASE_URL: port 'notaport' \(portRule)"),
            (["worker", "--stand-in-jobs"], ["DATABASE_URL": "postgresql://localhost:99999/db"], "DATABASE_URL: port '99999' \(portRule)"),
            (["coordinator"], ["DATABASE_URL": "postgresql:///db?host=/a,/b&port=5432,5433,5434&target_session_attrs=read-write"],
             "DATABASE_URL: lists 2 hosts and 3 ports; give one port for all hosts or one per host"),
            (["status"], ["DATABASE_URL": "postgresql://h1:5432,h2:5432/db?target_session_attrs=readwrite"],
             "DATABASE_URL: target_session_attrs 'readwrite' must be one of any, read-write, read-only, primary, standby, prefer-standby"),
            // A negative port after a space is the port's value, refused by its rule (it was "Missing value for '--port'").
            (["device", "add", "--name", "x", "--kind", "cucm", "--address", "h", "--user", "u", "--port", "-1"], [:],
             "port: \(portRule) (got -1)"),
            (["device", "add", "--name", "x", "--kind", "cucm", "--address", "h", "--user", "u", "--backup-address", "h2",
              "--backup-port", "-1"], [:], "backup_port: \(portRule) (got -1)"),
            (["devsim", "--port", "-1"], [:], "port: must be 0…65535"),
            (["ldapsim", "--port", "-1"], [:], "port: must be from 1 to 65535 (got -1)"),
            (["submit", "sync", "infra", "--device", "new\nline"], [:], "device: 'new\\nline' \(nameRule)"),
            (["submit", "sync", "infra", "--device", "a\tb\u{1b}[31m"], [:], "device: 'a\\tb\\u{1b}[31m' \(nameRule)"),
            (["submit", "sync", "infra", "--device", " "], [:],
             "device: ' ' must not be only spaces (at least one letter, digit, '_', '-', '.' or '@')"),
            // Numbers past what the clock, time_t or PostgreSQL hold: refused by rule, not a trap or a database error.
            (["device", "cn", "cucm1", "--interval", "99999999999999999999s"], [:],
             "interval: must be whole seconds from 1s to 1d (got '99999999999999999999s')"),
            (["device", "cn", "cucm1", "--interval", "2d"], [:], "interval: must be whole seconds from 1s to 1d (got '2d')"),
            (["device", "cn", "cucm1", "--interval", "1.5s"], [:], "interval: must be whole seconds from 1s to 1d (got '1.5s')"),
            (["worker", "--poll", "99999999999999999999d"], [:], "poll: must be at most 36500d (got '99999999999999999999d')"),
            (["submit", "job", "noop", "--run-at", "99999999999999999999d"], [:], "run-at: must be at most 36500d (got '99999999999999999999d')"),
            (["submit", "job", "noop", "--run-at", "999999999d"], [:], "run-at: must be at most 36500d (got '999999999d')"),
            (["submit", "job", "noop", "--run-at", "0000-01-01T00:00:00Z"], [:],
             "run-at: '0000-01-01T00:00:00Z' is outside the years 1 to 9999 (UTC)"),
            (["submit", "job", "noop", "--run-at", "10000-01-01T00:00:00Z"], [:],
             "run-at: '10000-01-01T00:00:00Z' is outside the years 1 to 9999 (UTC)"),
            // A sync of a device or domain that does not exist is refused, not queued to fail on a worker.
            (["submit", "sync", "user", "--device", "NoSuchDevice"], [:], "device 'NoSuchDevice': no such device"),
            (["submit", "sync", "infra", "--device", "NoSuchDevice"], [:], "device 'NoSuchDevice': no such device"),
            (["submit", "sync", "ldap", "--domain", "NoSuchDomain"], [:], "domain 'NoSuchDomain': no such domain"),
            (["submit", "sync", "domain", "--domain", "NoSuchDomain"], [:], "domain 'NoSuchDomain': no such domain"),
            // `submit job` of a type that acts on a device or domain: the target is required, from --target or the
            // payload, checked as `submit sync` checks it (it used to queue such a job with no target, or any).
            (["submit", "job", "sync.infra"], [:], "target: a sync.infra job acts on a device: give --target NAME (or \"device\" in the payload)"),
            (["submit", "job", "sync.ldap", "--payload", "{}"], [:], "target: a sync.ldap job acts on a domain: give --target NAME (or \"domain\" in the payload)"),
            (["submit", "job", "sync.infra", "--payload", #"{"device":"nosuch"}"#], [:], "device 'nosuch': no such device"),
            (["submit", "job", "sync.user", "--target", "nosuch"], [:], "device 'nosuch': no such device"),
            (["submit", "job", "cn.poll", "--target", "nosuch"], [:], "device 'nosuch': no such device"),
            (["submit", "job", "sync.domain", "--payload", #"{"domain":"NoSuchDomain"}"#], [:], "domain 'NoSuchDomain': no such domain"),
            (["submit", "job", "device.test", "--payload", #"{"device":"cm1"}"#, "--target", "cm2"], [:],
             "target: 'cm2' disagrees with the payload's device 'cm1'; give the device once"),
            (["submit", "job", "sync.user", "--payload", #"{"device":5}"#], [:], "payload: field 'device': must be a device name (a string)"),
            (["submit", "job", "sync.infra", "--target", "cm#1"], [:], "device: 'cm#1' \(nameRule)"),
            // A sync's or a poll's key is its own (that of `submit sync`, the coordinator's).
            (["submit", "job", "sync.user", "--target", "cm1", "--key", "mine"], [:],
             "key: a sync.user job's key is its own, 'sync.user|cm1' (give none)"),
            (["submit", "job", "cn.poll", "--target", "cm1", "--key", "mine"], [:], "key: a cn.poll job's key is its own, 'cn.poll|cm1' (give none)"),
            (["submit", "job", "writeback.domain", "--target", "Test-Dom"], [:],
             "job type: writeback.domain is queued by `ucp domain write-back DOMAIN`, which checks the domain first"),
            // Refused before the database, with the reason (a NUL used to be PostgreSQL's 22P05, exit 1).
            (["submit", "job", "device.test", "--payload", #"{"device":"cm1","note":"\u0000"}"#], [:],
             "payload: field 'note': must not contain the NUL character (\\u0000)"),
            (["submit", "job", "noop", "--payload", #"{"x":1e400}"#], [:], "payload: the number '1e400' is out of range (at most about 1.8e308 either way)"),
            (["submit", "job", "noop", "--payload", #"{"x":1"#], [:], "payload: is not JSON: Unexpected end of file during JSON parse"),
        ]
        for (arguments, environment, expected) in cases {
            let result = try processes.run(arguments, environment: environment)
            XCTAssertEqual(result.status, 64, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr, "ucp: \(expected)\n", "\(arguments)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
        }
        await assertEqual(try await counts(database), before, "bad input wrote nothing")
    }

    /// `submit job` of a device's job takes the target from --target or the payload's `device`: the job
    /// holds its device, so the one-sync-per-device rule (migration 023's index on the target) holds for
    /// it. It used to be queued with no target, beside which another sync of the device could run.
    func testSubmitJobTakesTheDeviceAsTheTarget() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        // Synchronized once, so that change notification may poll it.
        try await Connection(database.owner).query(Statement("", """
            INSERT INTO devices (name, kind, address, port, admin_user, first_synced_at)
            VALUES ('cm1', 'call_processor', 'cm1.lab.example', 8443, 'axl', now())
            """))
        for arguments in [["submit", "job", "sync.infra", "--payload", #"{"device":"cm1"}"#],
                          ["submit", "job", "sync.user", "--target", "cm1"],
                          ["submit", "job", "device.test", "--target", "cm1", "--payload", #"{"device":"cm1"}"#],
                          ["submit", "job", "cn.poll", "--target", "cm1"]] {
            let queued = try processes.run(arguments)
            XCTAssertEqual(queued.status, 0, "\(arguments): \(queued.stderr)")
            XCTAssertTrue(queued.stdout.hasSuffix("of cm1)\n"), "\(arguments): \(queued.stdout)")
        }
        let rows = try await Connection(database.owner).query(Statement("", "SELECT type, target FROM jobs ORDER BY id"))
        let jobs = try rows.map { "\(try $0.decode("type", as: String.self)) \(try $0.decodeIfPresent("target", as: String.self) ?? "NULL")" }
        XCTAssertEqual(jobs, ["sync.infra cm1", "sync.user cm1", "device.test cm1", "cn.poll cm1"])

        // The sync claimed holds its device: neither the other sync nor the poll of cm1 runs beside it (the
        // poll did, beside the sync queued with no target).
        let claimed = try await database.store().jobClaim(worker: "w", slots: 10, leaseSeconds: 30)
        XCTAssertEqual(claimed.map(\.type).filter { $0 != "device.test" }, ["sync.infra"], "one sync or poll of cm1 at a time")
    }

    /// `submit job` of a sync queues it with the sync's own key, as `submit sync` does: submitted twice
    /// (either way) it is one job. A poll of change notification has the coordinator's key and rules: a
    /// Unified CM of 10.0 or later, change notification on, synchronized once, no poll of it running.
    /// Both used to queue a job each time, and a poll of any device that existed.
    func testSubmitJobOfASyncOrAPollQueuesItOnceUnderItsRules() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        let owner = Connection(database.owner)
        try await owner.withSession { session in
            try session.execute("""
                INSERT INTO devices (name, kind, address, port, admin_user, version, first_synced_at) VALUES
                    ('cm1', 'call_processor', 'cm1.lab.example', 8443, 'axl', '14.0', now()),
                    ('cm9', 'call_processor', 'cm9.lab.example', 8443, 'axl', '9.1', now()),
                    ('cm-off', 'call_processor', 'cm-off.lab.example', 8443, 'axl', '12.5', now()),
                    ('cm-new', 'call_processor', 'cm-new.lab.example', 8443, 'axl', '12.5', NULL),
                    ('cuc1', 'message_processor', 'cuc1.lab.example', 443, 'cupi', NULL, now());
                INSERT INTO device_change_notification (device, enabled) VALUES ('cm-off', false);
                """)
        }
        func jobs() async throws -> [String] {
            try await owner.query(Statement("", "SELECT type, target, dedup_key FROM jobs ORDER BY id")).map {
                "\(try $0.decode("type", as: String.self)) \(try $0.decode("target", as: String.self)) \(try $0.decodeIfPresent("dedup_key", as: String.self) ?? "-")"
            }
        }
        let submissions = [["submit", "job", "sync.user", "--target", "cm1"], ["submit", "job", "sync.user", "--payload", #"{"device":"cm1"}"#],
                           ["submit", "sync", "user", "--device", "cm1"], ["submit", "job", "sync.user", "--target", "cm1", "--key", "sync.user|cm1"],
                           ["submit", "job", "cn.poll", "--target", "cm1"], ["submit", "job", "cn.poll", "--target", "cm1"]]
        for (index, arguments) in submissions.enumerated() {
            let result = try processes.run(arguments)
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.stderr)")
            // (A refused insert draws an id too: the poll's is not 2.)
            let expected = [0, 4].contains(index) ? #"^job \d+ queued \("# : #"^job \d+ is already queued with the same key; not queued again\n$"#
            XCTAssertNotNil(result.stdout.range(of: expected, options: .regularExpression), "\(arguments): \(result.stdout)")
        }
        await assertEqual(try await jobs(), ["sync.user cm1 sync.user|cm1", "cn.poll cm1 cn.poll|cm1"])
        let poll: Int64 = try await owner.query(Statement("", "SELECT id FROM jobs WHERE type = 'cn.poll'")).first!.decode("id")

        // A poll running: none queued beside it (the key only finds a queued one).
        _ = try await owner.query(Statement("", "UPDATE jobs SET state = 'running', started_at = now(), attempt = 1, worker = 'w', lease_expires_at = now() + interval '1 hour' WHERE type = 'cn.poll'"))
        let refusals = [
            ("cm1", "device 'cm1': a poll of its change notification (job \(poll)) is running; the next is queued once it has ended"),
            ("cm9", "device 'cm9': change notification needs a Unified CM of version 10.0 or later (seed)"),
            ("cuc1", "device 'cuc1': change notification needs a Unified CM of version 10.0 or later (seed)"),
            ("cm-off", "device 'cm-off': its change notification is off (ucp device cn cm-off --enable)"),
            ("cm-new", "device 'cm-new': has not been synchronized yet: change notification follows what a synchronization read "
                + "(ucp submit sync infra|user --device cm-new)"),
        ]
        for (device, expected) in refusals {
            let result = try processes.run(["submit", "job", "cn.poll", "--target", device])
            XCTAssertEqual(result.status, 64, "\(device): \(result.stderr)")
            XCTAssertEqual(result.stderr, "ucp: \(expected)\n", device)
        }
        await assertEqual(try await jobs(), ["sync.user cm1 sync.user|cm1", "cn.poll cm1 cn.poll|cm1"], "nothing more queued")
    }

    func testSubmitWaitShowsProgressAndReportsTheOutcome() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        // A sync is of a domain that exists (with a rule a domain sync needs); a stand-in runs it.
        for arguments in [["domain", "add", "--name", "Test-Dom"], ["domain", "edit", "Test-Dom", "--rule", "sync-all-users"]] {
            let done = try processes.run(arguments)
            XCTAssertEqual(done.status, 0, "\(arguments): \(done.stderr)")
        }
        try processes.start("w", ["worker", "--name", "w", "--stand-in-jobs", "--stand-in-sync", "Test-Dom=seconds:1"])
        let ok = try processes.run(["submit", "sync", "domain", "--domain", "Test-Dom", "--wait"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("job 1 queued (sync.domain of Test-Dom)"), ok.stdout)
        XCTAssertTrue(ok.stdout.contains("running: "), "plain progress lines when not on a terminal: \(ok.stdout)")
        XCTAssertTrue(ok.stdout.contains("job 1 succeeded"), ok.stdout)
        let failed = try processes.run(["submit", "job", "noop", "--payload", "{\"fail\":\"boom\"}", "--wait"])
        XCTAssertEqual(failed.status, 1)
        XCTAssertTrue(failed.stderr.contains("boom"), failed.stderr)

        let json = try processes.run(["jobs", "show", "1", "--json"])
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        for key in ["id", "type", "state", "attempt", "worker", "created_at", "started_at", "finished_at", "progress", "error"] {
            XCTAssertNotNil(object[key], key)
        }
        XCTAssertEqual(object["state"] as? String, "succeeded")
        XCTAssertTrue((object["finished_at"] as? String)?.hasSuffix("Z") == true)

        let status = try processes.run(["status", "--json"])
        let statusObject = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((statusObject["workers"] as? [[String: Any]])?.first?["name"] as? String, "w")

        let audit = try processes.run(["audit", "--job", "1", "--json"])
        let entries = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(entries.compactMap { $0["action"] as? String }, ["sync.queued", "sync.started", "sync.finished"])
    }

    func testManualMaintenanceAndStopStuckThroughTheTool() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        let on = try processes.run(["maintenance", "on", "--actor", "alice"])
        XCTAssertEqual(on.stdout, "maintenance mode is on: switched on by alice\n")
        let off = try processes.run(["maintenance", "off", "--actor", "alice"])
        XCTAssertEqual(off.stdout, "maintenance mode is off\n")

        // A sync is of a device that exists; a stand-in runs it.
        try await Connection(database.owner).query(Statement("", """
            INSERT INTO devices (name, kind, address, port, admin_user) VALUES ('cucm 1', 'call_processor', 'cucm1.lab.example', 8443, 'axl')
            """))
        try processes.start("w", ["worker", "--name", "w", "--stand-in-sync", "cucm 1=hang"])
        let submitted = try processes.run(["submit", "sync", "infra", "--device", "cucm 1"])
        XCTAssertEqual(submitted.status, 0, submitted.stderr)
        let store = database.store()
        await assertTrue(try await eventually(timeout: 10) { try await store.jobGet(id: 1)?.state == .running })
        let refused = try processes.run(["jobs", "stop-stuck", "1", "--idle", "30s"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("is progressing"), refused.stderr)
        // Refused while it has been idle for less than a second; then it stops.
        var stopped = try processes.run(["jobs", "stop-stuck", "1", "--idle", "1s", "--actor", "bob"])
        _ = try await eventually(timeout: 10, interval: 0.25) {
            if stopped.status != 0 {
                XCTAssertTrue(stopped.stderr.contains("is progressing"), stopped.stderr)
                stopped = try processes.run(["jobs", "stop-stuck", "1", "--idle", "1s", "--actor", "bob"])
            }
            return stopped.status == 0
        }
        XCTAssertEqual(stopped.status, 0, stopped.stderr)
        await assertEqual(try await store.jobGet(id: 1)?.state, .failed)
        await assertFalse(try await store.maintenanceState().active)
        let audit = try await store.auditList(since: nil, jobID: 1, limit: 100)
        XCTAssertEqual(audit.last?.action, "sync.stop_stuck")
        XCTAssertEqual(audit.last?.actor, "bob")
    }
}
