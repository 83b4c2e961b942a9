import Runtime

/// The seed's "Filter Query for Synchronization": all users, a simple query, or an advanced query
/// (any LDAP filter, checked for syntax before it is saved).
public enum FilterQuery: Hashable, Sendable {
    case allUsers
    case simple(SimpleQuery)
    /// The filter as the operator typed it.
    case advanced(String)

    /// The user part of the search filter (nil: all users), every typed value escaped. Throws the
    /// one-line refusal for a malformed filter or a field the mapping or server type cannot serve.
    public func userFilter(mapping: FieldMapping) throws(InputError) -> LDAPFilter? {
        switch self {
        case .allUsers: return nil
        case .simple(let query): return try query.filter(mapping: mapping)
        case .advanced(let text): return try LDAPFilter(parsing: text, field: "filter")
        }
    }

    /// Checks what can be checked without a server type: the advanced filter's syntax, the simple
    /// query's values.
    public func validate() throws(InputError) {
        switch self {
        case .allUsers: return
        case .simple(let query): _ = try query.conditions.map { condition throws(InputError) in try condition.checkedItems() }
        case .advanced(let text): _ = try LDAPFilter(parsing: text, field: "filter")
        }
    }

    /// `all users`, `simple: user-id = jdoe and department = Sales*`, `advanced: (…)`.
    public var summary: String {
        switch self {
        case .allUsers: return "all users"
        case .simple(let query): return "simple: " + query.summary
        case .advanced(let text): return "advanced: " + text
        }
    }
}

/// The seed's simple query: conditions on its field list, joined by AND (`match: .all`) or OR (`.any`).
public struct SimpleQuery: Hashable, Sendable {
    public enum Match: String, Hashable, Sendable, CaseIterable {
        case all, any
    }

    public var conditions: [QueryCondition]
    public var match: Match

    public init(conditions: [QueryCondition], match: Match = .all) {
        self.conditions = conditions
        self.match = match
    }

    public func filter(mapping: FieldMapping) throws(InputError) -> LDAPFilter {
        guard !conditions.isEmpty else {
            throw InputError(field: "filter", problem: "a simple query needs at least one condition (--where)")
        }
        var filters: [LDAPFilter] = []
        for condition in conditions { filters.append(try condition.filter(mapping: mapping)) }
        if filters.count == 1 { return filters[0] }
        return match == .all ? .and(filters) : .or(filters)
    }

    public var summary: String {
        conditions.map(\.text).joined(separator: match == .all ? " and " : " or ")
    }
}

/// The simple query's fields, in the seed's order, as operators type them (`user-id`, `po-box`, …).
public enum QueryField: String, CaseIterable, Hashable, Sendable {
    case userID = "user-id"
    case department
    case phone
    case title
    case firstName = "first-name"
    case lastName = "last-name"
    case managerID = "manager-id"
    case directoryURI = "directory-uri"
    case email
    case city
    case state
    case office
    case company
    case street
    case poBox = "po-box"
    case zipCode = "zip-code"
    case country
    case faxNumber = "fax-number"
    case ipPhoneNumber = "ip-phone-number"

    /// The seed's label.
    public var title: String {
        switch self {
        case .userID: return "User ID"
        case .department: return "Department"
        case .phone: return "Contact phone number"
        case .title: return "Title"
        case .firstName: return "First Name"
        case .lastName: return "Last Name"
        case .managerID: return "Manager ID"
        case .directoryURI: return "Directory URI"
        case .email: return "Contact email"
        case .city: return "City"
        case .state: return "State"
        case .office: return "Office"
        case .company: return "Company"
        case .street: return "Street"
        case .poBox: return "P. O. Box"
        case .zipCode: return "Zip Code"
        case .country: return "Country"
        case .faxNumber: return "Fax Number"
        case .ipPhoneNumber: return "IP Phone Number"
        }
    }

    /// Accepts the command-line names in any case, with or without '-', '_' or spaces (`userid`, `User ID`).
    public init?(text: String) {
        func key(_ text: String) -> String { text.lowercased().filter { $0 != "-" && $0 != "_" && $0 != " " && $0 != "." } }
        guard let field = Self.allCases.first(where: { key($0.rawValue) == key(text) }) else { return nil }
        self = field
    }

    /// Seed: directory numbers are listed with ';' (4930;5930), user IDs and phone numbers with ','.
    /// A manager ID is a full DN, which holds commas, so its list takes ';' too (a DN writes a
    /// literal ';' escaped, `\;`, so it never splits one).
    public var listSeparator: Character { self == .ipPhoneNumber || self == .managerID ? ";" : "," }

