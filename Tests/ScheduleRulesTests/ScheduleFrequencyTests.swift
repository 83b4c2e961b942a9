import Runtime
import XCTest
import ScheduleRules

/// An instant from ISO 8601 text with an offset.
func instant(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> Date {
    guard let date = ISO8601DateFormatter().date(from: text) else {
        XCTFail("bad test date \(text)", file: file, line: line)
        return .distantPast
    }
    return date
}

let berlin = TimeZone(identifier: "Europe/Berlin")!
let newYork = TimeZone(identifier: "America/New_York")!
let utc = TimeZone(identifier: "UTC")!

final class ScheduleFrequencyParsingTests: XCTestCase {
    func testGoodForms() throws {
        XCTAssertEqual(try ScheduleFrequency(parsing: "once"), .once)
        XCTAssertEqual(try ScheduleFrequency(parsing: "ONCE"), .once)
        XCTAssertEqual(try ScheduleFrequency(parsing: "6h"), .every(6, .hours))
        XCTAssertEqual(try ScheduleFrequency(parsing: "1d"), .every(1, .days))
        XCTAssertEqual(try ScheduleFrequency(parsing: "2w"), .every(2, .weeks))
        XCTAssertEqual(try ScheduleFrequency(parsing: " 3D "), .every(3, .days))
        XCTAssertEqual(try ScheduleFrequency(parsing: "9999h"), .every(9999, .hours))
        XCTAssertEqual(try ScheduleFrequency(parsing: "007d"), .every(7, .days))
    }

    func testCommandLineFormAndDescription() throws {
        for text in ["once", "6h", "1d", "2w"] {
            XCTAssertEqual(try ScheduleFrequency(parsing: text).cliForm, text)
        }
        XCTAssertEqual(ScheduleFrequency.once.description, "one time")
        XCTAssertEqual(ScheduleFrequency.every(1, .days).description, "every day")
        XCTAssertEqual(ScheduleFrequency.every(6, .hours).description, "every 6 hours")
        XCTAssertEqual(ScheduleFrequency.every(2, .weeks).description, "every 2 weeks")
    }

    func testCodableAsTheCommandLineForm() throws {
        let encoded = try JSONEncoder().encode([ScheduleFrequency.every(6, .hours), .once])
        XCTAssertEqual(String(decoding: encoded, as: UTF8.self), #"["6h","once"]"#)
        XCTAssertEqual(try JSONDecoder().decode([ScheduleFrequency].self, from: encoded), [.every(6, .hours), .once])
        XCTAssertThrowsError(try JSONDecoder().decode([ScheduleFrequency].self, from: Data(#"["0d"]"#.utf8)))
    }

    func testBadForms() {
        let cases: [(String, String)] = [
            ("0d", "every: '0d' — the interval must be a whole number of at least 1"),
            ("00w", "every: '00w' — the interval must be a whole number of at least 1"),
            ("-3d", "every: '-3d' — the interval must be a whole number of at least 1"),
            ("+3d", "every: '+3d' — the interval must be a whole number of at least 1"),
            ("1.5h", "every: '1.5h' — the interval must be a whole number of at least 1"),
            ("d", "every: 'd' — the interval must be a whole number of at least 1"),
            ("5m", "every: unknown unit 'm' in '5m' (use h, d or w, or once)"),
            ("5hours", "every: unknown unit 'hours' in '5hours' (use h, d or w, or once)"),
            ("daily", "every: unknown unit 'daily' in 'daily' (use h, d or w, or once)"),
            ("5", "every: '5' has no unit (use h, d or w, or once)"),
            ("", "every: '' is empty (use once, <N>h, <N>d or <N>w)"),
            ("10000d", "every: '10000d' — the interval must be at most 9999"),
            ("99999999999999999999999d", "every: '99999999999999999999999d' — the interval must be at most 9999"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try ScheduleFrequency(parsing: text), text) { error in
                XCTAssertEqual((error as? InputError)?.description, message)
                XCTAssertEqual((error as? InputError)?.field, "every")
            }
        }
    }
}

final class ScheduleTimingTests: XCTestCase {
    private func next(_ frequency: ScheduleFrequency, start: String, after: String, in zone: TimeZone = berlin) -> Date? {
        frequency.nextRun(after: instant(after), start: instant(start), timeZone: zone)
    }

    // Europe/Berlin 2026: clocks jump 02:00 → 03:00 on 29 March (01:00Z) and go back 03:00 → 02:00 on
    // 25 October (01:00Z).

    func testDailyAt0230AcrossSpringForward() {
        let daily = ScheduleFrequency.every(1, .days)
        let start = "2026-03-27T02:30:00+01:00"
        XCTAssertEqual(next(daily, start: start, after: "2026-03-27T02:30:00+01:00"), instant("2026-03-28T02:30:00+01:00"))
        // 02:30 does not exist on 29 March: the run moves with the clocks to 03:30 summer time.
        XCTAssertEqual(next(daily, start: start, after: "2026-03-28T02:30:00+01:00"), instant("2026-03-29T03:30:00+02:00"))
        XCTAssertEqual(next(daily, start: start, after: "2026-03-29T03:30:00+02:00"), instant("2026-03-30T02:30:00+02:00"))
    }

    func testDailyAt0300AcrossSpringForward() {
        let daily = ScheduleFrequency.every(1, .days)
        let start = "2026-03-28T03:00:00+01:00"
        XCTAssertEqual(next(daily, start: start, after: start), instant("2026-03-29T03:00:00+02:00"))
        XCTAssertEqual(next(daily, start: start, after: "2026-03-29T03:00:00+02:00"), instant("2026-03-30T03:00:00+02:00"))
        // 23 hours between the two runs around the change: the wall-clock time is what is kept.
        XCTAssertEqual(instant("2026-03-29T03:00:00+02:00").timeIntervalSince(instant("2026-03-28T03:00:00+01:00")), 23 * 3600)
    }

    func testDailyAt0230AcrossFallBackRunsOnceAtTheFirst0230() {
        let daily = ScheduleFrequency.every(1, .days)
        let start = "2026-10-24T02:30:00+02:00"
        XCTAssertEqual(next(daily, start: start, after: start), instant("2026-10-25T02:30:00+02:00"))
        // Not again at the second 02:30 (winter time) that same night.
        XCTAssertEqual(next(daily, start: start, after: "2026-10-25T02:30:00+02:00"), instant("2026-10-26T02:30:00+01:00"))
    }

    func testDailyAt0300AcrossFallBack() {
        let daily = ScheduleFrequency.every(1, .days)
        let start = "2026-10-24T03:00:00+02:00"
        XCTAssertEqual(next(daily, start: start, after: start), instant("2026-10-25T03:00:00+01:00"))
        XCTAssertEqual(next(daily, start: start, after: "2026-10-25T03:00:00+01:00"), instant("2026-10-26T03:00:00+01:00"))
        XCTAssertEqual(instant("2026-10-25T03:00:00+01:00").timeIntervalSince(instant(start)), 25 * 3600)
    }

    func testHourlyStepsInAbsoluteTimeAcrossSpringForward() {
        let hourly = ScheduleFrequency.every(1, .hours)
        let start = "2026-03-29T00:00:00+01:00"
        XCTAssertEqual(next(hourly, start: start, after: "2026-03-29T01:30:00+01:00"), instant("2026-03-29T03:00:00+02:00"))
        XCTAssertEqual(instant("2026-03-29T03:00:00+02:00"), instant("2026-03-29T01:00:00Z"))
        XCTAssertEqual(next(hourly, start: start, after: "2026-03-29T03:00:00+02:00"), instant("2026-03-29T04:00:00+02:00"))
    }

    func testEverySixHoursAcrossFallBackKeepsSixHourSpacing() {
        let sixHourly = ScheduleFrequency.every(6, .hours)
        let start = "2026-10-24T12:00:00+02:00"
        XCTAssertEqual(next(sixHourly, start: start, after: "2026-10-24T18:00:00+02:00"), instant("2026-10-25T00:00:00+02:00"))
        // 05:00 winter time, not 06:00: six real hours after midnight summer time.
        XCTAssertEqual(next(sixHourly, start: start, after: "2026-10-25T00:00:00+02:00"), instant("2026-10-25T05:00:00+01:00"))
    }

    func testWeeklyKeepsTheWallClockTime() {
        let weekly = ScheduleFrequency.every(1, .weeks)
        XCTAssertEqual(next(weekly, start: "2026-03-23T09:00:00+01:00", after: "2026-03-23T09:00:00+01:00"),
                       instant("2026-03-30T09:00:00+02:00"))
        let fortnightly = ScheduleFrequency.every(2, .weeks)
        let start = "2026-10-19T09:00:00+02:00"
        XCTAssertEqual(next(fortnightly, start: start, after: start), instant("2026-11-02T09:00:00+01:00"))
        // 19 Oct, 2 Nov, 16 Nov, 30 Nov, 14 Dec.
        XCTAssertEqual(next(fortnightly, start: start, after: "2026-12-01T00:00:00Z"), instant("2026-12-14T09:00:00+01:00"))
        XCTAssertEqual(next(fortnightly, start: start, after: "2026-11-30T07:59:59Z"), instant("2026-11-30T09:00:00+01:00"))
    }

    func testEveryThreeDaysInNewYork() {
        // New York 2026: clocks jump on 8 March and go back on 1 November.
        let everyThreeDays = ScheduleFrequency.every(3, .days)
        let start = "2026-03-05T22:15:00-05:00"
        XCTAssertEqual(next(everyThreeDays, start: start, after: start, in: newYork), instant("2026-03-08T22:15:00-04:00"))
        XCTAssertEqual(next(everyThreeDays, start: start, after: "2026-03-20T00:00:00Z", in: newYork), instant("2026-03-20T22:15:00-04:00"))
    }

    func testBeforeTheStartTheNextRunIsTheStart() {
        XCTAssertEqual(next(.every(1, .days), start: "2026-11-23T10:00:00+01:00", after: "2026-01-01T00:00:00Z"),
                       instant("2026-11-23T10:00:00+01:00"))
        XCTAssertEqual(next(.every(1, .hours), start: "2026-11-23T10:00:00+01:00", after: "2026-11-23T08:59:59Z"),
                       instant("2026-11-23T10:00:00+01:00"))
    }

    func testTheNextRunIsStrictlyAfter() {
        let start = "2026-11-23T10:00:00Z"
        XCTAssertEqual(next(.every(2, .hours), start: start, after: "2026-11-23T12:00:00Z", in: utc), instant("2026-11-23T14:00:00Z"))
        let halfASecondBefore = instant("2026-11-23T12:00:00Z").addingTimeInterval(-0.5)
        XCTAssertEqual(ScheduleFrequency.every(2, .hours).nextRun(after: halfASecondBefore, start: instant(start), timeZone: utc),
                       instant("2026-11-23T12:00:00Z"))
    }

    func testOnce() {
        let start = "2026-11-23T10:00:00Z"
        XCTAssertEqual(next(.once, start: start, after: "2026-11-23T09:00:00Z"), instant(start))
        XCTAssertNil(next(.once, start: start, after: start))
        XCTAssertNil(next(.once, start: start, after: "2026-12-01T00:00:00Z"))
    }

    /// A year of daily runs at 02:30 Berlin time: each at 02:30 (03:30 on the day the clocks skip it),
    /// each found again from just before it, and 23, 24 or 25 hours apart.
    func testAYearOfDailyRunsKeepsTheTimeOfDay() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = berlin
        let timing = ScheduleTiming(frequency: .every(1, .days), start: instant("2026-01-01T02:30:00+01:00"), timeZone: berlin)
        var run = timing.start
        var days = 0
        while days < 365 {
            guard let following = timing.nextRun(after: run) else { return XCTFail("no run after \(run)") }
            XCTAssertEqual(timing.nextRun(after: following.addingTimeInterval(-1)), following)
            XCTAssertTrue([23.0, 24, 25].contains(following.timeIntervalSince(run) / 3600), "\(run) → \(following)")
            let clock = calendar.dateComponents([.hour, .minute], from: following)
            let isSkippedDay = calendar.dateComponents([.month, .day], from: following) == DateComponents(month: 3, day: 29)
            XCTAssertEqual(clock.hour, isSkippedDay ? 3 : 2, "\(following)")
            XCTAssertEqual(clock.minute, 30)
            run = following
            days += 1
        }
        XCTAssertEqual(run, instant("2027-01-01T02:30:00+01:00"))
    }
}

final class DueRunsTests: XCTestCase {
    private let daily = ScheduleTiming(frequency: .every(1, .days), start: instant("2026-11-02T10:00:00+01:00"), timeZone: berlin)

    func testMissedTwiceFiresOnce() {
        // Fired on 2 Nov; the coordinator was down over the 3 and 4 Nov runs and is back at 13:00 on 4 Nov.
        let due = daily.dueRuns(lastFired: instant("2026-11-02T10:00:00+01:00"), now: instant("2026-11-04T13:00:00+01:00"))
        XCTAssertEqual(due, DueRuns(due: instant("2026-11-04T10:00:00+01:00"), missedCount: 1, next: instant("2026-11-05T10:00:00+01:00")))
        // Having fired, nothing more until the 5th.
        let after = daily.dueRuns(lastFired: due.due, now: instant("2026-11-04T13:05:00+01:00"))
        XCTAssertEqual(after, DueRuns(due: nil, missedCount: 0, next: instant("2026-11-05T10:00:00+01:00")))
    }

    func testDueExactlyAtItsTime() {
        let due = daily.dueRuns(lastFired: instant("2026-11-02T10:00:00+01:00"), now: instant("2026-11-03T10:00:00+01:00"))
        XCTAssertEqual(due, DueRuns(due: instant("2026-11-03T10:00:00+01:00"), missedCount: 0, next: instant("2026-11-04T10:00:00+01:00")))
        let early = daily.dueRuns(lastFired: instant("2026-11-02T10:00:00+01:00"), now: instant("2026-11-03T09:59:59+01:00"))
        XCTAssertEqual(early, DueRuns(due: nil, missedCount: 0, next: instant("2026-11-03T10:00:00+01:00")))
    }

    func testNeverFiredCountsFromTheStart() {
        let hourly = ScheduleTiming(frequency: .every(1, .hours), start: instant("2026-11-23T00:00:00Z"), timeZone: utc)
        XCTAssertEqual(hourly.dueRuns(lastFired: nil, now: instant("2026-11-22T23:00:00Z")),
                       DueRuns(due: nil, missedCount: 0, next: instant("2026-11-23T00:00:00Z")))
        XCTAssertEqual(hourly.dueRuns(lastFired: nil, now: instant("2026-11-23T05:30:00Z")),
                       DueRuns(due: instant("2026-11-23T05:00:00Z"), missedCount: 5, next: instant("2026-11-23T06:00:00Z")))
    }

    func testOnceFiresOnceEvenLate() {
        let once = ScheduleTiming(frequency: .once, start: instant("2026-11-23T10:00:00Z"), timeZone: utc)
        XCTAssertEqual(once.dueRuns(lastFired: nil, now: instant("2026-11-23T09:00:00Z")),
                       DueRuns(due: nil, missedCount: 0, next: instant("2026-11-23T10:00:00Z")))
        XCTAssertEqual(once.dueRuns(lastFired: nil, now: instant("2026-11-25T09:00:00Z")),
                       DueRuns(due: instant("2026-11-23T10:00:00Z"), missedCount: 0, next: nil))
        XCTAssertEqual(once.dueRuns(lastFired: instant("2026-11-23T10:00:00Z"), now: instant("2026-11-25T09:00:00Z")),
                       DueRuns(due: nil, missedCount: 0, next: nil))
    }

    func testMissedAcrossTheSpringForwardFiresTheLatestOnce() {
        let daily0230 = ScheduleTiming(frequency: .every(1, .days), start: instant("2026-03-27T02:30:00+01:00"), timeZone: berlin)
        let due = daily0230.dueRuns(lastFired: instant("2026-03-27T02:30:00+01:00"), now: instant("2026-03-29T12:00:00+02:00"))
        XCTAssertEqual(due, DueRuns(due: instant("2026-03-29T03:30:00+02:00"), missedCount: 1, next: instant("2026-03-30T02:30:00+02:00")))
    }
}
