import Foundation
@testable import Inventory
import Postgres
import TestSupport
import XCTest

/// Planning an order looks numbers and names up on a call processor that may hold tens of thousands of
/// users, lines and phones: each lookup must descend an index (migration 041), never pass over every
/// object of the device or every service of the records. Asserted on the plans PostgreSQL chooses, with
/// statistics of a device of 20,000 each.
final class OrderLookupPlanTests: XCTestCase {
    func testNumberAndNameLookupsUseIndexesOnALargeDevice() async throws {
        let (database, owner) = try await QueryPlans.seeded("""
            INSERT INTO devices (name, kind, address, port, admin_user) VALUES ('cucm', 'call_processor', '127.0.0.1', 8443, 'axl');
            INSERT INTO device_objects (device, sync_kind, object_type, object_key, uuid, attributes, seen_by)
            SELECT 'cucm', 'user', t.type, t.key, gen_random_uuid()::text, t.attributes, 1
              FROM generate_series(1, 20000) g,
                   LATERAL (VALUES
                     ('Line', (200000 + g) || '/PT_Internal', jsonb_build_object('pattern', (200000 + g)::text, 'routePartitionName', 'PT_Internal')),
                     ('Phone', 'SEP' || lpad(g::text, 12, '0'), jsonb_build_object('ownerUserName', 'user' || g)),
                     ('User', 'user' || g, '{}'::jsonb)) AS t(type, key, attributes);
            INSERT INTO users (user_id, domain, source) SELECT 'user' || g, 'd', 'device' FROM generate_series(1, 20000) g;
            INSERT INTO user_services (user_id, service_type, device, sync_kind, object_type, object_key, domain, detail)
            SELECT 'user' || g, 'line', 'cucm', 'user', 'Line', (200000 + g) || '/PT_Internal', 'd',
                   jsonb_build_object('number', (200000 + g)::text, 'partition', 'PT_Internal')
              FROM generate_series(1, 20000) g;
            ANALYZE device_objects; ANALYZE user_services;
            """)
        let inUse = try await QueryPlans.generic(owner, OrderInventorySQL.numbersInUse, "('cucm', 'PT_Internal', '210000', '210999')")
        XCTAssertFalse(inUse.contains("Seq Scan"), "the numbers in use are read through indexes:\n\(inUse)")
        XCTAssertTrue(inUse.contains("device_objects_line_number") && inUse.contains("user_services_line_number"), inUse)

        let present = try await QueryPlans.generic(owner, OrderInventorySQL.objectsPresent, "('cucm', '{Phone,User}', '{sep000000000042,USER42}')")
        XCTAssertFalse(present.contains("Seq Scan on device_objects"), "names are found through an index:\n\(present)")
        let one = try await QueryPlans.generic(owner, OrderInventorySQL.objectPresent, "('cucm', 'Phone', 'sep000000000042')")
        XCTAssertFalse(one.contains("Seq Scan"), one)

        let homes = try await QueryPlans.generic(owner, OrderInventorySQL.homeClusters, "('cucm-2', 'USER42')")
        XCTAssertFalse(homes.contains("Seq Scan on device_objects"), homes)
        XCTAssertTrue(homes.contains("device_objects_name"), "one look per call processor:\n\(homes)")

        // And they answer as before: used numbers of the range, names without case.
        let inventory = OrderInventoryStore(Connection(database.app))
        let used = try await inventory.numbersInUse(device: "cucm", block: DNBlock(partition: "PT_Internal", first: "219990", last: "220010"))
        XCTAssertEqual(used, Set((219_990...220_000).map(String.init)))
        await assertEqual(try await inventory.objectsPresent(device: "cucm", [("Phone", "sep000000000042"), ("User", "USER42"), ("User", "user20001")]),
                          [true, true, false])
        try await owner.query(Statement("", "UPDATE device_objects SET attributes = '{\"homeCluster\": \"true\"}' WHERE object_key = 'user42'"))
        await assertEqual(try await inventory.homeClusters(userID: "User42", except: "cucm-2"), ["cucm"])
        await assertEqual(try await inventory.homeClusters(userID: "User42", except: "cucm"), [])
    }
}
