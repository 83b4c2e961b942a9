import Foundation

/// The directory side of "test connection" (seed 004: "Test Connection validates details entered as
/// part of Device Setup and gives a Success or Failure message"): bind, then read the root DSE and
/// the user search bases.
public enum LDAPConnectionTest {
    public struct Outcome: Sendable, Equatable {
        public var succeeded: Bool
        /// One line for the operator: what was reached, or what failed.
        public var message: String
    }

    /// Never throws: a failure is an outcome with its reason.
    public static func testConnection(_ configuration: LDAPConfiguration, searchBase: String?) async -> Outcome {
        await testConnection(configuration, searchBases: searchBase.map { [$0] } ?? [])
    }

    public static func testConnection(_ configuration: LDAPConfiguration, searchBases: [String]) async -> Outcome {
        do {
            let connection = try await LDAPConnection.connect(configuration)
            var vendor = ""
            if let root = try await connection.read("", attributes: ["vendorName", "vendorVersion", "supportedLDAPVersion", "+"]) {
                vendor = [root.first("vendorName"), root.first("vendorVersion")].compactMap { $0 }.joined(separator: " ")
            }
            var message = "bound to \(connection.endpoint.url)"
            if connection.endpoint != configuration.primary { message += " (the backup server; the primary did not answer)" }
            if !vendor.isEmpty { message += " (\(vendor))" }
            for searchBase in searchBases where !searchBase.isEmpty {
                guard try await connection.read(searchBase, attributes: ["1.1"]) != nil else {
                    return Outcome(succeeded: false, message: "\(message), but the search base '\(searchBase)' does not exist")
                }
                message += "; search base '\(searchBase)' readable"
            }
            return Outcome(succeeded: true, message: message)
        } catch {
            return Outcome(succeeded: false, message: "\(error)")
        }
    }
}
