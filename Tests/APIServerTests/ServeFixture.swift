import Foundation
import Postgres
import TestSupport
import Transport
import XCTest

/// One answer of the server: status, body, and the body read as a JSON object when it is one.
struct APIAnswer {
    var status: Int
    var body: String

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
    var detail: String { json["detail"] as? String ?? "" }
}

/// `ucp serve` as a child process on a fresh database, on a port it picks itself (it logs which),
/// and a client for it over loopback (the project's libcurl client).
final class ServeFixture: @unchecked Sendable {
    let database: TestDatabase
    let processes: UCPProcesses
    let owner: Connection
    private(set) var port = 0

    /// The secret key file of a fixture made `sealing()`, removed with the fixture.
    private var keyFile: String?

    init(environment: [String: String] = [:]) async throws {
        database = try await TestServer.freshDatabase()
        // Debug logging, so that the test that looks for tokens in the log reads everything the server says.
        processes = try UCPProcesses(database: database, environment: ["UCP_LOG_LEVEL": "trace"].merging(environment) { $1 })
        owner = Connection(database.owner)
    }

    /// A fixture whose processes seal passwords (devices, mail) with a fresh secret key.
    static func sealing() async throws -> ServeFixture {
        let keyFile = NSTemporaryDirectory() + "ucp-key-\(UUID().uuidString)"
        let fixture = try await ServeFixture(environment: ["UCP_SECRET_KEY_FILE": keyFile])
        fixture.keyFile = keyFile
        XCTAssertEqual(try fixture.processes.run(["secret-key", "generate", "--file", keyFile]).status, 0)
        return fixture
    }

    deinit {
        if let keyFile { unlink(keyFile) }
    }

    /// Starts the server and waits until it says where it listens.
    func start(_ extra: [String] = []) async throws {
        try processes.start("serve", ["serve", "--listen", "127.0.0.1:0"] + extra)
        let started = try await eventually(timeout: 60) { self.listeningPort() != nil }
        XCTAssertTrue(started, "ucp serve did not start: \(processes.log("serve"))")
        port = listeningPort() ?? 0
    }

    private func listeningPort() -> Int? {
        let log = processes.log("serve")
        guard let range = log.range(of: "serving on 127.0.0.1:") else { return nil }
        return Int(log[range.upperBound...].prefix { $0.isNumber })
    }

    /// A new token of `role`, made as operators make them (`ucp token create`); its secret.
    func token(_ name: String, role: String) throws -> String {
        let made = try processes.run(["token", "create", "--name", name, "--role", role])
        XCTAssertEqual(made.status, 0, made.stderr)
        return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func send(_ method: HTTPClientConnection.Method, _ path: String, token: String? = nil, body: String? = nil,
              headers: [String] = []) throws -> APIAnswer {
        let client = try HTTPClientConnection(HTTPConfiguration(connectTimeout: 10, timeout: 60))
        var all = headers
        if let token { all.append("Authorization: Bearer \(token)") }
        if body != nil { all.append("Content-Type: application/json") }
        var received: [UInt8] = []
        let status = try client.perform(method, url: "http://127.0.0.1:\(port)\(path)", headers: all, body: Array((body ?? "").utf8)) { chunk in
            received.append(contentsOf: chunk)
            return true
        }
        return APIAnswer(status: status, body: String(decoding: received, as: UTF8.self))
    }

    /// The answer's headers (names lower case), read by curl from a config file (so the token is not
    /// on a command line): the project's client does not hand headers back.
    func headers(_ method: HTTPClientConnection.Method, _ path: String, token: String, body: String? = nil) throws -> [String: String] {
        let folder = NSTemporaryDirectory() + "ucp-headers-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var config = ["url = \"http://127.0.0.1:\(port)\(path)\"", "request = \"\(method.rawValue)\"",
                      "header = \"Authorization: Bearer \(token)\"", "dump-header = \"\(folder)/headers\"",
                      "output = \"\(folder)/body\"", "silent", "max-time = 60"]
        if let body {
            try body.write(toFile: folder + "/request", atomically: true, encoding: .utf8)
            config += ["header = \"Content-Type: application/json\"", "data-binary = \"@\(folder)/request\""]
        }
        try config.joined(separator: "\n").write(toFile: folder + "/config", atomically: true, encoding: .utf8)
        _ = try CommandResult.run(["curl", "-K", folder + "/config"], environment: ProcessInfo.processInfo.environment)
        let dump = try String(contentsOfFile: folder + "/headers", encoding: .utf8)
        var headers: [String: String] = [:]
        for line in dump.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return headers
    }

    /// Rows that a refused request must not have added: jobs, audit lines, schedules, tokens, idempotency keys, settings, orders.
    func writes() async throws -> [String: Int] {
        let row = try await owner.query(Statement("", """
            SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM audit_log) AS audit,
                   (SELECT count(*) FROM schedules) AS schedules, (SELECT count(*) FROM schedule_runs) AS runs,
                   (SELECT count(*) FROM devices) AS devices, (SELECT count(*) FROM domains) AS domains,
                   (SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL) AS tokens,
                   (SELECT count(*) FROM api_idempotency_keys) AS keys, (SELECT count(*) FROM settings) AS settings,
                   (SELECT count(*) FROM orders) AS orders,
                   (SELECT active FROM ucp_maintenance_state()) AS maintenance
            """)).first!
        var counts: [String: Int] = [:]
        for name in ["jobs", "audit", "schedules", "runs", "devices", "domains", "tokens", "keys", "settings", "orders"] {
            counts[name] = Int(try row.decode(name) as Int64)
        }
        counts["maintenance"] = try row.decode("maintenance") as Bool ? 1 : 0
        return counts
    }

    func stop() -> Int32? {
        processes.kill("serve", signal: SIGTERM)
        return processes.waitForExit("serve")
    }
}
