import AXL
import DeviceClients
import Foundation
import Inventory
import JobCatalog
import LDAP
import Postgres
import Queue

/// `device.test`: the seed's Test Connection. Sets the device's last test in progress, then success
/// with the version it read, or failure with the reason (authentication, TLS, timeout …).
public enum DeviceTestJob {
    @Sendable
    static func run(_ parameters: DeviceTest, _ context: JobContext) async throws {
        guard let name = context.job.target else { throw DeviceJobFailure("device: the test names no device") }
        let actor = "job \(context.job.id)"
        let owner = QueueStore.Held(id: context.job.id, attempt: context.job.attempt)
        try await context.database.withConnection { connection in
            let store = DeviceStore(connection)
            try await store.deviceTestRecord(name: name, state: .inProgress, message: nil, actor: actor, owner: owner)
            let result: Result<String, Error>
            do {
                let device = try await DeviceConnections.open(name: name, connection: connection, concurrency: 1)
                result = .success(try await test(device, connection: connection, context: context))
            } catch {
                result = .failure(error)
            }
            switch result {
            case .success(let message):
                try await store.deviceTestRecord(name: name, state: .success, message: message, actor: actor, owner: owner)
                try await context.log("Test connection of '\(name)' succeeded: \(message)")
            case .failure(let error):
                if (try? context.checkCancellation()) == nil {
                    try await store.deviceTestRecord(name: name, state: .failure, message: "canceled", actor: actor, owner: owner)
                    try context.checkCancellation()
                }
                let reason = DeviceJobFailure.reason(error, withOperation: false)
                try await store.deviceTestRecord(name: name, state: .failure, message: reason, actor: actor, owner: owner)
                throw DeviceJobFailure("Test connection of '\(name)' failed: \(reason)")
            }
        }
    }

    /// Authenticates and reads the version, by the device's kind. Returns what the operator sees.
    static func test(_ connections: DeviceConnections, connection: Connection, context: JobContext) async throws -> String {
        let device = connections.device
        switch device.kind {
        case .callProcessor, .presenceProcessor:
            let client = connections.axl(context: context)
            let version = try await client.ccmVersion()
            if DeviceConnections.isExpress(version) {
                throw DeviceJobFailure("\(version) is Cisco Unified CM Express, which is not supported")
            }
            return "\(device.kind.title) version \(version) (AXL \(client.version))"
        case .messageProcessor:
            let client = connections.cupi(context: context)
            let users = try await client.count("users")
            let product = try await client.product() ?? "Unity Connection"
            if DeviceConnections.isExpress(product) {
                throw DeviceJobFailure("\(product) is Cisco Unity Express, which is not supported")
            }
            return "\(product), \(users) users"
        case .directory:
            // Bind, read the root DSE, and read the user search base of every domain that uses the directory.
            guard let configuration = LDAPConfiguration(directory: device, password: connections.endpoint.password) else {
                throw DeviceJobFailure("device '\(device.name)': has no LDAP address")
            }
            let searchBases = try await DomainStore(connection).domainList()
                .filter { $0.directory == device.name }.compactMap(\.searchBase)
            let outcome = await LDAPConnectionTest.testConnection(configuration, searchBases: searchBases)
            guard outcome.succeeded else { throw DeviceJobFailure(outcome.message) }
            return outcome.message
        }
    }
}
