import Runtime

/// A mask for LDAP-synchronized telephone numbers (seed, service area filters and write-back settings):
/// digits 0-9, upper-case `X`, and `+` or `\+` only at the beginning (e.g. `12XXX`, `+XX234`, `XX231XXX`).
///
/// Applying it (seed: "after removing the non-numeric characters"): the number's non-digits are
/// dropped, then the mask is laid over the digits from the right, as Unified CM masks are — an `X`
/// keeps the digit under it, a mask digit replaces it; digits left of the mask are dropped, and an
/// `X` with no digit under it yields nothing. The `+` or `\+` prefix is kept as typed.
public struct PhoneMask: Hashable, Sendable, CustomStringConvertible {
    public let text: String

    public static let longestMask = 48

    public init(parsing text: String, field: String = "mask") throws(InputError) {
        func fail(_ problem: String) -> InputError {
            InputError(field: field, problem: "'\(text)' \(problem)")
        }
        guard !text.isEmpty else {
            throw InputError(field: field, problem: "is empty (digits and X, optionally starting with + or \\+)")
        }
        guard text.count <= Self.longestMask else { throw fail("is longer than \(Self.longestMask) characters") }
        let body = Array(Self.split(text).body)
        for (offset, character) in body.enumerated() {
            switch character {
            case "0"..."9", "X":
                continue
            case "+":
                throw fail("has '+' at character \(text.count - body.count + offset + 1) (+ and \\+ may only begin the mask)")
            case "\\" where body.dropFirst(offset + 1).first == "+":
                throw fail("has '\\+' at character \(text.count - body.count + offset + 1) (+ and \\+ may only begin the mask)")
            case "x":
                throw fail("has a lower-case 'x' (use upper-case X)")
            default:
                throw fail("has '\(character)' (allowed: digits 0-9, X, and + or \\+ at the beginning)")
            }
        }
        guard !body.isEmpty else { throw fail("has no digits or X after the prefix") }
        self.text = text
    }

    public var description: String { text }

    /// The number masked, or nil when it has no digits (seed: with no synchronized number, no line).
    public func apply(to number: String) -> String? {
        let digits = number.filter { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else { return nil }
        let (prefix, body) = Self.split(text)
        var remaining = Array(digits)
        var out: [Character] = []
        for character in body.reversed() {
            let under = remaining.popLast()
            if character == "X" {
                if let under { out.append(under) }
            } else {
                out.append(character)
            }
        }
        return prefix + String(out.reversed())
    }

    /// `\+` or `+` at the start, and the rest.
    private static func split(_ text: String) -> (prefix: String, body: Substring) {
        if text.hasPrefix("\\+") { return ("\\+", text.dropFirst(2)) }
        if text.hasPrefix("+") { return ("+", text.dropFirst()) }
        return ("", Substring(text))
    }
}
