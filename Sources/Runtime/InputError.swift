/// Refused input: the field as the command line names it (`name`, `every`, `payload`,
/// `device 'x'`) and the rule it broke. Every refusal of bad input — a command's argument, a stored
/// setting, a job's payload — is one of these, so `ucp` prints it as one line `field: problem`,
/// exits 64 and writes nothing. Several refusals at once (one per bad granular line) travel
/// together as `others`, one line each.
public struct InputError: Error, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var problem: String
    /// Further refusals of the same input, in order.
    public var others: [InputError]

    /// Control characters of either part are shown escaped (`escaped(_:)`): whatever value a
    /// message echoes, the refusal stays one line.
    public init(field: String, problem: String) {
        self.field = Self.escaped(field)
        self.problem = Self.escaped(problem)
        others = []
    }

    /// A refusal said as one line `field: problem` elsewhere (a message a database trigger raised).
    public init(line: String) {
        if let colon = line.range(of: ": ") {
            self.init(field: String(line[..<colon.lowerBound]), problem: String(line[colon.upperBound...]))
        } else {
            self.init(field: "input", problem: line)
        }
    }

    /// All of `refusals` at once; the first is this error's own field and problem.
    public init(_ refusals: [InputError]) {
        precondition(!refusals.isEmpty, "an input error needs at least one refusal")
        self = refusals[0]
        others = Array(refusals.dropFirst())
    }

    /// Every refusal, one line each.
    public var lines: [String] { ["\(field): \(problem)"] + others.flatMap(\.lines) }

    public var description: String { lines.joined(separator: "\n") }

    /// `text` as a refusal echoes it: in single quotes, control characters escaped (`\n`, `\t`,
    /// `\r`, else `\u{…}`) so that a value with a newline cannot cut the one-line message.
    public static func quoted(_ text: String) -> String {
        "'\(escaped(text))'"
    }

    /// True when `text` holds a character no field of ours may: a control character (U+0000–U+001F,
    /// U+007F–U+009F) or a noncharacter (U+FFFE, U+FFFF and the others). XML 1.0 cannot carry the C0
    /// controls (but tab, LF, CR) nor U+FFFE/U+FFFF, not even as character references: a value with
    /// one would make an AXL request that is not well-formed, which Unified CM answers with a fault
    /// no operator can read. Every field a device write may carry is refused with it at entry.
    public static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.properties.generalCategory == .control || $0.properties.isNoncharacterCodePoint }
    }

    /// `text` with its control characters escaped: `\n`, `\t`, `\r`, else `\u{…}`.
    public static func escaped(_ text: String) -> String {
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            case "\r": escaped += "\\r"
            default:
                if scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .lineSeparator
                    || scalar.properties.generalCategory == .paragraphSeparator {
                    escaped += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped
    }
}
