import Foundation
import Logging
import Runtime
import ServiceLifecycleTestKit
import Synchronization
import XCTest

/// Counts rounds of a loop and fails those it is told to.
final class Rounds: Sendable {
    private let state = Mutex((count: 0, failuresLeft: 0))

    var count: Int { state.withLock { $0.count } }

    func failNext(_ times: Int) { state.withLock { $0.failuresLeft = times } }

    func run() throws {
        let fail = state.withLock { state -> Bool in
            state.count += 1
            guard state.failuresLeft > 0 else { return false }
            state.failuresLeft -= 1
            return true
        }
        if fail { throw RoundFailed() }
    }
}

struct RoundFailed: Error {}

final class PeriodicLoopTests: XCTestCase {
    let clock = ManualTimeSource(now: Date(timeIntervalSince1970: 1_800_000_000))

    func loop(interval: Double = 60, backoff: Backoff? = nil) -> PeriodicLoop {
        PeriodicLoop(.init(name: "test round", intervalSeconds: interval, backoffAfterFailure: backoff),
                     clock: clock, logger: Logger(label: "test"))
    }

    func testARoundAtOnceThenOnePerIntervalOfTheClock() async throws {
        let rounds = Rounds()
        let loop = loop()
        let running = Task { await loop.run { try rounds.run() } }
        await clock.waitForSleepers(1)
        XCTAssertEqual(rounds.count, 1, "the first round runs at once")
        clock.advance(by: 59)
        XCTAssertEqual(clock.sleeperCount, 1)
        XCTAssertEqual(rounds.count, 1, "no round before the interval has passed")
        clock.advance(by: 1)
        await clock.waitForSleepers(1)
        XCTAssertEqual(rounds.count, 2)
        running.cancel()
        await running.value
        XCTAssertEqual(rounds.count, 2, "cancellation ends the loop in its pause")
    }

    func testAFailedRoundDoesNotStopTheLoop() async throws {
        let rounds = Rounds()
        rounds.failNext(1)
        let loop = loop()
        let running = Task { await loop.run { try rounds.run() } }
        await clock.waitForSleepers(1)
        clock.advance(by: 60)
        await clock.waitForSleepers(1)
        XCTAssertEqual(rounds.count, 2, "the round after a failure runs at the interval")
        running.cancel()
        await running.value
    }

    func testAfterAFailureTheBackoffReplacesTheIntervalUntilARoundSucceeds() async throws {
        let rounds = Rounds()
        rounds.failNext(2)
        let loop = loop(backoff: Backoff(initial: 1, maximum: 4))
        let running = Task { await loop.run { try rounds.run() } }
        await clock.waitForSleepers(1)
        clock.advance(by: 1)  // the first delay: at most 1 s
        await clock.waitForSleepers(1)
        XCTAssertEqual(rounds.count, 2)
        clock.advance(by: 2)  // the second: at most 2 s
        await clock.waitForSleepers(1)
        XCTAssertEqual(rounds.count, 3, "this round succeeds")
        clock.advance(by: 4)
        XCTAssertEqual(rounds.count, 3, "after a success the pause is the interval again")
        XCTAssertEqual(clock.sleeperCount, 1)
        running.cancel()
        await running.value
    }

    func testAGracefulShutdownEndsThePauseAndTheLoop() async throws {
        let rounds = Rounds()
        let loop = loop(interval: 3600)
        let clock = self.clock
        await testGracefulShutdown { trigger in
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await loop.run { try rounds.run() } }
                await clock.waitForSleepers(1)
                trigger.triggerGracefulShutdown()
                await group.waitForAll()
            }
        }
        XCTAssertEqual(rounds.count, 1)
        XCTAssertEqual(clock.now, Date(timeIntervalSince1970: 1_800_000_000), "no time had to pass")
    }
}
