/// An AXL schema version a request speaks (`12.5`): it names the namespace of the operation element and
/// goes into the SOAPAction header; the two must agree (brief §2.1).
public struct AXLVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int

    /// The versions UCProvision speaks (Unified CM 10.0 and later).
    public static let supported: [AXLVersion] = [
        AXLVersion(major: 10, minor: 0), AXLVersion(major: 10, minor: 5), AXLVersion(major: 11, minor: 0),
        AXLVersion(major: 11, minor: 5), AXLVersion(major: 12, minor: 0), AXLVersion(major: 12, minor: 5),
    ]
    public static let latest = AXLVersion(major: 12, minor: 5)
    /// The supported versions by their text: every request names one, so this saves parsing it.
    private static let byText = Dictionary(uniqueKeysWithValues: supported.map { ($0.description, $0) })
    static let namespacePrefix = "http://www.cisco.com/AXL/API/"

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// `12.5` → 12.5; anything not `digits.digits` is nil (supported or not: see `isSupported`).
    public init?(_ text: String) {
        if let known = AXLVersion.byText[text] {
            self = known
            return
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]),
              parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        self.init(major: major, minor: minor)
    }

    /// The version of an AXL namespace URI (`http://www.cisco.com/AXL/API/12.5`).
    public init?(namespace: String) {
        guard namespace.hasPrefix(AXLVersion.namespacePrefix) else { return nil }
        self.init(String(namespace.dropFirst(AXLVersion.namespacePrefix.count)))
    }

    public var isSupported: Bool { AXLVersion.supported.contains(self) }
    public var description: String { "\(major).\(minor)" }
    public var namespace: String { AXLVersion.namespacePrefix + description }

    /// The SOAPAction header value, quotes included: `"CUCM:DB ver=12.5 listPhone"`.
    public func soapAction(_ operation: String) -> String {
        "\"CUCM:DB ver=\(description) \(operation)\""
    }

    /// The version and operation a SOAPAction header names, quoted or not; nil when it is not AXL's form.
    public static func parseSOAPAction(_ value: String) -> (version: AXLVersion, operation: String)? {
        var text = Substring(value)
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = text.dropFirst().dropLast() }
        guard text.hasPrefix("CUCM:DB ver=") else { return nil }
        let parts = text.dropFirst("CUCM:DB ver=".count).split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, let version = AXLVersion(String(parts[0])) else { return nil }
        return (version, String(parts[1]))
    }

    public static func < (a: AXLVersion, b: AXLVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }
}

/// AXL SOAP 1.1 envelopes: the namespace on the operation element only, its children unqualified
/// (the schema's `elementFormDefault="unqualified"`), children in the XSD's sequence order.
public enum AXLEnvelope {
    public static let soapNamespace = "http://schemas.xmlsoap.org/soap/envelope/"
    public static let contentType = "text/xml; charset=utf-8"

    // MARK: Requests (the client)

