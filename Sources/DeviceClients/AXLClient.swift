import AXL
import Foundation
import Runtime
import Synchronization
import Transport

/// A Unified CM's AXL interface: SOAP 1.1 over HTTPS (libcurl), HTTP Basic, the namespace and
/// SOAPAction of one AXL version. Answers are parsed while they stream in (libxml2 SAX): only the
/// item being read is built, a page of items at most is held.
///
/// Faults come back as `AXLFault` (with its axlcode). HTTP 503 and the "Maximum AXL Memory
/// Allocation Consumed" fault are retried after an exponential, jittered back-off; a "Query request
/// too large" fault makes a list shrink its page and go on. Other failures are `DeviceClientError`.
public final class AXLClient: Sendable {
    public struct Options: Sendable {
        /// Rows a list asks for per page (shrunk when the device says a page is too large).
        public var pageSize: Int
        /// Tries of one request that meets HTTP 503 or the overload fault before giving up.
        public var overloadAttempts: Int
        /// The first back-off delay and its ceiling, seconds.
        public var backoffInitial: Double
        public var backoffMaximum: Double
        /// The most one answer may bring, bytes: reading stops there and the answer is malformed
        /// (Unified CM's own bound on an answer is 8 MB; a page is streamed, a write's answer held).
        public var maximumAnswerBytes: Int

        public init(pageSize: Int = 1000, overloadAttempts: Int = 10, backoffInitial: Double = 0.5, backoffMaximum: Double = 15,
                    maximumAnswerBytes: Int = 64 << 20) {
            self.pageSize = max(1, pageSize)
            self.overloadAttempts = max(1, overloadAttempts)
            self.backoffInitial = backoffInitial
            self.backoffMaximum = backoffMaximum
            self.maximumAnswerBytes = max(1, maximumAnswerBytes)
        }
    }

    public let endpoint: DeviceEndpoint
    public let version: AXLVersion
    public let options: Options
    /// Asked about once a second during every transfer and between pages: true ends the work.
    public let isCanceled: @Sendable () -> Bool
    private let lanes: ConnectionLanes<AnswerParser>
    private let retried = Atomic<Int>(0)
    private let getFieldSets = Mutex<[String: (expected: Set<String>, asked: Set<String>)]>([:])

    public convenience init(endpoint: DeviceEndpoint, version: AXLVersion, options: Options = Options(),
                            isCanceled: @escaping @Sendable () -> Bool = { false }) {
        self.init(endpoint: endpoint, version: version, options: options, isCanceled: isCanceled,
                  lanes: ConnectionLanes(count: endpoint.concurrency, configuration: endpoint.httpConfiguration) { AnswerParser() })
    }

    private init(endpoint: DeviceEndpoint, version: AXLVersion, options: Options, isCanceled: @escaping @Sendable () -> Bool,
                 lanes: ConnectionLanes<AnswerParser>) {
        self.endpoint = endpoint
        self.version = version
        self.options = options
        self.isCanceled = isCanceled
        self.lanes = lanes
    }

    /// A client on this one's connections (kept alive, TLS sessions and cookies included) with
    /// its own cancellation check: a later job reuses what an earlier one opened.
    public func sharingConnections(isCanceled: @escaping @Sendable () -> Bool) -> AXLClient {
        AXLClient(endpoint: endpoint, version: version, options: options, isCanceled: isCanceled, lanes: lanes)
    }

    public var url: String { endpoint.baseURL + "/axl/" }

    /// Requests sent again after HTTP 503 or an overload fault, since this client was made.
    public var retries: Int { retried.load(ordering: .relaxed) }

    // MARK: operations

    /// `getCCMVersion`: the version the Unified CM reports (`12.5.1.11900(146)`).
    public func ccmVersion() async throws -> String {
        let operation = "getCCMVersion"
        let body = AXLEnvelope.request(version, operation) { _ in }
        let answer = try await call(operation, body: body, itemElement: "componentVersion", expected: nil)
        guard let item = answer.items.first, let version = item.text("version"), !version.isEmpty else {
            throw DeviceClientError(.malformed, operation: operation, message: "the answer holds no componentVersion/version")
        }
        return version
    }

