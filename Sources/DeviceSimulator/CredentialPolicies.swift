/// The credential policies the simulated Unified CM holds, and how a user carries them: the
/// `passwordCredentials` and `pinCredentials` of RUser (AXLSoap.xsd 12.5), kept as the policy's name.
/// Not settable on addUser ("Not Applicable for Add"): a new user gets the default policy; an
/// updateUser naming a policy that does not exist is refused.
enum CredentialPolicies {
    static let defaultName = "Default Credential Policy"
    static let names = [defaultName, "CP_Strong", "CP_Kiosk"]

    /// The User fields that hold a policy, the element that names it inside, in the schema's place
    /// (before `status` in RUser).
    static let fields = [("passwordCredentials", "pwdCredPolicyName"), ("pinCredentials", "pinCredPolicyName")]

    static func nameElement(_ field: String) -> String? { fields.first { $0.0 == field }?.1 }

    static func withFields(_ fields: [String]) -> [String] {
        guard let status = fields.firstIndex(of: "status") else { return fields + Self.fields.map(\.0) }
        var fields = fields
        fields.insert(contentsOf: Self.fields.map(\.0), at: status)
        return fields
    }

    /// The fault of an update naming an unknown policy, or nil.
    static func unknown(_ name: String) -> String? {
        names.contains { $0.lowercased() == name.lowercased() } ? nil : "Item not valid: The specified Credential Policy '\(name)' was not found"
    }

    /// An added user's policies: the default ones, whatever the add named (not applicable for add).
    static func onAdd(_ values: [Int: String], _ table: ObjectTable) -> [Int: String] {
        var values = values
        for (field, _) in fields { if let index = table.fieldIndex[field] { values[index] = defaultName } }
        return values
    }

    /// The fault message of an update naming an unknown policy, or nil.
    static func unknown(in values: [Int: String], _ table: ObjectTable) -> String? {
        for (field, _) in fields {
            if let index = table.fieldIndex[field], let name = values[index], let problem = unknown(name) { return problem }
        }
        return nil
    }
}
