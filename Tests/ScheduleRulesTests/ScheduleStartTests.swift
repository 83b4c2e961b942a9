import XCTest
import ScheduleRules

final class ScheduleStartTests: XCTestCase {
    private func parse(_ text: String, in zone: TimeZone = berlin) throws -> Date {
        try ScheduleStart.parse(text, timeZone: zone)
    }

    func testISO8601WithOffsetIgnoresTheZone() throws {
        XCTAssertEqual(try parse("2026-11-23T10:00:00+01:00"), instant("2026-11-23T09:00:00Z"))
        XCTAssertEqual(try parse("2026-11-23T10:00:00Z"), instant("2026-11-23T10:00:00Z"))
        XCTAssertEqual(try parse("2026-11-23t10:00z", in: newYork), instant("2026-11-23T10:00:00Z"))
        XCTAssertEqual(try parse("2026-11-23T10:00-05:30"), instant("2026-11-23T15:30:00Z"))
        XCTAssertEqual(try parse("2026-11-23 10:00:00+01:00", in: utc), instant("2026-11-23T09:00:00Z"))
    }

    func testLocalTimeIsReadInTheZone() throws {
        XCTAssertEqual(try parse("2026-11-23 10:00"), instant("2026-11-23T10:00:00+01:00"))
        XCTAssertEqual(try parse("2026-07-01 10:00"), instant("2026-07-01T10:00:00+02:00"))
        XCTAssertEqual(try parse("2026-11-23 10:00", in: utc), instant("2026-11-23T10:00:00Z"))
        XCTAssertEqual(try parse("2026-11-23T10:00:30", in: newYork), instant("2026-11-23T10:00:30-05:00"))
        XCTAssertEqual(try parse("  2028-02-29 12:00 "), instant("2028-02-29T12:00:00+01:00"))
    }

    func testRepeatedLocalTimeIsTheFirst() throws {
        XCTAssertEqual(try parse("2026-10-25 02:30"), instant("2026-10-25T02:30:00+02:00"))
        XCTAssertEqual(try parse("2026-10-25T02:30:00+01:00"), instant("2026-10-25T01:30:00Z"))
    }

    func testSkippedLocalTimeIsRefused() {
        XCTAssertThrowsError(try parse("2026-03-29 02:30")) { error in
            XCTAssertEqual("\(error)", "start: '2026-03-29 02:30' does not exist in Europe/Berlin (the clocks skip it for daylight saving time; give another time or an offset)")
        }
    }

    func testBadForms() {
        let bad = [
            "23.11.2026 10:00", "2026-11-23", "2026-13-01 10:00", "2026-02-29 12:00", "2026-04-31 12:00",
            "2026-11-23 24:00", "2026-11-23 10:60", "2026-11-23 10:00:60", "2026-11-23T10:00:00+0100",
            "2026-11-23T10:00:00+19:00", "2026-1-23 10:00", "2026-11-23 10:00 extra", "tomorrow", "",
            "2026-11-23  10:00", "2026-11-23T10:00:00.5Z", "２０２６-11-23 10:00",
        ]
        for text in bad {
            XCTAssertThrowsError(try parse(text), text) { error in
                XCTAssertEqual("\(error)", "start: '\(text)' is not a date and time (use 2026-11-23T10:00:00Z or 2026-11-23 10:00)")
            }
        }
    }

    /// The instant, not the digits typed, must be within the years 1 to 9999 (UTC): PostgreSQL has no
    /// year 0 and refused such a start as a database error.
    func testYearsOutsideOneTo9999AreRefused() throws {
        for (text, zone) in [("0000-01-01T00:00:00Z", utc), ("0000-06-01 12:00", utc), ("0001-01-01T00:30:00+01:00", utc),
                             ("0001-01-01 00:30", berlin), ("9999-12-31T23:30:00-01:00", utc), ("9999-12-31 23:30", newYork)] {
            XCTAssertThrowsError(try parse(text, in: zone), text) { error in
                XCTAssertEqual("\(error)", "start: '\(text)' is outside the years 1 to 9999 (UTC)")
            }
        }
        XCTAssertEqual(try parse("0001-01-01T00:00:00Z"), Date(timeIntervalSince1970: -62_135_596_800))
        XCTAssertEqual(try parse("9999-12-31T23:59:59Z"), Date(timeIntervalSince1970: 253_402_300_799))
    }

    func testFormatReadsBack() throws {
        XCTAssertEqual(ScheduleStart.format(instant("2026-11-23T09:00:00Z"), timeZone: berlin), "2026-11-23T10:00:00+01:00")
        XCTAssertEqual(ScheduleStart.format(instant("2026-07-01T08:00:00Z"), timeZone: berlin), "2026-07-01T10:00:00+02:00")
        XCTAssertEqual(ScheduleStart.format(instant("2026-11-23T09:00:00Z"), timeZone: utc), "2026-11-23T09:00:00Z")
        let date = instant("2026-10-25T01:30:00Z")
        XCTAssertEqual(try parse(ScheduleStart.format(date, timeZone: berlin)), date)
    }
}
