import APIServer
import Foundation
import HTTPAPI
import Logging
import Postgres
import TestSupport
import XCTest

/// openapi/ucp.yaml describes exactly the routes the server answers, each with the role the route
/// table gives it (`x-ucp-role`), and the open route alone without security.
final class OpenAPIDocumentTests: XCTestCase {
    /// `METHOD path` → role, read from the document's layout: a path at two spaces under `paths:`, its
    /// methods at four, each operation's `x-ucp-role` inside it.
    func documentedRoutes() throws -> [String: String] {
        let text = try String(contentsOfFile: PackagePaths.root + "/openapi/ucp.yaml", encoding: .utf8)
        var routes: [String: String] = [:]
        var inPaths = false
        var path: String?
        var operation: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line == "paths:" { inPaths = true; continue }
            if inPaths, !line.isEmpty, !line.hasPrefix(" ") { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
                operation = nil
            } else if let method = ["get", "post", "put", "patch", "delete"].first(where: { line == "    \($0):" }), let path {
                operation = "\(method.uppercased()) \(path)"
                routes[operation!] = "?"
            } else if let operation, line.hasPrefix("      x-ucp-role: ") {
                routes[operation] = String(line.dropFirst("      x-ucp-role: ".count))
            }
        }
        return routes
    }

    func testTheDocumentTheServerAndThePolicyAgree() throws {
        let documented = try documentedRoutes()
        let policy = Dictionary(uniqueKeysWithValues: AccessPolicy.routes.map { ("\($0.method) \($0.path)", $0.role?.rawValue ?? "none") })
        XCTAssertEqual(documented, policy, "openapi/ucp.yaml and AccessPolicy.routes")
        let server = APIServer(configuration: .init(listen: .init(host: "127.0.0.1", port: 0), databaseDescription: "none"),
                               database: try ConnectionConfiguration(conninfo: "host=/nonexistent"), readiness: { nil },
                               logger: Logger(label: "test"))
        XCTAssertEqual(Set(server.servedRoutes), Set(documented.keys), "the server's routes and openapi/ucp.yaml")
    }
}
