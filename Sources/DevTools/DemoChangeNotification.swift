import AXL
import DeviceClients
import Foundation
import Inventory
import Postgres
import Runtime
import Secrets

/// The demo's change-notification part (issue 13): demo-cucm polled every second, a user changed on
/// the simulator through AXL as an administrator would, and the change seen arriving in the inventory
/// by the coordinator's polls, with the device's change-notification state and log; the user's record
/// in the domain of the domain part follows in the same poll.
enum DemoChangeNotification {
    static let device = "demo-cucm"
    /// A user of site 1: one the domain part's domain holds.
    static let userID = DemoDomainSync.user

    static func run(database: ConnectionConfiguration, port: Int, logFolder: String, environment: [String: String]) async throws -> Bool {
        print("\nChange notification: a change made on the simulator arrives in the inventory without a synchronization")
        do {
            try DemoSchedule.step(["device", "cn", device, "--interval", "1s", "--actor", "demo"], environment: environment)
            let password = try String(contentsOfFile: DemoDevices.passwordFile(logFolder), encoding: .utf8)
                .split(separator: "\n").first.map(String.init) ?? ""
            let endpoint = DeviceEndpoint(host: "127.0.0.1", port: port, username: DemoDevices.adminUser, password: Secret(password),
                                          caFile: DemoDevices.certificateFile(logFolder), concurrency: 1)
            let client = AXLClient(endpoint: endpoint, version: .latest)
            let department = "Changed at " + PostgresTimestamp.format(Date())
            print("  updateUser \(userID) on the simulator (AXL): department = \(department)")
            _ = try await client.fetchRaw("updateUser", body: AXLEnvelope.request(.latest, "updateUser") { writer in
                writer.element("userid", userID)
                writer.element("department", department)
            })
            let objects = DeviceObjectStore(Connection(database))
            let started = ContinuousClock.now
            while true {
                let user = try await objects.deviceObjectList(device: device, type: "User", kind: .user, limit: 100_000)
                    .first { $0.key == userID }
                if user?.attributes.contains(department) == true { break }
                guard ContinuousClock.now - started < .seconds(30) else {
                    print("  the change did not arrive within 30 s")
                    return false
                }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            let elapsed = ContinuousClock.now - started
            print("  arrived in the inventory after \(DemoReport.seconds(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18))")
            try DemoSchedule.step(["device", "cn", device], environment: environment)
            // The user record (domain demo-services, made by the domain part) followed in the same poll.
            let shown = try ChildProcess.run([ChildProcess.currentExecutable, "users", "show", userID], environment: environment)
            print("  $ ucp users show \(userID)")
            for line in shown.output.split(separator: "\n") where !line.hasPrefix("ucp: using the embedded default") { print("    " + line) }
            try DemoSchedule.step(["device", "cn", device, "--interval", "300s", "--actor", "demo"], environment: environment, quietly: true)
            return true
        } catch let failure as DemoSchedule.DemoStepError {
            print("  \(failure)")
            return false
        }
    }
}
