import Foundation
import Logging
import Postgres
@testable import Queue
import Runtime
import TestSupport
import XCTest

/// A handler's log line whose connection is lost (a restart, a failover) is written once the server
/// answers again, instead of failing the attempt: a failed attempt would run the whole handler again.
final class JobLogReconnectTests: XCTestCase {
    func testALogLineWhoseConnectionWasLostIsWrittenOnReconnect() async throws {
        let database = try await TestServer.freshDatabase()
        let store = database.store()
        let id = try await store.jobEnqueue(.init(kind: .order, type: "noop", actor: "test")).id
        let claimed = try await store.jobClaim(worker: "w1", slots: 1, leaseSeconds: 30)
        let job = try XCTUnwrap(claimed.first)
        XCTAssertEqual(job.id, id)
        let logStore = QueueStore(Connection(database.app))
        let context = JobContext(job: job, logger: Logger(label: "test"), database: ConnectionPool(database.app, maximum: 1),
                                 store: logStore, control: JobControl(leaseSeconds: 30), leaseSeconds: 30,
                                 clock: SystemTimeSource())
        try await context.log("before")
        // The log's session waits on a lock; it is then terminated, as a stopping server would do.
        let blocker = Connection(database.owner)
        try await blocker.withSession { session in
            try session.execute("BEGIN")
            try session.execute("LOCK TABLE job_logs IN ACCESS EXCLUSIVE MODE")
        }
        let writing = Task { try await context.log("after the outage") }
        let observer = Connection(database.owner)
        var waitingPid: Int?
        let waiting = try await eventually(timeout: 10) {
            waitingPid = try await observer.query(Statement("", """
                SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%job_logs%'
                """)).first?.decode("pid")
            return waitingPid != nil
        }
        XCTAssertTrue(waiting, "the log line waits on the lock")
        try await observer.query(Statement("", "SELECT pg_terminate_backend($1)"), [try XCTUnwrap(waitingPid)])
        try await Task.sleep(nanoseconds: 200_000_000)
        try await blocker.withSession { try $0.execute("ROLLBACK") }
        try await writing.value
        let lines = try await store.jobLogRead(id: id).map(\.message)
        XCTAssertEqual(lines, ["before", "after the outage"])
    }
}
