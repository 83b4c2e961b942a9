import Foundation
import HTTPAPI
import Postgres
import Runtime

/// The demo's status page: `ucp serve` on a free loopback port beside the coordinator and the workers,
/// and a viewer token to sign in with, kept in a file only the user can read (the token itself is never
/// printed). The token is revoked when the demo ends.
enum DemoStatusPage {
    static let serveName = "demo-serve"

    /// The file holding the viewer token (mode 0600).
    static func tokenFile(_ logFolder: String) -> String { "\(logFolder)/viewer-token" }

    /// Makes the viewer token, starts `ucp serve --listen 127.0.0.1:0` and prints the page's address
    /// once the server has bound its port. Returns the token's name (to revoke at the end).
    static func start(database: ConnectionConfiguration, processes: DemoProcesses) async throws -> String {
        let name = "demo-viewer-\(Int(Date().timeIntervalSince1970))-\(getpid())"
        let secret = try await TokenStore(Connection(database)).tokenCreate(name: name, role: .viewer, actor: "demo").secret
        let path = tokenFile(processes.logFolder)
        guard FileManager.default.createFile(atPath: path, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw DemoFailure("status page: cannot write \(path)") }
        let serve = try await processes.spawn(name: serveName, arguments: ["serve", "--listen", "127.0.0.1:0", "--connections", "2"])
        let port = try await processes.waitForLine(of: serve, after: "serving on 127.0.0.1:", what: "ucp serve")
        print("Status page: http://127.0.0.1:\(port)/ — sign in with the viewer token in \(path) (mode 0600; "
              + "the API takes it too: curl -H \"Authorization: Bearer $(cat \(path))\" http://127.0.0.1:\(port)/api/v1/status)")
        return name
    }

    /// Revokes the demo's viewer token (the server is stopped with the other processes).
    static func stop(database: ConnectionConfiguration, token: String) async {
        _ = try? await TokenStore(Connection(database)).tokenRevoke(name: token, actor: "demo")
    }
}
