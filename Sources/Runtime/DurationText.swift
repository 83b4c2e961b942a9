/// Durations written as `90`, `90s`, `15m`, `2h` or `7d`: the one reading of every command's and
/// the API's duration fields.
public enum DurationText {
    /// The longest duration any field takes: 100 years. Beyond it a sleep's nanoseconds, a run-at time
    /// or a lease's end would leave what the clock, `time_t` or PostgreSQL can hold.
    public static let maximumSeconds: Double = 36500 * 86400
    public static let maximumRule = "must be at most 36500d"

    /// The seconds `text` names, refused as `field` unless it is a duration within `range` (`rule`
    /// says the range to the operator).
    public static func seconds(_ text: String, field: String, within range: ClosedRange<Double> = 0...maximumSeconds,
                               rule: String = maximumRule) throws(InputError) -> Double {
        guard let value = parse(text) else {
            throw InputError(field: field, problem: "\(InputError.quoted(text)) is not a duration (a number with s, m, h or d, e.g. 90s, 15m, 2h)")
        }
        guard range.contains(value) else {
            throw InputError(field: field, problem: "\(rule) (got \(InputError.quoted(text)))")
        }
        return value
    }

    /// The seconds `text` names, whatever their number; nil when it is not a duration.
    public static func parse(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var number = text
        var scale = 1.0
        if let last = text.last, let unit = units[last] {
            number = String(text.dropLast())
            scale = unit
        }
        // Digits with an optional fraction, nothing Double() would also take ("1e3", "+5", "inf").
        let plain = !number.isEmpty && number.split(separator: ".", omittingEmptySubsequences: false).count <= 2
            && number.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") } && number.first != "." && number.last != "."
        guard plain, let value = Double(number), value.isFinite else { return nil }
        return value * scale
    }
}
