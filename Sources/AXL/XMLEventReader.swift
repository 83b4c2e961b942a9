internal import CLibXML2
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One attribute of a start element: local name and value (namespace prefixes dropped, as AXL needs).
public struct XMLAttribute: Sendable, Hashable {
    public let name: String
    public let value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

extension Array where Element == XMLAttribute {
    public subscript(name: String) -> String? {
        first { $0.name == name }?.value
    }
}

/// What an `XMLEventReader` tells as it parses. The text of an element (its character data, entities
/// decoded) arrives with its end, so containers cost no String at all.
public protocol XMLEventHandler: AnyObject {
    /// `namespace` is the element's namespace URI, or nil when it has none.
    func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) throws
    /// `text` is the character data directly inside the element since its start ("" for containers).
    func endElement(_ name: String, text: String) throws
}

/// XML that libxml2 refused: its line and libxml2's own message.
public struct XMLParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let line: Int
    public let message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "malformed XML at line \(line): \(message)" }
}

/// A push (SAX2) parser over libxml2: `feed` byte chunks as they arrive, then `finish`; the handler
/// hears every start, end (with text) as it is parsed. The document is never held whole.
///
/// Names are interned per reader (libxml2 interns them in its dictionary, so the same pointer comes
/// back; a cache keyed by it saves a String per event), text is gathered into one reused byte buffer.
/// Not thread-safe: one reader per response.
public final class XMLEventReader {
    private let handler: XMLEventHandler
    private var context: xmlParserCtxtPtr?
    private var text: [UInt8] = []
    private var names: [UnsafeRawPointer: (cString: [CChar], string: String)] = [:]
    private var handlerError: Error?
    private var parseError: XMLParseError?
    private var finished = false

    public init(handler: XMLEventHandler) {
        _ = XMLEventReader.libraryReady
        self.handler = handler
        text.reserveCapacity(256)
    }

    deinit {
        if let context {
            xmlFreeParserCtxt(context)
        }
    }

    /// libxml2's global state is set up once, before any thread parses.
    private static let libraryReady: Bool = {
        xmlInitParser()
        return true
    }()

