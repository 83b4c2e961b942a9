extension LDAPFilter {
    /// Whether an entry (attribute name → values, names in any case) satisfies the filter, the way a
    /// directory server would: attribute names compare case-insensitively (options such as `;binary`
    /// ignored, aliases the server's schema gives resolved), values by the attribute's matching rule
    /// in `rules` (the server's: case, spaces, a telephone number's hyphens; case-insensitive where
    /// the schema is unknown); `>=`/`<=` compare numbers as numbers when both sides are integers.
    /// Extensible matches know the bitwise AND and OR rules of Active Directory
    /// (1.2.840.113556.1.4.803 / .804, as slapd does) and otherwise test equality.
    ///
    /// An absent attribute makes an assertion false (and so its negation true), as for a search.
    public func matches(entry: [String: [String]], rules: LDAPMatchingRules = .caseIgnore) -> Bool {
        switch self {
        case .and(let filters):
            return filters.allSatisfy { $0.matches(entry: entry, rules: rules) }
        case .or(let filters):
            return filters.contains { $0.matches(entry: entry, rules: rules) }
        case .not(let filter):
            return !filter.matches(entry: entry, rules: rules)
        case .present(let attribute):
            return !Self.values(of: attribute, in: entry, rules: rules).isEmpty
        case .equal(let attribute, let value), .approx(let attribute, let value):
            let rule = rules.rule(of: attribute)
            let wanted = LDAPMatchingRules.key(value, rule)
            return Self.values(of: attribute, in: entry, rules: rules).contains { LDAPMatchingRules.key(LDAPValue($0), rule) == wanted }
        case .greaterOrEqual(let attribute, let value):
            let rule = rules.rule(of: attribute)
            return Self.values(of: attribute, in: entry, rules: rules).contains { Self.order(LDAPValue($0), value, rule) >= 0 }
        case .lessOrEqual(let attribute, let value):
            let rule = rules.rule(of: attribute)
            return Self.values(of: attribute, in: entry, rules: rules).contains { Self.order(LDAPValue($0), value, rule) <= 0 }
        case .substrings(let attribute, let parts):
            let rule = rules.rule(of: attribute)
            return Self.values(of: attribute, in: entry, rules: rules).contains { parts.matches(LDAPMatchingRules.key(LDAPValue($0), rule), rule) }
        case .extensible(let match):
            let candidates = match.attribute.map { Self.values(of: $0, in: entry, rules: rules) } ?? entry.values.flatMap { $0 }
            let rule = match.attribute.map(rules.rule(of:)) ?? .caseIgnore
            return candidates.contains { match.matches($0, rule) }
        }
    }

    /// The attribute names the filter tests, once each in first-seen order (what a search must
    /// request for `matches(entry:)` to see them).
    public var attributes: [String] {
        var names: [String] = []
        func visit(_ filter: LDAPFilter) {
            let name: String?
            switch filter {
            case .and(let filters), .or(let filters): filters.forEach(visit); return
            case .not(let inner): visit(inner); return
            case .equal(let attribute, _), .approx(let attribute, _), .greaterOrEqual(let attribute, _),
                 .lessOrEqual(let attribute, _), .present(let attribute), .substrings(let attribute, _):
                name = attribute
            case .extensible(let match):
                name = match.attribute
            }
            if let name, !names.contains(where: { $0.lowercased() == name.lowercased() }) { names.append(name) }
        }
        visit(self)
        return names
    }

    /// The values of `attribute` in `entry`, the name compared without case and options, under any
    /// of its names.
    static func values(of attribute: String, in entry: [String: [String]], rules: LDAPMatchingRules) -> [String] {
        let wanted = rules.names(of: attribute)
        return entry.filter { wanted.contains(LDAPMatchingRules.baseName($0.key)) }.flatMap(\.value)
    }

    /// Negative, zero or positive as `value` sorts before, with or after `asserted`.
    static func order(_ value: LDAPValue, _ asserted: LDAPValue, _ rule: LDAPMatchingRules.Rule) -> Int {
        if let left = value.string.flatMap({ Int64($0) }), let right = asserted.string.flatMap({ Int64($0) }) {
            return left < right ? -1 : (left == right ? 0 : 1)
        }
        let left = LDAPMatchingRules.key(value, rule), right = LDAPMatchingRules.key(asserted, rule)
        if left == right { return 0 }
        return left.lexicographicallyPrecedes(right) ? -1 : 1
    }
}

extension LDAPSubstrings {
    /// `key` (a matching key under `rule`) holds initial, then each `any` part in order, then final,
    /// without overlap.
    func matches(_ key: [UInt8], _ rule: LDAPMatchingRules.Rule) -> Bool {
        var start = 0
        var end = key.count
        if let initial = initial.map({ LDAPMatchingRules.key($0, rule, trimEnd: false) }) {
            guard key.starts(with: initial) else { return false }
            start = initial.count
        }
        if let final = final.map({ LDAPMatchingRules.key($0, rule, trimStart: false) }) {
            guard end - start >= final.count, Array(key[(end - final.count)...]) == final else { return false }
            end -= final.count
        }
        for part in any.map({ LDAPMatchingRules.key($0, rule, trimStart: false, trimEnd: false) }) {
            guard let found = Self.find(part, in: key, from: start, before: end) else { return false }
            start = found + part.count
        }
        return true
    }

    private static func find(_ part: [UInt8], in key: [UInt8], from start: Int, before end: Int) -> Int? {
        guard !part.isEmpty else { return start }
        var index = start
        while index + part.count <= end {
            if key[index..<index + part.count].elementsEqual(part) { return index }
            index += 1
        }
        return nil
    }
}

extension LDAPExtensibleMatch {
    static let bitAndRules: Set<String> = ["1.2.840.113556.1.4.803", "integerbitandmatch"]
    static let bitOrRules: Set<String> = ["1.2.840.113556.1.4.804", "integerbitormatch"]

    func matches(_ candidate: String, _ attributeRule: LDAPMatchingRules.Rule) -> Bool {
        let rule = self.rule?.lowercased()
        if let rule, Self.bitAndRules.contains(rule) || Self.bitOrRules.contains(rule) {
            guard let number = Int64(candidate), let mask = value.string.flatMap({ Int64($0) }) else { return false }
            return Self.bitAndRules.contains(rule) ? number & mask == mask : number & mask != 0
        }
        return LDAPMatchingRules.key(LDAPValue(candidate), attributeRule) == LDAPMatchingRules.key(value, attributeRule)
    }
}
