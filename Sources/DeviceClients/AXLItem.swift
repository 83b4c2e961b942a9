import AXL

/// The value of an element read from a device: its text, or its children in document order.
public indirect enum DeviceValue: Sendable, Equatable {
    case text(String)
    case node([(String, DeviceValue)])

    public static func == (a: DeviceValue, b: DeviceValue) -> Bool {
        switch (a, b) {
        case (.text(let x), .text(let y)): return x == y
        case (.node(let x), .node(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The text of a leaf (nil for an element with children).
    public var text: String? {
        if case .text(let text) = self { return text }
        return nil
    }

    /// The children called `name` (an element repeated, such as `lines/line`).
    public func children(_ name: String) -> [DeviceValue] {
        guard case .node(let children) = self else { return [] }
        return children.filter { $0.0 == name }.map(\.1)
    }

    public func child(_ name: String) -> DeviceValue? {
        guard case .node(let children) = self else { return nil }
        return children.first { $0.0 == name }?.1
    }
}

/// One object read from a device (an AXL list or get item, a CUPI row): its uuid and its fields.
public struct DeviceItem: Sendable, Equatable {
    public var uuid: String?
    public var fields: [(String, DeviceValue)]

    public init(uuid: String?, fields: [(String, DeviceValue)]) {
        self.uuid = uuid
        self.fields = fields
    }

    public static func == (a: DeviceItem, b: DeviceItem) -> Bool {
        a.uuid == b.uuid && DeviceValue.node(a.fields) == DeviceValue.node(b.fields)
    }

    public subscript(name: String) -> DeviceValue? {
        fields.first { $0.0 == name }?.1
    }

    /// The text of a scalar field ("" when the element came empty or nil, nil when it did not come).
    public func text(_ name: String) -> String? {
        guard let value = self[name] else { return nil }
        return value.text ?? ""
    }

    /// The operator's name for the object: its key tags' values, joined with `/` (`4001/PT_Internal`).
    public func key(_ tags: [String]) -> String {
        tags.map { text($0) ?? "" }.joined(separator: "/")
    }

    /// The fields as one JSON object: repeated children become arrays, leaves strings. Written as
    /// UTF-8 bytes (a sync writes one per object it reads).
    public var json: String {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        DeviceItem.write(fields, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func write(_ fields: [(String, DeviceValue)], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        for (index, (name, value)) in fields.enumerated() {
            // A name seen before was written with its first occurrence, as an array.
            if fields[..<index].contains(where: { $0.0 == name }) { continue }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            writeString(name, into: &out)
            out.append(UInt8(ascii: ":"))
            let repeated = fields[(index + 1)...].contains { $0.0 == name }
            guard repeated else {
                write(value, into: &out)
                continue
            }
            out.append(UInt8(ascii: "["))
            var firstValue = true
            for (other, otherValue) in fields[index...] where other == name {
                if !firstValue { out.append(UInt8(ascii: ",")) }
                firstValue = false
                write(otherValue, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "}"))
    }

    static func write(_ value: DeviceValue, into out: inout [UInt8]) {
        switch value {
        case .text(let text): writeString(text, into: &out)
        case .node(let children): write(children, into: &out)
        }
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            // Most values need no escape: copied in one go.
            if bytes.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) {
                writeEscaped(bytes, into: &out)
            } else {
                out.append(contentsOf: bytes)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func writeEscaped(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: out.append(byte)
            }
        }
    }
}

/// Reads an AXL answer as it streams in: the fault if it is one, else the items under
/// `<operation>Response/return`, each built while it is open and handed out whole. Fields the
/// caller did not ask for are skipped with their content and named in `unexpected`.
package final class AXLItemReader: XMLEventHandler {
    /// The element each item comes in (`phone`), or nil to take every child of `return` as one item.
    let itemElement: String?
    /// The fields expected in an item; nil accepts any.
    let expected: Set<String>?
    let faults: AXLFaultReader
    private let onItem: (DeviceItem) throws -> Void
    private(set) var unexpected: Set<String> = []
    private(set) var sawResponse = false
    private let responseElement: String

    /// Open elements from the envelope down; the item starts at `itemDepth`.
    private var depth = 0
    private var returnDepth: Int?
    private var itemDepth: Int?
    private var itemUUID: String?
    /// The children gathered for each open element inside the item (index 0 = the item itself).
    private var open: [[(String, DeviceValue)]] = []
    private var skipUntil: Int?

    package init(operation: String, itemElement: String?, expected: Set<String>?, onItem: @escaping (DeviceItem) throws -> Void) {
        self.itemElement = itemElement
        self.expected = expected
        self.onItem = onItem
        responseElement = operation + "Response"
        faults = AXLFaultReader(operation: operation)
    }

    package func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) throws {
        depth += 1
        faults.startElement(name, namespace: namespace, attributes: attributes)
        if skipUntil != nil { return }
        // A fault's elements build no item; skipped like unexpected ones, so their ends pop nothing
        // (a fault inside an item once ended the item's fields that were never opened: a crash).
        if faults.inFault { skipUntil = depth; return }
        // The answer of the operation asked, not any `…Response` (a misrouted answer read as an empty list
        // would make a sync take the device's objects for removed).
        if depth == 3, name == responseElement { sawResponse = true }
        if returnDepth == nil {
            if depth == 4, sawResponse, name == "return" { returnDepth = depth }
            return
        }
        if itemDepth == nil {
            guard depth == returnDepth! + 1 else { return }
            if let itemElement, name != itemElement {
                unexpected.insert(name)
                skipUntil = depth
                return
            }
            itemDepth = depth
            itemUUID = attributes["uuid"]
            open = [[]]
            return
        }
        if depth == itemDepth! + 1, let expected, !expected.contains(name) {
            unexpected.insert(name)
            skipUntil = depth
            return
        }
        open.append([])
    }

    package func endElement(_ name: String, text: String) throws {
        defer { depth -= 1 }
        faults.endElement(name, text: text)
        if let skip = skipUntil {
            if depth == skip { skipUntil = nil }
            return
        }
        guard let itemDepth else {
            if depth == returnDepth { returnDepth = nil }
            return
        }
        if depth == itemDepth {
            let fields = open.removeLast()
            self.itemDepth = nil
            try onItem(DeviceItem(uuid: itemUUID, fields: fields))
            return
        }
        let children = open.removeLast()
        let value: DeviceValue = children.isEmpty ? .text(text) : .node(children)
        open[open.count - 1].append((name, value))
    }
}
