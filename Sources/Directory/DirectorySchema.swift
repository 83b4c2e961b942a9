import Runtime

/// The directory products the seed supports ("LDAP and ACS Server Configuration Fields"). The raw
/// values are what `devices.directory_type` stores and what operators type (`--server-type`).
public enum DirectoryServerType: String, CaseIterable, Hashable, Sendable, Codable {
    case activeDirectory = "ad"
    /// Microsoft ADAM / Active Directory Lightweight Directory Services.
    case adam = "adam"
    case openLDAP = "openldap"
    case oracle = "oracle"

    public var title: String {
        switch self {
        case .activeDirectory: return "Microsoft Active Directory"
        case .adam: return "Microsoft ADAM / Lightweight Directory Services"
        case .openLDAP: return "OpenLDAP"
        case .oracle: return "Oracle Directory"
        }
    }

    /// AD and ADAM/LDS share Microsoft's schema (ipPhone, userPrincipalName, middleName, …).
    public var isMicrosoft: Bool { self == .activeDirectory || self == .adam }

    /// Seed: "Sync Inactive (Disabled) Users … Applicable only for Microsoft Active Directory server or
    /// Microsoft ADAM or Lightweight Directory Services."
    public var canSyncInactiveUsers: Bool { isMicrosoft }

    /// Accepts the stored names in any case.
    public init?(text: String) {
        self.init(rawValue: text.lowercased())
    }

    /// The object-class part of every user search: person objects, never computers or groups.
    /// AD and ADAM/LDS: `(objectClass=user)` without computers (Unified CM's own AD filter does the
    /// same); OpenLDAP and Oracle: `(objectClass=inetOrgPerson)`.
    public var personFilter: LDAPFilter {
        isMicrosoft
            ? .and([.equal("objectClass", "user"), .not(.equal("objectClass", "computer"))])
            : .equal("objectClass", "inetOrgPerson")
    }

    /// What keeps disabled accounts out when "sync inactive users" is off (nil: the type has no
    /// disabled flag the seed knows). AD: `userAccountControl` bit 2 (ACCOUNTDISABLE) through the
    /// bitwise-AND matching rule; ADAM/LDS: its own `msDS-UserAccountDisabled` flag.
    public var enabledAccountsFilter: LDAPFilter? {
        switch self {
        case .activeDirectory:
            return .not(.extensible(LDAPExtensibleMatch(attribute: "userAccountControl", rule: "1.2.840.113556.1.4.803", value: "2")))
        case .adam:
            return .not(.equal("msDS-UserAccountDisabled", "TRUE"))
        case .openLDAP, .oracle:
            return nil
        }
    }

    /// The choices as operators type them: `ad, adam, openldap or oracle`.
    public static let choicesText = "ad (Active Directory), adam (ADAM / LDS), openldap or oracle (Oracle Directory)"
}

/// How a directory connection is secured: the URL scheme, or plain LDAP upgraded with StartTLS.
public enum LDAPSecurity: String, CaseIterable, Hashable, Sendable, Codable {
    case ldap
    case ldaps
    case startTLS = "starttls"

    public init?(text: String) {
        self.init(rawValue: text.lowercased())
    }

    /// Seed: 389, or 636 with SSL; the Global Catalog listens on 3268 (3269 with SSL).
    public var defaultPort: Int { self == .ldaps ? 636 : 389 }

    /// The URL scheme libldap takes (StartTLS starts on `ldap://`).
    public var scheme: String { self == .ldaps ? "ldaps" : "ldap" }

    /// Ports that only make sense with one kind of transport, by the seed's port table.
    public static let sslPorts: Set<Int> = [636, 3269]
    public static let plainPorts: Set<Int> = [389, 3268]
}

/// The attributes a server type does not have, per the seed and the domain brief (§5.2): one table.
public enum DirectorySchema {
    private static let microsoft: Set<DirectoryServerType> = [.activeDirectory, .adam]
    private static let others: Set<DirectoryServerType> = [.adam, .openLDAP, .oracle]
    private static let inetOrgPerson: Set<DirectoryServerType> = [.openLDAP, .oracle]

