import AXL
import Foundation
import Postgres
import Runtime
import TestSupport

/// One HTTP exchange with the simulator, through the curl program (the project's own client is not
/// what these tests check): the status and the body.
struct Answer {
    let status: Int
    let body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The AXL fault in the body, if it is one.
    var fault: AXLFault? { try? AXLFaultReader.fault(in: body, operation: "") }
}

/// A request for `Exchange.run`.
struct Request {
    var method = "POST"
    var path = "/axl/"
    var headers: [String] = []
    var body: [UInt8]?
    /// Basic credentials (false: none, to see the 401).
    var authenticate = true

    /// An AXL request: the body of the version, its SOAPAction.
    static func axl(_ operation: String, version: AXLVersion = .latest, soapAction: String? = nil,
                    _ write: (inout XMLWriter) -> Void = { _ in }) -> Request {
        Request(headers: ["Content-Type: text/xml; charset=utf-8", "SOAPAction: " + (soapAction ?? version.soapAction(operation))],
                body: AXLEnvelope.request(version, operation, body: write))
    }

    static func list(_ operation: String, criteria: [(String, String)], tags: [String], skip: Int? = nil, first: Int? = nil) -> Request {
        Request(headers: ["Content-Type: text/xml; charset=utf-8", "SOAPAction: " + AXLVersion.latest.soapAction(operation)],
                body: AXLEnvelope.listRequest(.latest, operation, searchCriteria: criteria, returnedTags: tags, skip: skip, first: first))
    }

    static func get(_ operation: String, _ keys: [(String, String)]) -> Request {
        Request(headers: ["Content-Type: text/xml; charset=utf-8", "SOAPAction: " + AXLVersion.latest.soapAction(operation)],
                body: AXLEnvelope.getRequest(.latest, operation, keys: keys))
    }

    static func cupi(_ path: String, method: String = "GET", json: Bool = true, body: String? = nil) -> Request {
        var headers = ["Accept: " + (json ? "application/json" : "application/xml")]
        if body != nil { headers.append("Content-Type: " + (json ? "application/json" : "application/xml")) }
        return Request(method: method, path: path, headers: headers, body: body.map { Array($0.utf8) })
    }
}

enum Exchange {
    /// Runs the requests in order over one curl process (one kept-alive connection), returning the answers.
    static func run(_ simulator: DeviceSimulatorProcess, _ requests: [Request], timeout: Int = 60,
                    extraCurlOptions: [String] = []) throws -> [Answer] {
        let folder = simulator.directory + "/exchange-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // The config file carries the credentials: nothing secret on curl's command line.
        var config: [String] = []
        for (index, request) in requests.enumerated() {
            if index > 0 { config.append("next") }
            config.append("url = \"\(simulator.baseURL)\(request.path)\"")
            config.append("request = \"\(request.method)\"")
            config.append("output = \"\(folder)/\(index).out\"")
            if let certificate = simulator.certificatePath { config.append("cacert = \"\(certificate)\"") }
            if request.authenticate { config.append("user = \"\(simulator.user):\(simulator.password)\"") }
            for header in request.headers { config.append("header = \"\(header.replacingOccurrences(of: "\"", with: "\\\""))\"") }
            if let body = request.body {
                _ = FileManager.default.createFile(atPath: "\(folder)/\(index).in", contents: Data(body))
                config.append("data-binary = \"@\(folder)/\(index).in\"")
            }
            config.append("write-out = \"%{http_code}\\n\"")
            config.append("max-time = \(timeout)")
            config.append("silent")
        }
        try config.joined(separator: "\n").write(toFile: folder + "/config", atomically: true, encoding: .utf8)
        let (_, output) = try ChildProcess.run(["curl", "-K", folder + "/config"] + extraCurlOptions)
        let codes = output.split(separator: "\n").compactMap { Int($0) }
        return requests.indices.map { index in
            let body = (try? Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(index).out"))).map(Array.init) ?? []
            return Answer(status: index < codes.count ? codes[index] : 0, body: body)
        }
    }

    static func one(_ simulator: DeviceSimulatorProcess, _ request: Request, timeout: Int = 60) throws -> Answer {
        try run(simulator, [request], timeout: timeout)[0]
    }
}

/// The items of a list or get answer: each item element's uuid and its direct text children.
final class ItemCollector: XMLEventHandler {
    let itemElement: String
    var items: [(uuid: String, fields: [String: String])] = []
    private var depth = 0
    private var itemDepth: Int?

    init(itemElement: String) {
        self.itemElement = itemElement
    }

    func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) {
        depth += 1
        if itemDepth == nil, name == itemElement {
            itemDepth = depth
            items.append((attributes["uuid"] ?? "", [:]))
        }
    }

    func endElement(_ name: String, text: String) {
        if let itemDepth {
            if depth == itemDepth + 1 { items[items.count - 1].fields[name] = text }
            if depth == itemDepth { self.itemDepth = nil }
        }
        depth -= 1
    }

    static func items(_ answer: Answer, _ itemElement: String) throws -> [(uuid: String, fields: [String: String])] {
        let collector = ItemCollector(itemElement: itemElement)
        try XMLEventReader.parse(answer.body, handler: collector)
        return collector.items
    }
}
