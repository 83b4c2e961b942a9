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

    /// The tail of an LDAP synchronization reads a chunk at a time too: automatic move the domain's
    /// unplaced users, automatic provisioning the users it staged while reading (`ldap_seen`, a
    /// temporary table of the sync's session, never analyzed: autovacuum does not see it). With
    /// 20,000 users of which 1,000 are not placed yet and await provisioning, each page must start
    /// through an index and pass no placed user: the move's page through the partial index of the
    /// unplaced users (migration 045), which a generic plan can use only when the statement says
    /// `service_area IS NULL` outright.
    func testSyncTailPagesWalkIndexesAndCoverEveryUserOnce() async throws {
        let (database, owner) = try await QueryPlans.seeded("""
            INSERT INTO devices (name, kind, address, port, admin_user) VALUES ('cucm', 'call_processor', '127.0.0.1', 8443, 'axl');
            INSERT INTO domains (name) VALUES ('d');
            INSERT INTO service_areas (domain, name, call_processor, device_pool) VALUES ('d', 'a', 'cucm', 'DP');
            INSERT INTO users (user_id, domain, source, directory_dn, service_area, provisioning_pending)
            SELECT 'user' || g, 'd', 'ldap', 'cn=user' || g, CASE WHEN g % 20 <> 0 THEN 'a' END, g % 20 = 0 FROM generate_series(1, 20000) g;
            ANALYZE;
            """)
        let page = try await QueryPlans.generic(owner, MoveFilterSQL.candidatePage, "('d', 'user15000', 500)")
        XCTAssertTrue(page.contains("Index Scan using users_unplaced on users u"), "the move's page walks the unplaced users' index:\n\(page)")
        XCTAssertFalse(page.contains("Seq Scan on users") || page.contains("users_pkey") || page.contains("  Sort\n"), page)
        let single = try await QueryPlans.generic(owner, MoveFilterSQL.candidate, "('d', 'user15000')")
        XCTAssertFalse(single.contains("Seq Scan on users"), single)

        // The staging tables as a synchronization prepares them, filled as its batches fill them (all
        // 20,000 read with provisioning on), the session's own: the plans are taken on that session.
        try await owner.withSession { session in
            try session.transaction { session in try UserSyncStore.InTransaction(session).ldapStagingPrepare() }
            try session.execute("""
                INSERT INTO ldap_seen (user_id, directory_dn, service_area_rule, roles, phone)
                SELECT 'user' || g, 'cn=user' || g, 0, '{Staff}', '5000' FROM generate_series(1, 20000) g
                """)
        }
        for dryRun in [false, true] {
            let awaiting = try await QueryPlans.generic(owner, UserSyncSQL.provisioningAwaiting, "('d', \(dryRun), 'user15000', 500)")
            XCTAssertTrue(awaiting.contains("Index Scan using ldap_seen_provisioning on ldap_seen s"), "the staged users' pages walk their index:\n\(awaiting)")
            XCTAssertTrue(awaiting.contains("Index Scan using users_identity on users u"), awaiting)
            XCTAssertFalse(awaiting.contains("Seq Scan") || awaiting.contains("  Sort\n"), awaiting)
        }

        // The pages, walked to the end: each of the 1,000 once, in the database's order of user IDs.
        var moved: [String] = []
        try await MoveFilterStore(Connection(database.app)).candidatePages(domain: "d", chunkSize: 300) { page in
            moved += page.map(\.user.userID)
        }
        let unplaced = (1...1000).map { "user\($0 * 20)" }
        XCTAssertEqual(moved, unplaced.sorted())
        let awaited = try await owner.withSession { session in
            var seen: [String] = [], after: String?
            while true {
                let page = try UserSyncStore.InTransaction(session).ldapProvisioningAwaiting(domain: "d", dryRun: false, after: after, limit: 300)
                seen += page.map(\.userID)
                guard page.count == 300, let last = page.last?.userID else { return seen }
                after = last
            }
        }
        XCTAssertEqual(awaited, unplaced.sorted())
    }
}
