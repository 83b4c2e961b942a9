import Foundation
import Postgres
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
            (["device", "remove", "ghost"], .delete, "/api/v1/devices/ghost", nil, "device 'ghost'"),
            (["domain", "remove", "ghost"], .delete, "/api/v1/domains/ghost", nil, "domain 'ghost'"),
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
        // API-only shapes of bad input name their field too.
        let typed = try fixture.send(.post, "/api/v1/syncs", token: admin, body: #"{"kind": "infra", "device": 7}"#)
        XCTAssertEqual(typed.status, 400)
        XCTAssertEqual(typed.detail, "device: must be a string")
        let extra = try fixture.send(.put, "/api/v1/maintenance", token: admin, body: #"{"active": true, "why": "x"}"#)
        XCTAssertEqual(extra.json["field"] as? String, "why")
        let notJSON = try fixture.send(.post, "/api/v1/syncs", token: admin, body: "kind=infra")
        XCTAssertEqual(notJSON.detail, "body: must be a JSON object")

        let after = try await fixture.writes()
        XCTAssertEqual(after, before, "a refusal writes nothing")
    }

    func testSyncSubmitIsIdempotentPerKeyAndAuditedAsTheToken() async throws {
        let fixture = try await ServeFixture()
        let hr = try fixture.token("hr-onboarding", role: "operator")
        try await fixture.start()

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
        let maintenance = try fixture.send(.put, "/api/v1/maintenance", token: hr, body: #"{"active": true}"#)
        XCTAssertEqual(maintenance.status, 200, maintenance.body)
        XCTAssertEqual(maintenance.json["active"] as? Bool, true)
        let audit = try fixture.send(.get, "/api/v1/audit?actor=hr-onboarding", token: hr)
        let actions = (audit.json["entries"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
        XCTAssertTrue(actions.contains("sync.queued"), "the submit is audited as the token: \(actions)")
        XCTAssertTrue(actions.contains("maintenance.manual_on"), "the switch is audited as the token: \(actions)")
    }
}
