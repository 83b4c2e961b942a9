import Inventory
import Postgres
import ScheduleRules

/// Builds the `InventoryCatalog` a plan or preview expands `all` and names against, from the database.
///
/// Call, message and presence processors and LDAP directories come from the `devices` table by kind,
/// domains from `domains`, each list ordered by name (the order `all` expands to); an LDAP directory
/// expands to the domains that synchronize users from it.
public struct InventoryCatalogSource: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    public func catalog() async throws -> InventoryCatalog {
        let devices = try await DeviceStore(connection).deviceList() // ORDER BY name
        func names(_ kind: DeviceKind) -> [String] { devices.filter { $0.kind == kind }.map(\.name) }
        let domains = try await DomainStore(connection).domainList() // ORDER BY name
        var ldapDomains: [String: [String]] = [:]
        for domain in domains where domain.mode == .authenticationAndSynchronization {
            if let directory = domain.directory { ldapDomains[directory, default: []].append(domain.name) }
        }
        return InventoryCatalog(
            callProcessors: names(.callProcessor),
            messageProcessors: names(.messageProcessor),
            presenceProcessors: names(.presenceProcessor),
            ldapDirectories: names(.directory),
            domains: domains.map(\.name),
            ldapDomainsByDirectory: ldapDomains)
    }
}
