import Foundation
import Postgres
import TestSupport
import Transport
import XCTest

/// Orders submitted, retried, rolled back and canceled over HTTP, run by a real worker against
/// `ucp devsim` (Unified CM "TestCCM" and Unity Connection "unity"): the body is the order file
/// in JSON, read by the command's parser, so the API plans and refuses exactly as `ucp order …` does.
final class OrderSubmitAPITests: XCTestCase {
    static let area = "SA_Orders"

    /// The devices, synchronized; domain Cisco and its service area SA_Orders (block 4000-4009,
    /// voicemail on unity), as the order tests set them up; and a user only the inventory has.
    func prepare(_ fixture: ServeFixture) async throws -> DeviceSimulatorProcess {
        let processes = fixture.processes
        func ucp(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
            let result = try processes.run(arguments)
            XCTAssertEqual(result.status, 0, "ucp \(arguments.joined(separator: " ")): \(result.stdout)\(result.stderr)", file: file, line: line)
        }
        let sim = try DeviceSimulatorProcess.start(for: self, users: 10)
        try ucp(["secret-key", "generate", "--file", try XCTUnwrap(processes.environment["UCP_SECRET_KEY_FILE"])])
        for (name, kind) in [("TestCCM", "cucm"), ("unity", "unity")] {
            try ucp(["device", "add", "--name", name, "--kind", kind, "--address", "127.0.0.1", "--port", String(sim.port),
                     "--user", sim.user, "--password-file", sim.passwordFile, "--ca-file", try XCTUnwrap(sim.certificatePath)])
        }
        _ = try processes.start("worker", ["worker", "--concurrency", "4", "--name", "api-order-worker"])
        try ucp(["device", "test", "unity", "--wait"])
        for (kind, device) in [("infra", "TestCCM"), ("user", "TestCCM"), ("infra", "unity"), ("user", "unity")] {
            try ucp(["submit", "sync", kind, "--device", device, "--wait"])
        }
        try ucp(["domain", "add", "--name", "Cisco"])
        try ucp(["domain", "edit", "Cisco", "--rule", "sync-all-users"])
        try ucp(["service-area", "add", "--domain", "Cisco", "--name", "SA_Site01", "--call-processor", "TestCCM",
                 "--device-pool", "DP_Site01", "--partition", "PT_Internal", "--message-processor", "unity"])
        try ucp(["submit", "sync", "domain", "--domain", "Cisco", "--wait"])
        try ucp(["service-area", "add", "--domain", "Cisco", "--name", Self.area, "--call-processor", "TestCCM",
                 "--device-pool", "DP_Site01", "--location", "Hub_None", "--device-css", "CSS_Internal", "--line-css", "CSS_Internal",
                 "--partition", "PT_Internal", "--dn-block", "4000-4009", "--message-processor", "unity",
                 "--voicemail-profile", "Default", "--unity-template", "voicemailusertemplate"])
        try await fixture.owner.query(Statement("", """
            INSERT INTO users (user_id, domain, source, first_name, last_name, email)
            VALUES ('jdoe', 'Cisco', 'manual', 'John', 'Doe', 'jdoe@example.com')
            """))
        return sim
    }

    static func orderJSON(user: String = "jdoe", phone: String = "SEP00AA00BB0001") -> String {
        #"{"domain": "Cisco", "service_area": "SA_Orders", "user": "\#(user)", "phone": {"name": "\#(phone)", "model": "Cisco 8845"}, "voicemail": true}"#
    }

    func waitForState(_ fixture: ServeFixture, _ id: Int64, token: String, _ states: Set<String>) async throws -> [String: Any] {
        var last: [String: Any] = [:]
        let ended = try await eventually(timeout: 120) {
            last = try fixture.send(.get, "/api/v1/orders/\(id)", token: token).json
            return states.contains(last["state"] as? String ?? "")
        }
        XCTAssertTrue(ended, "order \(id) did not reach \(states.sorted()): \(last)")
        return last
    }

