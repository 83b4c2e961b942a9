import Inventory
import Postgres
import Queue
import Secrets
import TestSupport
import XCTest

/// The inventory of device objects against a real PostgreSQL: bulk upsert, the removal sweep, the
/// detailed log replaced per sync.
final class DeviceObjectStoreTests: XCTestCase {
    func makeDevice(_ database: TestDatabase, name: String = "cucm-1") async throws -> DeviceObjectStore {
        let box = SecretBox(key: try SecretKey.random())
        try await DeviceStore(Connection(database.app), secretBox: box).deviceAdd(
            DeviceDraft(name: name, kind: .callProcessor, address: "127.0.0.1", adminUser: "axl"), password: Secret("pw"), actor: "test")
        return DeviceObjectStore(Connection(database.app))
    }

    func rows(_ type: String, _ keys: ClosedRange<Int>) -> [DeviceObjectRow] {
        keys.map { DeviceObjectRow(type: type, key: "k\($0)", uuid: "{U\($0)}", attributes: #"{"name":"k\#($0)"}"#) }
    }

    func testUpsertCountsNewObjectsAndTheSweepMarksWhatWasNotSeen() async throws {
        let database = try await TestServer.freshDatabase()
        let store = try await makeDevice(database)
        let first = try await store.deviceObjectsUpsert(device: "cucm-1", kind: .user, job: 1, rows("User", 1...100))
        XCTAssertEqual(first.inserted, 100)
        // A key twice in one batch counts once.
        let again = try await store.deviceObjectsUpsert(device: "cucm-1", kind: .user, job: 2, rows("User", 1...90) + rows("User", 5...5))
        XCTAssertEqual(again.inserted, 0)
        XCTAssertEqual(again.total, 90)
        await assertEqual(try await store.deviceObjectsMarkRemoved(device: "cucm-1", kind: .user, type: "User", job: 2), 10)
        await assertEqual(try await store.deviceObjectCounts(device: "cucm-1"),
                          [DeviceObjectCount(type: "User", kind: .user, present: 90, removed: 10)])
        let removed = try await store.deviceObjectList(device: "cucm-1", type: "User", includeRemoved: true).filter { $0.removedAt != nil }
        XCTAssertEqual(removed.map(\.key).sorted(), (91...100).map { "k\($0)" }.sorted())
        // An object that comes back is present again.
        _ = try await store.deviceObjectsUpsert(device: "cucm-1", kind: .user, job: 3, rows("User", 95...95))
        await assertEqual(try await store.deviceObjectCounts(device: "cucm-1", type: "User").first?.removed, 9)
        // Another kind and another device are apart.
        _ = try await store.deviceObjectsUpsert(device: "cucm-1", kind: .infra, job: 4, rows("User", 1...3))
        await assertEqual(try await store.deviceObjectsMarkRemoved(device: "cucm-1", kind: .infra, type: "User", job: 4), 0)
    }

    func testTheDetailedLogIsReplacedBySync() async throws {
        let database = try await TestServer.freshDatabase()
        let store = try await makeDevice(database)
        try await store.deviceSyncLogStart(device: "cucm-1", kind: .infra, job: 7)
        try await store.deviceSyncLogAppend(device: "cucm-1", kind: .infra, level: "warning", message: "Skipped unexpected element <x> in Phone")
        try await store.deviceSyncLogFinish(device: "cucm-1", kind: .infra, job: 7, state: "succeeded", outcome: "Completed.", counts: ["Phone": 3])
        await assertEqual(try await store.deviceSyncPreviousCounts(device: "cucm-1", kind: .infra), ["Phone": 3])
        try await store.deviceSyncLogStart(device: "cucm-1", kind: .infra, job: 8)
        let log = try await store.deviceSyncLogGet(device: "cucm-1", kind: .infra)
        XCTAssertEqual(log?.jobID, 8)
        XCTAssertEqual(log?.state, "running")
        XCTAssertEqual(log?.lines.count, 0)
    }
}
