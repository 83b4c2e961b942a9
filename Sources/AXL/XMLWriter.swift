/// Writes XML into a byte buffer that grows and is reused: no String per element, escaping done while
/// copying. `take()` hands the bytes out (for a chunk of a streamed answer) and keeps the capacity.
public struct XMLWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    /// The bytes written so far; the writer starts empty again with its capacity kept.
    public mutating func take() -> [UInt8] {
        let taken = bytes
        bytes.removeAll(keepingCapacity: true)
        return taken
    }

    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
    }

    /// Markup written as is (names, declarations): the caller knows it needs no escaping.
    public mutating func raw(_ markup: StaticString) {
        markup.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func raw(_ markup: String) {
        var markup = markup
        markup.withUTF8 { bytes.append(contentsOf: $0) }
    }

    public mutating func raw(_ markup: [UInt8]) {
        bytes.append(contentsOf: markup)
    }

    /// `<name>`, or `<name a="v" …>` with the values escaped.
    public mutating func open(_ name: String, _ attributes: KeyValuePairs<String, String> = [:]) {
        bytes.append(UInt8(ascii: "<"))
        raw(name)
        for (key, value) in attributes {
            bytes.append(UInt8(ascii: " "))
            raw(key)
            bytes.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "\"")])
            escaped(value)
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: ">"))
    }

    public mutating func close(_ name: String) {
        bytes.append(contentsOf: [UInt8(ascii: "<"), UInt8(ascii: "/")])
        raw(name)
        bytes.append(UInt8(ascii: ">"))
    }

    /// `<name/>`.
    public mutating func empty(_ name: String) {
        bytes.append(UInt8(ascii: "<"))
        raw(name)
        bytes.append(contentsOf: [UInt8(ascii: "/"), UInt8(ascii: ">")])
    }

    /// `<name>text</name>` with the text escaped.
    public mutating func element(_ name: String, _ text: String) {
        open(name)
        escaped(text)
        close(name)
    }

    /// `<name uuid="{…}">text</name>`: how AXL writes a reference to another object.
    public mutating func element(_ name: String, _ text: String, uuid: String?) {
        guard let uuid else { return element(name, text) }
        open(name, ["uuid": uuid])
        escaped(text)
        close(name)
    }

    /// `value` with each character `escaped` replaces (the ones XML 1.0 cannot carry) as U+FFFD and
    /// nothing escaped: a value kept elsewhere (the inventory) as the device would be sent it. The same
    /// set as `escaped`, which checks it byte by byte on the hot path of every request.
    public static func carriable(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 < 0x20 || $0 == 0xEF }) else { return value }
        var scalars = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            let carried = scalar.value >= 0x20 ? scalar.value != 0xFFFE && scalar.value != 0xFFFF : [0x09, 0x0A, 0x0D].contains(scalar.value)
            scalars.append(carried ? scalar : "\u{FFFD}")
        }
        return String(scalars)
    }

    /// Text (or an attribute value) with `& < > " '` escaped, and every character XML 1.0 cannot
    /// carry (the C0 controls but tab, LF and CR; U+FFFE, U+FFFF) written as U+FFFD. No character
    /// reference can stand for those, and a request that is not well-formed XML is answered by
    /// Unified CM with a fault no operator can read. Fields are refused with them at entry
    /// (`InputError.hasControlCharacters`); this is the net under that for values from elsewhere (a
    /// directory, a device): the writer cannot fail, so what it writes stays well-formed, and the
    /// replaced character shows where the value was bad.
    public mutating func escaped(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            var index = 0
            while index < utf8.count {
                let byte = utf8[index]
                let replacement: StaticString
                var length = 1
                switch byte {
                case UInt8(ascii: "&"): replacement = "&amp;"
                case UInt8(ascii: "<"): replacement = "&lt;"
                case UInt8(ascii: ">"): replacement = "&gt;"
                case UInt8(ascii: "\""): replacement = "&quot;"
                case UInt8(ascii: "'"): replacement = "&apos;"
                case 0x09, 0x0A, 0x0D: index += 1; continue
                case ..<0x20: replacement = "\u{FFFD}"
                // U+FFFE and U+FFFF: EF BF BE, EF BF BF.
                case 0xEF where index + 2 < utf8.count && utf8[index + 1] == 0xBF && utf8[index + 2] >= 0xBE:
                    replacement = "\u{FFFD}"
                    length = 3
                default: index += 1; continue
                }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                replacement.withUTF8Buffer { bytes.append(contentsOf: $0) }
                index += length
                start = index
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count]))
        }
    }

    /// The text written so far, as a String (tests, small requests).
    public var string: String { String(decoding: bytes, as: UTF8.self) }
}

/// XML escaping of one value, for callers that build a String.
public func xmlEscaped(_ text: String) -> String {
    var writer = XMLWriter(capacity: text.utf8.count + 16)
    writer.escaped(text)
    return writer.string
}
