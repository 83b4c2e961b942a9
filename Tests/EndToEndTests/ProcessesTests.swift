import Foundation
import JobCatalog
import Postgres
import Queue
import TestSupport
import XCTest

/// The real processes (`ucp worker`, `ucp coordinator`) against a real PostgreSQL.
final class ProcessesTests: XCTestCase {
    struct Interval {
        var id: Int64
        var type: String
        var kind: String
        var created: Date
        var started: Date
        var finished: Date
    }

    func intervals(_ database: TestDatabase) async throws -> [Interval] {
        try await Connection(database.owner).query(Statement("", """
            SELECT id, type, kind, created_at, started_at, finished_at FROM jobs WHERE state = 'succeeded' ORDER BY started_at
            """)).map { row in
            Interval(id: try row.decode("id"), type: try row.decode("type"), kind: try row.decode("kind"),
                     created: try row.decode("created_at"), started: try row.decode("started_at"),
                     finished: try row.decode("finished_at"))
        }
    }

    func unfinishedCount(_ database: TestDatabase) async throws -> Int {
        try await Connection(database.owner).query(Statement("", """
            SELECT count(*) AS n FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'canceled')
            """)).first!.decode("n")
    }

    // 4 workers, 30 stand-in syncs of mixed types and random lengths, 300 no-op orders, all at once.
    func testSyncAndMaintenanceRulesHoldUnderLoad() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("coordinator", ["coordinator", "--name", "c1", "--rescue-interval", "1s"])
        // Each sync is a stand-in of its own length, named on the workers' command line.
        let syncSeconds = (0..<30).map { _ in Double.random(in: 0.1...0.6) }
        let standIns = syncSeconds.enumerated().flatMap { ["--stand-in-sync", "target-\($0.offset)=seconds:\($0.element)"] }
        for index in 1...4 {
            try processes.start("worker\(index)", ["worker", "--stand-in-jobs", "--name", "w\(index)", "--concurrency", "6"] + standIns)
        }
        var submissions: [QueueStore.EnqueueParams] = []
        let syncTypes: [(String, JobKind)] = [("sync.infra", .deviceSync), ("sync.user", .deviceSync),
                                              ("sync.domain", .sync), ("sync.ldap", .sync)]
        for index in 0..<30 {
            let (type, kind) = syncTypes.randomElement()!
            submissions.append(.init(kind: kind, type: type, target: "target-\(index)", maxAttempts: 1, actor: "test"))
        }
        for _ in 0..<300 {
            submissions.append(.init(kind: .order, type: "noop", payload: "{\"seconds\":\(Double.random(in: 0...0.05))}",
                                     actor: "test"))
        }
        submissions.shuffle()
        // All at once: eight submitters in parallel.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for slice in 0..<8 {
                let mine = submissions.enumerated().filter { $0.offset % 8 == slice }.map(\.element)
                group.addTask {
                    let store = database.store()
                    for params in mine { _ = try await store.jobEnqueue(params) }
                }
            }
            try await group.waitForAll()
        }
        let finished = try await eventually(timeout: 120, interval: 0.5) { try await self.unfinishedCount(database) == 0 }
        XCTAssertTrue(finished, "every job ends in a final state")

        let states = try await Connection(database.owner).query(Statement("", "SELECT state, count(*) AS n FROM jobs GROUP BY state"))
        XCTAssertEqual(try states.map { try $0.decode("state", as: String.self) }, ["succeeded"], "every job succeeded")
        let jobs = try await intervals(database)
        XCTAssertEqual(jobs.count, 330)

        // Rule 1: no two syncs overlapped.
        let syncs = jobs.filter { $0.kind == "device_sync" || $0.kind == "sync" }.sorted { $0.started < $1.started }
        XCTAssertEqual(syncs.count, 30)
        for (previous, next) in zip(syncs, syncs.dropFirst()) {
            XCTAssertGreaterThanOrEqual(next.started, previous.finished, "syncs \(previous.id) and \(next.id) overlapped")
        }
        // Rule 2: no order ran while an infrastructure or user sync ran.
        let deviceSyncs = syncs.filter { $0.kind == "device_sync" }
        let orders = jobs.filter { $0.kind == "order" }
        for sync in deviceSyncs {
            let overlapping = orders.filter { $0.started < sync.finished && $0.finished > sync.started }
            XCTAssertEqual(overlapping.map(\.id), [], "orders ran during device sync \(sync.id)")
        }
        // Maintenance mode was entered and exited once per run of consecutive device syncs: the
        // audit lines alternate, every device sync ran inside one entered…exited window, and no
        // window is empty (an entry with no sync in it would be a spurious transition).
        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100_000)
        let transitions = audit.filter { $0.action == "maintenance.entered" || $0.action == "maintenance.exited" }
        XCTAssertEqual(transitions.map(\.action),
                       Array(repeating: ["maintenance.entered", "maintenance.exited"], count: transitions.count / 2).flatMap { $0 },
                       "entries and exits alternate, one exit per entry")
        let windows = stride(from: 0, to: transitions.count - 1, by: 2).map { (transitions[$0].at, transitions[$0 + 1].at) }
        XCTAssertGreaterThanOrEqual(windows.count, 1)
        XCTAssertLessThanOrEqual(windows.count, deviceSyncs.count)
        for sync in deviceSyncs {
            XCTAssertTrue(windows.contains { $0.0 <= sync.started && sync.finished <= $0.1 },
                          "device sync \(sync.id) ran outside maintenance mode")
        }
        for window in windows {
            XCTAssertTrue(deviceSyncs.contains { window.0 <= $0.started && $0.finished <= window.1 },
                          "maintenance window \(window) holds no device sync")
        }
        // Every sync has its queued, started and finished audit lines.
        for action in ["sync.queued", "sync.started", "sync.finished"] {
            XCTAssertEqual(audit.filter { $0.action == action }.count, 30, action)
        }
        XCTAssertEqual(Set(audit.filter { $0.action == "sync.started" }.map(\.actor)).isSubset(of: ["w1", "w2", "w3", "w4"]), true)
    }

    func testKilledWorkersLoseNothing() async throws {
        let database = try await TestServer.freshDatabase()
        let store = database.store()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        let lease = 3.0
        let rescueInterval = 1.0
        try processes.start("coordinator", ["coordinator", "--name", "c1", "--rescue-interval", "1s"])

        // A worker dies in the middle of an infrastructure sync.
        try processes.start("a", ["worker", "--stand-in-jobs", "--name", "a", "--lease", "3s", "--stand-in-sync", "cucm1=seconds:60"])
        let syncID = try await store.jobEnqueue(.init(InfrastructureSync.self, target: "cucm1", actor: "test")).id
        await assertTrue(try await eventually(timeout: 10) { try await store.jobGet(id: syncID)?.state == .running })
        await assertTrue(try await store.maintenanceState().active)
        processes.kill("a")
        let killedAt = Date()
        await assertTrue(try await eventually(timeout: lease + rescueInterval + 2, interval: 0.1) {
            try await store.jobGet(id: syncID)?.state == .failed
        })
        let detectedAfter = Date().timeIntervalSince(killedAt)
        XCTAssertLessThanOrEqual(detectedAfter, lease + rescueInterval + 0.5, "rescued within one lease plus one rescue interval")
        await assertEqual(try await store.jobGet(id: syncID)?.error, "worker lost")
        await assertFalse(try await store.maintenanceState().active, "maintenance mode is free again")
        await assertTrue(try await store.jobRunningSyncs().isEmpty, "the sync slot is free again")

        // A worker dies in the middle of an order; the order runs again elsewhere, to the end once.
        try processes.start("b", ["worker", "--stand-in-jobs", "--name", "b", "--lease", "3s"])
        let orderID = try await store.jobEnqueue(.init(kind: .order, type: "noop", payload: "{\"seconds\":4,\"log\":true}",
                                                       actor: "test")).id
        await assertTrue(try await eventually(timeout: 10) {
            try await store.jobLogRead(id: orderID).contains { $0.message == "noop started" }
        })
        processes.kill("b")
        // c's lease is long: a heartbeat late on a loaded machine must not lose the order a second time.
        try processes.start("c", ["worker", "--stand-in-jobs", "--name", "c", "--lease", "15s", "--stand-in-sync", "d1=seconds:0.3"])
        // And the freed sync slot works: a new sync runs to success.
        let nextSyncID = try await store.jobEnqueue(.init(DomainSync.self, target: "d1", actor: "test")).id
        await assertTrue(try await eventually(timeout: 30) {
            let order = try await store.jobGet(id: orderID)?.state
            let sync = try await store.jobGet(id: nextSyncID)?.state
            return order == .succeeded && sync == .succeeded
        })
        let order = try await store.jobGet(id: orderID)
        XCTAssertEqual(order?.attempt, 2)
        XCTAssertEqual(order?.worker, "c")
        let log = try await store.jobLogRead(id: orderID)
        XCTAssertEqual(log.filter { $0.message == "noop finished" }.map(\.attempt), [2], "the handler ran to completion exactly once")
        XCTAssertEqual(log.filter { $0.message == "noop started" }.map(\.attempt), [1, 2])
        let rescues = try await store.auditList(since: nil, jobID: nil, limit: 1000).filter { $0.action == "job.rescued" }
        XCTAssertEqual(Set(rescues.compactMap(\.jobID)), [syncID, orderID])
        // Each rescue names the worker that lost the job, the order queued again included.
        XCTAssertEqual(rescues.first { $0.jobID == orderID }?.message,
                       "Lease of noop job \(orderID) (attempt 1, worker b) expired: worker lost; job queued again")
    }

    // Issue 10, finding 1: a worker paused past its lease (SIGSTOP) while it runs logging orders. The
    // coordinator rescues them and another worker runs them; when the paused worker resumes, its
    // handlers see their local lease ran out and stop: no log line and no finish from the old attempt
    // after the rescue, and every order's handler runs to completion exactly once.
    func testAPausedWorkerWritesNothingForTheJobsItLost() async throws {
        let database = try await TestServer.freshDatabase()
        let store = database.store()
        let processes = try UCPProcesses(database: database)
        defer {
            processes.kill("a", signal: SIGCONT)
            processes.stopAll()
        }
        try processes.start("coordinator", ["coordinator", "--name", "c1", "--rescue-interval", "1s"])
        try processes.start("a", ["worker", "--stand-in-jobs", "--name", "a", "--lease", "3s"])
        var orders: [Int64] = []
        for _ in 0..<5 {
            orders.append(try await store.jobEnqueue(.init(kind: .order, type: "noop", payload: "{\"seconds\":6,\"log\":true}",
                                                           actor: "test")).id)
        }
        await assertTrue(try await eventually(timeout: 15) {
            var started = 0
            for id in orders where try await store.jobLogRead(id: id).contains(where: { $0.message == "noop started" }) { started += 1 }
            return started == orders.count
        }, "every order started on the worker")
        processes.kill("a", signal: SIGSTOP)
        await assertTrue(try await eventually(timeout: 20) {
            let rescued = try await store.auditList(since: nil, jobID: nil, limit: 1000).filter { $0.action == "job.rescued" }
            return Set(rescued.compactMap(\.jobID)).isSuperset(of: orders)
        }, "the coordinator rescued the paused worker's orders")
        let rescuedAt: Date = try await Connection(database.owner).query(Statement("", "SELECT clock_timestamp() AS now"))
            .first!.decode("now")
        try processes.start("b", ["worker", "--stand-in-jobs", "--name", "b", "--lease", "3s"])
        processes.kill("a", signal: SIGCONT)
        await assertTrue(try await eventually(timeout: 40) {
            var done = 0
            for id in orders where try await store.jobGet(id: id)?.state == .succeeded { done += 1 }
            return done == orders.count
        }, "the orders ran again")
        await assertTrue(try await eventually(timeout: 15) {
            processes.log("a").components(separatedBy: "lost its lease").count - 1 >= orders.count
        }, "the resumed worker says it lost each job: \(processes.log("a"))")
        for id in orders {
            let log = try await store.jobLogRead(id: id)
            // Worker b, or worker a itself once resumed, ran the rescued order: attempt 2, to the end, once.
            XCTAssertEqual(log.filter { $0.message == "noop finished" }.map(\.attempt), [2], "job \(id): the handler ran to completion once")
            XCTAssertEqual(log.filter { $0.attempt == 1 && $0.at > rescuedAt }.map(\.message), [],
                           "job \(id): nothing written for the old attempt after the rescue")
            await assertEqual(try await store.jobGet(id: id)?.attempt, 2)
        }
    }

    func testSecondCoordinatorTakesOverWithinOneLeasePeriod() async throws {
        let database = try await TestServer.freshDatabase()
        let store = database.store()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        let lease = 4.0
        try processes.start("c1", ["coordinator", "--name", "c1", "--leader-lease", "4s"])
        await assertTrue(try await eventually(timeout: 10) { try await store.leaderGet(role: "coordinator")?.holder == "c1" })
        try processes.start("c2", ["coordinator", "--name", "c2", "--leader-lease", "4s"])
        try await Task.sleep(nanoseconds: 2_000_000_000)
        await assertEqual(try await store.leaderGet(role: "coordinator")?.holder, "c1", "the second one stands by")
        processes.kill("c1")
        let killedAt = Date()
        await assertTrue(try await eventually(timeout: lease * 2, interval: 0.05) {
            try await store.leaderGet(role: "coordinator")?.holder == "c2"
        })
        XCTAssertLessThan(Date().timeIntervalSince(killedAt), lease, "took over within one lease period")
    }

    func testGracefulStopReleasesUnfinishedJobs() async throws {
        let database = try await TestServer.freshDatabase()
        let store = database.store()
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("w", ["worker", "--stand-in-jobs", "--name", "w", "--grace", "1s"])
        let quick = try await store.jobEnqueue(.init(kind: .order, type: "noop", payload: "{\"seconds\":0.5}", actor: "t")).id
        let slow = try await store.jobEnqueue(.init(kind: .order, type: "noop", payload: "{\"seconds\":60}", actor: "t")).id
        await assertTrue(try await eventually(timeout: 10) {
            let slowState = try await store.jobGet(id: slow)?.state
            let quickState = try await store.jobGet(id: quick)?.state
            return slowState == .running && quickState == .running
        })
        processes.kill("w", signal: SIGTERM)
        XCTAssertEqual(processes.waitForExit("w"), 0)
        await assertEqual(try await store.jobGet(id: quick)?.state, .succeeded, "a job that ends within the grace period finishes")
        let released = try await store.jobGet(id: slow)
        XCTAssertEqual(released?.state, .queued, "what is left goes back to the queue")
        XCTAssertNil(released?.worker)
    }
}
