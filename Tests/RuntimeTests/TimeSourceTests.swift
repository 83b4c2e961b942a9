import Foundation
import Runtime
import XCTest

final class TimeSourceTests: XCTestCase {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func testManualTimeMovesOnlyWhenTheTestAdvancesIt() {
        let clock = ManualTimeSource(now: start)
        XCTAssertEqual(clock.now, start)
        XCTAssertEqual(clock.sqlNow, start, "store calls pass the test time to SQL")
        clock.advance(by: 90)
        XCTAssertEqual(clock.now, start.addingTimeInterval(90))
        clock.advance(to: start)
        XCTAssertEqual(clock.now, start.addingTimeInterval(90), "time never goes back")
    }

    func testASleeperWakesOnceTimePassesItsDeadline() async throws {
        let clock = ManualTimeSource(now: start)
        let sleeper = Task { try await clock.sleep(seconds: 10) }
        await clock.waitForSleepers(1)
        clock.advance(by: 9.5)
        XCTAssertEqual(clock.sleeperCount, 1, "not yet: 9.5 of 10 s")
        clock.advance(by: 0.5)
        XCTAssertEqual(clock.sleeperCount, 0)
        try await sleeper.value
    }

    func testEachSleeperWakesAtItsOwnDeadline() async throws {
        let clock = ManualTimeSource(now: start)
        let sleepers = [30.0, 10, 20].map { seconds in Task { try await clock.sleep(seconds: seconds) } }
        await clock.waitForSleepers(3)
        clock.advance(by: 10)
        XCTAssertEqual(clock.sleeperCount, 2)
        clock.advance(by: 15)
        XCTAssertEqual(clock.sleeperCount, 1)
        clock.advance(by: 3600)
        XCTAssertEqual(clock.sleeperCount, 0)
        for sleeper in sleepers { try await sleeper.value }
    }

    func testACanceledSleeperThrowsAndLeaves() async {
        let clock = ManualTimeSource(now: start)
        let sleeper = Task { try await clock.sleep(seconds: 10) }
        await clock.waitForSleepers(1)
        sleeper.cancel()
        do {
            try await sleeper.value
            XCTFail("a canceled sleep returned normally")
        } catch {
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(clock.sleeperCount, 0)
        XCTAssertEqual(clock.now, start)
    }

    func testASleepCanceledBeforeItBeginsThrowsAtOnce() async {
        let clock = ManualTimeSource(now: start)
        let sleeper = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(seconds: 10)
        }
        do {
            try await sleeper.value
            XCTFail("a canceled sleep returned normally")
        } catch {
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(clock.sleeperCount, 0)
    }

    func testAZeroSleepReturnsAtOnce() async throws {
        let clock = ManualTimeSource(now: start)
        try await clock.sleep(seconds: 0)
        XCTAssertEqual(clock.sleeperCount, 0)
    }

    func testTheSystemClockLeavesTheTimeOfSQLToTheDatabase() async throws {
        let clock = SystemTimeSource()
        XCTAssertNil(clock.sqlNow, "statements keep the database server's clock")
        XCTAssertLessThan(abs(clock.now.timeIntervalSinceNow), 1)
        try await clock.sleep(seconds: 0.001)
    }
}
