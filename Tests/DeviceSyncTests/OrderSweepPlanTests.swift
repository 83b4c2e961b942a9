import Foundation
@testable import Orders
import Postgres
import TestSupport
import XCTest

/// The coordinator's sweep of open orders whose job ended (`OrderSQL.orderOpenOfEndedJob`) runs at
/// every rescue interval, over a history that grows by every order ever run: it reads the open orders
/// through orders_open_by_job (migration 044) and each one's job by its key, never the history.
/// Asserted on the generic plan PostgreSQL chooses with the statistics of 30,000 ended orders and a
/// few open ones; and what it finds: the open orders whose job ended or is gone, none else.
final class OrderSweepPlanTests: XCTestCase {
    func testTheSweepReadsTheOpenOrdersThroughTheirIndexAndFindsThoseWhoseJobEnded() async throws {
        let (_, owner) = try await QueryPlans.seeded("""
            INSERT INTO jobs (id, kind, type, state, finished_at)
            SELECT g, 'order', 'order.run', 'succeeded', now() FROM generate_series(1, 30000) g;
            INSERT INTO orders (kind, domain, service_area, user_id, call_processor, state, submitted_by, job_id)
            SELECT 'add', 'd', 'a', 'user' || g, 'cucm', 'succeeded', 'op', g FROM generate_series(1, 30000) g;
            -- Open orders: 30001-30020 queued, 30021 canceled, 30022 failed, 30023 succeeded (its
            -- order not told), 30024 running; 30025 has no job row any more (pruned).
            INSERT INTO jobs (id, kind, type, state, finished_at, worker, lease_expires_at)
            SELECT g, 'order', 'order.run',
                   CASE g WHEN 30021 THEN 'canceled' WHEN 30022 THEN 'failed' WHEN 30023 THEN 'succeeded'
                          WHEN 30024 THEN 'running' ELSE 'queued' END,
                   CASE WHEN g IN (30021, 30022, 30023) THEN now() END,
                   CASE WHEN g = 30024 THEN 'w' END, CASE WHEN g = 30024 THEN now() END
              FROM generate_series(30001, 30024) g;
            INSERT INTO orders (kind, domain, service_area, user_id, call_processor, state, submitted_by, job_id)
            SELECT 'add', 'd', 'a', 'open' || g, 'cucm', CASE WHEN g % 2 = 0 THEN 'running' ELSE 'submitted' END, 'op', g
              FROM generate_series(30001, 30025) g;
            ANALYZE jobs; ANALYZE orders;
            """)
        let plan = try await QueryPlans.generic(owner, OrderSQL.orderOpenOfEndedJob, "(500)")
        XCTAssertTrue(plan.contains("orders_open_by_job"), "the open orders are read through their index:\n\(plan)")
        XCTAssertTrue(plan.contains("jobs_pkey"), "each job is read by its key:\n\(plan)")
        XCTAssertFalse(plan.contains("Seq Scan"), plan)

        let found = try await owner.query(OrderSQL.orderOpenOfEndedJob, [Int64(500)]).map {
            "\(try $0.decode("job_id", as: Int64.self)) \(try $0.decode("job_state", as: String.self))"
        }
        XCTAssertEqual(found, ["30021 canceled", "30022 failed", "30023 succeeded", "30025 gone"])
    }

    /// A delete order whose job ended first: the sweep withdraws it and records its delete request's
    /// outcome in one transaction. When the follow-up fails, the withdrawal rolls back with it — the
    /// order stays open, so the next sweep makes both (before, the order ended and the request stayed
    /// `running` for good) — and the orders after it are withdrawn all the same.
    func testTheSweepWithdrawsADeleteOrderAndRecordsItsRequestTogether() async throws {
        let (_, owner) = try await QueryPlans.seeded("""
            INSERT INTO jobs (id, kind, type, state, finished_at) VALUES (7, 'order', 'order.run', 'failed', now());
            INSERT INTO orders (id, kind, domain, service_area, user_id, call_processor, state, submitted_by, job_id)
            VALUES (70, 'delete', 'd', 'a', 'gone.user', 'cucm', 'running', 'op', 7);
            INSERT INTO user_delete_orders (domain, user_id, action, state, order_id)
            VALUES ('d', 'gone.user', 'delete_user_and_services', 'running', 70);
            INSERT INTO jobs (id, kind, type, state, finished_at) VALUES (8, 'order', 'order.run', 'canceled', now());
            INSERT INTO orders (id, kind, domain, service_area, user_id, call_processor, state, submitted_by, job_id)
            VALUES (71, 'add', 'd', 'a', 'next.user', 'cucm', 'submitted', 'op', 8);
            CREATE FUNCTION refuse_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'outcome refused by the test'; END $$;
            CREATE TRIGGER refuse_outcome BEFORE UPDATE ON user_delete_orders FOR EACH ROW EXECUTE FUNCTION refuse_outcome();
            """)
        func states() async throws -> String {
            let order: String = try await owner.query(Statement("", "SELECT state FROM orders WHERE id = 70"))[0].decode("state")
            let request: String = try await owner.query(Statement("", "SELECT state FROM user_delete_orders WHERE order_id = 70"))[0].decode("state")
            return "order \(order), request \(request)"
        }
        let store = OrderStore(owner)
        do {
            _ = try await store.withdrawOrdersOfEndedJobs(actor: "test-coordinator")
            XCTFail("the follow-up's failure reaches the sweep")
        } catch let failures as OrderStore.SweepFailures {
            XCTAssertEqual(failures.withdrawn, 1, "the next order is withdrawn all the same")
            XCTAssertEqual(failures.failures.count, 1)
            XCTAssertTrue(failures.failures[0].hasPrefix("order 70: ") && failures.failures[0].contains("outcome refused by the test"), "\(failures)")
        }
        await assertEqual(try await states(), "order running, request running", "nothing ended without its follow-up")
        await assertEqual(try await owner.query(Statement("", "SELECT state FROM orders WHERE id = 71"))[0].decode("state", as: String.self), "canceled")

        try await owner.withSession { try $0.execute("DROP TRIGGER refuse_outcome ON user_delete_orders") }
        let withdrawn = try await store.withdrawOrdersOfEndedJobs(actor: "test-coordinator")
        XCTAssertEqual(withdrawn.map(\.id), [70])
        await assertEqual(try await states(), "order failed, request failed")
    }
}
