import Foundation
import Transport

/// A Unity Connection's REST interface (CUPI) in JSON over HTTPS (libcurl), HTTP Basic.
/// Lists page with `rowsPerPage`/`pageNumber` (1-based); one page is held at a time. Tolerates
/// CUPI's quirks: one row comes as an object instead of an array, no rows as just `{"@total":"0"}`.
public final class CUPIClient: Sendable {
    public let endpoint: DeviceEndpoint
    public let pageSize: Int
    public let isCanceled: @Sendable () -> Bool
    /// The most one answer may bring, bytes (a page of 500 users is about 1 MB): reading stops
    /// there and the answer is malformed.
    public let maximumAnswerBytes: Int
    private let lanes: ConnectionLanes<NoScratch>

    public init(endpoint: DeviceEndpoint, pageSize: Int = 500, maximumAnswerBytes: Int = 16 << 20,
                isCanceled: @escaping @Sendable () -> Bool = { false }) {
        self.endpoint = endpoint
        self.pageSize = max(1, pageSize)
        self.maximumAnswerBytes = max(1, maximumAnswerBytes)
        self.isCanceled = isCanceled
        lanes = ConnectionLanes(count: endpoint.concurrency, configuration: endpoint.httpConfiguration) { NoScratch() }
    }

    private init(endpoint: DeviceEndpoint, pageSize: Int, maximumAnswerBytes: Int, isCanceled: @escaping @Sendable () -> Bool,
                 lanes: ConnectionLanes<NoScratch>) {
        self.endpoint = endpoint
        self.pageSize = pageSize
        self.maximumAnswerBytes = maximumAnswerBytes
        self.isCanceled = isCanceled
        self.lanes = lanes
    }

    /// A client on this one's connections (kept alive, TLS sessions included) with its own
    /// cancellation check: a later job reuses what an earlier one opened (as `AXLClient`'s).
    public func sharingConnections(isCanceled: @escaping @Sendable () -> Bool) -> CUPIClient {
        CUPIClient(endpoint: endpoint, pageSize: pageSize, maximumAnswerBytes: maximumAnswerBytes, isCanceled: isCanceled, lanes: lanes)
    }

    /// One page of a CUPI list.
    public struct Page: Sendable {
        public var items: [DeviceItem]
        /// The `@total` the server gave: every row the list has (0 when it gave none).
        public var total: Int

        /// Whether a list ends with this page, `read` rows in all: a short page ends it, and so does
        /// reaching a `@total` the server gave; a missing or zero total ends nothing.
        package func isLast(read: Int, pageSize: Int) -> Bool {
            items.count < pageSize || (total > 0 && read >= total)
        }
    }

    /// The number of rows of `/vmrest/<path>` (`rowsPerPage=0`: the count only) — also a cheap
    /// authenticated request for a connection test.
    public func count(_ path: String) async throws -> Int {
        try await page(path, element: "", query: "rowsPerPage=0").total
    }

    /// What the server says it is (`GET /vmrest/version/product`): "Cisco Unity Connection 12.5…",
    /// or a Unity Express; nil when it does not say.
    public func product() async throws -> String? {
        let object = try await json("version/product", query: nil)
        let parts = [object["ProductName"] as? String, object["ProductVersion"] as? String].compactMap { $0 }.filter { !$0.isEmpty }
        return parts.isEmpty ? nil : parts.joined(separator: " ")
    }

    /// Reads every row of `/vmrest/<path>` (rows in `element`), page by page (`Page.isLast`).
    public func list(_ path: String, element: String, onPage: (Page) async throws -> Void) async throws {
        var pageNumber = 1
        var read = 0
        while true {
            if isCanceled() { throw DeviceClientError(.canceled, operation: "GET /vmrest/\(path)", message: "canceled") }
            let page = try await page(path, element: element, query: "rowsPerPage=\(pageSize)&pageNumber=\(pageNumber)")
            try await onPage(page)
            read += page.items.count
            if page.isLast(read: read, pageSize: pageSize) { return }
            pageNumber += 1
        }
    }

