import Foundation
import JobCatalog
import Logging
import Postgres
import Queue
import Runtime
import TestSupport
import XCTest

private struct ListenProbeOrder: JobParameters {
    static let jobType = "listen-probe"
    static let kind = JobKind.order
    static let maxAttempts = 1
}

/// A worker hears of new jobs through LISTEN. When the server ends its listening session (a restart,
/// an administrator, the coordinator ending a lost worker's sessions), the worker must listen again on
/// the new session: with polling set to an hour, only a notification can make it claim the job.
final class WorkerListenTests: XCTestCase {
    func testAWorkerListensAgainAfterItsListeningSessionIsEnded() async throws {
        let database = try await TestServer.freshDatabase()
        let store = database.store()
        let observer = Connection(database.owner)
        var registry = JobRegistry()
        try registry.register(ListenProbeOrder.self) { _, _ in }
        var configuration = WorkerConfiguration(name: "listener")
        configuration.pollIntervalSeconds = 3600
        let worker = Worker(configuration: configuration, database: database.app, registry: registry,
                            logger: Logger(label: "test"))
        let running = Task { try await worker.run() }
        defer { running.cancel() }

        func listeningPid() async throws -> Int? {
            try await observer.query(Statement("", """
                SELECT pid FROM pg_stat_activity
                 WHERE application_name = 'ucp worker listener'
                   AND query IN ('LISTEN ucp_jobs', 'SELECT current_setting(''transaction_read_only'') AS read_only')
                """)).first?.decode("pid")
        }
        let listening = try await eventually(timeout: 20) { try await listeningPid() != nil }
        XCTAssertTrue(listening, "the worker listens")
        let maybeFirstPid = try await listeningPid()
        let firstPid = try XCTUnwrap(maybeFirstPid)
        let first = try await store.jobEnqueue(.init(kind: .order, type: ListenProbeOrder.jobType, actor: "test")).id
        let firstDone = try await eventually(timeout: 20) { try await store.jobCount(state: .succeeded) == 1 }
        XCTAssertTrue(firstDone, "job \(first) claimed on its notification")

        // Ended while idle in its wait: the connection replaces the session without an error reaching
        // the worker's loop, or with one; either way the worker must LISTEN on the new session.
        try await observer.query(Statement("", "SELECT pg_terminate_backend($1)"), [firstPid])
        let relistened = try await eventually(timeout: 20) {
            guard let pid = try await listeningPid() else { return false }
            return pid != firstPid
        }
        XCTAssertTrue(relistened, "the worker listens on a new session")
        let second = try await store.jobEnqueue(.init(kind: .order, type: ListenProbeOrder.jobType, actor: "test")).id
        let secondDone = try await eventually(timeout: 20) { try await store.jobCount(state: .succeeded) == 2 }
        XCTAssertTrue(secondDone, "job \(second) claimed on its notification after the session was ended")
    }
}
