import Foundation
import JobCatalog
import Logging
import Postgres
import Queue
import Runtime
import Synchronization
import TestSupport
import XCTest

/// An order whose handler the test gives (`WorkerOutcomeTests.handlers`, by job id).
private struct OutcomeProbeOrder: JobParameters {
    static let jobType = "outcome-probe"
    static let kind = JobKind.order
    static let maxAttempts = 2
}

/// What the handlers did, shared with the test.
private final class HandlerRecord: Sendable {
    /// How many times each job's handler ended (returned or threw).
    let ends = Mutex<[Int64: Int]>([:])
    /// The attempts the handlers ran, in order.
    let attempts = Mutex<[Int]>([])
}

/// What a worker writes when its handler ends, in a real worker against a real PostgreSQL: the
/// handler's own result, whatever an operator's cancel or the worker's clock says.
final class WorkerOutcomeTests: XCTestCase {
    var database: TestDatabase!
    var store: QueueStore!
    private let record = HandlerRecord()

    override func setUp() async throws {
        database = try await TestServer.freshDatabase()
        store = database.store()
    }

    /// Runs a worker with `handler` for `OutcomeProbeOrder` until the handler of job `id` ended
    /// `times` times, then stops it: its run returns once what it ended is written (the success it
    /// batched too).
    func runWorker(until id: Int64, ended times: Int = 1, clock: any TimeSource = SystemTimeSource(),
                   _ handler: @escaping @Sendable (JobContext) async throws -> Void) async throws {
        var registry = JobRegistry()
        try registry.register(OutcomeProbeOrder.self) { [record] _, context in
            defer { record.ends.withLock { $0[context.job.id, default: 0] += 1 } }
            try await handler(context)
        }
        let worker = Worker(configuration: WorkerConfiguration(name: "outcome"), database: database.app,
                            registry: registry, logger: Logger(label: "test"), clock: clock)
        let running = Task { try await worker.run() }
        let handled = try await eventually(timeout: 30) { self.record.ends.withLock { $0[id] == times } }
        worker.stop()
        try await running.value
        XCTAssertTrue(handled, "the handler of job \(id) ended \(record.ends.withLock { $0[id] ?? 0 }) times, not \(times)")
    }

    func enqueue() async throws -> Int64 {
        try await store.jobEnqueue(.init(OutcomeProbeOrder.self, target: "probe", actor: "test")).id
    }

    /// The operator's cancel, committed from inside the handler once its work is done: it lands
    /// after the work and before the worker's batched success, without a sleep.
    static func cancelAsOperator(_ context: JobContext) async throws {
        let state = try await context.database.withConnection {
            try await QueueStore($0).jobCancel(id: context.job.id, actor: "operator")
        }
        XCTAssertEqual(state, .canceling)
    }

    func rescuesAnHourLater() async throws -> [Job] {
        try await store.jobRescueExpired(actor: "coordinator", now: Date().addingTimeInterval(3600))
    }

    /// The work is done and the handler returns; a cancel came after the work, before the batched
    /// success was written. The job ends succeeded — the handler's result, as the order it ran
    /// says — with its closing line, and there is nothing for the rescue to end as `worker lost`
    /// (before, the batched write skipped a canceling job, which stayed canceling, unleased, until
    /// the rescue ended it canceled). Both forms of the batched write: without and with a closing line.
    func testACancelThatCameAfterTheWorkFinishedLeavesTheJobSucceeded() async throws {
        for closingLine in [nil, "Order 1 succeeded"] {
            let id = try await enqueue()
            try await runWorker(until: id) { context in
                try await Self.cancelAsOperator(context)
                if let closingLine { try context.logOnSuccess(closingLine) }
            }
            let job = try await store.jobGet(id: id)
            XCTAssertEqual(job?.state, .succeeded, "closing line: \(closingLine ?? "none")")
            XCTAssertNil(job?.error)
            let rescued = try await rescuesAnHourLater()
            XCTAssertEqual(rescued.map { "\($0.id) \($0.state) \($0.error ?? "")" }, [], "closing line: \(closingLine ?? "none")")
            await assertEqual(try await store.jobLogRead(id: id).map(\.message), closingLine.map { [$0] } ?? [])
            let audit = try await store.auditList(since: nil, jobID: id, limit: 10).map(\.action)
            XCTAssertEqual(audit, ["job.cancel"], "the cancel request, and no rescue")
        }
    }

    /// A handler that honours the cancel (it learns of it and throws) ends its job canceled.
    func testAHandlerThatStopsForTheCancelEndsItsJobCanceled() async throws {
        let id = try await enqueue()
        try await runWorker(until: id) { context in
            try await Self.cancelAsOperator(context)
            try await context.progress(done: 1)  // learns of the cancel, and throws
            XCTFail("progress did not throw on a canceling job")
        }
        let job = try await store.jobGet(id: id)
        XCTAssertEqual(job?.state, .canceled)
        XCTAssertEqual(job?.error, "canceled")
        await assertEqual(try await rescuesAnHourLater().map(\.id), [])
    }

    /// On a worker whose clock runs a day ahead of the database's, a retried job runs again after
    /// its backoff (about a second for a first attempt), by the database's clock: before, its
    /// `run_at` was the worker's time plus the backoff, a day late.
    func testARetryIsTimedByTheDatabasesClockNotTheWorkers() async throws {
        let id = try await enqueue()
        try await runWorker(until: id, ended: 2, clock: SkewedHostClock(offset: 86400)) { [record] context in
            record.attempts.withLock { $0.append(context.job.attempt) }
            if context.job.attempt == 1 { throw RetryableJobError("device busy") }
        }
        XCTAssertEqual(record.attempts.withLock { $0 }, [1, 2])
        let retried = try await store.jobGet(id: id)
        let job = try XCTUnwrap(retried)
        XCTAssertEqual(job.state, .succeeded)
        let started = try XCTUnwrap(job.startedAt)
        XCTAssertLessThan(job.runAt.timeIntervalSince(job.createdAt), 60, "the retry's time, from its creation")
        XCTAssertLessThanOrEqual(job.runAt, started, "the second attempt started at its retry time or after")
    }
}
