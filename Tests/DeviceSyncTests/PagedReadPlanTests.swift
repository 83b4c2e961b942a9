import Foundation
@testable import Inventory
@testable import Orders
import Postgres
import TestSupport
import XCTest

/// `directory.sync` and the domain write-back read their users a chunk (a page) at a time: each read
/// must start where the last ended through an index, never pass over and sort every service, order
/// or user again — or the chunks make the job quadratic in the users. Asserted on the generic plans
/// PostgreSQL chooses with the statistics of 20,000 provisioned users (three services, an add order
/// and a copy order each), and the pages walked to the end.
final class PagedReadPlanTests: XCTestCase {
    func testChunkReadsWalkIndexesAndCoverEveryUserOnce() async throws {
        let (database, owner) = try await QueryPlans.seeded("""
            INSERT INTO devices (name, kind, address, port, admin_user)
            VALUES ('cucm', 'call_processor', '127.0.0.1', 8443, 'axl'), ('cucm2', 'call_processor', '127.0.0.1', 8443, 'axl');
            INSERT INTO device_objects (device, sync_kind, object_type, object_key, uuid, attributes, seen_by)
            SELECT 'cucm', 'user', 'User', 'user' || g, gen_random_uuid()::text, '{"homeCluster": "true"}'::jsonb, 1
              FROM generate_series(1, 20000) g;
            INSERT INTO users (user_id, domain, source, directory_dn)
            SELECT 'user' || g, CASE WHEN g % 10 = 0 THEN 'small' ELSE 'd' END, 'ldap', 'cn=user' || g FROM generate_series(1, 20000) g;
            INSERT INTO user_services (user_id, service_type, device, sync_kind, object_type, object_key, domain)
            SELECT 'user' || g, t, 'cucm', 'user', 'User', 'user' || g, 'd'
              FROM generate_series(1, 20000) g, unnest(ARRAY['line', 'phone', 'voicemail']) t;
            INSERT INTO orders (kind, domain, service_area, user_id, call_processor, state, submitted_by)
            SELECT 'add', 'd', 'a', 'user' || g, 'cucm', 'succeeded', 'op' FROM generate_series(1, 20000) g;
            INSERT INTO orders (kind, domain, service_area, user_id, call_processor, state, submitted_by, request, submit_key)
            SELECT 'directory', 'd', 'a', 'user' || g, 'cucm2', 'succeeded', 'op', '{"action": "copy"}', 'directory:1:user' || g || ':cucm2'
              FROM generate_series(1, 20000) g;
            ANALYZE;
            """)
        let services = try await QueryPlans.generic(owner, DirectorySourceStore.usersOnProcessorsPage, "('user15000', NULL, 500, NULL)")
        XCTAssertTrue(services.contains("user_services_user_key"), "the services' chunk walks its index (migration 046):\n\(services)")
        XCTAssertFalse(services.contains("Seq Scan on user_services") || services.contains("  Sort\n"), services)
        let orders = try await QueryPlans.generic(owner, DirectorySQL.firstOrdersPage, "('user15000', 'user15400', 500, NULL)")
        XCTAssertTrue(orders.contains("orders_user"), orders)
        XCTAssertFalse(orders.contains("Seq Scan on orders o"), orders)
        for (statement, values, index) in [
            (DirectorySourceStore.usersPresent, "('{user1,user2}')", "device_objects_name"),
            (UserSQL.usersGet, "('{user1,USER2}')", "users_identity"),
            (DirectorySQL.copiesHeld, "('{user1,user2}')", "orders_user"),
            (DirectorySQL.submitKeysTaken, "('{directory:1:user1:cucm2}')", "orders_submit_key_key"),
            (WriteBackSQL.domainUsers, "('small', 'user15000', 500)", "users_identity"),
        ] {
            let plan = try await QueryPlans.generic(owner, statement, values)
            XCTAssertTrue(plan.contains(index), "\(statement.name) reads through \(index):\n\(plan)")
            XCTAssertFalse(plan.contains("Seq Scan on users") || plan.contains("Seq Scan on orders") || plan.contains("Seq Scan on device_objects"), plan)
        }

        // The pages, walked to the end: every user once, in the database's order of user IDs.
        let store = DirectorySourceStore(Connection(database.app))
        var seen: [String] = [], after = ""
        while true {
            let page = try await store.usersOnProcessors(after: after, through: nil, user: nil, limit: 700)
            seen += page.map(\.key)
            guard page.count == 700, let last = page.last?.key else { break }
            after = last
        }
        XCTAssertEqual(seen.count, 20000)
        XCTAssertEqual(Set(seen).count, 20000)
        let users = UserStore(Connection(database.app))
        var written: [String] = []
        after = ""
        while true {
            let page = try await users.writeBackUsers(domain: "small", after: after, limit: 300)
            written += page.map(\.userID)
            guard page.count == 300, let last = page.last?.userID else { break }
            after = last
        }
        await assertEqual(try await users.writeBackUserCount(domain: "small"), 2000)
        XCTAssertEqual(written.count, 2000)
        XCTAssertEqual(Set(written).count, 2000)
    }
}
