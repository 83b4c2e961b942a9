import Foundation
import Inventory
import Postgres
import Queue
import Runtime
import Secrets
import TestSupport
import XCTest

/// Service areas against a real PostgreSQL: object names checked against what the infrastructure
/// synchronization read, DN blocks that may not overlap, removal refused while a service is placed.
final class ServiceAreaStoreTests: XCTestCase {
    let password = "s3cret-\(UInt32.random(in: 0...UInt32.max))"

    /// A fresh database with domain "Cisco", Unified CM "CUCM1" (whose infrastructure sync read device
    /// pool DP_HQ, location LOC_HQ, partitions PT_A and PT_B, CSS CSS_Dev) and Unity "CUC1" (template
    /// voicemailusertemplate).
    func prepared() async throws -> (TestDatabase, ServiceAreaStore) {
        let database = try await TestServer.freshDatabase()
        let devices = DeviceStore(Connection(database.app), secretBox: SecretBox(key: try SecretKey.random()))
        for (name, kind) in [("CUCM1", DeviceKind.callProcessor), ("CUCM2", .callProcessor), ("CUC1", .messageProcessor)] {
            try await devices.deviceAdd(DeviceDraft(name: name, kind: kind, address: "127.0.0.1", adminUser: "admin"),
                                        password: Secret(password), actor: "t")
        }
        try await DomainStore(Connection(database.app)).domainAdd(DomainDraft(name: "Cisco"), actor: "t")
        let objects = DeviceObjectStore(Connection(database.app))
        for device in ["CUCM1", "CUCM2"] {
            try await objects.deviceObjectsUpsert(device: device, kind: .infra, job: 1, [
                ("DevicePool", "DP_HQ"), ("Location", "LOC_HQ"), ("RoutePartition", "PT_A"), ("RoutePartition", "PT_B"),
                ("CallingSearchSpace", "CSS_Dev"),
            ].map { DeviceObjectRow(type: $0.0, key: $0.1, uuid: nil, attributes: "{\"name\": \"\($0.1)\"}") })
        }
        try await objects.deviceObjectsUpsert(device: "CUC1", kind: .infra, job: 1, [
            DeviceObjectRow(type: "SubscriberTemplate", key: "voicemailusertemplate", uuid: nil, attributes: "{}"),
        ])
        return (database, ServiceAreaStore(Connection(database.app)))
    }

    func area(_ name: String, callProcessor: String = "CUCM1", blocks: [String] = []) throws -> ServiceAreaDraft {
        var draft = ServiceAreaDraft(domain: "Cisco", name: name, callProcessor: callProcessor, devicePool: "DP_HQ")
        draft.partitions = ["PT_A", "PT_B"]
        draft.dnBlocks = try blocks.map(ServiceAreaValidation.dnBlock)
        return draft
    }

    /// Rows of the service area tables and audit lines.
    func counts(_ database: TestDatabase) async throws -> [Int] {
        let row = try await Connection(database.owner).query(Statement("", """
            SELECT (SELECT count(*) FROM service_areas) AS areas, (SELECT count(*) FROM service_area_partitions) AS partitions,
                   (SELECT count(*) FROM service_area_dn_blocks) AS blocks, (SELECT count(*) FROM audit_log) AS audit
            """)).first!
        return [try row.decode("areas"), try row.decode("partitions"), try row.decode("blocks"), try row.decode("audit")]
    }

    func assertRefused(_ database: TestDatabase, field: String, containing text: String, file: StaticString = #filePath,
                       line: UInt = #line, _ body: () async throws -> Void) async throws {
        let before = try await counts(database)
        do {
            try await body()
            XCTFail("accepted; expected a refusal of \(field)", file: file, line: line)
        } catch let error as InputError {
            XCTAssertEqual(error.field, field, "\(error)", file: file, line: line)
            XCTAssertTrue(error.problem.contains(text), "\(error)", file: file, line: line)
        }
        let after = try await counts(database)
        XCTAssertEqual(after, before, "nothing written", file: file, line: line)
    }

