import Foundation
import Postgres
import PostgresCluster
import Queue
import Schema
import TestSupport
import XCTest

/// A worker started while PostgreSQL is down waits for it, saying so, and starts working when it comes.
final class StartWithoutDatabaseTests: XCTestCase {
    func testWorkerWaitsForTheServerThenWorks() async throws {
        let run = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let folder = NSTemporaryDirectory() + "ucp-startup-\(run)"
        let cluster = LocalCluster(directory: folder, database: "ucp")
        defer { cluster.destroy() }
        let owner = try cluster.start()
        _ = try await Migrator(directory: PackagePaths.root + "/migrations").apply(Connection(owner), actor: "test")
        try cluster.stop(mode: "fast")

        let database = TestDatabase(name: "ucp", owner: owner)
        // The log directory is shared by every test of a database named "ucp": log names of this run's own.
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        let pid = try processes.start("startup-w1-\(run)", ["worker", "--stand-in-jobs", "--name", "startup-w1-\(run)"])
        // It waits (one line per attempt, saying what for) instead of exiting.
        await assertTrue(try await eventually(timeout: 15) {
            processes.log("startup-w1-\(run)").components(separatedBy: "waiting for the database to start").count > 2
        })
        var status: Int32 = 0
        XCTAssertEqual(waitpid(pid, &status, WNOHANG), 0, "the worker is still running: \(processes.log("startup-w1-\(run)"))")
        XCTAssertFalse(processes.log("startup-w1-\(run)").contains("worker started"))

        try cluster.start()
        let store = database.store()
        let job = try await store.jobEnqueue(.init(kind: .order, type: "noop", actor: "t")).id
        await assertTrue(try await eventually(timeout: 60, interval: 0.2) { try await store.jobGet(id: job)?.state == .succeeded },
                         processes.log("startup-w1-\(run)"))
        XCTAssertTrue(processes.log("startup-w1-\(run)").contains("worker started"))
    }

    func testSIGTERMWhileWaitingEndsCleanly() async throws {
        let run = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let folder = NSTemporaryDirectory() + "ucp-startup-\(run)"
        let cluster = LocalCluster(directory: folder, database: "ucp")
        defer { cluster.destroy() }
        let owner = try cluster.start()
        try cluster.stop(mode: "fast")

        let processes = try UCPProcesses(database: TestDatabase(name: "ucp", owner: owner))
        defer { processes.stopAll() }
        _ = try processes.start("startup-c1-\(run)", ["coordinator", "--name", "startup-c1-\(run)"])
        await assertTrue(try await eventually(timeout: 15) {
            processes.log("startup-c1-\(run)").contains("waiting for the database to start")
        })
        processes.kill("startup-c1-\(run)", signal: SIGTERM)
        let status = processes.waitForExit("startup-c1-\(run)")
        XCTAssertEqual(status, 0, processes.log("startup-c1-\(run)"))
        XCTAssertTrue(processes.log("startup-c1-\(run)").contains("stopped while waiting for the database"))
    }
}
