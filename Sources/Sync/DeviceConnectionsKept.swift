import DeviceClients
import Foundation
import Inventory
import Postgres
import Secrets
import Synchronization

extension DeviceConnections {
    /// Loads several devices and their passwords in one read (an order's call processor and
    /// message processor), refusing as `open` does. The devices are read every time (an operator's
    /// change is seen by the next job); a password is opened once per worker for each sealed value
    /// (a changed password is a new sealed value, opened then).
    public static func openAll(names: [String], connection: Connection, concurrency: Int) async throws -> [String: DeviceConnections] {
        let rows = try await DeviceStore(connection).devicesWithSealedPasswords(names: names)
        var opened: [String: DeviceConnections] = [:]
        for name in names {
            guard let (device, sealed) = rows.first(where: { $0.device.name == name }) else {
                throw DeviceJobFailure("device '\(name)': no such device")
            }
            guard let sealed else { throw DeviceJobFailure("device '\(name)': no password is stored") }
            let password: Secret
            if let known = openedPasswords.withLock({ $0[sealed] }) {
                password = known
            } else {
                do {
                    password = try SecretBox(key: try SecretKey.fromEnvironment()).openSecret(sealed)
                } catch let error as SecretsError {
                    throw DeviceJobFailure("device '\(name)': cannot open its password: \(error.message)")
                }
                openedPasswords.withLock { kept in
                    if kept.count >= 64 { kept.removeAll() }
                    kept[sealed] = password
                }
            }
            let endpoint = DeviceEndpoint(host: device.address, port: device.port, username: device.adminUser, password: password,
                                          verifyTLS: device.verifyTLS, caFile: device.caFile, concurrency: concurrency)
            opened[name] = DeviceConnections(device: device, endpoint: endpoint)
        }
        return opened
    }

    /// Passwords opened by `openAll`, by their sealed value.
    private static let openedPasswords = Mutex<[String: Secret]>([:])
}