    /// The attribute the field is matched against: the mapped one where the domain chooses it
    /// (user ID, phone, email, directory URI), else the server type's schema name.
    public func attribute(mapping: FieldMapping) -> String? {
        let microsoft = mapping.serverType.isMicrosoft
        switch self {
        case .userID: return mapping.userID
        case .department: return mapping.attribute(for: .department)
        case .phone: return mapping.phone
        case .title: return "title"
        case .firstName: return "givenName"
        case .lastName: return "sn"
        case .managerID: return "manager"
        case .directoryURI: return mapping.directoryURI
        case .email: return mapping.email
        case .city: return "l"
        case .state: return "st"
        case .office: return "physicalDeliveryOfficeName"
        case .company: return microsoft ? "company" : "o"
        case .street: return microsoft ? "streetAddress" : "street"
        case .poBox: return "postOfficeBox"
        case .zipCode: return "postalCode"
        case .country: return "c"
        case .faxNumber: return "facsimileTelephoneNumber"
        case .ipPhoneNumber: return "ipPhone"
        }
    }
}

/// `=` selects what matches, `!=` what does not, `in` any of a list (the seed's "IN" filter).
public enum QueryOperator: String, CaseIterable, Hashable, Sendable {
    case equal = "="
    case notEqual = "!="
    case `in` = "in"
}

/// One condition of a simple query, as typed: `user-id = jdoe`, `department != Sales*`,
/// `user-id in User1, User2`, `ip-phone-number in 40105*;40116*`, `phone in /+44*, /+55*`,
/// `manager-id in CN=jdoe,OU=Users,DC=x;CN=asmith,OU=Users,DC=x`.
///
/// A value is literal except for the seed's two conventions: `*` at its start or end is a wildcard
/// (a `*` anywhere else is a literal asterisk), and `/+` is a plus sign. Everything else — `(`, `)`,
/// `\`, NUL, a `*` in the middle — is escaped when the filter is built, so it selects only what it says.
public struct QueryCondition: Hashable, Sendable {
    public var field: QueryField
    public var `operator`: QueryOperator
    public var value: String

    public static let longestValue = 1024

    public init(field: QueryField, operator: QueryOperator, value: String) {
        self.field = field
        self.operator = `operator`
        self.value = value
    }

    /// Parses `FIELD OP VALUE` (spaces around the operator optional; `in` needs them).
    public init(parsing raw: String) throws(InputError) {
        let text = raw.drop { $0 == " " }
        let name = text.prefix { $0.isLetter || $0 == "-" || $0 == "_" }
        guard !name.isEmpty, let field = QueryField(text: String(name)) else {
            throw InputError(field: "filter", problem: "'\(name.isEmpty ? raw : String(name))' is not a query field (choose \(MappedField.list(QueryField.allCases.map(\.rawValue))))")
        }
        var rest = text.dropFirst(name.count).drop { $0 == " " }
        let op: QueryOperator
        if rest.hasPrefix("!=") {
            op = .notEqual
            rest = rest.dropFirst(2)
        } else if rest.hasPrefix("=") {
            op = .equal
            rest = rest.dropFirst()
        } else if rest.lowercased().hasPrefix("in "), rest.count > 3 {
            op = .in
            rest = rest.dropFirst(3)
        } else {
            throw InputError(field: "filter", problem: "expected '=', '!=' or 'in' after '\(field.rawValue)' in '\(raw)'")
        }
        self.init(field: field, operator: op, value: String(rest).trimmingSpaces)
        _ = try items()
    }

    /// `user-id in User1, User2`.
    public var text: String { "\(field.rawValue) \(`operator`.rawValue) \(value)" }

    /// The value's items: one for `=` and `!=`, the list for `in` (empty items dropped, each trimmed).
    /// Only the shape: a stored condition is read back with this, the field's rule is `checkedItems`'.
    func items() throws(InputError) -> [String] {
        guard value.utf8.count <= Self.longestValue else {
            throw InputError(field: "filter", problem: "the value for \(field.rawValue) is longer than \(Self.longestValue) characters")
        }
        let items = `operator` == .in
            ? Self.split(value, at: field.listSeparator, keepingEscaped: field == .managerID)
                .map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
            : [value]
        guard !items.isEmpty, !items.contains(where: \.isEmpty) else {
            throw InputError(field: "filter", problem: "no value after '\(field.rawValue) \(`operator`.rawValue)'")
        }
        return items
    }