    func testAnAreaIsStoredWithItsPartitionsAndBlocks() async throws {
        let (database, store) = try await prepared()
        var draft = try area("HQ", blocks: ["4000-4099", "4100-4199:PT_B"].map { $0 })
        draft.dnBlocks[0].partition = "PT_A"
        draft.location = "LOC_HQ"
        draft.deviceCSS = "CSS_Dev"
        draft.messageProcessor = "CUC1"
        draft.unityTemplate = "voicemailusertemplate"
        draft.externalMask = "972555XXXX"
        let added = try await store.serviceAreaAdd(draft, actor: "alice")
        XCTAssertEqual(added.settings, draft)
        XCTAssertEqual(added.placedServices, 0)
        let listed = try await store.serviceAreaList(domain: "Cisco")
        XCTAssertEqual(listed.map(\.name), ["HQ"])
        XCTAssertEqual(listed[0].settings.dnBlocks.map(\.text), ["4000-4099 in PT_A", "4100-4199 in PT_B"])

        // An edit that changes nothing writes nothing; one that changes something says what.
        let counted = try await counts(database)
        let same = try await store.serviceAreaUpdate(domain: "Cisco", name: "HQ", actor: "alice") { _ in }
        XCTAssertEqual(same.updatedAt, added.updatedAt)
        let unchanged = try await counts(database)
        XCTAssertEqual(unchanged, counted)
        let edited = try await store.serviceAreaUpdate(domain: "Cisco", name: "HQ", actor: "alice") { draft in
            draft.partitions = ["PT_A"]
            draft.dnBlocks = [DNBlock(partition: "PT_A", first: "4000", last: "4049")]
        }
        XCTAssertEqual(edited.settings.partitions, ["PT_A"])
        XCTAssertEqual(edited.settings.dnBlocks.map(\.text), ["4000-4049 in PT_A"])
        let audit: [String] = try await Connection(database.owner).query(Statement("", """
            SELECT message FROM audit_log WHERE action = 'service_area.changed' ORDER BY id
            """)).map { try $0.decode("message") }
        XCTAssertEqual(audit, ["Service area 'HQ' of domain 'Cisco' changed: partitions, dn_blocks"])

        try await store.serviceAreaRemove(domain: "Cisco", name: "HQ", actor: "alice")
        let left = try await counts(database)
        XCTAssertEqual(Array(left.prefix(3)), [0, 0, 0])
    }

    func testNamesOfObjectsTheInfrastructureSyncDidNotReadAreRefused() async throws {
        let (database, store) = try await prepared()
        var pool = try area("HQ")
        pool.devicePool = "DP_Nowhere"
        try await assertRefused(database, field: "device_pool", containing: "'CUCM1' has no DevicePool named 'DP_Nowhere'") {
            try await store.serviceAreaAdd(pool, actor: "t")
        }
        var partition = try area("HQ")
        partition.partitions = ["PT_A", "PT_Missing"]
        try await assertRefused(database, field: "partition", containing: "no RoutePartition named 'PT_Missing'") {
            try await store.serviceAreaAdd(partition, actor: "t")
        }
        var template = try area("HQ")
        template.messageProcessor = "CUC1"
        template.unityCOS = "No Such COS"
        try await assertRefused(database, field: "unity_cos", containing: "'CUC1' has no UnifiedMessagingFeatureSpecification named 'No Such COS'") {
            try await store.serviceAreaAdd(template, actor: "t")
        }
        var wrongKind = try area("HQ")
        wrongKind.callProcessor = "CUC1"
        try await assertRefused(database, field: "call_processor", containing: "is a Unity Connection, not a Unified CM") {
            try await store.serviceAreaAdd(wrongKind, actor: "t")
        }
        var unsynced = try area("HQ")
        unsynced.callProcessor = "CUCM3"
        try await assertRefused(database, field: "call_processor", containing: "no device named 'CUCM3'") {
            try await store.serviceAreaAdd(unsynced, actor: "t")
        }
        var noDomain = try area("HQ")
        noDomain.domain = "Elsewhere"
        try await assertRefused(database, field: "domain 'Elsewhere'", containing: "no such domain") {
            try await store.serviceAreaAdd(noDomain, actor: "t")
        }
    }

