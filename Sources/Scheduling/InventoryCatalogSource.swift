import Inventory
import Postgres
import Schedules

/// Builds the `InventoryCatalog` a plan or preview expands `all` and names against, from the database.
///
/// Call, message and presence processors come from the `devices` table by kind, each list ordered by
/// name (the order `all` expands to). LDAP directories and domains are not in the schema yet (no
/// directory or domain table exists), so their lists are empty: `ad.` and `domain.` lines plan nothing
/// and the plan warns about them. When those tables arrive, this is the one place to read them.
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
            domains: [])
    }
}
