import Foundation
import Transport

/// A Unity Connection's REST interface (CUPI) in JSON over HTTPS (libcurl), HTTP Basic.
/// Lists page with `rowsPerPage`/`pageNumber` (1-based); one page is held at a time. Tolerates
/// CUPI's quirks: one row comes as an object instead of an array, no rows as just `{"@total":"0"}`.
public final class CUPIClient: Sendable {
    public let endpoint: DeviceEndpoint
    public let pageSize: Int
    public let isCanceled: @Sendable () -> Bool
    private let lanes: ConnectionLanes<NoScratch>

    public init(endpoint: DeviceEndpoint, pageSize: Int = 500, isCanceled: @escaping @Sendable () -> Bool = { false }) {
        self.endpoint = endpoint
        self.pageSize = max(1, pageSize)
        self.isCanceled = isCanceled
        lanes = ConnectionLanes(count: endpoint.concurrency, configuration: endpoint.httpConfiguration) { NoScratch() }
    }

    /// One page of a CUPI list.
    public struct Page: Sendable {
        public var items: [DeviceItem]
        /// The `@total` the server gave: every row the list has.
        public var total: Int
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

    /// Reads every row of `/vmrest/<path>` (rows in `element`), page by page.
    public func list(_ path: String, element: String, onPage: (Page) async throws -> Void) async throws {
        var pageNumber = 1
        var read = 0
        while true {
            if isCanceled() { throw DeviceClientError(.canceled, operation: "GET /vmrest/\(path)", message: "canceled") }
            let page = try await page(path, element: element, query: "rowsPerPage=\(pageSize)&pageNumber=\(pageNumber)")
            try await onPage(page)
            read += page.items.count
            if page.items.count < pageSize || read >= page.total { return }
            pageNumber += 1
        }
    }

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

    /// GET a resource and decode its JSON object.
    func json(_ path: String, query: String?) async throws -> [String: Any] {
        let operation = "GET /vmrest/\(path)"
        let started = ContinuousClock.now
        do {
            let object = try await exchange(path, query: query, operation: operation)
            DeviceMetrics.call("cupi", operation, .ok, since: started)
            return object
        } catch {
            DeviceMetrics.call("cupi", operation, DeviceMetrics.outcome(of: error), since: started)
            throw error
        }
    }

    private func exchange(_ path: String, query: String?, operation: String) async throws -> [String: Any] {
        let url = endpoint.baseURL + "/vmrest/" + path + (query.map { "?" + $0 } ?? "")
        let isCanceled = isCanceled
        let (status, body): (Int, [UInt8])
        do {
            (status, body) = try await lanes.run { connection, _ in
                var body: [UInt8] = []
                let status = try connection.perform(.get, url: url, headers: ["Accept: application/json"], abort: isCanceled) { chunk in
                    body.append(contentsOf: chunk)
                    return true
                }
                return (status, body)
            }
        } catch let error as TransportError {
            if error.isAborted { throw DeviceClientError(.canceled, operation: operation, message: "canceled") }
            throw DeviceClientError(.transport, operation: operation, message: error.message)
        }
        switch status {
        case 200: break
        case 401: throw DeviceClientError(.authentication, operation: operation, message: "authentication failed (HTTP 401)", httpStatus: status)
        default: throw DeviceClientError(.http, operation: operation, message: "unexpected HTTP \(status): \(snippet(body))", httpStatus: status)
        }
        return try Self.object(body, operation: operation)
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