    func testOverlappingDNBlocksAreRefused() async throws {
        let (database, store) = try await prepared()
        try await store.serviceAreaAdd(try area("HQ", blocks: ["4000-4099:PT_A"]), actor: "t")
        // Inside one area.
        try await assertRefused(database, field: "dn_block", containing: "4050-4150 in PT_B overlaps 4000-4099 in PT_B") {
            try await store.serviceAreaAdd(try self.area("Branch", blocks: ["4000-4099:PT_B", "4050-4150:PT_B"]), actor: "t")
        }
        // Against another area of the same call processor and partition.
        try await assertRefused(database, field: "dn_block", containing: "4090-4199 in PT_A overlaps 4000-4099 in PT_A of service area 'HQ'") {
            try await store.serviceAreaAdd(try self.area("Branch", blocks: ["4090-4199:PT_A"]), actor: "t")
        }
        // Bad blocks.
        try await assertRefused(database, field: "dn_block", containing: "same number of digits") {
            try await store.serviceAreaAdd(try self.area("Branch", blocks: ["400-4099:PT_A"]), actor: "t")
        }
        try await assertRefused(database, field: "dn_block", containing: "name its partition") {
            try await store.serviceAreaAdd(try self.area("Branch", blocks: ["5000-5099"]), actor: "t")
        }
        try await assertRefused(database, field: "dn_block", containing: "not one of the area's partitions") {
            try await store.serviceAreaAdd(try self.area("Branch", blocks: ["5000-5099:PT_C"]), actor: "t")
        }
        // Another partition, another length, or another call processor does not overlap.
        try await store.serviceAreaAdd(try area("Branch", blocks: ["4000-4099:PT_B", "04000-04099:PT_A"]), actor: "t")
        try await store.serviceAreaAdd(try area("Remote", callProcessor: "CUCM2", blocks: ["4000-4099:PT_A"]), actor: "t")
        let areas = try await store.serviceAreaList().map(\.name)
        XCTAssertEqual(areas, ["Branch", "HQ", "Remote"])
    }

    func testRemovalIsRefusedWhileAServiceIsPlacedInTheArea() async throws {
        let (database, store) = try await prepared()
        try await store.serviceAreaAdd(try area("HQ"), actor: "t")
        let owner = Connection(database.owner)
        try await owner.query(Statement("", "INSERT INTO users (user_id, domain) VALUES ('jsmith', 'Cisco')"))
        try await owner.query(Statement("", """
            INSERT INTO user_services (user_id, service_type, device, sync_kind, object_type, object_key, domain, service_area)
            VALUES ('jsmith', 'phone', 'CUCM1', 'infra', 'DevicePool', 'DP_HQ', 'Cisco', 'HQ')
            """))
        try await assertRefused(database, field: "service area 'HQ'", containing: "while 1 user services are placed in it") {
            try await store.serviceAreaRemove(domain: "Cisco", name: "HQ", actor: "t")
        }
        let has: Bool = try await owner.query(Statement("", "SELECT ucp_user_has_services('jsmith') AS has")).first!.decode("has")
        XCTAssertTrue(has)
    }

    /// A domain synchronization places services in the areas it read when it started: an area removed
    /// under it used to fail the sync part-way (a foreign-key error, half its batches written). The
    /// removal waits for the domain's sync to end; another domain's sync does not hold it.
    func testRemovalIsRefusedWhileTheDomainsSynchronizationIsQueuedOrRunning() async throws {
        let (database, store) = try await prepared()
        try await store.serviceAreaAdd(try area("HQ"), actor: "t")
        try await store.serviceAreaAdd(try area("Branch"), actor: "t")
        let queue = QueueStore(Connection(database.app))
        let (other, _) = try await queue.jobEnqueue(.init(kind: .sync, type: "sync.domain", target: "Other", actor: "t"))
        try await store.serviceAreaRemove(domain: "Cisco", name: "Branch", actor: "t")
        let (job, _) = try await queue.jobEnqueue(.init(kind: .sync, type: "sync.domain", target: "Cisco", actor: "t"))
        try await assertRefused(database, field: "service area 'HQ'",
                                containing: "cannot be removed while the synchronization of domain 'Cisco' (job \(job)) is queued or running") {
            try await store.serviceAreaRemove(domain: "Cisco", name: "HQ", actor: "t")
        }
        _ = try await queue.jobCancel(id: job, actor: "t")
        _ = try await queue.jobCancel(id: other, actor: "t")
        try await store.serviceAreaRemove(domain: "Cisco", name: "HQ", actor: "t")
        await assertEqual(try await store.serviceAreaList(domain: "Cisco").count, 0)
    }
}