    /// What one page of a list brought: its items and the fields the client did not expect.
    public struct Page: Sendable {
        public var items: [DeviceItem]
        public var unexpected: Set<String>
        /// Rows skipped before this page.
        public var skip: Int
    }

    /// Reads every object of `type` page by page with skip/first, handing each page to `onPage`
    /// while the next one is already being fetched. A "Query request too large" fault shrinks the page.
    /// `keysOnly`: the list asks for the type's key tags only (the items' uuids are what is wanted).
    ///
    /// Pages are read by position: when the device removes an object the list has passed, every
    /// later one moves up a place and the one at the next page's start is never listed. What a
    /// complete list did not return is therefore not proof of removal (the sync confirms it).
    public func list(_ type: AXLObjectType, keysOnly: Bool = false, onPage: (Page) async throws -> Void) async throws {
        var first = options.pageSize
        var skip = 0
        var prefetch = InFlight<Page>()
        do {
            while true {
                try checkCanceled(type.listOperation)
                let page: Page
                do {
                    if let fetched = try await prefetch.finish() {
                        page = fetched
                    } else {
                        page = try await listPage(type, skip: skip, first: first, keysOnly: keysOnly)
                    }
                } catch let fault as AXLFault {
                    guard let tooLarge = fault.tooLarge else { throw fault }
                    let smaller = max(1, min(first - 1, tooLarge.suggestedRows * 7 / 10))
                    guard smaller < first else { throw fault }
                    first = smaller
                    continue
                }
                let full = page.items.count >= first
                if full {
                    let (nextSkip, size) = (skip + page.items.count, first)
                    _ = try await prefetch.start { try await self.listPage(type, skip: nextSkip, first: size, keysOnly: keysOnly) }
                }
                try await onPage(page)
                guard full else { return }
                skip += page.items.count
            }
        } catch {
            await prefetch.cancel()
            throw error
        }
    }

    func listPage(_ type: AXLObjectType, skip: Int, first: Int, keysOnly: Bool = false) async throws -> Page {
        let body = keysOnly
            ? AXLEnvelope.listRequest(version, type.listOperation, searchCriteria: type.searchCriteria, returnedTags: type.keyTags,
                                      skip: skip, first: first)
            : AXLEnvelope.listRequest(version, type, skip: skip, first: first)
        let answer = try await call(type.listOperation, body: body, itemElement: type.itemElement,
                                    expected: Set(type.returnedTags), maximumItems: first)
        return Page(items: answer.items, unexpected: answer.unexpected, skip: skip)
    }

    /// `get<Type>` of one object by uuid, asking only for `type.getTags`. Nil when the object is gone
    /// (axlcode 5007: removed between the list and the get).
    public func get(_ type: AXLObjectType, uuid: String) async throws -> (item: DeviceItem, unexpected: Set<String>)? {
        let body = AXLEnvelope.getRequest(version, type.getOperation, keys: [("uuid", uuid)], returnedTags: type.getTags)
        let (expected, asked) = getFields(type)
        do {
            let answer = try await call(type.getOperation, body: body, itemElement: type.itemElement, expected: expected, maximumItems: 1)
            guard var item = answer.items.first else { return nil }
            item.fields.removeAll { !asked.contains($0.0) }
            return (item, answer.unexpected)
        } catch let fault as AXLFault where fault.code == 5007 {
            return nil
        }
    }

    /// `get<Type>` of one object by uuid, kept as a sync reads it: the list's fields and the get's
    /// collections (a whole get, filtered: the request names no returnedTags, which AXLSoap.xsd types
    /// differently for lists and gets). Nil when the object is gone (axlcode 5007). A sync confirms
    /// with it what a complete list did not return.
    public func getAsListed(_ type: AXLObjectType, uuid: String) async throws -> DeviceItem? {
        let body = AXLEnvelope.getRequest(version, type.getOperation, keys: [("uuid", uuid)])
        let kept = Set(type.returnedTags + type.getTags)
        do {
            let answer = try await call(type.getOperation, body: body, itemElement: type.itemElement, expected: nil, maximumItems: 1)
            guard var item = answer.items.first else { return nil }
            item.fields.removeAll { !kept.contains($0.0) }
            return item
        } catch let fault as AXLFault where fault.code == 5007 {
            return nil
        }
    }

