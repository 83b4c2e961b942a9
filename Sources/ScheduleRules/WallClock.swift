import Foundation

/// Wall-clock arithmetic in a time zone. A *reading* is what a clock in the zone shows, counted in
/// seconds since 1970-01-01 00:00 as if it were UTC; adding whole days to a reading keeps the time of day.
///
/// Turning a reading back into an instant is done here, with the rule spelled out, rather than left to
/// `Calendar.date(from:)`, whose choice for skipped and repeated times is not documented and has differed
/// between Foundation implementations.
enum WallClock {
    enum Resolution: Equatable {
        /// The reading happens exactly once.
        case unique(Date)
        /// The clocks went back and show the reading twice (the first time is in daylight-saving time).
        case repeated(first: Date, second: Date)
        /// The clocks jumped over the reading; `shiftedForward` is when they show the reading plus the
        /// jump (02:30 on a day that jumps from 02:00 to 03:00 → 03:30), the same instant as the reading
        /// measured with the offset before the jump.
        case skipped(shiftedForward: Date)

        /// The instant a schedule uses: the first of a repeated reading, the shifted one of a skipped reading.
        var scheduledInstant: Date {
            switch self {
            case .unique(let date): return date
            case .repeated(let first, _): return first
            case .skipped(let shifted): return shifted
            }
        }
    }

    static func reading(of instant: Date, in timeZone: TimeZone) -> TimeInterval {
        instant.timeIntervalSince1970 + TimeInterval(timeZone.secondsFromGMT(for: instant))
    }

    static func resolve(_ reading: TimeInterval, in timeZone: TimeZone) -> Resolution {
        // The offsets a day either side cover any one transition near the reading (real zones change
        // offset at most a few times a year).
        let offsetBefore = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: reading - 86_400))
        let offsetAfter = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: reading + 86_400))
        let candidates = Set([offsetBefore, offsetAfter]).compactMap { offset -> Date? in
            let instant = Date(timeIntervalSince1970: reading - TimeInterval(offset))
            return timeZone.secondsFromGMT(for: instant) == offset ? instant : nil
        }.sorted()
        switch candidates.count {
        case 2: return .repeated(first: candidates[0], second: candidates[1])
        case 1: return .unique(candidates[0])
        default: return .skipped(shiftedForward: Date(timeIntervalSince1970: reading - TimeInterval(offsetBefore)))
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2:
            let isLeap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            return isLeap ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
