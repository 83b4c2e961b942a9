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

    /// Starts the queued job `id` — that job only, as the claim starts a job it picked (the next
    /// attempt, a lease, the sync's audit line) — in this process (the worker stopped), and returns a
    /// context to run its handler here, with the internal parameters a test sets (a page or chunk
    /// size). Not the queue's claim: that takes whichever job is first in line (a coordinator's poll,
    /// say), not the one the test means.
    func claimInProcess(_ id: Int64) async throws -> JobContext {
        let started = try await Connection(harness.database.app).query(
            Statement("", "SELECT * FROM ucp_start(ARRAY[$1::bigint], $2, $3)"), [id, "test-in-process", 600.0])
        let job = try Job(row: try XCTUnwrap(started.first, "job \(id) queued and started"))
        return JobContext(job: job, logger: Logger(label: "test"), database: ConnectionPool(harness.database.app, maximum: 2),
                          store: harness.queue, control: JobControl(leaseSeconds: 600), leaseSeconds: 600, clock: SystemTimeSource())
    }
}
