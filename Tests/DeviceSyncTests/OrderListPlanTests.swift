import Foundation
@testable import Orders
import Postgres
import TestSupport
import XCTest

/// `order list --state S` and `--user U` page through a history that grows by every order ever run:
/// each must descend an index (orders_state, migration 042; orders_user), never walk the history
/// newest first until its page is full. Asserted on the plans PostgreSQL chooses with the statistics
/// of 30,000 orders of which a handful failed (the listing by state is planned with its values; the
/// listing by user is prepared, so its generic plan is the one read).
final class OrderListPlanTests: XCTestCase {
    func testListingByStateOrUserReadsThroughAnIndex() async throws {
        let (database, owner) = try await QueryPlans.seeded("""
            INSERT INTO orders (kind, domain, service_area, user_id, call_processor, state, submitted_by)
            SELECT 'add', 'd', 'a', 'user' || (g % 5000), 'cucm', CASE WHEN g % 5000 = 7 THEN 'failed' ELSE 'succeeded' END, 'op'
              FROM generate_series(1, 30000) g;
            ANALYZE orders;
            """)
        let byState = try await explain(owner, OrderSQL.orderListByState, ["20", "NULL", "'failed'"])
        XCTAssertTrue(byState.contains("orders_state"), "a rare state's orders are read through its index:\n\(byState)")
        XCTAssertFalse(byState.contains("Seq Scan") || byState.contains("orders_pkey"), byState)
        let byUser = try await QueryPlans.generic(owner, OrderSQL.orderListByUser, "(20, NULL, 'USER7', NULL)")
        XCTAssertTrue(byUser.contains("orders_user"), "a user's orders are read through its index:\n\(byUser)")

        // The pages: newest first, in the state or of the user asked, the next page before the cursor.
        let store = OrderStore(Connection(database.app))
        let failed = try await store.list(state: "failed", limit: 4)
        XCTAssertEqual(failed.map(\.id), [25_007, 20_007, 15_007, 10_007])
        XCTAssertTrue(failed.allSatisfy { $0.state == "failed" })
        await assertEqual(try await store.list(state: "failed", limit: 4, before: 10_007).map(\.id), [5_007, 7])
        await assertEqual(try await store.list(user: "User7", limit: 10).map(\.id), [25_007, 20_007, 15_007, 10_007, 5_007, 7])
        await assertEqual(try await store.list(state: "succeeded", user: "user8", limit: 2).map(\.id), [25_008, 20_008])
        await assertEqual(try await store.list(state: "failed", user: "user8", limit: 2).map(\.id), [])
        await assertEqual(try await store.list(limit: 3, before: 10).map(\.id), [9, 8, 7])
    }

    /// The plan of `statement` with its parameters replaced by these SQL values.
    func explain(_ connection: Connection, _ statement: Statement, _ values: [String]) async throws -> String {
        var sql = statement.sql
        for (index, value) in values.enumerated().reversed() { sql = sql.replacingOccurrences(of: "$\(index + 1)", with: value) }
        let rows = try await connection.query(Statement("", "EXPLAIN (COSTS OFF) " + sql))
        return try rows.map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
    }
}
