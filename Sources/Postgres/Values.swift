import Foundation

/// A value sent as a statement parameter, in PostgreSQL's text format.
/// Parameters are always bound, never spliced into SQL.
public protocol PostgresEncodable: Sendable {
    var postgresText: String? { get }
}

/// A value read from a column in PostgreSQL's text format.
public protocol PostgresDecodable {
    init(postgresText: String) throws
}

extension String: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { self }
    public init(postgresText: String) { self = postgresText }
}

/// Numbers, whose text form is the same in Swift and PostgreSQL.
public protocol PostgresNumber: PostgresEncodable, PostgresDecodable, LosslessStringConvertible {}

extension PostgresNumber {
    public var postgresText: String? { description }
    public init(postgresText: String) throws {
        guard let value = Self(postgresText) else { throw PostgresError.decode(postgresText, as: "\(Self.self)") }
        self = value
    }
}

extension Int: PostgresNumber {}
extension Int32: PostgresNumber {}
extension Int64: PostgresNumber {}
extension Double: PostgresNumber {}

extension Bool: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { self ? "t" : "f" }
    public init(postgresText: String) throws {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresError.decode(postgresText, as: "Bool")
        }
    }
}

extension Date: PostgresEncodable, PostgresDecodable {
    /// ISO 8601 in UTC with microseconds, which `timestamptz` accepts as is.
    public var postgresText: String? { PostgresTimestamp.format(self) }
    public init(postgresText: String) throws {
        guard let date = PostgresTimestamp.parse(postgresText) else {
            throw PostgresError.decode(postgresText, as: "Date")
        }
        self = date
    }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? {
        switch self {
        case .none: return nil
        case .some(let value): return value.postgresText
        }
    }
}

/// A PostgreSQL array literal of integers (`{1,2,3}`), for `= ANY($1::bigint[])` and `unnest`.
public struct PostgresIntArray: PostgresEncodable {
    public var values: [Int64]
    public init(_ values: [Int64]) { self.values = values }
    public var postgresText: String? { "{" + values.map(String.init).joined(separator: ",") + "}" }
}

/// A PostgreSQL array literal of text values, each quoted and escaped.
public struct PostgresTextArray: PostgresEncodable {
    public var values: [String?]
    public init(_ values: [String?]) { self.values = values }
    public var postgresText: String? {
        var text = "{"
        for (index, value) in values.enumerated() {
            if index > 0 { text += "," }
            guard let value else { text += "NULL"; continue }
            text += "\""
            for character in value.unicodeScalars {
                if character == "\"" || character == "\\" { text += "\\" }
                text.unicodeScalars.append(character)
            }
            text += "\""
        }
        return text + "}"
    }
}

extension PostgresError {
    static func decode(_ text: String, as type: String) -> PostgresError {
        PostgresError(kind: .decoding, message: "cannot decode a column value as \(type)")
    }
}

/// Timestamps in the form the server prints with `DateStyle=ISO` and `TimeZone=UTC`
/// (`2026-11-23 04:19:32.123456+00`) and the form we send (`2026-11-23T04:19:32.123456Z`).
public enum PostgresTimestamp {
    public static func format(_ date: Date) -> String {
        var seconds = date.timeIntervalSince1970
        var whole = floor(seconds)
        var micros = Int(((seconds - whole) * 1_000_000).rounded())
        if micros >= 1_000_000 { whole += 1; micros -= 1_000_000 }
        seconds = whole
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let microText = String(micros)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: 6 - microText.count) + microText + "Z"
    }

    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            var value = 0
            for index in from..<(from + count) {
                let byte = bytes[index]
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        var offsetSeconds = 0
        if index < bytes.count {
            let sign = bytes[index]
            if sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                let hours = index + 3 <= bytes.count ? number(index + 1, 2) ?? 0 : 0
                var minutes = 0
                if index + 6 <= bytes.count, bytes[index + 3] == UInt8(ascii: ":") { minutes = number(index + 4, 2) ?? 0 }
                offsetSeconds = (hours * 3600 + minutes * 60) * (sign == UInt8(ascii: "-") ? -1 : 1)
            }
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch - offsetSeconds) + fraction)
    }
}