    /// The fields a `get` of `type` may bring and those it keeps, made once per type (a sync gets
    /// thousands of objects). Fields the list already gave are no surprise when a device returns
    /// them too; only the asked-for collections are kept.
    private func getFields(_ type: AXLObjectType) -> (expected: Set<String>, asked: Set<String>) {
        if let known = getFieldSets.withLock({ $0[type.inventoryType] }) { return known }
        let sets = (Set(type.getTags + type.returnedTags + ["uuid"]), Set(type.getTags))
        getFieldSets.withLock { $0[type.inventoryType] = sets }
        return sets
    }

    /// `executeSQLQuery`: the rows of one query (the few objects only SQL reaches). The query is
    /// a constant of the code base, never assembled from input.
    public func sqlQuery(_ sql: String) async throws -> Page {
        let operation = "executeSQLQuery"
        let body = AXLEnvelope.request(version, operation) { writer in writer.element("sql", sql) }
        let answer = try await call(operation, body: body, itemElement: "row", expected: nil)
        return Page(items: answer.items, unexpected: answer.unexpected, skip: 0)
    }

    /// The list request of one page, as `list` sends it.
    public func listRequest(_ type: AXLObjectType, skip: Int, first: Int) -> [UInt8] {
        AXLEnvelope.listRequest(version, type, skip: skip, first: first)
    }

    /// Sends the same request the client would and reads the answer without building anything:
    /// the raw cost of the wire, for `ucp bench`. Returns the bytes received.
    public func fetchRaw(_ operation: String, body: [UInt8]) async throws -> Int {
        let url = url
        let headers = headers(operation)
        let isCanceled = isCanceled
        return try await lanes.run { connection, _ in
            var received = 0
            let status = try connection.perform(.post, url: url, headers: headers, body: body, abort: isCanceled) { chunk in
                received += chunk.count
                return true
            }
            guard status == 200 else {
                throw DeviceClientError(.http, operation: operation, message: "HTTP \(status)", httpStatus: status)
            }
            return received
        }
    }

    /// One request whose answer is read whole (a listChange page: changes, not items): the status
    /// and body of an HTTP 200 or of a SOAP fault (500), at most `maximumAnswerBytes`. A busy device
    /// (HTTP 503, or the fault `Overloaded.isOverload` names) is asked again after backing off, like `call`.
    func callWhole(_ operation: String, body: [UInt8], transportAttempts: Int = 3) async throws -> (status: Int, body: [UInt8]) {
        let url = url
        let headers = headers(operation)
        let isCanceled = isCanceled
        let limit = options.maximumAnswerBytes
        var backoff = Backoff(initial: options.backoffInitial, maximum: options.backoffMaximum)
        var attempt = 1
        while true {
            try checkCanceled(operation)
            let (status, bytes): (Int, [UInt8])
            do {
                (status, bytes) = try await lanes.run { connection, _ in
                    try connection.performWhole(.post, url: url, headers: headers, body: body, abort: isCanceled, limit: limit, operation: operation)
                }
            } catch let error as TransportError where error.isAborted {
                throw DeviceClientError(.canceled, operation: operation, message: "canceled")
            } catch let error as TransportError {
                guard error.isRetryable, !error.isTimeout, attempt < transportAttempts else {
                    throw DeviceClientError(.transport, operation: operation, message: error.message)
                }
                attempt += 1
                retried.add(1, ordering: .relaxed)
                try await pause(backoff.nextDelay(), operation)
                continue
            }
            let busy: String?
            switch status {
            case 500: busy = Overloaded.fault(in: bytes, operation: operation)
            case 503: busy = "HTTP 503"
            default: busy = nil
            }
            if let busy {
                guard attempt < options.overloadAttempts else { throw Overloaded.stayedBusy(operation, tries: attempt, busy) }
                attempt += 1
                retried.add(1, ordering: .relaxed)
                try await pause(backoff.nextDelay(), operation)
                continue
            }
            switch status {
            case 200, 500: return (status, bytes)
            case 401:
                throw DeviceClientError(.authentication, operation: operation, message: "authentication failed (HTTP 401)", httpStatus: status)
            case 599:
                throw DeviceClientError(.unsupported, operation: operation,
                                        message: "the device does not speak this AXL version (HTTP 599): \(snippet(bytes))", httpStatus: status)
            default:
                throw DeviceClientError(.http, operation: operation, message: "unexpected HTTP \(status)", httpStatus: status)
            }
        }
    }

