/// How a directory compares the values of its attributes, read from its schema (RFC 4512
/// `attributeTypes` of the subschema entry), so that a filter evaluated on an entry read
/// (`LDAPFilter.matches(entry:rules:)`) selects what the same filter would select on the server.
/// slapd's `telephoneNumber` ignores spaces and hyphens, Active Directory's is a case-insensitive
/// string: the rule is the server's, not the attribute name's. An attribute the schema does not
/// describe (or a server whose schema could not be read) compares case-insensitively.
public struct LDAPMatchingRules: Sendable, Equatable {
    /// The comparisons the evaluation knows (RFC 4517 §4.2), by what they ignore.
    public enum Rule: Sendable, Equatable {
        /// caseIgnoreMatch and kin: case and insignificant spaces (leading, trailing, runs).
        case caseIgnore
        /// caseExactMatch, caseExactIA5Match, octetStringMatch: insignificant spaces only.
        case caseExact
        /// telephoneNumberMatch: case, spaces and hyphens.
        case telephoneNumber
        /// numericStringMatch: spaces.
        case numericString
    }

    /// Lower-cased name or alias → the attribute's lower-cased names (all of them) and its rule.
    private let attributes: [String: (names: [String], rule: Rule)]

    public static func == (left: LDAPMatchingRules, right: LDAPMatchingRules) -> Bool {
        left.attributes.mapValues(\.names) == right.attributes.mapValues(\.names)
            && left.attributes.mapValues(\.rule) == right.attributes.mapValues(\.rule)
    }

    /// No schema: every attribute case-insensitive, under its own name only.
    public static let caseIgnore = LDAPMatchingRules(attributes: [:])

    private init(attributes: [String: (names: [String], rule: Rule)]) {
        self.attributes = attributes
    }

    /// From the values of the subschema entry's `attributeTypes`; descriptions it cannot read are skipped.
    public init(attributeTypes: [String]) {
        struct Description {
            var oid: String
            var names: [String]
            var equality: String?
            var syntax: String?
            var superior: String?
        }
        var descriptions: [Description] = []
        var byName: [String: Int] = [:]
        for text in attributeTypes {
            guard let description = Self.parse(text) else { continue }
            descriptions.append(Description(oid: description.oid, names: description.names, equality: description.equality,
                                            syntax: description.syntax, superior: description.superior))
            for name in description.names + [description.oid] { byName[name] = descriptions.count - 1 }
        }
        // EQUALITY, else the superior's (e.g. cn SUP name), else the syntax's.
        func rule(_ index: Int, depth: Int = 0) -> Rule? {
            let description = descriptions[index]
            if let equality = description.equality { return Self.rule(equality: equality) }
            if depth < 16, let superior = description.superior, let parent = byName[superior],
               let inherited = rule(parent, depth: depth + 1) { return inherited }
            return description.syntax.flatMap(Self.rule(syntax:))
        }
        var attributes: [String: (names: [String], rule: Rule)] = [:]
        for (index, description) in descriptions.enumerated() {
            let entry = (names: description.names, rule: rule(index) ?? .caseIgnore)
            for name in description.names { attributes[name] = entry }
        }
        self.init(attributes: attributes)
    }

    /// The rule of an attribute (any case, options such as `;binary` ignored).
    public func rule(of attribute: String) -> Rule {
        attributes[Self.baseName(attribute)]?.rule ?? .caseIgnore
    }

    /// The lower-cased names an attribute goes by (its aliases: the server returns the first).
    func names(of attribute: String) -> [String] {
        let name = Self.baseName(attribute)
        return attributes[name]?.names ?? [name]
    }

    static func baseName(_ attribute: String) -> String {
        String(attribute.split(separator: ";", maxSplits: 1).first ?? "").lowercased()
    }