    /// The items, each held to its field's rule: a manager ID is the manager's full DN (seed: "fully
    /// qualified as in the Active Directory integration", CN=jdoe,<user search base>), or `*` alone
    /// for any manager — a directory compares DNs whole, so a partial one would select nobody.
    func checkedItems() throws(InputError) -> [String] {
        let items = try items()
        if field == .managerID, let bad = items.first(where: { $0 != "*" && !Self.isFullDN($0) }) {
            throw InputError(field: "filter", problem: "manager-id must be the manager's full DN, e.g. CN=jdoe,OU=Users,DC=example,DC=com, or '*' for any manager; a wildcard cannot match part of a DN (got \(InputError.quoted(bad)))")
        }
        return items
    }

    /// Splits at `separator`; with `keepingEscaped`, not at one a '\' escapes (a DN's `\;`).
    static func split(_ text: String, at separator: Character, keepingEscaped: Bool) -> [Substring] {
        guard keepingEscaped else { return text.split(separator: separator) }
        var parts: [Substring] = []
        var start = text.startIndex, index = text.startIndex
        while index < text.endIndex {
            if text[index] == "\\" {
                index = text.index(after: index)
                if index == text.endIndex { break }
            } else if text[index] == separator {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        parts.append(text[start...])
        return parts
    }

    /// RFC 4514 in outline, and fully qualified: at least two RDNs joined by ',' (an RDN's parts by
    /// '+'), each part `type=value` with a type that is a name or an OID and a value, '\' escaping
    /// the next character; no '*' at either end (it would be read as the wildcard).
    static func isFullDN(_ text: String) -> Bool {
        guard !text.hasPrefix("*"), !text.hasSuffix("*") else { return false }
        var rdns = 1
        var part = ""
        func partIsAttributeValue(_ part: String) -> Bool {
            guard let equals = part.firstIndex(of: "=") else { return false }
            let type = String(part[..<equals]).trimmingSpaces, value = String(part[part.index(after: equals)...]).trimmingSpaces
            guard !value.isEmpty, let first = type.first else { return false }
            let name = first.isASCII && first.isLetter && type.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            let oid = type.split(separator: ".", omittingEmptySubsequences: false)
                .allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
            return name || oid
        }
        var escaped = false
        for character in text {
            if escaped {
                part.append(character)
                escaped = false
            } else if character == "\\" {
                part.append(character)
                escaped = true
            } else if character == "," || character == "+" {
                guard partIsAttributeValue(part) else { return false }
                if character == "," { rdns += 1 }
                part = ""
            } else {
                part.append(character)
            }
        }
        return !escaped && partIsAttributeValue(part) && rdns >= 2
    }

    public func filter(mapping: FieldMapping) throws(InputError) -> LDAPFilter {
        guard let attribute = field.attribute(mapping: mapping) else {
            throw InputError(field: "filter", problem: "\(field.rawValue) is mapped to none in this domain (set directory_uri_attribute first)")
        }
        guard DirectorySchema.supports(mapping.serverType, attribute: attribute) else {
            throw InputError(field: "filter", problem: "\(field.rawValue) (\(attribute)) is not supported for \(mapping.serverType.title)")
        }
        let assertions = try checkedItems().map { Self.assertion(attribute: attribute, item: $0) }
        switch `operator` {
        case .equal: return assertions[0]
        case .notEqual: return .not(assertions[0])
        case .in: return assertions.count == 1 ? assertions[0] : .or(assertions)
        }
    }

    /// One value: `/+` read as '+', a leading or trailing `*` as the wildcard, the rest literal.
    static func assertion(attribute: String, item: String) -> LDAPFilter {
        var core = Substring(item.replacingAll("/+", with: "+"))
        let leading = core.hasPrefix("*")
        if leading { core = core.dropFirst() }
        let trailing = core.hasSuffix("*")
        if trailing { core = core.dropLast() }
        if core.isEmpty { return .present(attribute) }
        let value = LDAPValue(String(core))
        switch (leading, trailing) {
        case (false, false): return .equal(attribute, value)
        case (true, true): return .substrings(attribute, LDAPSubstrings(any: [value]))
        case (true, false): return .substrings(attribute, LDAPSubstrings(final: value))
        case (false, true): return .substrings(attribute, LDAPSubstrings(initial: value))
        }
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }

    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
