import Foundation
import Glibc
import Postgres
import Synchronization
import TestSupport
import Transport
import XCTest

/// `ucp serve` as an operator runs it: loopback unless a proxy is declared, probes, bearer tokens,
/// the commands' own refusals as problem documents, idempotent submits, a graceful stop.
final class ServeTests: XCTestCase {
    func testListenAddressIsLoopbackUnlessAProxyIsDeclared() async throws {
        let fixture = try await ServeFixture()
        for (arguments, expected) in [
            (["--listen", "0.0.0.0:8080"], "ucp: listen: '0.0.0.0' is not a loopback address; the server speaks plain HTTP, so serving beyond this host needs a TLS-terminating reverse proxy in front of it: give --behind-proxy to say there is one\n"),
            (["--listen", "localhost:x"], "ucp: listen: use HOST:PORT, [IPv6]:PORT or PORT (loopback), with a port from 0 (any free one) to 65535 (got 'localhost:x')\n"),
            (["--listen", "127.0.0.1:70000"], "ucp: listen: use HOST:PORT, [IPv6]:PORT or PORT (loopback), with a port from 0 (any free one) to 65535 (got '127.0.0.1:70000')\n"),
        ] {
            let refused = try fixture.processes.run(["serve"] + arguments)
            XCTAssertEqual(refused.status, 64, arguments.joined(separator: " "))
            XCTAssertEqual(refused.stderr, expected)
        }
    }