    /// Attributes limited to some server types, by lowercased name; any other attribute is on all.
    /// Seed: sAMAccountName for AD, "uid is listed … instead of sAMAccountName" for ADAM/LDS, Oracle and
    /// OpenLDAP; "msRTCSIP-primaryuseraddress, userPrincipalName, ipPhone number, middlename" are not
    /// supported for OpenLDAP and Oracle. Department, company and street differ by schema
    /// (inetOrgPerson has departmentNumber, o and street).
    static let limited: [String: Set<DirectoryServerType>] = [
        "samaccountname": [.activeDirectory],
        "uid": others,
        "userprincipalname": microsoft,
        "ipphone": microsoft,
        "middlename": microsoft,
        "msrtcsip-primaryuseraddress": microsoft,
        "department": microsoft,
        "company": microsoft,
        "streetaddress": microsoft,
        "departmentnumber": inetOrgPerson,
        "o": inetOrgPerson,
        "street": inetOrgPerson,
    ]

    public static func supports(_ type: DirectoryServerType, attribute: String) -> Bool {
        limited[attribute.lowercased()]?.contains(type) ?? true
    }
}

/// A user field UCProvision keeps, and the attribute it is read from (Table 6, "LDAP Field Mapping").
public enum UserField: String, CaseIterable, Hashable, Sendable, Codable {
    case userID = "user_id"
    case firstName = "first_name"
    case middleName = "middle_name"
    case lastName = "last_name"
    case email
    case phone
    case directoryURI = "directory_uri"
    case managerID = "manager_id"
    case department
    case title
    case homeNumber = "home_number"
    case mobileNumber = "mobile_number"
    case pagerNumber = "pager_number"
}

/// The five user fields whose attribute the operator chooses (Table 5, "Field Mapping").
public enum MappedField: String, CaseIterable, Hashable, Sendable {
    case userID = "user_id"
    case phone
    case email
    case middleName = "middle_name"
    case directoryURI = "directory_uri"

    /// The setting's name in messages and on the command line (`--user-id-attribute`).
    public var settingName: String { rawValue + "_attribute" }

    /// Every choice the seed gives, in its order; `none` only for the directory URI.
    public var choices: [String] {
        switch self {
        case .userID: return ["sAMAccountName", "uid", "mail", "employeeNumber", "telephoneNumber", "userPrincipalName"]
        case .phone: return ["telephoneNumber", "ipPhone"]
        case .email: return ["mail", "sAMAccountName"]
        case .middleName: return ["middleName", "initials"]
        case .directoryURI: return ["mail", "msRTCSIP-PrimaryUserAddress", "none"]
        }
    }

    /// The choices a server type offers.
    public func choices(for type: DirectoryServerType) -> [String] {
        choices.filter { $0 == "none" || DirectorySchema.supports(type, attribute: $0) }
    }

    /// What the domain uses when the operator chose nothing.
    public func defaultChoice(for type: DirectoryServerType) -> String {
        switch self {
        case .userID: return type == .activeDirectory ? "sAMAccountName" : "uid"
        case .phone: return "telephoneNumber"
        case .email: return "mail"
        case .middleName: return type.isMicrosoft ? "middleName" : "initials"
        case .directoryURI: return "none"
        }
    }

    /// The seed's spelling of a choice typed in any case; nil when it is not one of the choices.
    public func canonical(_ text: String) -> String? {
        choices.first { $0.lowercased() == text.lowercased() }
    }

    /// Checks a choice (any case) for the field; with a server type, also that the type has it.
    /// Returns the seed's spelling.
    public func validate(_ text: String, for type: DirectoryServerType?) throws(InputError) -> String {
        guard let choice = canonical(text) else {
            throw InputError(field: settingName, problem: "'\(text)' is not a choice (choose \(Self.list(choices)))")
        }
        if let type, !choices(for: type).contains(choice) {
            throw InputError(field: settingName,
                                      problem: "\(choice) is not supported for \(type.title) (choose \(Self.list(choices(for: type))))")
        }
        return choice
    }

    static func list(_ items: [String]) -> String {
        items.count <= 1 ? items.joined() : items.dropLast().joined(separator: ", ") + " or " + items.last!
    }
}

/// The operator's field-mapping choices; nil means the server type's default (`MappedField.defaultChoice`).
public struct FieldMappingChoices: Hashable, Sendable {
    public var userID: String?
    public var phone: String?
    public var email: String?
    public var middleName: String?
    public var directoryURI: String?