    /// One row of `/vmrest/<path>` by its ObjectId (`GET /vmrest/<path>/<id>`), nil when the server
    /// answers 404: a sync confirms with it what a complete list did not return (pages are read by
    /// number: a row removed meanwhile moves the later ones up a place, and one is never listed).
    public func get(_ path: String, objectId: String) async throws -> DeviceItem? {
        // One metrics label for every object (not one per id).
        let operation = "GET /vmrest/\(path)/{ObjectId}"
        let segment = objectId.addingPercentEncoding(withAllowedCharacters: Self.objectIdCharacters) ?? objectId
        let started = ContinuousClock.now
        do {
            let object = try await exchange(path + "/" + segment, query: nil, operation: operation)
            DeviceMetrics.call("cupi", operation, .ok, since: started)
            return Self.item(object)
        } catch let error as DeviceClientError where error.httpStatus == 404 {
            DeviceMetrics.call("cupi", operation, .ok, since: started)
            return nil
        } catch {
            DeviceMetrics.call("cupi", operation, DeviceMetrics.outcome(of: error), since: started)
            throw error
        }
    }

    /// What an ObjectId (a GUID) is made of; anything else is escaped in a path.
    private static let objectIdCharacters = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-"))

    func page(_ path: String, element: String, query: String) async throws -> Page {
        Self.page(from: try await json(path, query: query), element: element)
    }

    /// The rows of one answer (`element` holds an array, or one object when the page has one row)
    /// and its `@total`. `package`: the fuzz target reads answers through it.
    package static func page(from object: [String: Any], element: String) -> Page {
        let total = Int(object["@total"] as? String ?? "") ?? (object["@total"] as? Int) ?? 0
        var rows: [[String: Any]] = []
        if let many = object[element] as? [[String: Any]] {
            rows = many
        } else if let one = object[element] as? [String: Any] {
            rows = [one]
        }
        return Page(items: rows.map(Self.item), total: total)
    }

    static func item(_ row: [String: Any]) -> DeviceItem {
        DeviceItem(uuid: row["ObjectId"] as? String, fields: fields(row))
    }

    static func fields(_ object: [String: Any]) -> [(String, DeviceValue)] {
        object.keys.sorted().compactMap { key in
            switch object[key] {
            case let text as String: return (key, .text(text))
            case let number as NSNumber: return (key, .text(number.stringValue))
            case let nested as [String: Any]: return (key, .node(fields(nested)))
            default: return nil
            }
        }
    }

