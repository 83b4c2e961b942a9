import APIServer
import Foundation
import HTTPAPI
import Logging
import Postgres
import Queue
import TestSupport
import Transport
import XCTest

/// Every route × {no token, viewer, operator, admin, revoked token}: open, 401, 403 or 2xx as the
/// route table says; a refusal writes nothing; no token's secret ever reaches the server's log.
final class RoleMatrixTests: XCTestCase {
    enum Caller: String, CaseIterable { case none, viewer, `operator`, admin, revoked }

    func testEveryRouteForEveryCaller() async throws {
        // The server seals the passwords of devices added through the API with this key.
        let keyFile = NSTemporaryDirectory() + "ucp-key-\(UUID().uuidString)"
        defer { unlink(keyFile) }
        let fixture = try await ServeFixture(environment: ["UCP_SECRET_KEY_FILE": keyFile])
        let processes = fixture.processes
        var secrets: [Caller: String] = [:]
        for caller in [Caller.viewer, .operator, .admin, .revoked] {
            secrets[caller] = try fixture.token("matrix-\(caller.rawValue)", role: caller == .revoked ? "admin" : caller.rawValue)
        }
        XCTAssertEqual(try processes.run(["token", "revoke", "matrix-revoked"]).status, 0)

        // What the allowed calls act on.
        XCTAssertEqual(try processes.run(["secret-key", "generate", "--file", keyFile]).status, 0)
        for device in ["cucm-keep", "cucm-doomed"] {
            let added = try CommandResult.run(
                ["/bin/sh", "-c", "printf 'pw\\n' | \"$0\" \"$@\"", PackagePaths.ucp, "device", "add", "--name", device, "--kind", "cucm",
                 "--address", "cucm.lab.example", "--user", "axl", "--password-stdin"],
                environment: processes.environment)
            XCTAssertEqual(added.status, 0, added.stderr)
        }
        // A directory, for a domain whose write back to LDAP may start.
        let directory = try CommandResult.run(
            ["/bin/sh", "-c", "printf 'pw\\n' | \"$0\" \"$@\"", PackagePaths.ucp, "device", "add", "--name", "corp-ad", "--kind", "ldap",
             "--server-type", "ad", "--address", "127.0.0.1", "--port", "389", "--user", "cn=sync,dc=example,dc=com", "--password-stdin"],
            environment: processes.environment)
        XCTAssertEqual(directory.status, 0, directory.stderr)
        for arguments in [["domain", "add", "--name", "Sales"], ["domain", "add", "--name", "Doomed"], ["domain", "add", "--name", "Directory"],
                          ["domain", "edit", "Directory", "--write-back-attribute", "ipPhone", "--directory", "corp-ad",
                           "--search-base", "ou=People,dc=example,dc=com"],
                          ["schedule", "add", "--name", "Nightly", "--every", "1d", "--builder", "cp"],
                          ["schedule", "add", "--name", "Doomed", "--builder", "cp"]] {
            let done = try processes.run(arguments)
            XCTAssertEqual(done.status, 0, "\(arguments): \(done.stderr)")
        }
        try await fixture.owner.query(Statement("", """
            INSERT INTO service_areas (domain, name, call_processor, device_pool) VALUES ('Sales', 'London', 'cucm-keep', 'DP-London')
            """))
        try await fixture.owner.query(Statement("", """
            INSERT INTO service_area_dn_blocks (domain, service_area, first_number, last_number) VALUES ('Sales', 'London', '4000', '4999')
            """))
        try await fixture.owner.query(Statement("", "INSERT INTO users (user_id, domain, first_name) VALUES ('jdoe', 'Sales', 'Jane')"))
        /// A stored order in `state` with one step (`done` for a succeeded one, so its cancel has something to undo),
        /// of a user of its own: a cancel is refused while another order of its user is open (one rolled back above).
        var storedLine = 4999
        func storedOrder(_ state: String) async throws -> Int64 {
            storedLine -= 1
            let user = "stored-\(storedLine)"
            try await fixture.owner.query(Statement("", "INSERT INTO users (user_id, domain, first_name) VALUES ($1, 'Sales', 'Stored')"), [user])
            let id: Int64 = try await fixture.owner.query(Statement("", """
                INSERT INTO orders (kind, domain, service_area, user_id, call_processor, line, phone, state, submitted_by)
                VALUES ('add', 'Sales', 'London', $3, 'cucm-keep', $2, 'SEP' || upper(substr(md5(random()::text), 1, 12)), $1, 'setup')
                RETURNING id
                """), [state, String(storedLine), user]).first!.decode("id")
            try await fixture.owner.query(Statement("", """
                INSERT INTO order_steps (order_id, position, name, device, call, state)
                VALUES ($1, 1, 'user', 'cucm-keep', '[{"operation": "addUser", "values": []}]', $2)
                """), [id, state == "succeeded" ? "done" : "failed"])
            return id
        }
        /// An add order of a user of its own: a user with an open order (jdoe's above) gets no other.
        func orderFile() async throws -> String {
            let user = "matrix-" + UUID().uuidString.prefix(8).lowercased()
            try await fixture.owner.query(Statement("", "INSERT INTO users (user_id, domain, first_name) VALUES ($1, 'Sales', 'Matrix')"), [user])
            return #"{"domain": "Sales", "service_area": "London", "user": "\#(user)", "phone": {"name": "SEP\#(UUID().uuidString.prefix(12).replacingOccurrences(of: "-", with: "0"))", "model": "Cisco 8845"}}"#
        }
        let order: Int64 = try await fixture.owner.query(Statement("", """
            INSERT INTO orders (kind, domain, service_area, user_id, call_processor, submitted_by)
            VALUES ('add', 'Sales', 'London', 'jdoe', 'cucm-keep', 'setup') RETURNING id
            """)).first!.decode("id")
        let store = QueueStore(Connection(fixture.database.app))
        let later = Date().addingTimeInterval(86400)
        let shown = try await store.jobEnqueue(.init(kind: .order, type: "noop", runAt: later, actor: "setup")).id
        try await fixture.start()

        /// The concrete request for a route and, where an allowed call consumes something, a fresh one.
        func request(_ route: Route, consume: Bool) async throws -> (path: String, body: String?) {
            switch (consume ? route.method : "", route.path) {
            case ("POST", "/api/v1/jobs/{id}/cancel"):
                let id = try await store.jobEnqueue(.init(kind: .order, type: "noop", runAt: later, actor: "setup")).id
                return ("/api/v1/jobs/\(id)/cancel", nil)
            case ("POST", "/api/v1/jobs/{id}/stop-stuck"):
                // A running sync whose progress stands still: the only claimable job (the others wait until tomorrow).
                let id = try await store.jobEnqueue(.init(kind: .deviceSync, type: "sync.infra", target: "stuck-\(UUID().uuidString.prefix(8))",
                                                          actor: "setup")).id
                let claimed = try await store.jobClaim(worker: "matrix-worker", slots: 1, leaseSeconds: 600)
                XCTAssertEqual(claimed.map(\.id), [id])
                return ("/api/v1/jobs/\(id)/stop-stuck", #"{"idle": "0s"}"#)
            case ("POST", "/api/v1/syncs"): return ("/api/v1/syncs", #"{"kind": "user", "device": "cucm-keep"}"#)
            // A domain without service areas: the user sync queued above does not hold its write-back back.
            case ("POST", "/api/v1/domains/{name}/write-back"): return ("/api/v1/domains/Directory/write-back", nil)
            case ("PUT", "/api/v1/maintenance"): return ("/api/v1/maintenance", #"{"active": false}"#)
            case ("POST", "/api/v1/schedules"):
                return ("/api/v1/schedules", #"{"name": "Made \#(UUID().uuidString.prefix(8))", "builder": ["cp"]}"#)
            case ("PATCH", "/api/v1/schedules/{name}"): return ("/api/v1/schedules/Nightly", #"{"every": "2d"}"#)
            case ("DELETE", "/api/v1/schedules/{name}"): return ("/api/v1/schedules/Doomed", nil)
            case ("DELETE", "/api/v1/devices/{name}"): return ("/api/v1/devices/cucm-doomed", nil)
            case ("DELETE", "/api/v1/domains/{name}"): return ("/api/v1/domains/Doomed", nil)
            case ("POST", "/api/v1/devices"):
                return ("/api/v1/devices", #"{"name": "made-\#(UUID().uuidString.prefix(8))", "kind": "cucm", "address": "cucm.lab.example", "admin_user": "axl", "password": "pw"}"#)
            case ("PATCH", "/api/v1/devices/{name}"): return ("/api/v1/devices/cucm-keep", #"{"address": "cucm2.lab.example"}"#)
            case ("POST", "/api/v1/domains"): return ("/api/v1/domains", #"{"name": "Made \#(UUID().uuidString.prefix(8))"}"#)
            case ("PATCH", "/api/v1/domains/{name}"): return ("/api/v1/domains/Sales", #"{"rules": ["sync-all-users"]}"#)
            case ("POST", "/api/v1/tokens"): return ("/api/v1/tokens", #"{"name": "made-\#(UUID().uuidString.prefix(8))", "role": "viewer"}"#)
            case ("DELETE", "/api/v1/tokens/{name}"):
                let name = "doomed-\(UUID().uuidString.prefix(8))"
                _ = try fixture.token(name, role: "viewer")
                return ("/api/v1/tokens/\(name)", nil)
            case ("PUT", "/api/v1/settings/{key}"): return ("/api/v1/settings/analog_phone_support", #"{"value": "on"}"#)
            case ("POST", "/api/v1/orders"), ("POST", "/api/v1/orders/plan"): return (route.path, try await orderFile())
            case ("POST", "/api/v1/orders/{id}/retry"): return ("/api/v1/orders/\(try await storedOrder("failed"))/retry", nil)
            case ("POST", "/api/v1/orders/{id}/rollback"): return ("/api/v1/orders/\(try await storedOrder("failed"))/rollback", nil)
            case ("POST", "/api/v1/orders/{id}/cancel"): return ("/api/v1/orders/\(try await storedOrder("succeeded"))/cancel", nil)
            default:
                let path = route.path.replacingOccurrences(of: "{id}", with: "\(route.path.hasPrefix("/api/v1/orders") ? order : shown)")
                    .replacingOccurrences(of: "/devices/{name}", with: "/devices/cucm-keep")
                    .replacingOccurrences(of: "{name}", with: route.path.hasPrefix("/api/v1/schedules") ? "Nightly" : "Sales")
                    .replacingOccurrences(of: "{area}", with: "London").replacingOccurrences(of: "{key}", with: "mail.url").replacingOccurrences(of: "{user_id}", with: "jdoe")
                return (path + (route.path == "/api/v1/users" ? "?domain=Sales" : ""), nil)
            }
        }

        var checked = 0
        for route in AccessPolicy.routes {
            let method = try XCTUnwrap(HTTPClientConnection.Method(rawValue: route.method), route.method)
            for caller in Caller.allCases {
                let expected: ClosedRange<Int>
                switch (route.role, caller) {
                // Signing in checks the token the form carries; signing out is open and sends back to the page.
                case (nil, _) where route.path == "/sign-in": expected = caller == .none || caller == .revoked ? 401...401 : 303...303
                case (nil, _) where route.path == "/sign-out": expected = 303...303
                case (nil, _): expected = 200...299
                case (_, .none), (_, .revoked): expected = 401...401
                case (let needed?, _): expected = APIRole(rawValue: caller.rawValue)! >= needed ? 200...299 : 403...403
                }
                let refused = expected.lowerBound >= 400
                // A refused call is not given anything to consume: it must not get that far.
                var (path, body) = try await request(route, consume: !refused)
                if route.path == "/sign-in" { body = "token=" + (secrets[caller] ?? "") }
                let before = try await fixture.writes()
                let answer = try fixture.send(method, path, token: route.path == "/sign-in" ? nil : secrets[caller], body: body)
                XCTAssertTrue(expected.contains(answer.status),
                              "\(route.method) \(path) as \(caller): \(answer.status) \(answer.body)")
                if refused {
                    await assertEqual(try await fixture.writes(), before, "\(route.method) \(route.path) as \(caller) wrote")
                    XCTAssertTrue(answer.json["detail"] is String || answer.body.contains("<form method=\"post\" action=\"/sign-in\""),
                                  "a refusal is a problem document, or the sign-in form: \(answer.body)")
                }
                checked += 1
            }
        }
        XCTAssertEqual(checked, AccessPolicy.routes.count * Caller.allCases.count)

        // The changes were made as the tokens: the audit trail names them, never a secret.
        let actors: [String] = try await fixture.owner.query(Statement("", "SELECT DISTINCT actor FROM audit_log ORDER BY actor"))
            .map { try $0.decode("actor") }
        XCTAssertTrue(Set(actors).isSuperset(of: ["matrix-admin", "matrix-operator"]), "\(actors)")
        XCTAssertFalse(actors.contains("matrix-viewer"), "a viewer changed something: \(actors)")

        XCTAssertEqual(fixture.stop(), 0)
        let log = processes.log("serve")
        XCTAssertFalse(log.isEmpty)
        for (caller, secret) in secrets {
            XCTAssertFalse(log.contains(secret), "the \(caller) token is in the server's log")
            XCTAssertFalse(log.contains(String(secret.dropFirst(4))), "the \(caller) token is in the server's log")
        }
    }

    /// Repeated failed authentication from one client (here all of loopback) is answered 429 with
    /// Retry-After until the wait is over, for every secret that has not authenticated before; a
    /// caller whose token already worked is not locked out by another's failures, until it fails too.
    func testRepeatedFailuresAreSlowedDown() async throws {
        let fixture = try await ServeFixture()
        let viewer = try fixture.token("dashboard", role: "viewer")
        let admin = try fixture.token("it-admin", role: "admin")
        try await fixture.start()
        XCTAssertEqual(try fixture.send(.get, "/api/v1/status", token: admin).status, 200)
        for attempt in 1...6 {
            let answer = try fixture.send(.get, "/api/v1/status", token: "ucp_guess\(attempt)")
            XCTAssertEqual(answer.status, 401, "attempt \(attempt)")
        }
        let slowed = try fixture.send(.get, "/api/v1/status", token: viewer)
        XCTAssertEqual(slowed.status, 429, slowed.body)
        XCTAssertEqual(try fixture.send(.get, "/api/v1/status", token: "ucp_guess7").status, 429)
        XCTAssertEqual(try fixture.send(.get, "/api/v1/status", token: admin).status, 200, "a token that worked is not locked out")
        XCTAssertEqual(try fixture.processes.run(["token", "revoke", "it-admin"]).status, 0)
        // The server's token cache may answer for up to 2 s more; then the revoked token is looked up and refused
        // (and waits like any other from then on: AccessTests).
        await assertTrue(try await eventually(timeout: 30) { try fixture.send(.get, "/api/v1/status", token: admin).status == 401 },
                         "revoked, the token is refused, not let through by the trust it had")
        XCTAssertEqual(try fixture.send(.get, "/healthz").status, 200, "the open probe is not throttled")
    }

    /// `--auth-free-failures` (scripts/api-check.sh's schemathesis run fails on purpose) moves the point
    /// where the throttle starts, and no further; a value outside its range is refused in one line.
    func testFreeFailuresCanBeRaisedForATestClient() async throws {
        let fixture = try await ServeFixture()
        let viewer = try fixture.token("dashboard", role: "viewer")
        let unused = try fixture.token("dashboard-2", role: "viewer")  // not yet trusted: it waits as a guess does
        let refused = try fixture.processes.run(["serve", "--listen", "127.0.0.1:0", "--auth-free-failures", "0"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("auth-free-failures: must be a whole number from 1 to 1000000 (got 0)"), refused.stderr)
        try await fixture.start(["--auth-free-failures", "8"])
        for attempt in 1...8 {
            XCTAssertEqual(try fixture.send(.get, "/api/v1/status", token: "ucp_guess\(attempt)").status, 401, "attempt \(attempt)")
        }
        XCTAssertEqual(try fixture.send(.get, "/api/v1/status", token: viewer).status, 200, "8 failures are free")
        for attempt in 1...9 {
            XCTAssertEqual(try fixture.send(.get, "/api/v1/status", token: "ucp_guess\(attempt)").status, 401, "attempt \(attempt)")
        }
        XCTAssertEqual(try fixture.send(.get, "/api/v1/status", token: unused).status, 429, "the 9th failure in a row is not")
    }

    /// The routes the server answers are exactly the route table's.
    func testServedRoutesAreThePolicysRoutes() throws {
        let server = APIServer(configuration: .init(listen: .init(host: "127.0.0.1", port: 0), databaseDescription: "none"),
                               database: try ConnectionConfiguration(conninfo: "host=/nonexistent"), readiness: { nil },
                               logger: .init(label: "test"))
        XCTAssertEqual(server.servedRoutes.sorted(), AccessPolicy.routes.map { "\($0.method) \($0.path)" }.sorted())
        XCTAssertNoThrow(try server.application())
    }
}