    /// One request of an order (a get with its key, an add, update, remove or doDeviceReset), its
    /// answer read whole: the `return` element of the response (a get's item, a write's uuid). A
    /// fault is thrown as `AXLFault`. HTTP 503 (write throttling) is retried after a jittered
    /// back-off; a request whose answer was lost is not sent again (`resend: false`): the order's
    /// pre-check decides whether the write took effect.
    public func exchange(_ operation: String, resend: Bool = true, body: (inout XMLWriter) -> Void) async throws -> DeviceValue {
        let request = AXLEnvelope.request(version, operation, body: body)
        let started = ContinuousClock.now
        do {
            let (status, bytes) = try await callWhole(operation, body: request, transportAttempts: resend ? 3 : 1)
            let tree = DeviceTreeReader(operation: operation)
            try Self.parseWhole(bytes, status: status, operation: operation, handler: tree)
            if let fault = tree.faults.fault { throw fault }
            guard let answer = tree.root?.child("Body")?.child(operation + "Response") else {
                throw DeviceClientError(.malformed, operation: operation, message: "the answer holds no \(operation)Response")
            }
            DeviceMetrics.call("axl", operation, .ok, since: started)
            return answer.child("return") ?? .text("")
        } catch {
            DeviceMetrics.call("axl", operation, DeviceMetrics.outcome(of: error), since: started)
            throw error
        }
    }

    /// Parses an answer read whole (`callWhole`): XML that is not (a proxy's HTML error page, a
    /// broken answer) is the `malformed` error naming the operation, as a streamed answer's is.
    static func parseWhole(_ bytes: [UInt8], status: Int, operation: String, handler: XMLEventHandler) throws {
        do {
            try XMLEventReader.parse(bytes, handler: handler)
        } catch let error as XMLParseError {
            throw notXML(operation, error, httpStatus: status)
        }
    }

    static func notXML(_ operation: String, _ error: Error, httpStatus: Int) -> DeviceClientError {
        let answer = httpStatus == 200 ? "the answer" : "the answer (HTTP \(httpStatus))"
        return DeviceClientError(.malformed, operation: operation, message: "\(answer) is not valid XML (\(error))", httpStatus: httpStatus)
    }


    // MARK: the exchange

    struct Answer: Sendable {
        var items: [DeviceItem]
        var unexpected: Set<String>
    }

    func headers(_ operation: String) -> [String] {
        ["Content-Type: \(AXLEnvelope.contentType)", "Accept: text/xml", "SOAPAction: \(version.soapAction(operation))"]
    }

    /// One request, with the retries the protocol calls for.
    /// `maximumItems`: the most items the answer may hold (a list page's `first`); more is malformed.
    func call(_ operation: String, body: [UInt8], itemElement: String?, expected: Set<String>?, maximumItems: Int? = nil) async throws -> Answer {
        var backoff = Backoff(initial: options.backoffInitial, maximum: options.backoffMaximum)
        var attempt = 1
        while true {
            try checkCanceled(operation)
            let started = ContinuousClock.now
            do {
                let answer = try await exchange(operation, body: body, itemElement: itemElement, expected: expected, maximumItems: maximumItems)
                DeviceMetrics.call("axl", operation, .ok, since: started)
                return answer
            } catch let error as Overloaded {
                DeviceMetrics.call("axl", operation, .throttled, since: started)
                guard attempt < options.overloadAttempts else { throw Overloaded.stayedBusy(operation, tries: attempt, error.detail) }
            } catch let error as TransportError {
                DeviceMetrics.call("axl", operation, .error, since: started)
                guard error.isRetryable, !error.isTimeout, attempt < 3 else {
                    throw DeviceClientError(.transport, operation: operation, message: error.message)
                }
            } catch {
                DeviceMetrics.call("axl", operation, DeviceMetrics.outcome(of: error), since: started)
                throw error
            }
            attempt += 1
            retried.add(1, ordering: .relaxed)
            try await pause(backoff.nextDelay(), operation)
        }
    }

