import AXL
import Foundation
import Inventory
import Postgres
import Queue
import Secrets
import TestSupport
import Transport
import XCTest

extension DeviceSimulatorProcess {
    /// Sends one AXL request as an administrator would (removeUser …); returns the HTTP status.
    func axl(_ operation: String, _ body: @escaping (inout XMLWriter) -> Void) throws -> Int {
        let connection = try HTTPClientConnection(HTTPConfiguration(caFile: certificatePath, username: user, password: password))
        return try connection.perform(
            .post, url: axlURL, headers: ["Content-Type: text/xml", "SOAPAction: \(AXLVersion.latest.soapAction(operation))"],
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

    static let standInDevice = "stand-in-device"

    func startWorker() throws {
        // Syncs of `standInDevice` run the stand-in; every other target runs the real sync.
        try processes.start("worker", ["worker", "--concurrency", "4", "--name", "test-worker",
                                       "--stand-in-sync", "\(Self.standInDevice)=seconds:0.2"])
    }

    /// Registers the simulator as a device of `kind` (with the right password unless `password` is given).
    func register(_ name: String, kind: DeviceKind, simulator: DeviceSimulatorProcess, password: String? = nil) async throws {
        try await DeviceStore(Connection(database.app), secretBox: box).deviceAdd(
            DeviceDraft(name: name, kind: kind, address: "127.0.0.1", port: simulator.port, adminUser: simulator.user,
                        caFile: simulator.certificatePath),
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
