/// Durations written as `90`, `90s`, `15m`, `2h` or `7d`: the one reading of every command's and
/// the API's duration fields.
public enum DurationText {
    public static func seconds(_ text: String, field: String) throws -> Double {
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
        guard plain, let value = Double(number), value.isFinite else {
            throw InputError(field: field, problem: "\(InputError.quoted(text)) is not a duration (a number with s, m, h or d, e.g. 90s, 15m, 2h)")
        }
        return value * scale
    }
}