    /// A back-off's wait, asking about cancellation every quarter second.
    private func pause(_ delay: Double, _ operation: String) async throws {
        let deadline = Date().addingTimeInterval(delay)
        while Date() < deadline {
            try checkCanceled(operation)
            try await Task.sleep(nanoseconds: UInt64(min(0.25, max(0, deadline.timeIntervalSinceNow)) * 1_000_000_000))
        }
        try checkCanceled(operation)
    }

    /// The device is busy (HTTP 503, or the fault that says AXL's memory for answers is used up).
    struct Overloaded: Error {
        let detail: String

        /// Whether a fault says the device is busy rather than refusing the request (domain brief:
        /// fault -1 "Maximum AXL Memory Allocation Consumed. Please retry once requests in progress
        /// have completed"): asked again after backing off, never a failure of its own.
        static func isOverload(_ fault: AXLFault) -> Bool {
            fault.message.localizedCaseInsensitiveContains("Maximum AXL Memory Allocation Consumed")
        }

        /// What a request still busy after its last try fails with.
        static func stayedBusy(_ operation: String, tries: Int, _ detail: String) -> DeviceClientError {
            DeviceClientError(.http, operation: operation, message: "the device stayed busy after \(tries) tries (\(detail))")
        }

        /// The busy fault's message if a fault answer read whole (`callWhole`) is one; nil otherwise
        /// (another fault, or not XML: the caller reports it).
        static func fault(in bytes: [UInt8], operation: String) -> String? {
            let reader = AXLFaultReader(operation: operation)
            guard (try? XMLEventReader.parse(bytes, handler: reader)) != nil, let fault = reader.fault, isOverload(fault) else { return nil }
            return fault.message
        }
    }

    private func exchange(_ operation: String, body: [UInt8], itemElement: String?, expected: Set<String>?,
                          maximumItems: Int?) async throws -> Answer {
        let url = url
        let headers = headers(operation)
        let isCanceled = isCanceled
        let limits = AnswerLimits(bytes: options.maximumAnswerBytes, items: maximumItems)
        do {
            return try await lanes.run { connection, parser in
                try Self.exchange(on: connection, parser: parser, url: url, headers: headers, operation: operation, body: body,
                                  itemElement: itemElement, expected: expected, limits: limits, isCanceled: isCanceled)
            }
        } catch let error as TransportError where error.isAborted {
            throw DeviceClientError(.canceled, operation: operation, message: "canceled")
        }
    }

    /// The most an answer may bring: bytes, and items when the request bounds them.
    struct AnswerLimits {
        let bytes: Int
        let items: Int?
    }

    /// An answer over its `AnswerLimits`: reading it stops.
    struct AnswerTooLarge: Error {
        let error: DeviceClientError
    }

