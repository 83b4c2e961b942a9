import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime
import TestSupport
import XCTest

/// The claim rules of change-notification polls (migration 023): a task that runs in maintenance mode
/// and beside other syncs, never beside an infrastructure or user sync of its own device.
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

    func testOnePollOfADeviceIsQueuedAtATime() async throws {
        let first = try await enqueuePoll("c1")
        let second = try await enqueuePoll("c1")
        XCTAssertEqual(first, second, "the dedup key keeps one queued poll per device")
    }
}
