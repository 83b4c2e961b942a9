extension LDAPFilter {
    /// Whether an entry (attribute name → values, names in any case) satisfies the filter, the way a
    /// directory server would for text attributes: attribute names compare case-insensitively (options
    /// such as `;binary` ignored), values with case-insensitive matching; `>=`/`<=` compare numbers as
    /// numbers when both sides are integers. Extensible matches know the bitwise AND and OR rules of
    /// Active Directory (1.2.840.113556.1.4.803 / .804, as slapd does) and otherwise test equality.
    ///
    /// An absent attribute makes an assertion false (and so its negation true), as for a search.
    public func matches(entry: [String: [String]]) -> Bool {
        switch self {
        case .and(let filters):
            return filters.allSatisfy { $0.matches(entry: entry) }
        case .or(let filters):
            return filters.contains { $0.matches(entry: entry) }
        case .not(let filter):
            return !filter.matches(entry: entry)
        case .present(let attribute):
            return !Self.values(of: attribute, in: entry).isEmpty
        case .equal(let attribute, let value), .approx(let attribute, let value):
            let wanted = value.matchingKey
            return Self.values(of: attribute, in: entry).contains { LDAPValue($0).matchingKey == wanted }
        case .greaterOrEqual(let attribute, let value):
            return Self.values(of: attribute, in: entry).contains { Self.order(LDAPValue($0), value) >= 0 }
        case .lessOrEqual(let attribute, let value):
            return Self.values(of: attribute, in: entry).contains { Self.order(LDAPValue($0), value) <= 0 }
        case .substrings(let attribute, let parts):
            return Self.values(of: attribute, in: entry).contains { parts.matches(LDAPValue($0).matchingKey) }
        case .extensible(let match):
            let candidates = match.attribute.map { Self.values(of: $0, in: entry) } ?? entry.values.flatMap { $0 }
            return candidates.contains { match.matches($0) }
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

    /// The values of `attribute` in `entry`, the name compared without case and options.
    static func values(of attribute: String, in entry: [String: [String]]) -> [String] {
        let wanted = baseName(attribute)
        return entry.filter { baseName($0.key) == wanted }.flatMap(\.value)
    }

    private static func baseName(_ attribute: String) -> String {
        String(attribute.split(separator: ";", maxSplits: 1).first ?? "").lowercased()
    }

    /// Negative, zero or positive as `value` sorts before, with or after `asserted`.
    static func order(_ value: LDAPValue, _ asserted: LDAPValue) -> Int {
        if let left = value.string.flatMap({ Int64($0) }), let right = asserted.string.flatMap({ Int64($0) }) {
            return left < right ? -1 : (left == right ? 0 : 1)
        }
        let left = value.matchingKey, right = asserted.matchingKey
        if left == right { return 0 }
        return left.lexicographicallyPrecedes(right) ? -1 : 1
    }
}

extension LDAPValue {
    /// What matching compares: the lowercased text, or the bytes themselves when not UTF-8.
    var matchingKey: [UInt8] {
        string.map { Array($0.lowercased().utf8) } ?? bytes
    }
}

extension LDAPSubstrings {
    /// `key` (a matching key) holds initial, then each `any` part in order, then final, without overlap.
    func matches(_ key: [UInt8]) -> Bool {
        var start = 0
        var end = key.count
        if let initial = initial?.matchingKey {
            guard key.starts(with: initial) else { return false }
            start = initial.count
        }
        if let final = final?.matchingKey {
            guard end - start >= final.count, Array(key[(end - final.count)...]) == final else { return false }
            end -= final.count
        }
        for part in any.map(\.matchingKey) {
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

    func matches(_ candidate: String) -> Bool {
        let rule = self.rule?.lowercased()
        if let rule, Self.bitAndRules.contains(rule) || Self.bitOrRules.contains(rule) {
            guard let number = Int64(candidate), let mask = value.string.flatMap({ Int64($0) }) else { return false }
            return Self.bitAndRules.contains(rule) ? number & mask == mask : number & mask != 0
        }
        return LDAPValue(candidate).matchingKey == value.matchingKey
    }
}