    /// The `operation` label of a request's metrics: the method and the resource, each path segment
    /// that is not a word of the catalog (an ObjectId, an alias) as `{id}` and no query, so the series
    /// stay a bounded set (`DELETE /vmrest/users/{id}`) while errors keep the real path.
    package static func metricOperation(_ method: String, _ path: String) -> String {
        let resource = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let segments = resource.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.isEmpty || segment.allSatisfy({ $0.isASCII && $0.isLetter }) ? String(segment) : "{id}"
        }
        return "\(method) /vmrest/\(segments.joined(separator: "/"))"
    }

    /// GET a resource and decode its JSON object.
    func json(_ path: String, query: String?) async throws -> [String: Any] {
        let operation = "GET /vmrest/\(path)"
        let label = Self.metricOperation("GET", path)
        let started = ContinuousClock.now
        do {
            let object = try await exchange(path, query: query, operation: operation)
            DeviceMetrics.call("cupi", label, .ok, since: started)
            return object
        } catch {
            DeviceMetrics.call("cupi", label, DeviceMetrics.outcome(of: error), since: started)
            throw error
        }
    }

    private func exchange(_ path: String, query: String?, operation: String) async throws -> [String: Any] {
        let url = endpoint.baseURL + "/vmrest/" + path + (query.map { "?" + $0 } ?? "")
        let (status, body) = try await receive(.get, url: url, headers: ["Accept: application/json"], operation: operation)
        switch status {
        case 200: break
        case 401: throw DeviceClientError(.authentication, operation: operation, message: "authentication failed (HTTP 401)", httpStatus: status)
        default: throw DeviceClientError(.http, operation: operation, message: "unexpected HTTP \(status): \(snippet(body))", httpStatus: status)
        }
        return try Self.object(body, operation: operation)
    }

    /// One write of an order (`POST`/`DELETE`) or a lookup (`GET` with a query), its answer read
    /// whole: the status and body. Statuses other than 2xx are thrown as `DeviceClientError` (kind
    /// http) with CUPI's error code in the message (`DUPLICATE_ENTRY`, `NOT_FOUND`). A request whose
    /// answer was lost is not sent again: the order's pre-check decides whether it took effect.
    public func exchange(_ method: HTTPClientConnection.Method, _ path: String, query: String? = nil,
                         json body: [String: String]? = nil) async throws -> (status: Int, body: [UInt8]) {
        let operation = "\(method.rawValue) /vmrest/\(path)"
        let label = Self.metricOperation(method.rawValue, path)
        let url = endpoint.baseURL + "/vmrest/" + path + (query.map { "?" + $0 } ?? "")
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }.map { [UInt8]($0) } ?? []
        var headers = ["Accept: application/json"]
        if body != nil { headers.append("Content-Type: application/json") }
        let started = ContinuousClock.now
        let (status, answer): (Int, [UInt8])
        do {
            (status, answer) = try await receive(method, url: url, headers: headers, body: payload, operation: operation)
        } catch {
            DeviceMetrics.call("cupi", label, DeviceMetrics.outcome(of: error), since: started)
            throw error
        }
        guard (200..<300).contains(status) else {
            DeviceMetrics.call("cupi", label, .error, since: started)
            if status == 401 {
                throw DeviceClientError(.authentication, operation: operation, message: "authentication failed (HTTP 401)", httpStatus: status)
            }
            let errors = (try? JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any])?["errors"] as? [String: Any]
            let code = errors?["code"] as? String ?? "HTTP \(status)"
            let message = errors?["message"] as? String ?? snippet(answer)
            throw DeviceClientError(.http, operation: operation, message: "\(code): \(message)", httpStatus: status)
        }
        DeviceMetrics.call("cupi", label, .ok, since: started)
        return (status, answer)
    }

    /// One request on a lane, its answer read whole up to `maximumAnswerBytes`; no answer is the
    /// `transport` error (or `canceled`).
    private func receive(_ method: HTTPClientConnection.Method, url: String, headers: [String], body: [UInt8] = [],
                         operation: String) async throws -> (status: Int, body: [UInt8]) {
        let isCanceled = isCanceled
        let limit = maximumAnswerBytes
        do {
            return try await lanes.run { connection, _ in
                try connection.performWhole(method, url: url, headers: headers, body: body, abort: isCanceled, limit: limit, operation: operation)
            }
        } catch let error as TransportError {
            if error.isAborted { throw DeviceClientError(.canceled, operation: operation, message: "canceled") }
            throw DeviceClientError(.transport, operation: operation, message: error.message)
        }
    }

    /// The rows of `GET /vmrest/<path>?query=(<column> is <value>)` whose `column` is `value`
    /// (without case, as CUPI compares). CUPI's one-criterion query has no quoting: the value runs
    /// from after `is ` to the closing parenthesis, spaces and all, and the query is percent-encoded
    /// whole into the URL (a space is %20, a parenthesis %28/%29). The rows are matched again here,
    /// so a value the server reads otherwise (one with a parenthesis) finds nothing rather than
    /// another object.
    public func find(_ path: String, element: String, column: String, is value: String) async throws -> [DeviceItem] {
        let query = "(\(column) is \(value))"
        let (_, body) = try await exchange(.get, path, query: "query=\(Self.queryValue(query))")
        let rows = Self.page(from: try Self.object(body, operation: "GET /vmrest/\(path)"), element: element).items
        return Self.rows(rows, column: column, is: value)
    }

    /// The rows whose `column` is `value`, compared without case.
    static func rows(_ rows: [DeviceItem], column: String, is value: String) -> [DeviceItem] {
        let wanted = value.lowercased()
        return rows.filter { $0.text(column)?.lowercased() == wanted }
    }

    /// `text` as one value of a URL's query: everything but letters and digits escaped (a template
    /// alias with a space, `&` or `#` must not make a bad URL, another parameter, or a fragment).
    public static func queryValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }

    /// An answer's body as a JSON object, or the `malformed` error naming the operation.
    package static func object(_ body: [UInt8], operation: String) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw DeviceClientError(.malformed, operation: operation, message: "the answer is not a JSON object")
        }
        return object
    }
}

/// A lane that keeps nothing but its connection.
final class NoScratch {}
