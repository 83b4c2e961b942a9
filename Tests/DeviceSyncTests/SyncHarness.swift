import AXL
import Foundation
import Inventory
import Postgres
import Queue
import Secrets
import TestSupport
import Transport
import XCTest

/// `ucp devsim` as a child of one test: HTTPS with the certificate it writes, credentials of its own.
final class Simulator: @unchecked Sendable {
    let pid: pid_t
    let port: Int
    let certificate: String
    let user = "axladmin"
    let password: String
    let logPath: String

    private init(pid: pid_t, port: Int, certificate: String, password: String, logPath: String) {
        self.pid = pid
        self.port = port
        self.certificate = certificate
        self.password = password
        self.logPath = logPath
    }

    /// Starts `ucp devsim --users N FLAGS…` and waits for its ready line.
    static func start(users: Int, _ flags: [String] = []) throws -> Simulator {
        let directory = NSTemporaryDirectory() + "ucp-devsim-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let password = "sim-\(UInt32.random(in: 0...UInt32.max))"
        try Data((password + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/password"))
        let certificate = directory + "/cert.pem"
        let logPath = directory + "/devsim.log"
        // Until TestSupport starts the simulator, UCP_DEVSIM_BIN may name a ucp that has it.
        let binary = ProcessInfo.processInfo.environment["UCP_DEVSIM_BIN"] ?? PackagePaths.ucp
        let pid = try ChildProcess.spawn(
            [binary, "devsim", "--port", "0", "--users", String(users), "--user", "axladmin",
             "--password-file", directory + "/password", "--cert-out", certificate] + flags,
            outputPath: logPath)
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let range = log.range(of: "listening on https://127.0.0.1:") {
                let port = Int(log[range.upperBound...].prefix { $0.isNumber })!
                return Simulator(pid: pid, port: port, certificate: certificate, password: password, logPath: logPath)
            }
            if let status = ChildProcess.poll(pid) { throw TestFailure("ucp devsim exited (\(status)): \(log)") }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        ChildProcess.wait(pid)
        throw TestFailure("ucp devsim did not start")
    }

    func stop() {
        kill(pid, SIGKILL)
        ChildProcess.wait(pid)
    }

    /// Sends one AXL request as an administrator would (removeUser …); returns the HTTP status.
    func axl(_ operation: String, _ body: @escaping (inout XMLWriter) -> Void) throws -> Int {
        let connection = try HTTPClientConnection(HTTPConfiguration(caFile: certificate, username: user, password: password))
        return try connection.perform(
            .post, url: "https://127.0.0.1:\(port)/axl/",
            headers: ["Content-Type: text/xml", "SOAPAction: \(AXLVersion.latest.soapAction(operation))"],
            body: AXLEnvelope.request(.latest, operation, body: body)) { _ in true }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A migrated database, a secret key, a worker, and devices registered against simulators.
final class SyncHarness: @unchecked Sendable {
    let database: TestDatabase
    let processes: UCPProcesses
    let keyPath: String
    let box: SecretBox

    init() async throws {
        database = try await TestServer.freshDatabase()
        keyPath = NSTemporaryDirectory() + "ucp-key-\(database.name)"
        box = SecretBox(key: try SecretKey.generateFile(at: keyPath))
        processes = try UCPProcesses(database: database, environment: [SecretKey.environmentVariable: keyPath])
    }

    func startWorker() throws {
        try processes.start("worker", ["worker", "--concurrency", "4", "--name", "test-worker"])
    }

    /// Registers the simulator as a device of `kind` (with the right password unless `password` is given).
    func register(_ name: String, kind: DeviceKind, simulator: Simulator, password: String? = nil) async throws {
        try await DeviceStore(Connection(database.app), secretBox: box).deviceAdd(
            DeviceDraft(name: name, kind: kind, address: "127.0.0.1", port: simulator.port, adminUser: simulator.user,
                        caFile: simulator.certificate),
            password: Secret(password ?? simulator.password), actor: "test")
    }

    /// `ucp ARGS…` to completion.
    func ucp(_ arguments: [String]) throws -> CommandResult {
        try processes.run(arguments)
    }

    var objects: DeviceObjectStore { DeviceObjectStore(Connection(database.app)) }
    var queue: QueueStore { database.store() }

    /// Present objects of each type, for one device and kind.
    func counts(_ device: String, _ kind: DeviceSyncKind) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await objects.deviceObjectCounts(device: device, kind: kind) { counts[row.type] = row.present }
        return counts
    }

    func removed(_ device: String, _ kind: DeviceSyncKind) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await objects.deviceObjectCounts(device: device, kind: kind) where row.removed > 0 { counts[row.type] = row.removed }
        return counts
    }

    /// Submits a sync and waits for it through the CLI (`--wait`); returns the command's result and the job.
    func sync(_ kind: DeviceSyncKind, _ device: String) async throws -> (CommandResult, Job) {
        let result = try ucp(["submit", "sync", kind.rawValue, "--device", device, "--wait"])
        guard let idText = result.stdout.split(separator: " ").dropFirst().first, let id = Int64(idText),
              let job = try await queue.jobGet(id: id) else {
            throw TestFailure("no job in: \(result.stdout) \(result.stderr)")
        }
        return (result, job)
    }

    func stop() {
        processes.stopAll()
        unlink(keyPath)
    }
}
