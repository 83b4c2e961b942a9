import Runtime

/// An LDAP search filter (RFC 4515): parsed from text and checked before it is saved, rendered back
/// with every value escaped, and evaluated against an entry (`matches(entry:)`).
///
/// Values are kept as bytes, exactly as the filter asserts them; `text` escapes `*`, `(`, `)`, `\`,
/// NUL and any byte that is not printable UTF-8, so a value can never change the filter's structure.
public indirect enum LDAPFilter: Hashable, Sendable, CustomStringConvertible {
    case and([LDAPFilter])
    case or([LDAPFilter])
    case not(LDAPFilter)
    case equal(String, LDAPValue)
    case approx(String, LDAPValue)
    case greaterOrEqual(String, LDAPValue)
    case lessOrEqual(String, LDAPValue)
    case present(String)
    case substrings(String, LDAPSubstrings)
    case extensible(LDAPExtensibleMatch)

    /// Filters longer than this are refused: far beyond any real one, short enough to parse safely.
    public static let maximumLength = 8192
    /// Nesting deeper than this is refused (the parser recurses).
    public static let maximumDepth = 64

    /// Parses RFC 4515 text. Whitespace is allowed around the filter and between the filters of an
    /// `&`/`|` list (as in the seed's example); `field` names the setting in the error.
    public init(parsing text: String, field: String = "filter") throws(InputError) {
        guard text.utf8.count <= Self.maximumLength else {
            throw InputError(field: field, problem: "longer than \(Self.maximumLength) characters")
        }
        var parser = LDAPFilterParser(bytes: Array(text.utf8), field: field)
        self = try parser.parseWhole()
    }

    /// The RFC 4515 form, every value escaped.
    public var text: String {
        switch self {
        case .and(let filters): return "(&" + filters.map(\.text).joined() + ")"
        case .or(let filters): return "(|" + filters.map(\.text).joined() + ")"
        case .not(let filter): return "(!" + filter.text + ")"
        case .equal(let attribute, let value): return "(\(attribute)=\(value.escaped))"
        case .approx(let attribute, let value): return "(\(attribute)~=\(value.escaped))"
        case .greaterOrEqual(let attribute, let value): return "(\(attribute)>=\(value.escaped))"
        case .lessOrEqual(let attribute, let value): return "(\(attribute)<=\(value.escaped))"
        case .present(let attribute): return "(\(attribute)=*)"
        case .substrings(let attribute, let parts):
            var text = "(\(attribute)=" + (parts.initial?.escaped ?? "") + "*"
            for part in parts.any { text += part.escaped + "*" }
            return text + (parts.final?.escaped ?? "") + ")"
        case .extensible(let match):
            var text = "(" + (match.attribute ?? "")
            if match.dnAttributes { text += ":dn" }
            if let rule = match.rule { text += ":" + rule }
            return text + ":=" + match.value.escaped + ")"
        }
    }

    public var description: String { text }

    /// `value` escaped for a filter (RFC 4515 §3): `*`→`\2a`, `(`→`\28`, `)`→`\29`, `\`→`\5c`, NUL→`\00`.
    public static func escape(_ value: String) -> String {
        LDAPValue(value).escaped
    }

    /// All of `filters`, flattened: nested `&` lists are merged and a single filter stands alone.
    public static func all(_ filters: [LDAPFilter]) -> LDAPFilter {
        let flat = filters.flatMap { filter -> [LDAPFilter] in
            if case .and(let inner) = filter { return inner }
            return [filter]
        }
        return flat.count == 1 ? flat[0] : .and(flat)
    }
}

/// An assertion value: the bytes a filter compares with (usually UTF-8 text).
public struct LDAPValue: Hashable, Sendable, ExpressibleByStringLiteral {
    public var bytes: [UInt8]

    public init(_ text: String) { bytes = Array(text.utf8) }
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(stringLiteral text: String) { self.init(text) }