    /// Parses the next chunk of the document.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws {
        guard !finished else { return }
        var offset = 0
        // A big chunk goes in slices: libxml2 refuses more than 10 MB of input not yet parsed
        // ("Huge input lookup") unless XML_PARSE_HUGE, which is kept off: that bound is what stops
        // a hostile single attribute value or name.
        repeat {
            let size = min(bytes.count - offset, Self.sliceSize)
            let base = bytes.baseAddress.map { $0.advanced(by: offset).assumingMemoryBound(to: CChar.self) }
            try parse(base, Int32(size), terminate: false)
            offset += size
        } while offset < bytes.count
    }

    /// The most fed to libxml2 at once.
    static let sliceSize = 1 << 20

    public func feed(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try feed($0) }
    }

    public func feed(_ string: String) throws {
        var string = string
        try string.withUTF8 { try feed(UnsafeRawBufferPointer($0)) }
    }

    /// Ends the document: a document that stops early (unclosed elements, nothing at all) is an error here.
    public func finish() throws {
        guard !finished else { return }
        try parse(nil, 0, terminate: true)
        finished = true
    }

    /// Makes the reader ready for the next document, keeping libxml2's parser (and its interned names):
    /// cheaper than a new reader when one connection answers thousands of small documents.
    public func reset() {
        if let context {
            xmlCtxtResetPush(context, nil, 0, nil, nil)
        }
        text.removeAll(keepingCapacity: true)
        handlerError = nil
        parseError = nil
        finished = false
    }

    /// Parses a whole document held in memory (tests, small answers).
    public static func parse(_ bytes: [UInt8], handler: XMLEventHandler) throws {
        let reader = XMLEventReader(handler: handler)
        try reader.feed(bytes)
        try reader.finish()
    }

    private func parse(_ chunk: UnsafePointer<CChar>?, _ size: Int32, terminate: Bool) throws {
        if context == nil {
            try createContext()
        }
        guard let context else { return }
        ucp_xml_silence_generic_errors()
        let status = xmlParseChunk(context, chunk, size, terminate ? 1 : 0)
        if let handlerError {
            finished = true
            throw handlerError
        }
        if let parseError {
            finished = true
            throw parseError
        }
        if status != 0 || context.pointee.wellFormed == 0 {
            finished = true
            throw lastError(context) ?? XMLParseError(line: Int(xmlSAX2GetLineNumber(context)), message: "libxml2 error \(status)")
        }
    }

    private func createContext() throws {
        var sax = xmlSAXHandler()
        sax.initialized = UInt32(XML_SAX2_MAGIC)
        sax.startElementNs = { context, localName, _, uri, _, _, attributeCount, _, attributes in
            guard let context, let localName else { return }
            XMLEventReader.from(context).started(localName, uri: uri, count: Int(attributeCount), attributes: attributes)
        }
        sax.endElementNs = { context, localName, _, _ in
            guard let context, let localName else { return }
            XMLEventReader.from(context).ended(localName)
        }
        sax.characters = { context, characters, length in
            guard let context, let characters else { return }
            XMLEventReader.from(context).text.append(contentsOf: UnsafeBufferPointer(start: characters, count: Int(length)))
        }
        sax.cdataBlock = sax.characters
        // A structured error handler keeps libxml2 from printing to stderr and gives us line and message.
        sax.serror = { context, error in
            guard let context, let error else { return }
            let reader = XMLEventReader.from(context)
            guard reader.parseError == nil, error.pointee.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
            reader.parseError = XMLEventReader.describe(error.pointee)
        }
        let userData = Unmanaged.passUnretained(self).toOpaque()
        guard let created = xmlCreatePushParserCtxt(&sax, userData, nil, 0, nil) else {
            throw XMLParseError(line: 0, message: "libxml2 could not create a parser")
        }
        // No network, no external entities; libxml2's own bounds stay on (no XML_PARSE_HUGE): a big
        // (50k-row) document is many small elements, fed in slices (`feed`).
        xmlCtxtUseOptions(created, Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOBLANKS.rawValue))
        context = created
    }

    private static func from(_ context: UnsafeMutableRawPointer) -> XMLEventReader {
        Unmanaged<XMLEventReader>.fromOpaque(context).takeUnretainedValue()
    }

    private func started(_ localName: UnsafePointer<xmlChar>, uri: UnsafePointer<xmlChar>?, count: Int,
                         attributes: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?) {
        guard handlerError == nil else { return }
        text.removeAll(keepingCapacity: true)
        var list: [XMLAttribute] = []
        if count > 0, let attributes {
            list.reserveCapacity(count)
            for index in 0..<count {
                // Five pointers per attribute: localname, prefix, URI, value start, value end.
                guard let name = attributes[index * 5], let start = attributes[index * 5 + 3],
                      let end = attributes[index * 5 + 4] else { continue }
                let raw = UnsafeBufferPointer(start: start, count: end - start)
                // Without entity substitution (kept off: no external entities) libxml2 hands attribute
                // values over with `&` still written as `&#38;`.
                let value = raw.contains(UInt8(ascii: "&")) ? decodeReferences(raw) : String(decoding: raw, as: UTF8.self)
                list.append(XMLAttribute(name: intern(name), value: value))
            }
        }
        do {
            try handler.startElement(intern(localName), namespace: uri.map(intern), attributes: list)
        } catch {
            fail(error)
        }
    }

    private func ended(_ localName: UnsafePointer<xmlChar>) {
        guard handlerError == nil else { return }
        let value = text.isEmpty ? "" : String(decoding: text, as: UTF8.self)
        text.removeAll(keepingCapacity: true)
        do {
            try handler.endElement(intern(localName), text: value)
        } catch {
            fail(error)
        }
    }

    private func fail(_ error: Error) {
        handlerError = error
        if let context {
            xmlStopParser(context)
        }
    }

    /// The String for a libxml2 name; the cache is keyed by the interned pointer and checked by content,
    /// so a name that is not interned still comes out right.
    private func intern(_ pointer: UnsafePointer<xmlChar>) -> String {
        let key = UnsafeRawPointer(pointer)
        let cString = UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self)
        if let cached = names[key], cached.cString.withUnsafeBufferPointer({ strcmp($0.baseAddress!, cString) == 0 }) {
            return cached.string
        }
        let string = String(cString: cString)
        if names.count > 4096 { names.removeAll(keepingCapacity: true) }
        names[key] = (Array(UnsafeBufferPointer(start: cString, count: strlen(cString) + 1)), string)
        return string
    }

    private func lastError(_ context: xmlParserCtxtPtr) -> XMLParseError? {
        guard let error = xmlCtxtGetLastError(context), error.pointee.code != 0 else { return nil }
        return XMLEventReader.describe(error.pointee)
    }

    private static func describe(_ error: xmlError) -> XMLParseError {
        let message = error.message.map { String(cString: $0) } ?? "error \(error.code)"
        return XMLParseError(line: Int(error.line), message: trimmed(message))
    }
}

/// `&#38;`, `&#x26;` and the five predefined entities in an attribute value, decoded.
private func decodeReferences(_ raw: UnsafeBufferPointer<UInt8>) -> String {
    var output: [UInt8] = []
    output.reserveCapacity(raw.count)
    var index = 0
    while index < raw.count {
        guard raw[index] == UInt8(ascii: "&"), let semicolon = raw[index...].firstIndex(of: UInt8(ascii: ";")) else {
            output.append(raw[index])
            index += 1
            continue
        }
        let name = String(decoding: UnsafeBufferPointer(rebasing: raw[(index + 1)..<semicolon]), as: UTF8.self)
        let scalar: Unicode.Scalar?
        switch name {
        case "amp": scalar = "&"
        case "lt": scalar = "<"
        case "gt": scalar = ">"
        case "quot": scalar = "\""
        case "apos": scalar = "'"
        default:
            if name.hasPrefix("#x") || name.hasPrefix("#X") {
                scalar = UInt32(name.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
            } else if name.hasPrefix("#") {
                scalar = UInt32(name.dropFirst()).flatMap(Unicode.Scalar.init)
            } else {
                scalar = nil
            }
        }
        if let scalar {
            output.append(contentsOf: Array(String(Character(scalar)).utf8))
            index = semicolon + 1
        } else {
            output.append(raw[index])
            index += 1
        }
    }
    return String(decoding: output, as: UTF8.self)
}

/// libxml2's messages end with a newline.
private func trimmed(_ message: String) -> String {
    var view = Substring(message)
    while let last = view.last, last.isWhitespace { view.removeLast() }
    while let first = view.first, first.isWhitespace { view.removeFirst() }
    return String(view)
}
