import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime
import TestSupport
import XCTest

/// The claim rules of change-notification polls (migrations 023, 061): a task that runs in maintenance
/// mode and beside other syncs, never beside an infrastructure or user sync of its own device, nor
/// beside a domain synchronization of a domain holding its device.
final class ChangeNotificationRulesTests: XCTestCase {
    var database: TestDatabase!
    var store: QueueStore!

    override func setUp() async throws {
        database = try await TestServer.freshDatabase()
        store = database.store()
    }

    func enqueuePoll(_ device: String) async throws -> Int64 {
        try await store.jobEnqueue(.init(ChangeNotificationPoll.self, target: device,
                                         dedupKey: ChangeNotificationPoll.dedupKey(device: device), actor: "test")).id
    }

    func claim(_ slots: Int) async throws -> [Job] {
        try await store.jobClaim(worker: "w", slots: slots, leaseSeconds: 30)
    }

    func held(_ job: Job) -> QueueStore.Held { .init(id: job.id, attempt: job.attempt) }

    func testAPollRunsInMaintenanceModeButNeverBesideASyncOfItsDevice() async throws {
        _ = try await store.jobEnqueue(.init(InfrastructureSync.self, target: "c1", actor: "test"))
        let sync = try await claim(1)
        XCTAssertEqual(sync.map(\.type), ["sync.infra"])
        await assertTrue(try await store.maintenanceState().active, "the running infrastructure sync holds maintenance mode")
        let own = try await enqueuePoll("c1")
        let other = try await enqueuePoll("c2")
        _ = try await store.jobEnqueue(.init(kind: .order, type: "noop", actor: "test"))
        let started = try await claim(10)
        XCTAssertEqual(started.map(\.id), [other], "the other device's poll runs in maintenance mode; c1's waits, and so does the order")
        await assertEqual(try await store.jobEnd(held(sync[0]), outcome: .succeeded, actor: "w"), .succeeded)
        let after = try await claim(10)
        XCTAssertEqual(Set(after.map(\.id)).contains(own), true, "c1's poll starts once its sync ended")
    }

    func testASyncWaitsForARunningPollOfItsDeviceAndTheDatabaseRefusesBoth() async throws {
        _ = try await enqueuePoll("c1")
        let poll = try await claim(1)
        XCTAssertEqual(poll.map(\.type), [ChangeNotificationPoll.jobType])
        let syncID = try await store.jobEnqueue(.init(UserSync.self, target: "c1", actor: "test")).id
        await assertTrue(try await claim(10).isEmpty, "the user sync of c1 waits for c1's poll")
        let maintenance = try await store.maintenanceState()
        XCTAssertTrue(maintenance.active, "the due sync holds maintenance mode while it waits")
        // Past the claim, the unique index refuses a sync running beside the poll.
        let owner = Connection(database.owner)
        let start = Statement("", "UPDATE jobs SET state = 'running', worker = 'x', lease_expires_at = now() + interval '1 minute' WHERE id = $1")
        do {
            try await owner.query(start, [syncID])
            XCTFail("a sync running beside a poll of its device was accepted")
        } catch let error as PostgresError {
            XCTAssertEqual(error.kind, .uniqueViolation)
        }
        await assertEqual(try await store.jobEnd(held(poll[0]), outcome: .succeeded, actor: "w"), .succeeded)
        await assertEqual(try await claim(10).map(\.id), [syncID])
    }

    /// Migration 061: a domain synchronization stages the users of device_objects once and writes them
    /// later, so it never runs beside a poll of one of its call processors (which updates those objects
    /// and their user records): each waits for the other; a poll of a device of another domain does not.
    func testADomainSyncAndAPollOfOneOfItsCallProcessorsWaitForEachOther() async throws {
        let owner = Connection(database.owner)
        for device in ["c1", "c2"] {
            try await owner.query(Statement("", """
                INSERT INTO devices (name, kind, address, port, admin_user) VALUES ($1, 'call_processor', 'cucm.example', 8443, 'axl')
                """), [device])
        }
        for (domain, device) in [("D1", "c1"), ("D2", "c2")] {
            try await owner.query(Statement("", "INSERT INTO domains (name) VALUES ($1)"), [domain])
            try await owner.query(Statement("", """
                INSERT INTO service_areas (domain, name, call_processor, device_pool) VALUES ($1, 'SA', $2, 'DP_HQ')
                """), [domain, device])
        }
        // A running poll of c1 holds back D1's domain sync (the head of the sync line), not D2's.
        _ = try await enqueuePoll("c1")
        let poll = try await claim(1)
        XCTAssertEqual(poll.map(\.type), [ChangeNotificationPoll.jobType])
        let d1 = try await store.jobEnqueue(.init(DomainSync.self, target: "D1", actor: "test")).id
        await assertEqual(try await claim(10).map(\.id), [], "D1's domain sync waits for the poll of its call processor c1")
        await assertEqual(try await store.jobEnd(held(poll[0]), outcome: .succeeded, actor: "w"), .succeeded)
        let domainSync = try await claim(10)
        XCTAssertEqual(domainSync.map(\.id), [d1], "it starts once the poll ended")
        let running = try XCTUnwrap(domainSync.first)

        // A running domain sync of D1 holds back a poll of c1, not one of c2.
        let own = try await enqueuePoll("c1")
        let other = try await enqueuePoll("c2")
        await assertEqual(try await claim(10).map(\.id), [other], "c2 is not in D1: its poll runs; c1's waits")
        await assertEqual(try await store.jobEnd(held(running), outcome: .succeeded, actor: "w"), .succeeded)
        await assertEqual(try await claim(10).map(\.id), [own], "c1's poll starts once the domain sync ended")
    }

    func testOnePollOfADeviceIsQueuedAtATime() async throws {
        let first = try await enqueuePoll("c1")
        let second = try await enqueuePoll("c1")
        XCTAssertEqual(first, second, "the dedup key keeps one queued poll per device")
    }
}
