import CLibPQ
import Foundation
import Runtime

/// Where to connect: a libpq connection string or URI from `DATABASE_URL`, or, when that is
/// unset, whatever the usual `PG*` variables say (libpq reads them itself).
public struct ConnectionConfiguration: Sendable, CustomStringConvertible {
    /// The connection string handed to libpq. May hold a password: never print it.
    let conninfo: String
    /// The role the session switches to after connecting (`SET ROLE`), so that processes run with
    /// the privileges the migrations granted to it rather than those of the login role.
    public var role: String?
    public var applicationName: String
    /// Settings libpq would take from the environment or the URI, parsed once for display.
    public let host: String?
    public let port: String?
    public let database: String?
    public let user: String?
    /// Which of several servers a session may use (`read-write`: the primary); nil when not set.
    public let targetSessionAttributes: String?

    /// Parses and checks `conninfo` (empty means "from the `PG*` variables").
    public init(conninfo: String, role: String? = nil, applicationName: String = "ucp") throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            var reason = "not a valid libpq connection string or URI"
            if let errorMessage {
                // libpq echoes the offending part raw, which may be the password: its quoted parts
                // are left out (all but one-character ones such as "="), the rest escaped to one line.
                reason = InputError.escaped(Self.withoutQuotedParts(String(cString: errorMessage)).trimmingCharacters(in: .whitespacesAndNewlines))
                PQfreemem(errorMessage)
            }
            throw PostgresError(kind: .invalidConfiguration, message: "DATABASE_URL: \(reason)")
        }
        defer { PQconninfoFree(options) }
        var values: [String: String] = [:]
        var cursor = options
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val { values[String(cString: keyword)] = String(cString: value) }
            cursor = cursor.advanced(by: 1)
        }
        try Self.checkHosts(values)
        let environment = ProcessInfo.processInfo.environment
        self.conninfo = conninfo
        self.role = role
        self.applicationName = applicationName
        self.host = values["host"] ?? values["hostaddr"] ?? environment["PGHOST"]
        self.port = values["port"] ?? environment["PGPORT"]
        self.database = values["dbname"] ?? environment["PGDATABASE"]
        self.user = values["user"] ?? environment["PGUSER"]
        self.targetSessionAttributes = values["target_session_attrs"] ?? environment["PGTARGETSESSIONATTRS"]
    }

    /// `message` with every quoted part longer than one character shown as `"…"`.
    static func withoutQuotedParts(_ message: String) -> String {
        let parts = message.split(separator: "\"", omittingEmptySubsequences: false)
        guard parts.count > 2 else { return message }
        return parts.enumerated().map { index, part in
            // Odd parts are inside quotes, unless the last quote is not closed.
            index % 2 == 1 && part.count > 1 && index < parts.count - 1 ? "…" : String(part)
        }.joined(separator: "\"")
    }

    /// The libpq values of `target_session_attrs` (libpq 14 and later): which server of a multi-host
    /// list a session may use. `read-write` is the one for a highly available pair: the primary.
    static let targetSessionAttributeValues = ["any", "read-write", "read-only", "primary", "standby", "prefer-standby"]

    /// What libpq only checks when it connects, with messages that do not say where the value came
    /// from: each port (one per host of a multi-host URL, or one for all; empty means the default),
    /// as many hosts as host addresses when both are listed, and `target_session_attrs`.
    private static func checkHosts(_ values: [String: String]) throws {
        func list(_ keyword: String) -> [Substring]? {
            values[keyword].map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        }
        let ports = list("port") ?? []
        for port in ports where !port.isEmpty {
            guard port.allSatisfy(\.isASCII), let number = Int(port), (1...65535).contains(number) else {
                throw InputError(field: "DATABASE_URL",
                                 problem: "port \(InputError.quoted(String(port))) must be a whole number from 1 to 65535")
            }
        }
        func counted(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
        let hosts = list("host")
        let addresses = list("hostaddr")
        if let hosts, let addresses, hosts.count != addresses.count {
            throw InputError(field: "DATABASE_URL", problem: "lists \(counted(hosts.count, "host")) and "
                             + "\(counted(addresses.count, "host address")); give one address per host")
        }
        // Without a host in the string, libpq takes PGHOST or its default: only a listed host is counted.
        if let servers = (hosts ?? addresses)?.count, ports.count > 1, ports.count != servers {
            throw InputError(field: "DATABASE_URL", problem: "lists \(counted(servers, "host")) and "
                             + "\(counted(ports.count, "port")); give one port for all hosts or one per host")
        }
        if let attributes = values["target_session_attrs"], !targetSessionAttributeValues.contains(attributes) {
            throw InputError(field: "DATABASE_URL", problem: "target_session_attrs \(InputError.quoted(attributes)) must be one of \(targetSessionAttributeValues.joined(separator: ", "))")
        }
    }

    /// The configuration from `DATABASE_URL`, or from the `PG*` variables; nil when neither names a server.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        role: String? = nil
    ) throws -> ConnectionConfiguration? {
        if let url = environment["DATABASE_URL"] {
            return try ConnectionConfiguration(conninfo: url, role: role)
        }
        let named = ["PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"]
        if named.contains(where: { environment[$0] != nil }) {
            return try ConnectionConfiguration(conninfo: "", role: role)
        }
        return nil
    }

    /// Keyword/value pairs that take precedence over those of the connection string.
    public private(set) var overrides: [String: String] = [:]

    /// The same server and credentials, another database.
    public func with(database: String) -> ConnectionConfiguration {
        var copy = self
        copy.overrides["dbname"] = database
        return copy
    }

    /// The same server, its sessions named `name` in `pg_stat_activity`, whatever the connection
    /// string says: the coordinator finds a lost worker's sessions by that name.
    public func named(_ name: String) -> ConnectionConfiguration {
        var copy = self
        copy.applicationName = name
        copy.overrides["application_name"] = name
        return copy
    }

    /// Host, port, database and user: what an operator needs to know which database is used. No password.
    /// Several servers (a multi-host URL) are named in libpq's order of trying, each with its port.
    public var description: String {
        let db = overrides["dbname"] ?? database ?? user ?? "default database"
        let hosts = host.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? [""]
        let ports = port.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
        let servers = hosts.indices.map { index -> String in
            let name = hosts[index]
            let hostText = name.isEmpty ? "default host" : name.hasPrefix("/") ? "socket \(name)" : name
            let port = ports.count == hosts.count ? ports[index] : ports.count == 1 ? ports[0] : ""
            return hostText + (port.isEmpty ? "" : " port \(port)")
        }
        let attributes = targetSessionAttributes.map { " (\($0))" } ?? ""
        return "PostgreSQL \(db) on \(servers.joined(separator: " or "))\(user.map { " as \($0)" } ?? "")\(attributes)"
    }
}
