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

    /// Parses and checks `conninfo` (empty means "from the `PG*` variables").
    public init(conninfo: String, role: String? = nil, applicationName: String = "ucp") throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            var reason = "not a valid libpq connection string or URI"
            if let errorMessage {
                reason = String(cString: errorMessage).trimmingCharacters(in: .whitespacesAndNewlines)
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
        // libpq only checks the port when it connects, with a message that does not say where it came
        // from: check it here (one per host in a multi-host URL; empty means the default).
        for port in (values["port"] ?? "").split(separator: ",", omittingEmptySubsequences: false) where !port.isEmpty {
            guard port.allSatisfy(\.isASCII), let number = Int(port), (1...65535).contains(number) else {
                throw InputError(field: "DATABASE_URL",
                                 problem: "port \(InputError.quoted(String(port))) must be a whole number from 1 to 65535")
            }
        }
        let environment = ProcessInfo.processInfo.environment
        self.conninfo = conninfo
        self.role = role
        self.applicationName = applicationName
        self.host = values["host"] ?? values["hostaddr"] ?? environment["PGHOST"]
        self.port = values["port"] ?? environment["PGPORT"]
        self.database = values["dbname"] ?? environment["PGDATABASE"]
        self.user = values["user"] ?? environment["PGUSER"]
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

    /// Host, port, database and user: what an operator needs to know which database is used. No password.
    public var description: String {
        let hostText = host.map { $0.hasPrefix("/") ? "socket \($0)" : $0 } ?? "default host"
        let db = overrides["dbname"] ?? database ?? user ?? "default database"
        return "PostgreSQL \(db) on \(hostText)\(port.map { " port \($0)" } ?? "")\(user.map { " as \($0)" } ?? "")"
    }
}