    /// What a value compares as under `rule`: the bytes of a value that is not UTF-8 as they are.
    /// `trimStart`/`trimEnd`: whether the value's leading/trailing spaces are insignificant (a
    /// whole value's are; a substring's only at the ends of the whole).
    static func key(_ value: LDAPValue, _ rule: Rule, trimStart: Bool = true, trimEnd: Bool = true) -> [UInt8] {
        guard let text = value.string else { return value.bytes }
        switch rule {
        case .telephoneNumber:
            return Array(text.lowercased().utf8.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "-") })
        case .numericString:
            return Array(text.utf8.filter { $0 != UInt8(ascii: " ") })
        case .caseIgnore, .caseExact:
            var bytes: [UInt8] = []
            var space = false
            for byte in (rule == .caseIgnore ? text.lowercased() : text).utf8 {
                if byte == UInt8(ascii: " ") {
                    space = true
                    continue
                }
                if space && (!bytes.isEmpty || !trimStart) { bytes.append(UInt8(ascii: " ")) }
                space = false
                bytes.append(byte)
            }
            if space && !trimEnd { bytes.append(UInt8(ascii: " ")) }
            return bytes
        }
    }

    private static func rule(equality: String) -> Rule {
        switch equality.lowercased() {
        case "telephonenumbermatch", "2.5.13.20": return .telephoneNumber
        case "numericstringmatch", "2.5.13.8": return .numericString
        case "caseexactmatch", "2.5.13.5", "caseexactia5match", "1.3.6.1.4.1.1466.109.114.1", "octetstringmatch", "2.5.13.17":
            return .caseExact
        default: return .caseIgnore
        }
    }

    /// A schema without EQUALITY (Active Directory's) compares by syntax.
    private static func rule(syntax: String) -> Rule? {
        let oid = syntax.split(separator: "{").first.map(String.init) ?? syntax
        switch oid {
        case "1.3.6.1.4.1.1466.115.121.1.50": return .telephoneNumber
        case "1.3.6.1.4.1.1466.115.121.1.36": return .numericString
        case "1.3.6.1.4.1.1466.115.121.1.40": return .caseExact
        default: return nil
        }
    }

    /// One `AttributeTypeDescription` (RFC 4512 §4.1.2): its OID, names (lower-cased), EQUALITY,
    /// SYNTAX and SUP; nil when it does not start with `(` and an OID.
    static func parse(_ text: String) -> (oid: String, names: [String], equality: String?, syntax: String?, superior: String?)? {
        // Tokens: `(`, `)`, a quoted string (quoted: true), or a bare word.
        var tokens: [(text: String, quoted: Bool)] = []
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == " " || character == "\t" || character == "\n" || character == "\r" {
                index = text.index(after: index)
            } else if character == "(" || character == ")" {
                tokens.append((String(character), false))
                index = text.index(after: index)
            } else if character == "'" {
                let start = text.index(after: index)
                let end = text[start...].firstIndex(of: "'") ?? text.endIndex
                tokens.append((String(text[start..<end]), true))
                index = end < text.endIndex ? text.index(after: end) : end
            } else {
                let end = text[index...].firstIndex { " \t\n\r()'".contains($0) } ?? text.endIndex
                tokens.append((String(text[index..<end]), false))
                index = end
            }
        }
        guard tokens.count >= 2, tokens[0] == ("(", false), !tokens[1].quoted else { return nil }
        let oid = tokens[1].text.lowercased()
        var names: [String] = []
        var equality: String?, syntax: String?, superior: String?
        var position = 2
        func value() -> String? {
            guard position < tokens.count, tokens[position].text != "(" || tokens[position].quoted,
                  tokens[position].text != ")" || tokens[position].quoted else { return nil }
            defer { position += 1 }
            return tokens[position].text
        }
        while position < tokens.count {
            let token = tokens[position]
            position += 1
            guard !token.quoted else { continue }
            switch token.text.uppercased() {
            case "NAME":
                if position < tokens.count, tokens[position] == ("(", false) {
                    position += 1
                    while position < tokens.count, tokens[position] != (")", false) {
                        if tokens[position].quoted { names.append(tokens[position].text.lowercased()) }
                        position += 1
                    }
                } else if let name = value() {
                    names.append(name.lowercased())
                }
            case "EQUALITY": equality = value()
            case "SYNTAX": syntax = value()
            case "SUP": superior = value()?.lowercased()
            default: continue
            }
        }
        return (oid, names, equality, syntax, superior)
    }
}
