import Runtime
import XCTest

final class DurationTextTests: XCTestCase {
    func testReadsTheUnits() throws {
        XCTAssertEqual(try DurationText.seconds("90", field: "poll"), 90)
        XCTAssertEqual(try DurationText.seconds("1.5m", field: "poll"), 90)
        XCTAssertEqual(try DurationText.seconds("2h", field: "poll"), 7200)
        XCTAssertEqual(try DurationText.seconds("7d", field: "poll"), 604_800)
    }

    /// One maximum for every field: 100 years. Past it a sleep's nanoseconds (UInt64), a run-at's
    /// time_t or a PostgreSQL timestamp trapped or failed instead of refusing the input.
    func testAtMostAHundredYears() throws {
        XCTAssertEqual(try DurationText.seconds("36500d", field: "poll"), 36500 * 86400)
        for text in ["36500.5d", "876001h", "99999999999999999999d", "99999999999999999999s"] {
            XCTAssertThrowsError(try DurationText.seconds(text, field: "poll"), text) { error in
                XCTAssertEqual("\(error)", "poll: must be at most 36500d (got '\(text)')")
            }
        }
        XCTAssertEqual(DurationText.parse("99999999999999999999d"), 99999999999999999999 * 86400, "parse alone reads any size")
    }

    func testACallerNarrowsTheRangeWithItsOwnRule() throws {
        let rule = "must be whole seconds from 1s to 1d"
        XCTAssertEqual(try DurationText.seconds("1d", field: "interval", within: 1...86400, rule: rule), 86400)
        for text in ["0s", "2d", "99999999999999999999s"] {
            XCTAssertThrowsError(try DurationText.seconds(text, field: "interval", within: 1...86400, rule: rule), text) { error in
                XCTAssertEqual("\(error)", "interval: \(rule) (got '\(text)')")
            }
        }
    }

    func testRefusesWhatIsNotADuration() {
        for text in ["", "s", "1e3", "+5", "inf", ".5s", "5.s", "1.2.3s", "5w", "-5s"] {
            XCTAssertNil(DurationText.parse(text), text)
            XCTAssertThrowsError(try DurationText.seconds(text, field: "poll"), text) { error in
                XCTAssertEqual("\(error)", "poll: '\(text)' is not a duration (a number with s, m, h or d, e.g. 90s, 15m, 2h)")
            }
        }
    }
}
