import Inventory
import Postgres
import Schedules

/// Builds the `InventoryCatalog` a plan or preview expands `all` and names against, from the database.
///
/// Call, message and presence processors come from the `devices` table by kind, domains from
/// `domains`, each list ordered by name (the order `all` expands to). `ad.` lines stay empty (they
/// plan nothing and the plan warns): an LDAP synchronization runs per domain, so which names `ad.all`
/// and `ad.NAME` should expand to (directories, or the domains synchronized from them) is still open.
public struct InventoryCatalogSource: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    public func catalog() async throws -> InventoryCatalog {
        let devices = try await DeviceStore(connection).deviceList() // ORDER BY name
        func names(_ kind: DeviceKind) -> [String] { devices.filter { $0.kind == kind }.map(\.name) }
        return InventoryCatalog(
            callProcessors: names(.callProcessor),
            messageProcessors: names(.messageProcessor),
            presenceProcessors: names(.presenceProcessor),
            ldapDirectories: [],
            domains: try await DomainStore(connection).domainList().map(\.name))
    }
}