    func testAnOrderSubmittedThroughTheAPIRunsOnDevsimAndSucceedsThenIsCanceled() async throws {
        let keyFile = NSTemporaryDirectory() + "ucp-key-\(UUID().uuidString)"
        defer { unlink(keyFile) }
        let fixture = try await ServeFixture(environment: ["UCP_SECRET_KEY_FILE": keyFile])
        defer { fixture.processes.stopAll() }
        _ = try await prepare(fixture)
        let operatorToken = try fixture.token("helpdesk", role: "operator")
        let otherClient = try fixture.token("hr", role: "operator")
        try await fixture.start()

        // Plan: exactly what `ucp order plan --json` prints for the same order as a YAML file.
        let file = NSTemporaryDirectory() + "ucp-order-\(UUID().uuidString).yaml"
        defer { unlink(file) }
        try """
            domain: Cisco
            service_area: \(Self.area)
            user: jdoe
            phone:
              name: SEP00AA00BB0001
              model: Cisco 8845
            voicemail: yes
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let before = try await fixture.writes()
        let planned = try fixture.send(.post, "/api/v1/orders/plan", token: operatorToken, body: Self.orderJSON())
        XCTAssertEqual(planned.status, 200, planned.body)
        let printed = try fixture.processes.run(["order", "plan", "-f", file, "--json"])
        XCTAssertEqual(printed.status, 0, printed.stderr)
        XCTAssertEqual(try JSONSerialization.jsonObject(with: Data(planned.body.utf8)) as? NSArray,
                       try JSONSerialization.jsonObject(with: Data(printed.stdout.utf8)) as? NSArray, "the API's plan is the command's")
        await assertEqual(try await fixture.writes(), before, "planning wrote")

        // Bad input: the command's message, naming the field (and the body's line); nothing written.
        let unknown = try fixture.send(.post, "/api/v1/orders", token: operatorToken, body: Self.orderJSON(user: "nobody"))
        XCTAssertEqual(unknown.status, 400, unknown.body)
        XCTAssertEqual(unknown.detail, "user (body line 1): no such user 'nobody' in the inventory (synchronize it first)")
        let malformed = try fixture.send(.post, "/api/v1/orders", token: operatorToken, body: #"{"domain": "Cisco", "phone": {"name": "SEP1"}"#)
        XCTAssertEqual(malformed.status, 400, malformed.body)
        XCTAssertTrue(malformed.detail.hasPrefix("yaml (body line ") && malformed.detail.contains("): malformed YAML"), malformed.detail)
        let unknownField = try fixture.send(.post, "/api/v1/orders/plan", token: operatorToken,
                                            body: #"{"domain": "Cisco", "colour": "red"}"#)
        XCTAssertEqual(unknownField.status, 400, unknownField.body)
        XCTAssertEqual(unknownField.json["field"] as? String, "colour (body line 1)")
        // Bodies that ended the server before: a YAML parser recursing once per level of a deep
        // nesting, and a whole number whose absolute value overflows.
        let deep = try fixture.send(.post, "/api/v1/orders/plan", token: operatorToken, body: String(repeating: "[", count: 100_000))
        XCTAssertEqual(deep.status, 400, deep.body)
        XCTAssertEqual(deep.detail, "yaml (body line 1): nested deeper than 64 levels")
        let lowest = try fixture.send(.post, "/api/v1/syncs", token: operatorToken,
                                      body: #"{"kind": "infra", "device": "TestCCM", "priority": -9223372036854775808}"#)
        XCTAssertEqual(lowest.status, 400, lowest.body)
        XCTAssertEqual(lowest.json["field"] as? String, "priority")
        let deepJSON = try fixture.send(.post, "/api/v1/syncs", token: operatorToken, body: String(repeating: "[", count: 100_000))
        XCTAssertEqual(deepJSON.status, 400, deepJSON.body)
        XCTAssertEqual(try fixture.send(.get, "/healthz").status, 200, "the server answers after them")
        await assertEqual(try await fixture.writes(), before, "a refused order wrote")

        // Submit with a key; the same request again gets the same order; the key with another body is refused.
        let submitted = try fixture.send(.post, "/api/v1/orders", token: operatorToken, body: Self.orderJSON(), headers: ["Idempotency-Key: hire-jdoe"])
        XCTAssertEqual(submitted.status, 202, submitted.body)
        XCTAssertEqual(submitted.json["created"] as? Bool, true)
        let order = try XCTUnwrap(submitted.json["order"] as? [String: Any])
        let id = try XCTUnwrap((order["id"] as? NSNumber)?.int64Value)
        XCTAssertEqual(order["submit_key"] as? String, "hire-jdoe")
        XCTAssertEqual(order["submitted_by"] as? String, "helpdesk")
        XCTAssertEqual(order["line"] as? String, "4000")
        let again = try fixture.send(.post, "/api/v1/orders", token: operatorToken, body: Self.orderJSON(), headers: ["Idempotency-Key: hire-jdoe"])
        XCTAssertEqual(again.status, 202, again.body)
        XCTAssertEqual(((again.json["order"] as? [String: Any])?["id"] as? NSNumber)?.int64Value, id)
        let other = try fixture.send(.post, "/api/v1/orders", token: operatorToken, body: Self.orderJSON(phone: "SEP00AA00BB0002"),
                                     headers: ["Idempotency-Key: hire-jdoe"])
        XCTAssertEqual(other.status, 409, other.body)
        XCTAssertEqual(other.detail, "Idempotency-Key: already used with another request")
        // Another client's (and the command line's) same key: refused for another request as a reused key
        // is (409; a refusal is not kept as that client's answer), its order for the same request (read
        // from another body, with its own lines).
        let reused = try fixture.send(.post, "/api/v1/orders", token: otherClient, body: Self.orderJSON(phone: "SEP00AA00BB0002"),
                                      headers: ["Idempotency-Key: hire-jdoe"])
        XCTAssertEqual(reused.status, 409, reused.body)
        XCTAssertEqual(reused.json["field"] as? String, "Idempotency-Key")
        XCTAssertEqual(reused.detail, "Idempotency-Key: 'hire-jdoe' was already used by order \(id) for another request (one key, one request)")
        let spaced = "{\n" + String(Self.orderJSON().dropFirst())
        let sameElsewhere = try fixture.send(.post, "/api/v1/orders", token: otherClient, body: spaced, headers: ["Idempotency-Key: hire-jdoe"])
        XCTAssertEqual(sameElsewhere.status, 200, sameElsewhere.body)
        XCTAssertEqual(sameElsewhere.json["created"] as? Bool, false)
        XCTAssertEqual(((sameElsewhere.json["order"] as? [String: Any])?["id"] as? NSNumber)?.int64Value, id)
        let fromFile = try fixture.processes.run(["order", "submit", "-f", file, "--key", "hire-jdoe"])
        XCTAssertEqual(fromFile.status, 0, fromFile.stderr)
        XCTAssertTrue(fromFile.stdout.hasPrefix("order \(id) already submitted with this key"), fromFile.stdout)
        let orders: Int64 = try await fixture.owner.query(Statement("", "SELECT count(*) AS n FROM orders")).first!.decode("n")
        XCTAssertEqual(orders, 1, "one order for one key")

        let done = try await waitForState(fixture, id, token: operatorToken, ["succeeded", "failed", "rolled_back", "needs_attention"])
        XCTAssertEqual(done["state"] as? String, "succeeded", "\(done)")
        XCTAssertTrue((done["steps"] as? [[String: Any]] ?? []).allSatisfy { $0["state"] as? String == "done" }, "\(done)")
        // The user record as the API shows it: placed in the order's service area, its services there.
        let user = try fixture.send(.get, "/api/v1/users/jdoe", token: operatorToken)
        XCTAssertEqual(user.status, 200, user.body)
        XCTAssertEqual(user.json["service_area"] as? String, Self.area, user.body)
        let placed = (user.json["services"] as? [[String: Any]] ?? []).filter { $0["service_area"] as? String == Self.area }
        XCTAssertFalse(placed.isEmpty, user.body)
        let audited: [String] = try await fixture.owner.query(Statement("", """
            SELECT actor FROM audit_log WHERE action = 'order.submitted' AND target = $1
            """), ["order \(id)"]).map { try $0.decode("actor") }
        XCTAssertEqual(audited, ["helpdesk"])

        // The operator's actions: the commands' refusals, 409 for the wrong state and 404 for no such order.
        let retry = try fixture.send(.post, "/api/v1/orders/\(id)/retry", token: operatorToken)
        XCTAssertEqual(retry.status, 409, retry.body)
        XCTAssertEqual(retry.detail, "order \(id): is succeeded; only a failed order (or a cancel order that needs attention) can be retried")
        let rollback = try fixture.send(.post, "/api/v1/orders/\(id)/rollback", token: operatorToken)
        XCTAssertEqual(rollback.status, 409, rollback.body)
        let missing = try fixture.send(.post, "/api/v1/orders/999999/cancel", token: operatorToken)
        XCTAssertEqual(missing.status, 404, missing.body)
        XCTAssertEqual(missing.detail, "order 999999: no such order")

        let canceled = try fixture.send(.post, "/api/v1/orders/\(id)/cancel", token: operatorToken)
        XCTAssertEqual(canceled.status, 202, canceled.body)
        XCTAssertEqual(canceled.json["kind"] as? String, "cancel")
        XCTAssertEqual((canceled.json["cancels"] as? NSNumber)?.int64Value, id)
        let cancelID = try XCTUnwrap((canceled.json["id"] as? NSNumber)?.int64Value)
        let cancelDone = try await waitForState(fixture, cancelID, token: operatorToken, ["succeeded", "failed", "rolled_back", "needs_attention"])
        XCTAssertEqual(cancelDone["state"] as? String, "succeeded", "\(cancelDone)")

        // The status page lists both orders with their steps.
        let page = try fixture.send(.get, "/", token: operatorToken)
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.body.contains("<tr class=\"order\" data-order-id=\"\(id)\""), page.body)
        XCTAssertTrue(page.body.contains("<tr class=\"order\" data-order-id=\"\(cancelID)\" data-state=\"succeeded\""), page.body)
        XCTAssertTrue(page.body.contains("<td>cancel of \(id)</td>"), page.body)
    }
}
