import Foundation
import Postgres
import TestSupport
import XCTest

/// The orders over HTTP: the same representation, checks and refusals as `ucp order …`.
final class OrderAPITests: XCTestCase {
    /// Stored orders as the planner leaves them: a failed add order with its steps, and a newer one.
    func storeOrders(_ fixture: ServeFixture) async throws -> (failed: Int64, newer: Int64) {
        try await fixture.owner.query(Statement("", "INSERT INTO domains (name) VALUES ('Sales')"))
        let failed: Int64 = try await fixture.owner.query(Statement("", """
            INSERT INTO orders (kind, domain, service_area, user_id, call_processor, line, phone, state, error, submitted_by)
            VALUES ('add', 'Sales', 'London', 'jdoe', 'cucm-lab', '4000', 'SEP001122334455', 'failed', 'step 2 line: refused', 'setup')
            RETURNING id
            """)).first!.decode("id")
        try await fixture.owner.query(Statement("", """
            INSERT INTO order_steps (order_id, position, name, device, call, state, error) VALUES
              ($1, 1, 'user', 'cucm-lab', '[{"operation": "addUser", "values": []}]', 'done', NULL),
              ($1, 2, 'line', 'cucm-lab', '[{"operation": "addLine", "values": []}]', 'failed', 'refused')
            """), [failed])
        let newer: Int64 = try await fixture.owner.query(Statement("", """
            INSERT INTO orders (kind, domain, service_area, user_id, call_processor, line, phone, submitted_by)
            VALUES ('add', 'Sales', 'London', 'asmith', 'cucm-lab', '4001', 'SEP001122334466', 'setup') RETURNING id
            """)).first!.decode("id")
        return (failed, newer)
    }

    /// A viewer lists orders newest first, by state, a page at a time, and reads one with its steps
    /// exactly as `ucp order show --json` prints it.
    func testViewerListsAndShowsOrdersAsTheCommandDoes() async throws {
        let fixture = try await ServeFixture()
        let viewer = try fixture.token("dashboard", role: "viewer")
        let (failed, newer) = try await storeOrders(fixture)
        try await fixture.start()

        let all = try fixture.send(.get, "/api/v1/orders", token: viewer)
        XCTAssertEqual(all.status, 200, all.body)
        XCTAssertEqual((all.json["orders"] as? [[String: Any]])?.compactMap { ($0["id"] as? NSNumber)?.int64Value }, [newer, failed])
        XCTAssertTrue(all.json["next_before"] is NSNull)

        let page = try fixture.send(.get, "/api/v1/orders?limit=1", token: viewer)
        XCTAssertEqual((page.json["next_before"] as? NSNumber)?.int64Value, newer)
        let next = try fixture.send(.get, "/api/v1/orders?limit=1&before=\(newer)", token: viewer)
        XCTAssertEqual((next.json["orders"] as? [[String: Any]])?.compactMap { ($0["id"] as? NSNumber)?.int64Value }, [failed])

        let failedOnly = try fixture.send(.get, "/api/v1/orders?state=failed", token: viewer)
        XCTAssertEqual((failedOnly.json["orders"] as? [[String: Any]])?.compactMap { ($0["id"] as? NSNumber)?.int64Value }, [failed])
        let badState = try fixture.send(.get, "/api/v1/orders?state=lost", token: viewer)
        XCTAssertEqual(badState.status, 400)
        XCTAssertTrue(badState.detail.hasPrefix("state: must be one of submitted, running"), badState.detail)

        let shown = try fixture.send(.get, "/api/v1/orders/\(failed)", token: viewer)
        XCTAssertEqual(shown.status, 200, shown.body)
        let command = try fixture.processes.run(["order", "show", String(failed), "--json"])
        XCTAssertEqual(command.status, 0, command.stderr)
        let printed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(command.stdout.utf8)) as? NSDictionary)
        XCTAssertEqual(NSDictionary(dictionary: shown.json), printed, "the API's order is the command's")
        let steps = try XCTUnwrap(shown.json["steps"] as? [[String: Any]])
        XCTAssertEqual(steps.map { $0["state"] as? String }, ["done", "failed"])
        XCTAssertEqual(steps.last?["error"] as? String, "refused")

        let missing = try fixture.send(.get, "/api/v1/orders/999999", token: viewer)
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.detail, "order 999999: no such order")
    }
}
