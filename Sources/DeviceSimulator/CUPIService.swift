import AXL
import Foundation

/// The Unity Connection side: `/vmrest/users`, `/vmrest/usertemplates`, `/vmrest/coses`. XML by default,
/// JSON with `Accept: application/json` — with CUPI's quirks: `{"@total":"N","User":[…]}`, a single row
/// as an object instead of an array, pages 1-based, and page size or number 0 meaning "count only".
struct CUPIService {
    let simulator: DeviceSimulator

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let parts = request.path.split(separator: "/").map(String.init)
        if parts == ["vmrest", "version", "product"], request.method == "GET" {
            return try product(request, responder)
        }
        guard parts.count >= 2, parts.count <= 3, let table = simulator.data.cupi[parts[1]] else {
            return try error(404, "NOT_FOUND", "No resource at \(request.path)", request, responder)
        }
        let json = request.header("accept")?.lowercased().contains("application/json") == true
        let objectId = parts.count == 3 ? parts[2].lowercased() : nil
        let query = request.query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        let given = (try? self.fields(of: request))?.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } ?? []
        simulator.orderFaults.record("\(request.method) \(request.path)" + (query.isEmpty ? "" : "?" + query)
                                     + (given.isEmpty ? "" : " " + OrderFaults.rendered(given)))
        let operation = request.method == "POST" && objectId == nil ? "cupiCreate\(table.element)"
            : request.method == "DELETE" ? "cupiDelete\(table.element)" : "cupiRead\(table.element)"
        switch simulator.orderFaults.take(operation) {
        case .fail?: return try error(500, "SIMULATED_FAILURE", "Simulated failure of \(operation)", request, responder)
        case .drop?: responder.dropAnswer = true
        case .stall?: usleep(UInt32(simulator.orderFaults.pauseSeconds * 1_000_000))
        case .hold?: responder.holdAnswer = simulator.orderFaults.pauseSeconds
        case .empty?: break  // (AXL adds only)
        case .remove(let key)?:
            // After the answer is made from the rows as they were, before the client can ask again.
            responder.beforeAnswer = {
                let keyColumn = table.fields.firstIndex(of: table.keyField)!
                if let row = table.snapshot().first(where: { $0[keyColumn].lowercased() == key.lowercased() }) {
                    _ = table.remove(objectId: row[0])
                }
            }
        case nil: break
        }
        switch (request.method, objectId) {
        case ("GET", nil): try list(table, request, json, responder)
        case ("GET", let id?):
            guard let row = table.snapshot().first(where: { $0[0] == id }) else {
                return try error(404, "NOT_FOUND", "\(table.element) not found", request, responder)
            }
            try send(json ? jsonObject(table, row) : xmlObject(table, row, standalone: true), json: json, responder)
        case ("POST", nil): try simulator.orderFaults.write("cupi", responder) { try create(table, request, responder) }
        case ("PUT", let id?):
            let values = try fields(of: request)
            guard table.update(objectId: id, values) else { return try error(404, "NOT_FOUND", "\(table.element) not found", request, responder) }
            try responder.send(status: 204, reason: "No Content", contentType: nil, body: [])
        case ("DELETE", let id?):
            try simulator.orderFaults.write("cupi", responder) {
                guard table.remove(objectId: id) else { return try error(404, "NOT_FOUND", "\(table.element) not found", request, responder) }
                try responder.send(status: 204, reason: "No Content", contentType: nil, body: [])
            }
        default:
            try error(405, "METHOD_NOT_ALLOWED", "\(request.method) is not allowed on \(request.path)", request, responder)
        }
    }

    /// `GET /vmrest/version/product`: a Unity Connection, or with `--product express` a Unity Express.
    private func product(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let name = simulator.options.express ? "Cisco Unity Express" : "Cisco Unity Connection"
        let version = simulator.options.express ? SimulatedProduct.unityExpressVersion : SimulatedProduct.unityVersion
        if request.header("accept")?.lowercased().contains("application/json") == true {
            try send("{\"ProductName\":\"\(name)\",\"ProductVersion\":\"\(version)\"}", json: true, responder)
        } else {
            try send("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><ProductVersion><ProductName>\(name)</ProductName><ProductVersion>\(version)</ProductVersion></ProductVersion>",
                     json: false, responder)
        }
    }

    private func list(_ table: CUPITable, _ request: HTTPRequest, _ json: Bool, _ responder: HTTPResponder) throws {
        var rows = table.snapshot()
        if let query = request.query["query"] {
            guard let criterion = CUPIQuery(query), let column = table.fields.firstIndex(where: { $0.lowercased() == criterion.column.lowercased() }) else {
                return try error(400, "INVALID_PARAMETER", "query: expected (column is|startswith value)", request, responder)
            }
            let value = criterion.value.lowercased()
            rows = rows.filter { criterion.startsWith ? $0[column].lowercased().hasPrefix(value) : $0[column].lowercased() == value }
        }
        if let sort = request.query["sort"] {
            // (column asc|desc): one column.
            let words = sort.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: " ").map(String.init)
            guard let first = words.first, let column = table.fields.firstIndex(where: { $0.lowercased() == first.lowercased() }) else {
                return try error(400, "INVALID_PARAMETER", "sort: expected (column asc|desc)", request, responder)
            }
            let descending = words.count > 1 && words[1].lowercased() == "desc"
            rows.sort { descending ? $0[column].lowercased() > $1[column].lowercased() : $0[column].lowercased() < $1[column].lowercased() }
        }
        let total = rows.count
        var page: ArraySlice<[String]> = rows[...]
        let perPage = request.query["rowsPerPage"].flatMap { Int($0) }
        let number = request.query["pageNumber"].flatMap { Int($0) }
        if perPage == 0 || number == 0 {
            page = []
        } else if let perPage {
            let start = min(total, (max(1, number ?? 1) - 1) * perPage)
            page = rows[start..<min(total, start + perPage)]
        }
        if json {
            var text = "{\"@total\":\"\(total)\""
            if page.count == 1 {
                text += ",\"\(table.element)\":" + jsonObject(table, page.first!)
            } else if !page.isEmpty {
                text += ",\"\(table.element)\":[" + page.map { jsonObject(table, $0) }.joined(separator: ",") + "]"
            }
            text += "}"
            try send(text, json: true, responder)
        } else {
            var text = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><\(table.listElement) total=\"\(total)\">"
            for row in page { text += xmlObject(table, row, standalone: false) }
            text += "</\(table.listElement)>"
            try send(text, json: false, responder)
        }
    }

    private func create(_ table: CUPITable, _ request: HTTPRequest, _ responder: HTTPResponder) throws {
        var values = try fields(of: request)
        let required = table.element == "User" ? ["Alias", "DtmfAccessId"] : [table.keyField]
        for field in required where (values[field] ?? "").isEmpty {
            return try error(400, "MISSING_PARAMETER", "\(field) is required", request, responder)
        }
        if table.element != "Cos" {
            guard let templateAlias = request.query["templateAlias"],
                  let template = simulator.data.cupi["usertemplates"]!.snapshot().first(where: { $0[1].lowercased() == templateAlias.lowercased() }) else {
                return try error(400, "INVALID_PARAMETER", "templateAlias: no such user template", request, responder)
            }
            values["CosObjectId"] = values["CosObjectId"] ?? template[3]
        }
        guard let id = table.add(values) else {
            return try error(400, "DUPLICATE_ENTRY", "\(table.keyField) \(values[table.keyField]!) already exists", request, responder)
        }
        let uri = "/vmrest/" + request.path.split(separator: "/")[1] + "/" + id
        try responder.send(status: 201, reason: "Created", contentType: "text/plain", body: Array(uri.utf8), headers: [("Location", uri)])
    }

    /// The fields of a POST or PUT body, JSON or XML.
    private func fields(of request: HTTPRequest) throws -> [String: String] {
        guard !request.body.isEmpty else { return [:] }
        if request.body.first == UInt8(ascii: "{") {
            let object = try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] ?? [:]
            return object.reduce(into: [:]) { result, pair in result[pair.key] = "\(pair.value)" }
        }
        let builder = RequestTreeBuilder()
        try XMLEventReader.parse(request.body, handler: builder)
        return (builder.root?.children ?? []).reduce(into: [:]) { $0[$1.name] = $1.text }
    }

    private func jsonObject(_ table: CUPITable, _ row: [String]) -> String {
        var text = "{"
        for (index, field) in table.fields.enumerated() {
            if index > 0 { text += "," }
            text += "\"\(field)\":\"" + jsonEscaped(row[index]) + "\""
        }
        return text + ",\"URI\":\"/vmrest/\(path(table))/\(row[0])\"}"
    }

    private func xmlObject(_ table: CUPITable, _ row: [String], standalone: Bool) -> String {
        var writer = XMLWriter(capacity: 512)
        if standalone { writer.raw("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>") }
        writer.open(table.element)
        writer.element("URI", "/vmrest/\(path(table))/\(row[0])")
        for (index, field) in table.fields.enumerated() { writer.element(field, row[index]) }
        writer.close(table.element)
        return writer.string
    }

    private func path(_ table: CUPITable) -> String {
        simulator.data.cupi.first { $0.value === table }!.key
    }

    private func send(_ text: String, json: Bool, _ responder: HTTPResponder) throws {
        try responder.send(status: 200, reason: "OK", contentType: json ? "application/json" : "application/xml", text: text)
    }

    private func error(_ status: Int, _ code: String, _ message: String, _ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let json = request.header("accept")?.lowercased().contains("application/json") == true
        let body = json
            ? "{\"errors\":{\"code\":\"\(code)\",\"message\":\"\(jsonEscaped(message))\"}}"
            : "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ErrorDetails><errors><code>\(code)</code><message>\(xmlEscaped(message))</message></errors></ErrorDetails>"
        try responder.send(status: status, reason: status == 404 ? "Not Found" : "Bad Request",
                           contentType: json ? "application/json" : "application/xml", text: body)
    }
}