    /// A request envelope; `body` writes the operation element's children.
    public static func request(_ version: AXLVersion, _ operation: String, sequence: UInt64? = nil,
                               body: (inout XMLWriter) -> Void) -> [UInt8] {
        var writer = XMLWriter(capacity: 1024)
        writer.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns=\"")
        writer.raw(version.namespace)
        writer.raw("\"><soapenv:Header/><soapenv:Body><ns:")
        writer.raw(operation)
        if let sequence {
            writer.raw(" sequence=\"\(sequence)\"")
        }
        writer.raw(">")
        body(&writer)
        writer.raw("</ns:")
        writer.raw(operation)
        writer.raw("></soapenv:Body></soapenv:Envelope>")
        return writer.bytes
    }

    /// `list<Type>`: searchCriteria, returnedTags, skip, first — in that order (the XSD sequence).
    /// The criteria and tags are written in the order given, which must be the schema's order.
    public static func listRequest(_ version: AXLVersion, _ operation: String, searchCriteria: [(String, String)],
                                   returnedTags: [String], skip: Int? = nil, first: Int? = nil) -> [UInt8] {
        request(version, operation) { writer in
            writer.open("searchCriteria")
            for (name, value) in searchCriteria { writer.element(name, value) }
            writer.close("searchCriteria")
            writer.open("returnedTags")
            for tag in returnedTags { writer.empty(tag) }
            writer.close("returnedTags")
            // The schema: skip is only used when first is given.
            if let first {
                if let skip { writer.element("skip", String(skip)) }
                writer.element("first", String(first))
            }
        }
    }

    /// The list request the catalog describes for a type: its search field `%`, its fixed criteria, its tags.
    /// Valid against AXLSoap.xsd: the few returned tags whose schema type refuses empty content carry a
    /// placeholder (Unified CM reads only which tags are named).
    public static func listRequest(_ version: AXLVersion, _ type: AXLObjectType, skip: Int? = nil, first: Int? = nil) -> [UInt8] {
        request(version, type.listOperation) { writer in
            writer.open("searchCriteria")
            for (name, value) in type.searchCriteria { writer.element(name, value) }
            writer.close("searchCriteria")
            writer.open("returnedTags")
            for tag in type.returnedTags {
                if let value = returnedTagPlaceholder(type, tag) { writer.element(tag, value) } else { writer.empty(tag) }
            }
            writer.close("returnedTags")
            if let first {
                if let skip { writer.element("skip", String(skip)) }
                writer.element("first", String(first))
            }
        }
    }

    /// Returned tags typed `axlapi:boolean` in the LX types the catalog reads: an empty element fails the
    /// type's pattern (checked with xmllint against AXLSoap.xsd 12.5).
    static let booleanReturnedTags: Set<String> = [
        "blockEnable", "enableDevice", "enableMobileConnect", "enableMobility", "homeCluster", "imAndPresenceEnable",
        "isDefault", "isMobilePhone", "isUserModifiable", "messageWaitingIndicator", "routeListEnabled", "runOnEveryNode",
        "tftpDefault", "useCountry", "voiceMailUsage",
    ]

    /// What goes inside a returned tag of `type` so the request is schema-valid (nil: an empty element).
    public static func returnedTagPlaceholder(_ type: AXLObjectType, _ tag: String) -> String? {
        if booleanReturnedTags.contains(tag) { return "true" }
        // ConferenceBridge's name is an xsd:Name, which cannot be empty.
        if type.axlName == "ConferenceBridge", tag == "name" { return "name" }
        return nil
    }

    /// `get<Type>` by key elements (`name`, `uuid`, or a compound key such as pattern + routePartitionName),
    /// optionally limited to some returnedTags (nested tags are written as empty elements).
    public static func getRequest(_ version: AXLVersion, _ operation: String, keys: [(String, String)],
                                  returnedTags: [String]? = nil) -> [UInt8] {
        request(version, operation) { writer in
            for (name, value) in keys { writer.element(name, value) }
            if let returnedTags {
                writer.open("returnedTags")
                for tag in returnedTags { writer.empty(tag) }
                writer.close("returnedTags")
            }
        }
    }

    // MARK: Responses (the simulator)

    /// Everything before the response's children: envelope, body, `<ns:<operation>Response xmlns:ns="…">`.
    public static func beginResponse(_ writer: inout XMLWriter, _ version: AXLVersion, _ operation: String, sequence: String? = nil) {
        writer.raw("<?xml version='1.0' encoding='UTF-8'?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><ns:")
        writer.raw(operation)
        writer.raw("Response xmlns:ns=\"")
        writer.raw(version.namespace)
        writer.raw("\"")
        if let sequence {
            writer.raw(" sequence=\"")
            writer.escaped(sequence)
            writer.raw("\"")
        }
        writer.raw(">")
    }

    public static func endResponse(_ writer: inout XMLWriter, _ operation: String) {
        writer.raw("</ns:")
        writer.raw(operation)
        writer.raw("Response></soapenv:Body></soapenv:Envelope>")
    }

    /// A `StandardResponse`: `<return>{UUID}</return>` (or `true`).
    public static func standardResponse(_ version: AXLVersion, _ operation: String, returning value: String,
                                        sequence: String? = nil) -> [UInt8] {
        var writer = XMLWriter(capacity: 512)
        beginResponse(&writer, version, operation, sequence: sequence)
        writer.element("return", value)
        endResponse(&writer, operation)
        return writer.bytes
    }

    /// A SOAP 1.1 fault carrying `axlError{axlcode, axlmessage, request}` (sent with HTTP 500).
    /// `client` picks `soapenv:Client` (a duplicate on add) over `soapenv:Server`.
    public static func fault(_ fault: AXLFault, version: AXLVersion, client: Bool = false) -> [UInt8] {
        var writer = XMLWriter(capacity: 1024)
        writer.raw("<?xml version='1.0' encoding='UTF-8'?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><soapenv:Fault><faultcode>")
        writer.raw(client ? "soapenv:Client" : "soapenv:Server")
        writer.raw("</faultcode>")
        writer.element("faultstring", fault.message)
        writer.raw("<detail><ns:axlError xmlns:ns=\"")
        writer.raw(version.namespace)
        writer.raw("\"><axlcode>\(fault.code)</axlcode><axlmessage>")
        writer.escaped(fault.message)
        writer.raw("</axlmessage><request>")
        writer.escaped(fault.operation)
        writer.raw("</request></ns:axlError></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>")
        return writer.bytes
    }
}