    /// The value as it appears in a filter: the five special bytes and control bytes as `\xx`; other
    /// UTF-8 left readable; any byte of a value that is not valid UTF-8 (binary, e.g. objectGUID) escaped.
    public var escaped: String {
        let validUTF8 = String(validating: bytes, as: UTF8.self) != nil
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "*"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\\"), 0..<0x20, 0x7F:
                out += Self.hex(byte)
            case 0x80...0xFF where !validUTF8:
                out += Self.hex(byte)
            default:
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value as text, when it is valid UTF-8.
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    private static func hex(_ byte: UInt8) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return [UInt8(ascii: "\\"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
    }
}

/// The parts of a substring assertion: `initial*any*…*final`.
public struct LDAPSubstrings: Hashable, Sendable {
    public var initial: LDAPValue?
    public var any: [LDAPValue]
    public var final: LDAPValue?

    public init(initial: LDAPValue? = nil, any: [LDAPValue] = [], final: LDAPValue? = nil) {
        self.initial = initial
        self.any = any
        self.final = final
    }
}

/// `attr[:dn][:rule]:=value` or `[:dn]:rule:=value`.
public struct LDAPExtensibleMatch: Hashable, Sendable {
    public var attribute: String?
    public var dnAttributes: Bool
    public var rule: String?
    public var value: LDAPValue

    public init(attribute: String?, dnAttributes: Bool = false, rule: String?, value: LDAPValue) {
        self.attribute = attribute
        self.dnAttributes = dnAttributes
        self.rule = rule
        self.value = value
    }
}

/// A recursive-descent parser over the filter's UTF-8 bytes (RFC 4515 §3 grammar).
struct LDAPFilterParser {
    let bytes: [UInt8]
    let field: String
    var index = 0
    var depth = 0

    init(bytes: [UInt8], field: String) {
        self.bytes = bytes
        self.field = field
    }

    mutating func parseWhole() throws(InputError) -> LDAPFilter {
        skipSpaces()
        guard index < bytes.count else { throw fail("is empty (an LDAP filter such as (uid=jdoe))") }
        let filter = try parseFilter()
        skipSpaces()
        guard index == bytes.count else { throw fail("unexpected text after the filter at character \(index + 1)") }
        return filter
    }

    private func fail(_ problem: String) -> InputError {
        InputError(field: field, problem: problem)
    }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private func position() -> String {
        index < bytes.count ? "at character \(index + 1)" : "at the end"
    }

    private mutating func skipSpaces() {
        while let byte = peek, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
            || byte == UInt8(ascii: "\r") {
            index += 1
        }
    }

    private mutating func expect(_ character: Character) throws(InputError) {
        guard peek == character.asciiValue else { throw fail("expected '\(character)' \(position())") }
        index += 1
    }

    private mutating func parseFilter() throws(InputError) -> LDAPFilter {
        depth += 1
        defer { depth -= 1 }
        guard depth <= LDAPFilter.maximumDepth else { throw fail("nested deeper than \(LDAPFilter.maximumDepth) levels") }
        try expect("(")
        let filter: LDAPFilter
        switch peek {
        case UInt8(ascii: "&"):
            index += 1
            filter = .and(try parseList("&"))
        case UInt8(ascii: "|"):
            index += 1
            filter = .or(try parseList("|"))
        case UInt8(ascii: "!"):
            index += 1
            skipSpaces()
            let inner = try parseFilter()
            skipSpaces()
            filter = .not(inner)
        default:
            filter = try parseItem()
        }
        try expect(")")
        return filter
    }

    private mutating func parseList(_ operator: Character) throws(InputError) -> [LDAPFilter] {
        var filters: [LDAPFilter] = []
        skipSpaces()
        while peek == UInt8(ascii: "(") {
            filters.append(try parseFilter())
            skipSpaces()
        }
        guard !filters.isEmpty else { throw fail("'\(`operator`)' needs at least one filter in parentheses \(position())") }
        return filters
    }

    private mutating func parseItem() throws(InputError) -> LDAPFilter {
        if peek == UInt8(ascii: ":") { return .extensible(try parseExtensible(attribute: nil)) }
        let attribute = try parseAttributeDescription()
        switch peek {
        case UInt8(ascii: ":"):
            return .extensible(try parseExtensible(attribute: attribute))
        case UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "<"):
            let symbol = bytes[index]
            index += 1
            try expect("=")
            let value = try parseValue(allowingStars: false, after: "\(Character(Unicode.Scalar(symbol)))=")
            switch symbol {
            case UInt8(ascii: "~"): return .approx(attribute, value[0])
            case UInt8(ascii: ">"): return .greaterOrEqual(attribute, value[0])
            default: return .lessOrEqual(attribute, value[0])
            }
        case UInt8(ascii: "="):
            index += 1
            let parts = try parseValue(allowingStars: true, after: "=")
            if parts.count == 1 { return .equal(attribute, parts[0]) }
            if parts.allSatisfy({ $0.bytes.isEmpty }) { return .present(attribute) }
            // `a**b` has an empty middle part; it asserts nothing, so it is dropped.
            let middle = parts.dropFirst().dropLast().filter { !$0.bytes.isEmpty }
            return .substrings(attribute, LDAPSubstrings(
                initial: parts.first!.bytes.isEmpty ? nil : parts.first!,
                any: Array(middle),
                final: parts.last!.bytes.isEmpty ? nil : parts.last!))
        default:
            throw fail("expected '=', '~=', '>=', '<=' or ':' after '\(attribute)' \(position())")
        }
    }

    /// `attr[:dn][:rule]:=value`, from the first ':' (the attribute already read, or none).
    private mutating func parseExtensible(attribute: String?) throws(InputError) -> LDAPExtensibleMatch {
        var dnAttributes = false
        var rule: String?
        try expect(":")
        if matches("dn:") || matches("DN:") {
            dnAttributes = true
            index += 3
        }
        if peek != UInt8(ascii: "=") {
            rule = try parseOID(what: "a matching rule")
            try expect(":")
        }
        guard peek == UInt8(ascii: "=") else { throw fail("expected ':=' \(position())") }
        index += 1
        guard attribute != nil || rule != nil else {
            throw fail("an extensible match needs an attribute or a matching rule \(position())")
        }
        let value = try parseValue(allowingStars: false, after: ":=")
        return LDAPExtensibleMatch(attribute: attribute, dnAttributes: dnAttributes, rule: rule, value: value[0])
    }

    private func matches(_ text: String) -> Bool {
        let wanted = Array(text.utf8)
        return index + wanted.count <= bytes.count && Array(bytes[index..<index + wanted.count]) == wanted
    }

    /// `descr` or a numeric OID, then `;option`s.
    private mutating func parseAttributeDescription() throws(InputError) -> String {
        var name = try parseOID(what: "an attribute name")
        while peek == UInt8(ascii: ";") {
            index += 1
            let start = index
            while let byte = peek, Self.isKeyCharacter(byte) { index += 1 }
            guard index > start else { throw fail("expected an attribute option after ';' \(position())") }
            name += ";" + String(decoding: bytes[start..<index], as: UTF8.self)
        }
        return name
    }

    /// `descr` (a letter, then letters, digits, '-') or a numeric OID (1.2.840…).
    private mutating func parseOID(what: String) throws(InputError) -> String {
        let start = index
        guard let first = peek, Self.isLetter(first) || Self.isDigit(first) else {
            throw fail("expected \(what) \(position())")
        }
        if Self.isLetter(first) {
            while let byte = peek, Self.isKeyCharacter(byte) { index += 1 }
        } else {
            while let byte = peek, Self.isDigit(byte) || byte == UInt8(ascii: ".") { index += 1 }
            let oid = bytes[start..<index]
            guard oid.last != UInt8(ascii: "."), !oid.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
                .contains(where: \.isEmpty) else {
                throw fail("'\(String(decoding: oid, as: UTF8.self))' is not a numeric OID \(position())")
            }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// The value up to the closing ')': split at unescaped '*' when `allowingStars`, escapes decoded.
    private mutating func parseValue(allowingStars: Bool, after symbol: String) throws(InputError) -> [LDAPValue] {
        var parts: [LDAPValue] = [LDAPValue(bytes: [])]
        while let byte = peek, byte != UInt8(ascii: ")") {
            switch byte {
            case UInt8(ascii: "*"):
                guard allowingStars else { throw fail("'*' is not allowed in a '\(symbol)' value \(position()) (write \\2a for a literal '*')") }
                parts.append(LDAPValue(bytes: []))
                index += 1
            case UInt8(ascii: "\\"):
                guard index + 2 < bytes.count, let high = Self.hexValue(bytes[index + 1]), let low = Self.hexValue(bytes[index + 2]) else {
                    throw fail("'\\' must be followed by two hex digits \(position()) (write \\5c for a literal '\\')")
                }
                parts[parts.count - 1].bytes.append(high << 4 | low)
                index += 3
            case UInt8(ascii: "("):
                throw fail("unescaped '(' in a value \(position()) (write \\28)")
            case 0:
                throw fail("a NUL character in a value \(position()) (write \\00)")
            default:
                parts[parts.count - 1].bytes.append(byte)
                index += 1
            }
        }
        guard peek == UInt8(ascii: ")") else { throw fail("expected ')' at the end") }
        return parts
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    static func isKeyCharacter(_ byte: UInt8) -> Bool { isLetter(byte) || isDigit(byte) || byte == UInt8(ascii: "-") }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