    private static func exchange(on connection: HTTPClientConnection, parser answerParser: AnswerParser, url: String, headers: [String], operation: String,
                                 body: [UInt8], itemElement: String?, expected: Set<String>?, limits: AnswerLimits,
                                 isCanceled: @escaping () -> Bool) throws -> Answer {
        var items: [DeviceItem] = []
        let reader = AXLItemReader(operation: operation, itemElement: itemElement, expected: expected) { item in
            if let most = limits.items, items.count >= most {
                throw AnswerTooLarge(error: DeviceClientError(.malformed, operation: operation,
                                                              message: "the answer holds more than the \(most) items asked for"))
            }
            items.append(item)
        }
        let parser = answerParser.start(reader)
        defer { answerParser.end() }
        var status = 0
        var received = 0
        var other: [UInt8] = []
        var parseFailure: Error?
        do {
            status = try connection.perform(.post, url: url, headers: headers, body: body, abort: isCanceled) { chunk in
                if status == 0 { status = connection.responseCode }
                received += chunk.count
                guard received <= limits.bytes else {
                    parseFailure = AnswerTooLarge(error: .answerTooLarge(operation, limit: limits.bytes, httpStatus: status))
                    return false
                }
                guard status == 200 || status == 500 else {
                    // Not SOAP (401 page, 503 page …): keep a little of it for the message.
                    if other.count < 512 { other.append(contentsOf: chunk.prefix(512 - other.count)) }
                    return true
                }
                do {
                    try parser.feed(chunk)
                    return true
                } catch {
                    parseFailure = error
                    return false
                }
            }
            if status == 200 || status == 500 { try parser.finish() }
        } catch is HTTPReceiverStopped {
        } catch let error as XMLParseError {
            parseFailure = error
        } catch let error as AnswerTooLarge {  // the last item, met at the end
            parseFailure = error
        }
        if let fault = reader.faults.fault {
            if Overloaded.isOverload(fault) {
                throw Overloaded(detail: fault.message)
            }
            throw fault
        }
        if let tooLarge = parseFailure as? AnswerTooLarge { throw tooLarge.error }
        if let parseFailure { throw notXML(operation, parseFailure, httpStatus: status) }
        switch status {
        case 200:
            guard reader.sawResponse else {
                throw DeviceClientError(.malformed, operation: operation, message: "the answer holds no \(operation)Response",
                                        httpStatus: status)
            }
            return Answer(items: items, unexpected: reader.unexpected)
        case 401:
            throw DeviceClientError(.authentication, operation: operation, message: "authentication failed (HTTP 401)",
                                    httpStatus: status)
        case 503:
            throw Overloaded(detail: "HTTP 503")
        case 599:
            throw DeviceClientError(.unsupported, operation: operation,
                                    message: "the device does not speak this AXL version (HTTP 599): \(snippet(other))",
                                    httpStatus: status)
        default:
            throw DeviceClientError(.http, operation: operation, message: "unexpected HTTP \(status)", httpStatus: status)
        }
    }

    private func checkCanceled(_ operation: String) throws {
        if isCanceled() { throw DeviceClientError(.canceled, operation: operation, message: "canceled") }
    }
}

/// A lane's libxml2 parser, reset for each answer instead of made anew (it keeps its context and
/// interned names); its events go to the answer's reader through a forwarder.
final class AnswerParser {
    private let forwarder = EventForwarder()
    private lazy var reader = XMLEventReader(handler: forwarder)
    private var used = false

    /// The parser, ready for a new document whose events go to `handler`.
    func start(_ handler: XMLEventHandler) -> XMLEventReader {
        forwarder.target = handler
        if used { reader.reset() }
        used = true
        return reader
    }

    func end() { forwarder.target = nil }
}

final class EventForwarder: XMLEventHandler {
    var target: XMLEventHandler?

    func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) throws {
        try target?.startElement(name, namespace: namespace, attributes: attributes)
    }

    func endElement(_ name: String, text: String) throws {
        try target?.endElement(name, text: text)
    }
}

/// The first line of a non-SOAP answer, for a message.
func snippet(_ bytes: [UInt8]) -> String {
    let text = String(decoding: bytes, as: UTF8.self)
    let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
    return String(line.prefix(160))
}

/// Builds a whole answer as a tree of `DeviceValue`s (names without namespace prefixes), and
/// picks out its fault, if it is one.
final class DeviceTreeReader: XMLEventHandler {
    let faults: AXLFaultReader
    private var open: [(name: String, children: [(String, DeviceValue)])] = []
    private(set) var root: DeviceValue?

    init(operation: String) {
        faults = AXLFaultReader(operation: operation)
    }

    func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) {
        faults.startElement(name, namespace: namespace, attributes: attributes)
        var children: [(String, DeviceValue)] = []
        if let uuid = attributes["uuid"] { children.append(("@uuid", .text(uuid))) }
        open.append((name, children))
    }

    /// A leaf keeps its text only; an element with children keeps them (and its uuid as `@uuid`).
    func endElement(_ name: String, text: String) {
        faults.endElement(name, text: text)
        let element = open.removeLast()
        let hasElements = element.children.contains { !$0.0.hasPrefix("@") }
        let value: DeviceValue = hasElements ? .node(element.children) : .text(text)
        if open.isEmpty {
            root = value
        } else {
            open[open.count - 1].children.append((element.name, value))
        }
    }
}
