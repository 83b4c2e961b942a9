import Foundation

/// The instants a typed date and time may name (`--start`, `--run-at`, the API's alike): the years 1
/// to 9999 in UTC, what four digits of ISO 8601 write and PostgreSQL reads back (it has no year 0).
public enum DateRange {
    /// 0001-01-01T00:00:00Z.
    public static let earliest = Date(timeIntervalSince1970: -62_135_596_800)
    /// 10000-01-01T00:00:00Z, the first instant refused.
    public static let end = Date(timeIntervalSince1970: 253_402_300_800)

    /// `date`, refused as `field` (echoing `text`, what was typed) when it is outside the years 1 to 9999.
    public static func check(_ date: Date, field: String, text: String) throws(InputError) -> Date {
        guard date >= earliest, date < end else {
            throw InputError(field: field, problem: "\(InputError.quoted(text)) is outside the years 1 to 9999 (UTC)")
        }
        return date
    }
}