func jsonEscaped(_ text: String) -> String {
    var result = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        default:
            if scalar.value < 0x20 {
                result += String(format: "\\u%04x", scalar.value)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result
}

/// CUPI's one-criterion query, `(column is value)` or `(column startswith value)`, compared without
/// case. There is no quoting: the value is everything from after the operator's space to the
/// query's closing parenthesis, spaces and parentheses included (`(alias is ops (sales))` asks for
/// `ops (sales)`). Anything else is refused (400).
struct CUPIQuery: Equatable {
    var column: String
    var startsWith: Bool
    var value: String

    init?(_ text: String) {
        guard text.count >= 2, text.hasPrefix("("), text.hasSuffix(")") else { return nil }
        let inside = text.dropFirst().dropLast()
        guard let columnEnd = inside.firstIndex(of: " ") else { return nil }
        let afterColumn = inside[inside.index(after: columnEnd)...]
        guard let operatorEnd = afterColumn.firstIndex(of: " ") else { return nil }
        let operation = afterColumn[..<operatorEnd].lowercased()
        guard !inside[..<columnEnd].isEmpty, ["is", "startswith"].contains(operation) else { return nil }
        column = String(inside[..<columnEnd])
        startsWith = operation == "startswith"
        value = String(afterColumn[afterColumn.index(after: operatorEnd)...])
    }

    init(column: String, startsWith: Bool, value: String) {
        self.column = column
        self.startsWith = startsWith
        self.value = value
    }
}