extension AXLObjectType {
    /// The searchCriteria of this type's list request: the search field `%` and the fixed criteria
    /// (in schema order: the search field comes first in every type the catalog has).
    public var searchCriteria: [(String, String)] {
        [(searchField, "%")] + fixedCriteria.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// A SOAP fault from AXL: `axlcode`, `axlmessage` and the operation (`request`) it answered.
public struct AXLFault: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: Int
    public let message: String
    public let operation: String

    public init(code: Int, message: String, operation: String) {
        self.code = code
        self.message = message
        self.operation = operation
    }

    public var description: String { "AXL fault \(code) on \(operation): \(message)" }

    /// The "Query request too large" fault (8 MB): the rows matched and the row count it suggests.
    public var tooLarge: (totalRows: Int, suggestedRows: Int)? {
        guard code == -1 else { return nil }
        let lower = message.lowercased()
        guard let total = AXLFault.number(after: "total rows matched: ", in: lower),
              let suggested = AXLFault.number(after: "less than ", in: lower) else { return nil }
        return (total, suggested)
    }

    /// The message Unified CM gives when a list answer would pass 8 MB.
    public static func tooLarge(totalRows: Int, suggestedRows: Int, operation: String) -> AXLFault {
        AXLFault(code: -1, message: "Query request too large. Total rows matched: \(totalRows) rows. Suggestive Row Fetch: less than \(suggestedRows) rows",
                 operation: operation)
    }

    private static func number(after marker: String, in text: String) -> Int? {
        let characters = Array(text), wanted = Array(marker)
        guard characters.count >= wanted.count else { return nil }
        for start in 0...(characters.count - wanted.count) where characters[start..<(start + wanted.count)].elementsEqual(wanted) {
            return Int(String(characters[(start + wanted.count)...].prefix { $0.isNumber }))
        }
        return nil
    }
}

/// Picks an AXL fault out of a response's events. A response handler forwards every event here (or
/// uses it as the handler itself); after the end, `fault` is set when the body was a SOAP fault.
/// Both `<axlError>` forms are read: unqualified, and qualified with a prefix (`ns2:axlError`).
public final class AXLFaultReader: XMLEventHandler {
    /// The operation the request named, used when the fault carries no `request`.
    public let operation: String
    public private(set) var fault: AXLFault?
    public private(set) var inFault = false
    private var faultString = ""
    private var code: Int?
    private var message: String?
    private var request: String?

    public init(operation: String) {
        self.operation = operation
    }

    public func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) {
        if name == "Fault", namespace == AXLEnvelope.soapNamespace {
            inFault = true
        }
    }

    public func endElement(_ name: String, text: String) {
        guard inFault else { return }
        switch name {
        case "faultstring": faultString = text
        case "axlcode": code = Int(text.filter { !$0.isWhitespace })
        case "axlmessage": message = text
        case "request": request = text
        case "Fault":
            inFault = false
            fault = AXLFault(code: code ?? 0, message: message ?? faultString,
                             operation: (request?.isEmpty == false ? request : nil) ?? operation)
        default: break
        }
    }

    /// The fault in a whole response body, or nil when it is not a fault.
    public static func fault(in body: [UInt8], operation: String) throws -> AXLFault? {
        let reader = AXLFaultReader(operation: operation)
        try XMLEventReader.parse(body, handler: reader)
        return reader.fault
    }
}