    public init(userID: String? = nil, phone: String? = nil, email: String? = nil, middleName: String? = nil,
                directoryURI: String? = nil) {
        self.userID = userID
        self.phone = phone
        self.email = email
        self.middleName = middleName
        self.directoryURI = directoryURI
    }

    public subscript(field: MappedField) -> String? {
        get {
            switch field {
            case .userID: return userID
            case .phone: return phone
            case .email: return email
            case .middleName: return middleName
            case .directoryURI: return directoryURI
            }
        }
        set {
            switch field {
            case .userID: userID = newValue
            case .phone: phone = newValue
            case .email: email = newValue
            case .middleName: middleName = newValue
            case .directoryURI: directoryURI = newValue
            }
        }
    }

    /// Each explicit choice checked (against the server type when there is one) and spelled as the seed does.
    public func validated(for type: DirectoryServerType?) throws(InputError) -> FieldMappingChoices {
        var checked = self
        for field in MappedField.allCases {
            if let choice = self[field] { checked[field] = try field.validate(choice, for: type) }
        }
        return checked
    }

    /// The attribute for every user field, defaults filled in for the server type.
    public func resolved(for type: DirectoryServerType) -> FieldMapping {
        func choice(_ field: MappedField) -> String { self[field] ?? field.defaultChoice(for: type) }
        let uri = choice(.directoryURI)
        return FieldMapping(serverType: type, userID: choice(.userID), phone: choice(.phone), email: choice(.email),
                            middleName: choice(.middleName), directoryURI: uri == "none" ? nil : uri)
    }
}

/// Which attribute each user field is read from, for one server type: what a sync requests and reads.
public struct FieldMapping: Hashable, Sendable {
    public let serverType: DirectoryServerType
    public let userID: String
    public let phone: String
    public let email: String
    public let middleName: String
    /// nil: the directory URI is not synchronized ("none").
    public let directoryURI: String?

    /// The attribute a user field is read from; nil for a directory URI mapped to none.
    public func attribute(for field: UserField) -> String? {
        switch field {
        case .userID: return userID
        case .firstName: return "givenName"
        case .middleName: return middleName
        case .lastName: return "sn"
        case .email: return email
        case .phone: return phone
        case .directoryURI: return directoryURI
        case .managerID: return "manager"
        case .department: return serverType.isMicrosoft ? "department" : "departmentNumber"
        case .title: return "title"
        case .homeNumber: return "homePhone"
        case .mobileNumber: return "mobile"
        case .pagerNumber: return "pager"
        }
    }

    /// Every mapped user field with its attribute, in `UserField` order.
    public var attributes: [(field: UserField, attribute: String)] {
        UserField.allCases.compactMap { field in attribute(for: field).map { (field, $0) } }
    }

    /// The attributes a search requests: the mapped ones, once each, plus the disabled flag of the
    /// server type (so a sync with "sync inactive users" on can tell disabled accounts).
    public var readAttributes: [String] {
        var names: [String] = []
        for (_, attribute) in attributes where !names.contains(where: { $0.lowercased() == attribute.lowercased() }) {
            names.append(attribute)
        }
        switch serverType {
        case .activeDirectory: names.append("userAccountControl")
        case .adam: names.append("msDS-UserAccountDisabled")
        case .openLDAP, .oracle: break
        }
        return names
    }
}

/// Seed, "Write Back Settings": the attribute the primary directory number is written to.
public enum WriteBackAttribute {
    public static let choices = ["none", "ipPhone", "telephoneNumber", "mobile"]

    /// The seed's spelling (nil for "Do not write to LDAP"), refused when the server type lacks it.
    public static func validate(_ text: String, for type: DirectoryServerType?) throws(InputError) -> String? {
        guard let choice = choices.first(where: { $0.lowercased() == text.lowercased() }) else {
            throw InputError(field: "write_back_attribute",
                                      problem: "'\(text)' is not a choice (choose \(MappedField.list(choices)))")
        }
        if choice == "none" { return nil }
        if let type, !DirectorySchema.supports(type, attribute: choice) {
            let offered = choices.filter { DirectorySchema.supports(type, attribute: $0) }
            throw InputError(field: "write_back_attribute",
                                      problem: "\(choice) is not supported for \(type.title) (choose \(MappedField.list(offered)))")
        }
        return choice
    }
}
