import Foundation
import Postgres
@testable import Queue
import Runtime
import XCTest

/// How an attempt ends: the worker's decision from what the handler threw, what the heartbeats
/// learnt and whether the worker is stopping. Pure logic, no database.
final class AttemptEndingTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    struct DeviceRefused: Error, CustomStringConvertible {
        var description: String { "device said no" }
    }

    func ending(_ error: (any Error)?, signal: JobControl.Signal = .none, canceled: Bool = false) -> AttemptEnding {
        .of(error: error, signal: signal, taskCanceled: canceled, retryDelay: 4)
    }

    func testAHandlerThatReturnsSucceedsWhateverTheHeartbeatsLearnt() {
        for signal in [JobControl.Signal.none, .cancel, .lost] {
            for canceled in [false, true] {
                XCTAssertEqual(ending(nil, signal: signal, canceled: canceled), AttemptEnding(outcome: .succeeded),
                               "\(signal), canceled: \(canceled)")
            }
        }
    }

    func testACanceledJobEndsCanceled() {
        XCTAssertEqual(ending(JobCanceledError()), AttemptEnding(outcome: .canceled, error: "canceled"))
        XCTAssertEqual(ending(DeviceRefused(), signal: .cancel), AttemptEnding(outcome: .canceled, error: "canceled"),
                       "whatever a handler throws after an operator's cancel ends it as canceled")
    }

    func testALostAttemptWritesNothing() {
        XCTAssertEqual(ending(JobLostError()), AttemptEnding(outcome: nil))
        XCTAssertEqual(ending(CancellationError(), signal: .lost), AttemptEnding(outcome: nil))
        XCTAssertEqual(ending(RetryableJobError("busy"), signal: .lost), AttemptEnding(outcome: nil))
    }

    func testAHandlerCanceledByTheStoppingWorkerWritesNothing() {
        XCTAssertEqual(ending(CancellationError(), canceled: true), AttemptEnding(outcome: nil), "the drain hands it back")
        XCTAssertEqual(ending(RetryableJobError("busy"), canceled: true), AttemptEnding(outcome: nil))
    }

    func testRetryableErrorsAndALostDatabaseConnectionAreRetriedAfterTheDelay() {
        XCTAssertEqual(ending(RetryableJobError("device busy")),
                       AttemptEnding(outcome: .retry, error: "device busy", retryDelay: 4))
        let lost = PostgresError(kind: .connectionLost, message: "server closed the connection unexpectedly")
        XCTAssertEqual(ending(lost), AttemptEnding(outcome: .retry, error: "\(lost)", retryDelay: 4))
    }

    func testOtherErrorsFailTheJob() {
        XCTAssertEqual(ending(DeviceRefused()), AttemptEnding(outcome: .failed, error: "device said no"))
        let refused = PostgresError(kind: .uniqueViolation, sqlState: "23505", message: "duplicate key")
        XCTAssertEqual(ending(refused), AttemptEnding(outcome: .failed, error: "PostgreSQL 23505: duplicate key"))
    }

    func testTheRetryDelayDoublesWithEachAttemptUpToTenMinutes() {
        for _ in 0..<100 {
            XCTAssertTrue((0.5...1).contains(Worker.retryDelay(attempt: 1)))
            XCTAssertTrue((2...4).contains(Worker.retryDelay(attempt: 3)))
            XCTAssertTrue((300...600).contains(Worker.retryDelay(attempt: 40)))
        }
    }
}

/// What the heartbeats learnt, and how it reaches a handler waiting through its context
/// (`JobContext.sleep` waits on `JobControl.wait`).
final class JobControlTests: XCTestCase {
    func testALossEndsAHandlersWaitAtOnce() async {
        let clock = ManualTimeSource()
        let control = JobControl(clock: clock)
        let attempt = Task { await control.wait(seconds: 3600) }
        await clock.waitForSleepers(1)
        control.set(.lost)
        await attempt.value
        XCTAssertEqual(clock.sleeperCount, 0, "the wait's timer is canceled with it")
        control.set(.cancel)
        XCTAssertEqual(control.signal, .lost, "once lost, the attempt stays lost")
    }

    func testAnOperatorsCancelEndsTheWaitToo() async {
        let clock = ManualTimeSource()
        let control = JobControl(clock: clock)
        let start = clock.now
        let attempt = Task { await control.wait(seconds: 10) }
        await clock.waitForSleepers(1)
        control.set(.cancel)
        await attempt.value
        XCTAssertEqual(control.signal, .cancel)
        XCTAssertEqual(clock.now, start, "no time had to pass")
    }

    func testWithoutASignalTheWaitLastsItsTime() async {
        let clock = ManualTimeSource()
        let control = JobControl(clock: clock)
        let attempt = Task { await control.wait(seconds: 10) }
        await clock.waitForSleepers(1)
        clock.advance(by: 4)
        await clock.waitForSleepers(1)
        XCTAssertEqual(clock.sleeperCount, 1, "still waiting after 4 of 10 seconds")
        clock.advance(by: 6)
        await attempt.value
        XCTAssertEqual(control.signal, .none)
    }
}

final class WakeupTests: XCTestCase {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func testASignalEndsTheWaitAndCancelsItsTimer() async {
        let clock = ManualTimeSource(now: start)
        let wakeup = Wakeup(clock: clock)
        let waiter = Task { await wakeup.wait(timeout: 60) }
        await clock.waitForSleepers(1)
        wakeup.signal()
        await waiter.value
        XCTAssertEqual(clock.sleeperCount, 0, "the timer was canceled with the wait")
        XCTAssertEqual(clock.now, start)
    }

    func testTheWaitEndsWhenItsTimeoutPassesOnTheClock() async {
        let clock = ManualTimeSource(now: start)
        let wakeup = Wakeup(clock: clock)
        let waiter = Task { await wakeup.wait(timeout: 60) }
        await clock.waitForSleepers(1)
        clock.advance(by: 60)
        await waiter.value
    }

    func testSignalsWithNobodyWaitingEndTheNextWaitOnlyAtOnce() async {
        let clock = ManualTimeSource(now: start)
        let wakeup = Wakeup(clock: clock)
        wakeup.signal()
        wakeup.signal()
        await wakeup.wait(timeout: 60)
        XCTAssertEqual(clock.sleeperCount, 0, "the pending signal ended it without a timer")
        let second = Task { await wakeup.wait(timeout: 60) }
        await clock.waitForSleepers(1)  // two signals made one wake-up: this wait waits
        wakeup.signal()
        await second.value
    }

    func testATimeoutIsNoSignalForTheNextWait() async {
        let clock = ManualTimeSource(now: start)
        let wakeup = Wakeup(clock: clock)
        let first = Task { await wakeup.wait(timeout: 1) }
        await clock.waitForSleepers(1)
        clock.advance(by: 1)
        await first.value
        let second = Task { await wakeup.wait(timeout: 60) }
        await clock.waitForSleepers(1)
        XCTAssertEqual(clock.sleeperCount, 1)
        wakeup.signal()
        await second.value
    }

    func testACanceledWaitReturnsAtOnce() async {
        let clock = ManualTimeSource(now: start)
        let wakeup = Wakeup(clock: clock)
        let waiter = Task { await wakeup.wait(timeout: 3600) }
        await clock.waitForSleepers(1)
        waiter.cancel()
        await waiter.value
        XCTAssertEqual(clock.now, start)
    }
}
