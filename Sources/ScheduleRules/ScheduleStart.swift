import Foundation
import Runtime

/// The start date and time of a schedule (Table 3, "Start Date"), as typed on the command line:
/// `2026-11-23T10:00:00+01:00` or `…Z` (ISO 8601 with an offset), or `2026-11-23 10:00` read in the
/// schedule's time zone. Seconds are optional; `T` and a space both separate date and time.
public enum ScheduleStart {
    public static func parse(_ rawText: String, timeZone: TimeZone) throws(InputError) -> Date {
        let text = rawText.trimmingSpaces
        guard let fields = Fields(text) else {
            throw InputError(
                field: "start",
                problem: "\(InputError.quoted(text)) is not a date and time (use 2026-11-23T10:00:00Z or 2026-11-23 10:00)")
        }
        if let offset = fields.offsetSeconds {
            return try DateRange.check(Date(timeIntervalSince1970: fields.reading - TimeInterval(offset)), field: "start", text: text)
        }
        switch WallClock.resolve(fields.reading, in: timeZone) {
        case .unique(let date):
            return try DateRange.check(date, field: "start", text: text)
        case .repeated(let first, _):
            // The clocks show it twice; the first is the one people mean unless they give an offset.
            return try DateRange.check(first, field: "start", text: text)
        case .skipped:
            // Moving it silently would start the schedule at a time nobody typed.
            throw InputError(
                field: "start",
                problem: "\(InputError.quoted(text)) does not exist in \(timeZone.identifier) (the clocks skip it for daylight saving time; give another time or an offset)")
        }
    }

    /// ISO 8601 with the zone's offset at that instant, e.g. `2026-11-23T10:00:00+01:00` — what `parse`
    /// reads back to the same instant.
    public static func format(_ date: Date, timeZone: TimeZone) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = timeZone
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// The fields of `YYYY-MM-DD(T| )HH:MM[:SS][Z|±HH:MM]`, checked for range.
    private struct Fields {
        /// The wall-clock reading the text names (see `WallClock`).
        var reading: TimeInterval
        /// The offset east of UTC the text gives; nil when it gives none.
        var offsetSeconds: Int?

        init?(_ text: String) {
            var scanner = ScalarScanner(Array(text.unicodeScalars))
            guard let year = scanner.number(digits: 4), scanner.skip("-"),
                  let month = scanner.number(digits: 2), scanner.skip("-"),
                  let day = scanner.number(digits: 2),
                  scanner.skip("T") || scanner.skip("t") || scanner.skip(" "),
                  let hour = scanner.number(digits: 2), scanner.skip(":"),
                  let minute = scanner.number(digits: 2) else { return nil }
            var second = 0
            if scanner.skip(":") {
                guard let value = scanner.number(digits: 2) else { return nil }
                second = value
            }
            if scanner.skip("Z") || scanner.skip("z") {
                offsetSeconds = 0
            } else if let sign = scanner.skip("+") ? 1 : scanner.skip("-") ? -1 : nil {
                guard let offsetHours = scanner.number(digits: 2), scanner.skip(":"),
                      let offsetMinutes = scanner.number(digits: 2),
                      offsetHours <= 18, offsetMinutes <= 59 else { return nil }
                offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
            }
            guard scanner.isAtEnd,
                  (1...12).contains(month), (1...WallClock.daysInMonth(year: year, month: month)).contains(day),
                  (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second) else { return nil }
            let days = WallClock.daysSinceEpoch(year: year, month: month, day: day)
            reading = TimeInterval(days * 86_400 + hour * 3600 + minute * 60 + second)
        }
    }

    private struct ScalarScanner {
        let scalars: [Unicode.Scalar]
        var position = 0

        init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

        var isAtEnd: Bool { position == scalars.count }

        mutating func skip(_ expected: Unicode.Scalar) -> Bool {
            guard position < scalars.count, scalars[position] == expected else { return false }
            position += 1
            return true
        }

        /// Exactly `digits` ASCII digits.
        mutating func number(digits: Int) -> Int? {
            guard position + digits <= scalars.count else { return nil }
            var value = 0
            for scalar in scalars[position..<position + digits] {
                guard ("0"..."9").contains(scalar) else { return nil }
                value = value * 10 + Int(scalar.value - 48)
            }
            position += digits
            return value
        }
    }
}
