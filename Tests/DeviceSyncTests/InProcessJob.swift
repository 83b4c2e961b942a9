import Logging
import Postgres
@testable import Queue
import Runtime
import XCTest

extension OrderTestCase {
    /// Stops the harness's worker: jobs queued from now on stay queued.
    func stopWorker() {
        harness.processes.kill("worker", signal: SIGTERM)
        _ = harness.processes.waitForExit("worker")
    }

    /// Claims the queued job `id` in this process (the worker stopped) and returns a context to run
    /// its handler here, with the internal parameters a test sets (a page or chunk size).
    func claimInProcess(_ id: Int64) async throws -> JobContext {
        let claimed = try await harness.queue.jobClaim(worker: "test-in-process", slots: 1, leaseSeconds: 600)
        let job = try XCTUnwrap(claimed.first, "job \(id) claimed")
        XCTAssertEqual(job.id, id, "the job claimed")
        return JobContext(job: job, logger: Logger(label: "test"), database: ConnectionPool(harness.database.app, maximum: 2),
                          store: harness.queue, control: JobControl(leaseSeconds: 600), leaseSeconds: 600, clock: SystemTimeSource())
    }
}