    func testProbesTokensAndGracefulShutdown() async throws {
        let fixture = try await ServeFixture()
        let viewer = try fixture.token("dashboard", role: "viewer")
        try await fixture.start()

        let health = try fixture.send(.get, "/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json["status"] as? String, "alive")
        XCTAssertEqual(try fixture.send(.get, "/readyz").status, 401, "every route but /healthz authenticates")
        let ready = try fixture.send(.get, "/readyz", token: viewer)
        XCTAssertEqual(ready.status, 200, ready.body)
        XCTAssertEqual(ready.json["status"] as? String, "ready")

        let wrong = try fixture.send(.get, "/api/v1/status", token: "ucp_not-a-token")
        XCTAssertEqual(wrong.status, 401)
        XCTAssertTrue(wrong.detail.hasPrefix("authorization: "), wrong.body)
        let status = try fixture.send(.get, "/api/v1/status", token: viewer)
        XCTAssertEqual(status.status, 200, status.body)
        XCTAssertEqual((status.json["maintenance"] as? [String: Any])?["active"] as? Bool, false)

        let unknown = try fixture.send(.get, "/api/v1/nothing", token: viewer)
        XCTAssertEqual(unknown.status, 404)
        let wrongMethod = try fixture.send(.delete, "/api/v1/status", token: viewer)
        XCTAssertEqual(wrongMethod.status, 405)

        // SIGTERM: the server stops accepting, finishes what it serves and exits 0.
        XCTAssertEqual(fixture.stop(), 0, fixture.processes.log("serve"))
    }

    /// `/readyz` answers 503 with the reason while a migration is pending (a newer `ucp` put a file in
    /// the migrations folder the server reads, as an upgrade does before `ucp migrate`), 200 otherwise.
    func testReadinessNeedsTheMigrationsApplied() async throws {
        let folder = NSTemporaryDirectory() + "ucp-migrations-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: PackagePaths.root + "/migrations", toPath: folder)
        let fixture = try await ServeFixture(environment: ["UCP_MIGRATIONS_DIR": folder])
        let viewer = try fixture.token("probe", role: "viewer")
        try await fixture.start()
        XCTAssertEqual(try fixture.send(.get, "/readyz", token: viewer).status, 200)

        try "SELECT 1;\n".write(toFile: folder + "/999_pending.sql", atomically: true, encoding: .utf8)
        let pending = try fixture.send(.get, "/readyz", token: viewer)
        XCTAssertEqual(pending.status, 503, pending.body)
        XCTAssertEqual(pending.detail, "migrations: the schema is not current; run 'ucp migrate'")
        XCTAssertEqual(try fixture.send(.get, "/healthz").status, 200, "alive all the same")

        try FileManager.default.removeItem(atPath: folder + "/999_pending.sql")
        let ready = try fixture.send(.get, "/readyz", token: viewer)
        XCTAssertEqual(ready.status, 200, ready.body)
    }

    /// A database the probe cannot reach is answered "database: unreachable" and nothing more: the
    /// error (which names the socket or host and port, the role, the database) goes to the log only.
    func testReadinessHidesTheDatabaseErrorAndLogsIt() async throws {
        let fixture = try await ServeFixture()
        let viewer = try fixture.token("probe", role: "viewer")
        try await fixture.start()
        // One pooled connection opened (and the token checked) while the database still takes connections;
        // the probe's own connection is opened at its first use, refused below.
        XCTAssertEqual(try fixture.send(.get, "/api/v1/status", token: viewer).status, 200)
        let name = fixture.database.name
        // From another database: a session cannot close its own database to connections.
        let server = Connection(try TestServer.configuration())
        try await server.query(Statement("", "ALTER DATABASE \(name) WITH ALLOW_CONNECTIONS false"))

        let probe = try fixture.send(.get, "/readyz", token: viewer)
        XCTAssertEqual(probe.status, 503, probe.body)
        XCTAssertEqual(probe.detail, "database: unreachable", probe.body)
        XCTAssertFalse(probe.body.contains(name), probe.body)
        let logged = try await eventually(timeout: 10) { fixture.processes.log("serve").contains("/readyz: the database cannot be read") }
        XCTAssertTrue(logged, fixture.processes.log("serve"))
        XCTAssertTrue(fixture.processes.log("serve").contains(name), "the log keeps the detail: \(fixture.processes.log("serve"))")
        try await server.query(Statement("", "ALTER DATABASE \(name) WITH ALLOW_CONNECTIONS true"))
    }

    /// Login and logout CSRF: a sign-in or sign-out form posted from another site's page (its Origin,
    /// else its Referer, names another host) is refused and sets no cookie; the server's own page (by
    /// its Host, or behind the proxy the X-Forwarded-Host it sets) and clients that send neither
    /// header (curl) sign in and out.
    func testSignInAndOutFromAnotherSiteAreRefused() async throws {
        let fixture = try await ServeFixture()
        let viewer = try fixture.token("browser", role: "viewer")
        try await fixture.start(["--behind-proxy"])
        let own = "http://127.0.0.1:\(fixture.port)"
        for (headers, expected) in [
            (["Origin: https://attacker.example"], 403),
            (["Origin: http://127.0.0.1:\(fixture.port + 1)"], 403),
            (["Origin: null"], 403),
            (["Referer: https://attacker.example/page"], 403),
            (["Origin: https://attacker.example", "Referer: \(own)/"], 403),
            (["Origin: \(own)"], 303),
            (["Referer: \(own)/"], 303),
            ([], 303),
            (["Origin: https://ucp.example.com", "X-Forwarded-Host: ucp.example.com"], 303),
            (["Origin: https://attacker.example", "X-Forwarded-Host: ucp.example.com"], 403),
        ] {
            let answer = try fixture.send(.post, "/sign-in", body: "token=\(viewer)", headers: headers)
            XCTAssertEqual(answer.status, expected, "\(headers): \(answer.body)")
            if expected == 403 { XCTAssertTrue(answer.body.contains("a sign-in sent from another site is refused"), answer.body) }
            let signOut = try fixture.send(.post, "/sign-out", headers: headers)
            XCTAssertEqual(signOut.status, expected, "sign-out \(headers): \(signOut.body)")
            if expected == 403 { XCTAssertTrue(signOut.body.contains("a sign-out sent from another site is refused"), signOut.body) }
        }
        XCTAssertFalse(fixture.processes.log("serve").contains(viewer), "the token is never logged")
    }

    /// A value with a character XML cannot carry (a C0 control; U+FFFE, U+FFFF, which the rule let
    /// through before) is refused where it enters — an order file, an order's body, a user's field —
    /// with one line naming the field, exit 64 / 400, and nothing written.
    func testControlCharactersAreRefusedWhereOrdersAndUsersEnter() async throws {
        let fixture = try await ServeFixture()
        let helpdesk = try fixture.token("helpdesk", role: "operator")
        try await fixture.start()
        let domain = try fixture.processes.run(["domain", "add", "--name", "Cisco"])
        XCTAssertEqual(domain.status, 0, domain.stderr)
        let before = try await fixture.writes()
        func users() async throws -> Int64 {
            try await fixture.owner.query(Statement("", "SELECT count(*) AS n FROM users")).first!.decode("n")
        }
        let usersBefore = try await users()
        let rule = "must be 1 to 200 characters without control characters"

        // YAML's double-quoted escapes, in a file and in a body (the body is the file in JSON).
        for (escape, field) in [(#"\uFFFF"#, "phone.model"), (#"\uFFFE"#, "phone.model"), (#"\x01"#, "phone.model")] {
            let file = NSTemporaryDirectory() + "ucp-order-\(UUID().uuidString).yaml"
            defer { unlink(file) }
            try """
                domain: Cisco
                service_area: SA_Site01
                user: jdoe
                phone:
                  name: SEP001122334455
                  model: "Cisco\(escape)8845"
                """.write(toFile: file, atomically: true, encoding: .utf8)
            let name = (file as NSString).lastPathComponent
            for command in [["order", "submit", "-f", file], ["order", "plan", "-f", file]] {
                let cli = try fixture.processes.run(command)
                XCTAssertEqual(cli.status, 64, "\(command): \(cli.stdout)\(cli.stderr)")
                XCTAssertEqual(cli.stderr, "ucp: \(field) (\(name) line 6): \(rule)\n", escape)
            }
            let body = #"{"domain": "Cisco", "service_area": "SA_Site01", "user": "jdoe", "phone": {"name": "SEP001122334455", "model": "Cisco\#(escape)8845"}}"#
            let answer = try fixture.send(.post, "/api/v1/orders", token: helpdesk, body: body)
            XCTAssertEqual(answer.status, 400, answer.body)
            XCTAssertEqual(answer.detail, "\(field) (body line 1): \(rule)", escape)
        }
        // A user's fields, on the command line.
        for value in ["Sales\u{FFFF}", "Sales\u{FFFE}", "Sales\u{1}Desk"] {
            let cli = try fixture.processes.run(["user", "add", "jdoe", "--domain", "Cisco", "--last-name", "Doe", "--department", value])
            XCTAssertEqual(cli.status, 64, cli.stdout + cli.stderr)
            XCTAssertEqual(cli.stderr, "ucp: department: must be 1 to 64 characters without control characters\n")
        }
        let lastName = try fixture.processes.run(["user", "add", "jdoe", "--domain", "Cisco", "--last-name", "Doe\u{FFFF}"])
        XCTAssertEqual(lastName.status, 64)
        XCTAssertEqual(lastName.stderr, "ucp: last-name: must be 1 to 64 characters without control characters\n")

        await assertEqual(try await fixture.writes(), before, "a refusal wrote")
        await assertEqual(try await users(), usersBefore, "a refused user was added")
    }

    /// Bad input is refused with exactly the command line's line as `detail`, the field named, and
    /// nothing written; the same input through `ucp` prints the same line.
    func testRefusalsAreTheCommandsOwnLines() async throws {
        let fixture = try await ServeFixture()
        let admin = try fixture.token("ops-admin", role: "admin")
        try await fixture.start()
        let before = try await fixture.writes()

        let cases: [(command: [String], method: HTTPClientConnection.Method, path: String, body: String?, field: String)] = [
            (["jobs", "list", "--state", "sleeping"], .get, "/api/v1/jobs?state=sleeping", nil, "state"),
            (["jobs", "list", "--limit", "0"], .get, "/api/v1/jobs?limit=0", nil, "limit"),
            (["jobs", "list", "--type", "sync.nothing"], .get, "/api/v1/jobs?type=sync.nothing", nil, "job type"),
            (["audit", "--since", "yesterday"], .get, "/api/v1/audit?since=yesterday", nil, "since"),
            (["submit", "sync", "weekly", "--device", "cucm1"], .post, "/api/v1/syncs", #"{"kind": "weekly", "device": "cucm1"}"#, "sync kind"),
            (["submit", "sync", "infra", "--device", "bad#name"], .post, "/api/v1/syncs", #"{"kind": "infra", "device": "bad#name"}"#, "device"),
            (["submit", "sync", "infra", "--device", "cucm1", "--dry-run"], .post, "/api/v1/syncs",
             #"{"kind": "infra", "device": "cucm1", "dry_run": true}"#, "dry-run"),
            (["submit", "sync", "infra", "--device", "cucm1", "--priority", "40000"], .post, "/api/v1/syncs",
             #"{"kind": "infra", "device": "cucm1", "priority": 40000}"#, "priority"),
            (["jobs", "stop-stuck", "1", "--idle", "a while"], .post, "/api/v1/jobs/1/stop-stuck", #"{"idle": "a while"}"#, "idle"),
            (["jobs", "show", "999"], .get, "/api/v1/jobs/999", nil, "job 999"),
            (["jobs", "cancel", "999"], .post, "/api/v1/jobs/999/cancel", nil, "job 999"),
            (["schedule", "add", "--name", "Nightly", "--every", "5x", "--builder", "all"], .post, "/api/v1/schedules",
             #"{"name": "Nightly", "every": "5x", "builder": ["all"]}"#, "every"),
            (["schedule", "add", "--name", "Bad#1", "--builder", "all"], .post, "/api/v1/schedules",
             #"{"name": "Bad#1", "builder": ["all"]}"#, "name"),
            (["schedule", "run-now", "Nowhere"], .post, "/api/v1/schedules/Nowhere/run-now", nil, "schedule 'Nowhere'"),
            // Durations past 100 years, dates outside the years 1 to 9999 (PostgreSQL refused them as a 500),
            // syncs of a device or domain that does not exist (they were queued, to fail on a worker).
            (["audit", "--since", "99999999d"], .get, "/api/v1/audit?since=99999999d", nil, "since"),
            (["jobs", "stop-stuck", "1", "--idle", "99999999999999999999d"], .post, "/api/v1/jobs/1/stop-stuck",
             #"{"idle": "99999999999999999999d"}"#, "idle"),
            (["schedule", "add", "--name", "Nightly", "--start", "0000-01-01T00:00:00Z", "--builder", "all"], .post, "/api/v1/schedules",
             #"{"name": "Nightly", "start": "0000-01-01T00:00:00Z", "builder": ["all"]}"#, "start"),
            (["schedule", "add", "--name", "Nightly", "--start", "9999-12-31T23:30:00-01:00", "--builder", "all"], .post, "/api/v1/schedules",
             #"{"name": "Nightly", "start": "9999-12-31T23:30:00-01:00", "builder": ["all"]}"#, "start"),
            (["submit", "sync", "user", "--device", "NoSuchDevice"], .post, "/api/v1/syncs", #"{"kind": "user", "device": "NoSuchDevice"}"#,
             "device 'NoSuchDevice'"),
            (["submit", "sync", "infra", "--device", "NoSuchDevice"], .post, "/api/v1/syncs", #"{"kind": "infra", "device": "NoSuchDevice"}"#,
             "device 'NoSuchDevice'"),
            (["submit", "sync", "ldap", "--domain", "NoSuchDomain"], .post, "/api/v1/syncs", #"{"kind": "ldap", "domain": "NoSuchDomain"}"#,
             "domain 'NoSuchDomain'"),
            (["submit", "sync", "domain", "--domain", "NoSuchDomain"], .post, "/api/v1/syncs", #"{"kind": "domain", "domain": "NoSuchDomain"}"#,
             "domain 'NoSuchDomain'"),
            (["user", "list", "--domain", "ghost"], .get, "/api/v1/users?domain=ghost", nil, "domain 'ghost'"),
            (["device", "remove", "ghost"], .delete, "/api/v1/devices/ghost", nil, "device 'ghost'"),
            (["domain", "remove", "ghost"], .delete, "/api/v1/domains/ghost", nil, "domain 'ghost'"),
            // The admin's changes: devices, domains with their rules, settings and tokens.
            (["device", "add", "--name", "cucm9", "--address", "cucm9.lab", "--user", "axl"], .post, "/api/v1/devices",
             #"{"name": "cucm9", "address": "cucm9.lab", "admin_user": "axl", "password": "pw"}"#, "kind"),
            (["device", "add", "--name", "bad#name", "--kind", "cucm", "--address", "cucm9.lab", "--user", "axl"], .post, "/api/v1/devices",
             #"{"name": "bad#name", "kind": "cucm", "address": "cucm9.lab", "admin_user": "axl", "password": "pw"}"#, "name"),
            (["device", "add", "--name", "cucm9", "--kind", "cucm", "--address", "cucm9.lab", "--user", "axl", "--axl-version", "9.9"],
             .post, "/api/v1/devices",
             #"{"name": "cucm9", "kind": "cucm", "address": "cucm9.lab", "admin_user": "axl", "axl_version": "9.9", "password": "pw"}"#, "axl_version"),
            (["device", "edit", "ghost", "--kind", "pbx"], .patch, "/api/v1/devices/ghost", #"{"kind": "pbx"}"#, "kind"),
            (["device", "edit", "ghost", "--address", "ghost.lab"], .patch, "/api/v1/devices/ghost", #"{"address": "ghost.lab"}"#, "device 'ghost'"),
            (["domain", "add", "--name", "Sales", "--mode", "sometimes"], .post, "/api/v1/domains", #"{"name": "Sales", "mode": "sometimes"}"#, "mode"),
            (["domain", "add", "--name", "Sales", "--where", "department ~ Sales"], .post, "/api/v1/domains",
             #"{"name": "Sales", "where": ["department ~ Sales"]}"#, "filter"),
            (["domain", "edit", "ghost", "--rule", "sync-everything"], .patch, "/api/v1/domains/ghost", #"{"rules": ["sync-everything"]}"#, "rule"),
            (["domain", "edit", "ghost", "--update", "all-fields"], .patch, "/api/v1/domains/ghost", #"{"update_policy": "all-fields"}"#,
             "domain 'ghost'"),
            (["settings", "set", "mail.url", "http://x"], .put, "/api/v1/settings/mail.url", #"{"value": "http://x"}"#, "mail.url"),
            (["settings", "set", "mail.colour", "blue"], .put, "/api/v1/settings/mail.colour", #"{"value": "blue"}"#, "key"),
            (["settings", "set", "analog_phone_support", "yes"], .put, "/api/v1/settings/analog_phone_support", #"{"value": "yes"}"#,
             "analog_phone_support"),
            (["settings", "set", "directory_source", "uds"], .put, "/api/v1/settings/directory_source", #"{"value": "uds"}"#,
             "directory_source"),
            (["token", "create", "--name", "bad name", "--role", "viewer"], .post, "/api/v1/tokens", #"{"name": "bad name", "role": "viewer"}"#, "name"),
            (["token", "create", "--name", "hr", "--role", "root"], .post, "/api/v1/tokens", #"{"name": "hr", "role": "root"}"#, "role"),
            (["token", "revoke", "ghost"], .delete, "/api/v1/tokens/ghost", nil, "name"),
            // A line break after the name: ICU's `$` matched before it, the table's CHECK refused it (500).
            (["token", "create", "--name", "ops\n", "--role", "viewer"], .post, "/api/v1/tokens", #"{"name": "ops\n", "role": "viewer"}"#, "name"),
        ]
        for (command, method, path, body, field) in cases {
            let cli = try fixture.processes.run(command)
            XCTAssertEqual(cli.status, 64, "\(command): \(cli.stderr)")
            let line = cli.stderr.trimmingCharacters(in: .newlines)
            XCTAssertTrue(line.hasPrefix("ucp: ") && !line.contains("\n"), line)
            let answer = try fixture.send(method, path, token: admin, body: body)
            XCTAssertTrue([400, 404, 409].contains(answer.status), "\(path): \(answer.status) \(answer.body)")
            XCTAssertEqual(answer.detail, String(line.dropFirst(5)), path)
            XCTAssertEqual(answer.json["field"] as? String, field, path)
        }
        // A name that does not exist is 404, as elsewhere; a value out of range is 400.
        for (method, path, body, status) in [
            (HTTPClientConnection.Method.post, "/api/v1/syncs", #"{"kind": "user", "device": "NoSuchDevice"}"#, 404),
            (.post, "/api/v1/syncs", #"{"kind": "ldap", "domain": "NoSuchDomain"}"#, 404),
            (.get, "/api/v1/audit?since=99999999d", nil, 400),
            (.post, "/api/v1/schedules", #"{"name": "Nightly", "start": "0000-01-01T00:00:00Z", "builder": ["all"]}"#, 400),
        ] {
            let answer = try fixture.send(method, path, token: admin, body: body)
            XCTAssertEqual(answer.status, status, "\(path): \(answer.body)")
        }
        // API-only shapes of bad input name their field too.
        let typed = try fixture.send(.post, "/api/v1/syncs", token: admin, body: #"{"kind": "infra", "device": 7}"#)
        XCTAssertEqual(typed.status, 400)
        XCTAssertEqual(typed.detail, "device: must be a string")
        let extra = try fixture.send(.put, "/api/v1/maintenance", token: admin, body: #"{"active": true, "why": "x"}"#)
        XCTAssertEqual(extra.json["field"] as? String, "why")
        let notJSON = try fixture.send(.post, "/api/v1/syncs", token: admin, body: "kind=infra")
        XCTAssertEqual(notJSON.detail, "body: must be a JSON object")
        // A remote destination with a line break after it was read as a number (and sent to Unified CM so).
        let destination = try fixture.send(.post, "/api/v1/orders/plan", token: admin, body: """
            {"domain": "Cisco", "service_area": "SA", "user": "jdoe", "phone": {"name": "SEP001122334455", "model": "Cisco 8845"},
             "single_number_reach": {"destination": "+15551234567\\n"}}
            """)
        XCTAssertEqual(destination.status, 400, destination.body)
        XCTAssertEqual(destination.json["field"] as? String, "single_number_reach.destination (body line 2)")
        XCTAssertEqual(destination.detail, "single_number_reach.destination (body line 2): '+15551234567\\n' must be a phone number: "
                       + "3 to 24 digits, optionally after '+' (e.g. +15551234567)")

        let after = try await fixture.writes()
        XCTAssertEqual(after, before, "a refusal writes nothing")
    }

    /// A domain's users come a page at a time in user ID order (a directory of 10^5 users is never
    /// read, held and encoded whole for one request); a bad limit is refused naming the field.
    func testUsersAreListedAPageAtATime() async throws {
        let fixture = try await ServeFixture()
        let viewer = try fixture.token("dashboard", role: "viewer")
        try await fixture.owner.query(Statement("", "INSERT INTO domains (name) VALUES ('Sales'), ('Support')"))
        try await fixture.owner.query(Statement("", """
            INSERT INTO users (user_id, domain) SELECT 'user' || lpad(n::text, 2, '0'), 'Sales' FROM generate_series(1, 5) n
            UNION ALL SELECT 'other', 'Support'
            """))
        try await fixture.start()

        func ids(_ answer: APIAnswer) -> [String] {
            (answer.json["users"] as? [[String: Any]] ?? []).compactMap { $0["user_id"] as? String }
        }
        let first = try fixture.send(.get, "/api/v1/users?domain=Sales&limit=2", token: viewer)
        XCTAssertEqual(first.status, 200, first.body)
        XCTAssertEqual(ids(first), ["user01", "user02"])
        XCTAssertEqual(first.json["next_after"] as? String, "user02")
        let last = try fixture.send(.get, "/api/v1/users?domain=Sales&limit=3&after=user02", token: viewer)
        XCTAssertEqual(ids(last), ["user03", "user04", "user05"])
        XCTAssertEqual(last.json["next_after"] as? String, "user05", "a full page says there may be more")
        let empty = try fixture.send(.get, "/api/v1/users?domain=Sales&limit=3&after=user05", token: viewer)
        XCTAssertEqual(ids(empty), [])
        XCTAssertTrue(empty.json["next_after"] is NSNull)
        let whole = try fixture.send(.get, "/api/v1/users?domain=Sales", token: viewer)
        XCTAssertEqual(ids(whole), ["user01", "user02", "user03", "user04", "user05"])
        XCTAssertTrue(whole.json["next_after"] is NSNull)

        let tooMany = try fixture.send(.get, "/api/v1/users?domain=Sales&limit=10001", token: viewer)
        XCTAssertEqual(tooMany.status, 400, tooMany.body)
        XCTAssertEqual(tooMany.detail, "limit: must be from 1 to 10000")
    }

    /// A job's log comes a page at a time, oldest first (a long sync's log is never read whole for one
    /// request); `ucp jobs log` prints every line.
    func testJobLogIsReadAPageAtATime() async throws {
        let fixture = try await ServeFixture()
        let viewer = try fixture.token("dashboard", role: "viewer")
        try await fixture.owner.query(Statement("", "INSERT INTO jobs (id, kind, type, state, finished_at) VALUES (7, 'sync', 'sync.infra', 'succeeded', now())"))
        try await fixture.owner.query(Statement("", """
            INSERT INTO job_logs (job_id, attempt, level, message) SELECT 7, 1, 'info', 'line ' || n FROM generate_series(1, 5) n
            """))
        try await fixture.start()

        func messages(_ answer: APIAnswer) -> [String] {
            (answer.json["lines"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        }
        let first = try fixture.send(.get, "/api/v1/jobs/7/log?limit=3", token: viewer)
        XCTAssertEqual(first.status, 200, first.body)
        XCTAssertEqual(messages(first), ["line 1", "line 2", "line 3"])
        let next = try XCTUnwrap(first.json["next_after"] as? NSNumber, first.body)
        let rest = try fixture.send(.get, "/api/v1/jobs/7/log?limit=3&after=\(next)", token: viewer)
        XCTAssertEqual(messages(rest), ["line 4", "line 5"])
        XCTAssertTrue(rest.json["next_after"] is NSNull)
        XCTAssertEqual(messages(try fixture.send(.get, "/api/v1/jobs/7/log", token: viewer)).count, 5)
        let bad = try fixture.send(.get, "/api/v1/jobs/7/log?limit=0", token: viewer)
        XCTAssertEqual(bad.status, 400, bad.body)
        XCTAssertEqual(bad.detail, "limit: must be from 1 to 100000")

        let printed = try fixture.processes.run(["jobs", "log", "7"])
        XCTAssertEqual(printed.status, 0, printed.stderr)
        XCTAssertEqual(printed.stdout.split(separator: "\n").map { String($0.split(separator: ":").last ?? "") }.map { $0.trimmingCharacters(in: .whitespaces) },
                       ["line 1", "line 2", "line 3", "line 4", "line 5"])
    }

    /// A started server, an operator's token ("hr-onboarding") and a call processor 'cucm-lab' to sync.
    func serverWithOperatorAndDevice() async throws -> (fixture: ServeFixture, token: String) {
        let fixture = try await ServeFixture()
        let hr = try fixture.token("hr-onboarding", role: "operator")
        try await fixture.start()
        try await fixture.owner.query(Statement("", """
            INSERT INTO devices (name, kind, address, port, admin_user) VALUES ('cucm-lab', 'call_processor', 'cucm.lab.example', 8443, 'axl')
            """))
        return (fixture, hr)
    }

    func testSyncSubmitIsIdempotentPerKeyAndAuditedAsTheToken() async throws {
        let (fixture, hr) = try await serverWithOperatorAndDevice()
        let body = #"{"kind": "infra", "device": "cucm-lab"}"#
        let first = try fixture.send(.post, "/api/v1/syncs", token: hr, body: body, headers: ["Idempotency-Key: 7f1c"])
        XCTAssertEqual(first.status, 202, first.body)
        XCTAssertEqual(first.json["created"] as? Bool, true)
        let job = try XCTUnwrap(first.json["job"] as? [String: Any])
        XCTAssertEqual(job["submitted_by"] as? String, "hr-onboarding")
        XCTAssertEqual(job["type"] as? String, "sync.infra")

        let retry = try fixture.send(.post, "/api/v1/syncs", token: hr, body: body, headers: ["Idempotency-Key: 7f1c"])
        XCTAssertEqual(retry.status, 202)
        XCTAssertEqual(retry.body, first.body, "a retry gets the first answer")
        let other = try fixture.send(.post, "/api/v1/syncs", token: hr, body: #"{"kind": "user", "device": "cucm-lab"}"#,
                                     headers: ["Idempotency-Key: 7f1c"])
        XCTAssertEqual(other.status, 409)
        XCTAssertEqual(other.detail, "Idempotency-Key: already used with another request")
        // Without a key the queue's own de-duplication answers: the same sync, not queued again.
        let again = try fixture.send(.post, "/api/v1/syncs", token: hr, body: body)
        XCTAssertEqual(again.status, 200)
        XCTAssertEqual(again.json["created"] as? Bool, false)
        XCTAssertEqual((again.json["job"] as? [String: Any])?["id"] as? Int, job["id"] as? Int)

        let counts = try await fixture.writes()
        XCTAssertEqual(counts["jobs"], 1)
        XCTAssertEqual(counts["keys"], 1)
        // A key's answer is kept for a day; after it the key is free again, and the old answer is gone.
        try await fixture.owner.query(Statement("", "UPDATE api_idempotency_keys SET created_at = now() - interval '25 hours'"))
        let dayLater = try fixture.send(.post, "/api/v1/syncs", token: hr, body: #"{"kind": "user", "device": "cucm-lab"}"#,
                                        headers: ["Idempotency-Key: 7f1c"])
        XCTAssertEqual(dayLater.status, 202, dayLater.body)
        let kept: [String] = try await fixture.owner.query(Statement("", "SELECT body FROM api_idempotency_keys")).map { try $0.decode("body") }
        XCTAssertEqual(kept, [dayLater.body], "the expired answer is deleted, the new one kept")
        let maintenance = try fixture.send(.put, "/api/v1/maintenance", token: hr, body: #"{"active": true}"#)
        XCTAssertEqual(maintenance.status, 200, maintenance.body)
        XCTAssertEqual(maintenance.json["active"] as? Bool, true)
        let audit = try fixture.send(.get, "/api/v1/audit?actor=hr-onboarding", token: hr)
        let actions = (audit.json["entries"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
        XCTAssertTrue(actions.contains("sync.queued"), "the submit is audited as the token: \(actions)")
        XCTAssertTrue(actions.contains("maintenance.manual_on"), "the switch is audited as the token: \(actions)")
    }

    /// Two requests of one token sent together with one key and different bodies: one is answered, the
    /// other refused (409), never both queued. (The key was read before the work and recorded after
    /// it, so both read it free.) Then the key answers as before: a replay, or 409 for another body.
    func testOneKeySentTwiceAtOnceIsAnsweredOnce() async throws {
        let (fixture, hr) = try await serverWithOperatorAndDevice()
        let bodies = [#"{"kind": "infra", "device": "cucm-lab", "priority": 1}"#, #"{"kind": "user", "device": "cucm-lab", "priority": 2}"#]
        for round in 1...10 {
            let key = "Idempotency-Key: race-\(round)"
            let answers = Mutex<[Int: APIAnswer]>([:])
            DispatchQueue.concurrentPerform(iterations: 2) { index in
                let answer = (try? fixture.send(.post, "/api/v1/syncs", token: hr, body: bodies[index], headers: [key]))
                    ?? APIAnswer(status: 0, body: "not sent")
                answers.withLock { $0[index] = answer }
            }
            let both = answers.withLock { $0 }
            let refused = both.filter { $0.value.status == 409 }
            XCTAssertEqual(refused.count, 1, "round \(round): \(both.mapValues { "\($0.status) \($0.body)" })")
            guard let (winner, answer) = both.first(where: { $0.value.status != 409 }) else { continue }
            XCTAssertTrue([200, 202].contains(answer.status), answer.body)
            XCTAssertEqual(refused.first?.value.json["field"] as? String, "Idempotency-Key")
            let replay = try fixture.send(.post, "/api/v1/syncs", token: hr, body: bodies[winner], headers: [key])
            XCTAssertEqual(replay.status, answer.status)
            XCTAssertEqual(replay.body, answer.body, "round \(round): the answer kept is the one given")
            let other = try fixture.send(.post, "/api/v1/syncs", token: hr, body: bodies[1 - winner], headers: [key])
            XCTAssertEqual(other.status, 409, other.body)
            XCTAssertEqual(other.detail, "Idempotency-Key: already used with another request")
        }
        let counts = try await fixture.writes()
        XCTAssertEqual(counts["keys"], 10, "one answer a key")
    }

    /// `POST /api/v1/domains/{name}/write-back` is `ucp domain write-back`: the same refusals (the
    /// command's own line as `detail`: 404 for no such domain, 409 while the attribute is "Do not write
    /// to LDAP" or a synchronization of the domain is queued, 400 without a directory source; nothing
    /// written), the same job (202, queued as the token; 200 when one is queued already), which then
    /// refuses the domain's LDAP synchronization; a viewer may not start it.
    func testDomainWriteBackIsQueuedAndRefusedAsTheCommandDoes() async throws {
        let keyFile = NSTemporaryDirectory() + "ucp-key-\(UUID().uuidString)"
        let passwordFile = NSTemporaryDirectory() + "ucp-ldap-\(UUID().uuidString)"
        defer { unlink(keyFile); unlink(passwordFile) }
        let fixture = try await ServeFixture(environment: ["UCP_SECRET_KEY_FILE": keyFile])
        func ucp(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            let result = try fixture.processes.run(arguments)
            return (result.status, result.stdout, result.stderr)
        }
        XCTAssertEqual(try ucp(["secret-key", "generate", "--file", keyFile]).status, 0)
        try "secret".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        for arguments in [["domain", "add", "--name", "Sales"],
                          ["device", "add", "--name", "corp-ad", "--kind", "ldap", "--server-type", "ad", "--address", "127.0.0.1",
                           "--port", "389", "--user", "cn=sync,dc=example,dc=com", "--password-file", passwordFile]] {
            let made = try ucp(arguments)
            XCTAssertEqual(made.status, 0, "\(arguments): \(made.stderr)")
        }
        let hr = try fixture.token("hr-onboarding", role: "operator")
        let viewer = try fixture.token("reader", role: "viewer")
        try await fixture.start()

        /// The route refuses as the command does: its line, its field, the status given, nothing written.
        func refused(_ domain: String, status: Int, field: String, file: StaticString = #filePath, line: UInt = #line) async throws -> String {
            let before = try await fixture.writes()
            let cli = try ucp(["domain", "write-back", domain])
            XCTAssertEqual(cli.status, 64, cli.stderr, file: file, line: line)
            let answer = try fixture.send(.post, "/api/v1/domains/\(domain)/write-back", token: hr)
            XCTAssertEqual(answer.status, status, answer.body, file: file, line: line)
            XCTAssertEqual(answer.detail, String(cli.stderr.trimmingCharacters(in: .newlines).dropFirst(5)), file: file, line: line)
            XCTAssertEqual(answer.json["field"] as? String, field, file: file, line: line)
            let after = try await fixture.writes()
            XCTAssertEqual(after, before, "a refusal writes nothing", file: file, line: line)
            return answer.detail
        }
        _ = try await refused("Ghost", status: 404, field: "domain 'Ghost'")
        let none = try await refused("Sales", status: 409, field: "domain 'Sales'")
        XCTAssertTrue(none.contains("Start Write Back to LDAP is disabled"), none)
        XCTAssertEqual(try ucp(["domain", "edit", "Sales", "--write-back-attribute", "ipPhone"]).status, 0)
        let noDirectory = try await refused("Sales", status: 400, field: "domain 'Sales'")
        XCTAssertTrue(noDirectory.contains("has no directory source to write back to"), noDirectory)
        let edited = try ucp(["domain", "edit", "Sales", "--directory", "corp-ad", "--search-base", "ou=People,dc=example,dc=com"])
        XCTAssertEqual(edited.status, 0, edited.stderr)

        let forbidden = try fixture.send(.post, "/api/v1/domains/Sales/write-back", token: viewer)
        XCTAssertEqual(forbidden.status, 403, forbidden.body)
        let queued = try fixture.send(.post, "/api/v1/domains/Sales/write-back", token: hr)
        XCTAssertEqual(queued.status, 202, queued.body)
        XCTAssertEqual(queued.json["created"] as? Bool, true)
        let job = try XCTUnwrap(queued.json["job"] as? [String: Any])
        let id = try XCTUnwrap(job["id"] as? Int)
        XCTAssertEqual(job["type"] as? String, "writeback.domain")
        XCTAssertEqual(job["target"] as? String, "Sales")
        XCTAssertEqual(job["submitted_by"] as? String, "hr-onboarding")
        let again = try fixture.send(.post, "/api/v1/domains/Sales/write-back", token: hr)
        XCTAssertEqual(again.status, 200, again.body)
        XCTAssertEqual(again.json["created"] as? Bool, false)
        XCTAssertEqual((again.json["job"] as? [String: Any])?["id"] as? Int, id)
        XCTAssertTrue(try ucp(["domain", "write-back", "Sales"]).stdout.contains("job \(id): a write back to LDAP of 'Sales' is already queued"))
        await assertEqual(try await fixture.writes()["jobs"], 1)

        // Queued, it refuses the domain's LDAP synchronization; a queued LDAP synchronization refuses it.
        let sync = try fixture.send(.post, "/api/v1/syncs", token: hr, body: #"{"kind": "ldap", "domain": "Sales"}"#)
        XCTAssertEqual(sync.status, 409, sync.body)
        XCTAssertTrue(sync.detail.contains("synchronization is disabled while its write back to LDAP (job \(id), queued) is queued or running"), sync.detail)
        XCTAssertEqual(try fixture.send(.post, "/api/v1/jobs/\(id)/cancel", token: hr).status, 200)
        let ldap = try fixture.send(.post, "/api/v1/syncs", token: hr, body: #"{"kind": "ldap", "domain": "Sales"}"#)
        XCTAssertEqual(ldap.status, 202, ldap.body)
        let busy = try await refused("Sales", status: 409, field: "domain 'Sales'")
        XCTAssertTrue(busy.contains("write back to LDAP is disabled while its LDAP synchronization"), busy)
    }

    /// An admin's token makes, lists and revokes tokens, adds and edits devices and domains (with their
    /// rules) and sets settings through the API; the commands see the result, and the audit trail
    /// names the admin's token.
    func testAdminChangesThroughTheAPI() async throws {
        let fixture = try await ServeFixture.sealing()
        let admin = try fixture.token("it-admin", role: "admin")
        try await fixture.start()

        let made = try fixture.send(.post, "/api/v1/tokens", token: admin, body: #"{"name": "hr-onboarding", "role": "operator"}"#)
        XCTAssertEqual(made.status, 201, made.body)
        let secret = try XCTUnwrap(made.json["secret"] as? String)
        XCTAssertTrue(secret.hasPrefix("ucp_"))
        let madeHeaders = try fixture.headers(.post, "/api/v1/tokens", token: admin, body: #"{"name": "hr-payroll", "role": "viewer"}"#)
        XCTAssertEqual(madeHeaders["cache-control"], "no-store", "no cache keeps the answer that holds the secret: \(madeHeaders)")
        XCTAssertEqual((made.json["token"] as? [String: Any])?["role"] as? String, "operator")
        XCTAssertEqual(try fixture.send(.get, "/api/v1/status", token: secret).status, 200, "the new token works")
        let twice = try fixture.send(.post, "/api/v1/tokens", token: admin, body: #"{"name": "hr-onboarding", "role": "viewer"}"#)
        XCTAssertEqual(twice.status, 409, twice.body)
        let listed = try fixture.send(.get, "/api/v1/tokens", token: admin)
        XCTAssertEqual((listed.json["tokens"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["hr-onboarding", "hr-payroll", "it-admin"])
        XCTAssertFalse(listed.body.contains(secret), "a listing never holds a secret")
        let revoked = try fixture.send(.delete, "/api/v1/tokens/hr-onboarding", token: admin)
        XCTAssertEqual(revoked.status, 200, revoked.body)
        XCTAssertNotNil(revoked.json["revoked_at"] as? String)
        XCTAssertEqual(try fixture.send(.get, "/api/v1/status", token: secret).status, 401, "a revoked token stops working at once")

        let added = try fixture.send(.post, "/api/v1/devices", token: admin, body: """
            {"name": "cucm-lab", "kind": "cucm", "address": "cucm.lab.example", "admin_user": "axl", "password": "s3cret-pw", "verify_tls": false}
            """)
        XCTAssertEqual(added.status, 201, added.body)
        XCTAssertEqual(added.json["password"] as? String, "set (encrypted)")
        XCTAssertFalse(added.body.contains("s3cret-pw"))
        let edited = try fixture.send(.patch, "/api/v1/devices/cucm-lab", token: admin, body: #"{"version": "12.5", "port": 9443}"#)
        XCTAssertEqual(edited.status, 200, edited.body)
        XCTAssertEqual(edited.json["port"] as? Int, 9443)
        let shown = try fixture.processes.run(["device", "show", "cucm-lab", "--json"])
        XCTAssertTrue(shown.stdout.contains("9443"), shown.stdout)

        let domain = try fixture.send(.post, "/api/v1/domains", token: admin, body: #"{"name": "Sales", "stale_user_action": "delete-user"}"#)
        XCTAssertEqual(domain.status, 201, domain.body)
        let ruled = try fixture.send(.patch, "/api/v1/domains/Sales", token: admin,
                                     body: #"{"rules": ["sync-all-users", "match-department=Sales,Support"], "delete_guard_count": 20}"#)
        XCTAssertEqual(ruled.status, 200, ruled.body)
        let rulesShown = try fixture.processes.run(["domain", "show", "Sales"])
        XCTAssertTrue(rulesShown.stdout.contains("20 users"), rulesShown.stdout)
        XCTAssertTrue(rulesShown.stdout.contains("Sales,Support") || rulesShown.stdout.contains("Sales, Support"), rulesShown.stdout)

        let set = try fixture.send(.put, "/api/v1/settings/mail.recipients", token: admin, body: #"{"value": "ops@example.com, it@example.com"}"#)
        XCTAssertEqual(set.status, 200, set.body)
        XCTAssertEqual((set.json["settings"] as? [String: Any])?["mail.recipients"] as? [String], ["ops@example.com", "it@example.com"])
        let password = try fixture.send(.put, "/api/v1/settings/mail.password", token: admin, body: #"{"value": "smtp-pw"}"#)
        XCTAssertEqual((password.json["settings"] as? [String: Any])?["mail.password"] as? String, "set (encrypted)")
        XCTAssertFalse(password.body.contains("smtp-pw"))
        // An empty value clears it, as every mail setting (`ucp settings unset mail.password`).
        let clearedPassword = try fixture.send(.put, "/api/v1/settings/mail.password", token: admin, body: #"{"value": ""}"#)
        XCTAssertEqual(clearedPassword.status, 200, clearedPassword.body)
        XCTAssertEqual((clearedPassword.json["settings"] as? [String: Any])?["mail.password"] as? String, "not set")
        // The directory search source: as the command, UDS queues the directory job.
        let source = try fixture.send(.put, "/api/v1/settings/directory_source", token: admin, body: #"{"value": "call_processor"}"#)
        XCTAssertEqual(source.status, 200, source.body)
        XCTAssertEqual((source.json["settings"] as? [String: Any])?["directory_source"] as? String, "call_processor", source.body)
        let directoryJobs: Int64 = try await fixture.owner.query(Statement("", "SELECT count(*) AS n FROM jobs WHERE type = 'directory.sync'"))
            .first!.decode("n")
        XCTAssertEqual(directoryJobs, 1)
        let shownSource = try fixture.processes.run(["settings", "show"])
        XCTAssertTrue(shownSource.stdout.contains("directory_source") && shownSource.stdout.contains("call_processor"), shownSource.stdout)

        let actors: [String] = try await fixture.owner.query(Statement("", """
            SELECT actor FROM audit_log WHERE action IN ('api.token.create', 'api.token.revoke', 'device.added', 'device.changed',
                                                         'domain.added', 'domain.changed', 'domain.rules_changed', 'settings.changed') ORDER BY id
            """)).map { try $0.decode("actor") }
        XCTAssertGreaterThanOrEqual(actors.count, 7, "\(actors)")
        XCTAssertEqual(Set(actors.dropFirst()), ["it-admin"], "every change through the API is audited as the token: \(actors)")
        let log = fixture.processes.log("serve")
        for leaked in [secret, admin, "s3cret-pw", "smtp-pw"] { XCTAssertFalse(log.contains(leaked)) }
    }

    /// Names may hold spaces (and other characters a URL escapes): a path carries them percent-encoded,
    /// and the server reads the name, not its escapes; a broken escape is refused in one line.
    func testNamesWithSpacesAreReachedThroughTheirEncodedPath() async throws {
        let fixture = try await ServeFixture.sealing()
        let admin = try fixture.token("it-admin", role: "admin")
        try await fixture.start()
        XCTAssertEqual(try fixture.processes.run(["domain", "add", "--name", "Sales East"]).status, 0)
        let shown = try fixture.send(.get, "/api/v1/domains/Sales%20East", token: admin)
        XCTAssertEqual(shown.status, 200, shown.body)
        XCTAssertEqual(shown.json["name"] as? String, "Sales East", shown.body)
        let added = try fixture.send(.post, "/api/v1/devices", token: admin, body: """
            {"name": "lab cucm", "kind": "cucm", "address": "cucm.lab.example", "admin_user": "axl", "password": "pw"}
            """)
        XCTAssertEqual(added.status, 201, added.body)
        let removed = try fixture.send(.delete, "/api/v1/devices/lab%20cucm", token: admin)
        XCTAssertEqual(removed.status, 204, removed.body)
        XCTAssertFalse(try fixture.processes.run(["device", "list"]).stdout.contains("lab cucm"), "the device is removed")
        let broken = try fixture.send(.get, "/api/v1/domains/Sales%E", token: admin)
        XCTAssertEqual(broken.status, 400, broken.body)
        XCTAssertEqual(broken.json["field"] as? String, "name", broken.body)
    }

    /// A client that opens a connection and sends half a request head is cut off after the idle
    /// timeout (slowloris); a bad value of the option is refused in one line.
    func testAConnectionThatTricklesHalfAHeaderIsClosed() async throws {
        let fixture = try await ServeFixture()
        let refused = try fixture.processes.run(["serve", "--listen", "127.0.0.1:0", "--idle-timeout", "0s"])
        XCTAssertEqual(refused.status, 64, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("idle-timeout: must be from 1s to 1h (got '0s')"), refused.stderr)
        try await fixture.start(["--idle-timeout", "1s"])
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(socket, 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(fixture.port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        let half = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n".utf8)
        XCTAssertEqual(send(socket, half, half.count, 0), half.count)
        // Blocks until the server closes the connection (0: end of stream); 60 s at most.
        var limit = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let started = Date()
        var buffer = [UInt8](repeating: 0, count: 256)
        let read = recv(socket, &buffer, buffer.count, 0)
        XCTAssertEqual(read, 0, "the server closed the half-open request's connection")
        XCTAssertLessThan(Date().timeIntervalSince(started), 55, "closed by the idle timeout, not by the test's limit")
        XCTAssertEqual(try fixture.send(.get, "/healthz").status, 200, "whole requests are served as before")
    }
}
