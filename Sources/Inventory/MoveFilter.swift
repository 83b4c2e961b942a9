import Directory
import Foundation
import Postgres
import Queue
import Runtime

/// A move filter of a domain (seed 000 step 4, "Define a filter"; orders-brief §A.3): a user whose
/// attribute matches the pattern is moved to the service area. A domain's filters are ordered; the
/// first that matches decides.
public struct MoveFilter: Sendable, Equatable {
    public var name: String
    /// 1 is tried first.
    public var position: Int
    /// department, location, device_pool, or an LDAP attribute of the domain's field mapping.
    public var attribute: String
    /// A value, `*` the wildcard; compared without case.
    public var pattern: String
    public var serviceArea: String

    public init(name: String, position: Int = 0, attribute: String, pattern: String, serviceArea: String) {
        self.name = name
        self.position = position
        self.attribute = attribute
        self.pattern = pattern
        self.serviceArea = serviceArea
    }

    init(row: Row) throws {
        name = try row.decode("name")
        position = Int(try row.decode("position", as: Int32.self))
        attribute = try row.decode("attribute")
        pattern = try row.decode("pattern")
        serviceArea = try row.decode("service_area")
    }

    /// `department=Sales*`.
    public var condition: String { "\(attribute)=\(pattern)" }

    /// The attributes every domain's filters may test: the user's department, and the location and
    /// device pool of its phones (the seed's Match Department/Location/Device Pool rules).
    public static let builtInAttributes = ["department", "location", "device_pool"]

    /// `attribute` spelled as stored, or the one-line refusal naming the field and the rule: one of
    /// the built-in attributes, or an LDAP attribute the domain's field mapping reads.
    public static func attribute(_ text: String, domain: Domain) throws(InputError) -> String {
        if let builtIn = builtInAttributes.first(where: { $0 == text.lowercased() }) { return builtIn }
        let mapped = domain.ldap?.mapping.attributes.map(\.attribute) ?? []
        if let attribute = mapped.first(where: { $0.lowercased() == text.lowercased() }) { return attribute }
        let readable = mapped.isEmpty ? "domain '\(domain.name)' has no directory source"
            : "or an LDAP attribute of domain '\(domain.name)''s field mapping: " + mapped.joined(separator: ", ")
        throw InputError(field: "attribute", problem: "\(InputError.quoted(text)) is not an attribute the domain reads "
                         + "(department, location, device_pool; \(readable))")
    }

    /// The pattern as an LDAP assertion on one value (`v`): equality, or substrings with `*`.
    public static func matcher(_ pattern: String) throws(InputError) -> LDAPFilter {
        guard !pattern.isEmpty, pattern.count <= 200, !pattern.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw InputError(field: "pattern", problem: "\(InputError.quoted(pattern)) must be 1 to 200 characters without control characters")
        }
        guard !pattern.contains("**") else {
            throw InputError(field: "pattern", problem: "\(InputError.quoted(pattern)) has '**': one '*' matches any run of characters")
        }
        let escaped = pattern.split(separator: "*", omittingEmptySubsequences: false).map { LDAPFilter.escape(String($0)) }.joined(separator: "*")
        return try LDAPFilter(parsing: "(v=\(escaped))", field: "pattern")
    }
}

/// A user the filters are tried on, with what they test beyond its own fields.
public struct MoveCandidate: Sendable {
    public var user: User
    public var devicePools: [String]
    public var locations: [String]
    public var services: Int
    /// The service areas its services are in ("" for a service in none).
    public var serviceAreas: [String]

    init(row: Row) throws {
        user = try User(row: row)
        func list(_ column: String) throws -> [String] {
            try JSONDecoder().decode([String].self, from: Data((try row.decode(column) as String).utf8))
        }
        devicePools = try list("device_pools_json")
        locations = try list("locations_json")
        services = Int(try row.decode("services", as: Int64.self))
        serviceAreas = try list("service_areas_json")
    }

    /// The values of a filter's attribute for this user.
    func values(of attribute: String, mapping: FieldMapping?) -> [String] {
        switch attribute {
        case "department": return user.fields["department"].map { [$0] } ?? []
        case "location": return locations
        case "device_pool": return devicePools
        default:
            guard let field = mapping?.attributes.first(where: { $0.attribute.lowercased() == attribute.lowercased() })?.field else { return [] }
            if field == .userID { return [user.userID] }
            return user.fields[field.rawValue].map { [$0] } ?? []
        }
    }

    /// The user can be placed in `area` without touching a device: it has no services, or all of
    /// them are in that area already.
    public func placesWithoutDeviceChange(in area: String) -> Bool {
        services == 0 || serviceAreas == [area]
    }
}

/// A domain's filters, parsed, in order.
public struct MoveFilterSet: Sendable {
    public let filters: [MoveFilter]
    let matchers: [LDAPFilter]
    let mapping: FieldMapping?

    /// The first filter that matches the user, or nil.
    public func decide(_ candidate: MoveCandidate) -> MoveFilter? {
        for (filter, matcher) in zip(filters, matchers) where matcher.matches(entry: ["v": candidate.values(of: filter.attribute, mapping: mapping)]) {
            return filter
        }
        return nil
    }
}

/// The move filters of the domains and the automatic move (`ucp domain move-filter`, `ucp user move
/// --filter`, and the end of LDAP and domain synchronizations).
public struct MoveFilterStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    func domain(_ name: String) async throws -> Domain {
        guard let domain = try await DomainStore(connection).domain(named: name) else { throw DomainStore.noSuchDomain(name) }
        return domain
    }

    public func moveFilterList(domain: String) async throws -> [MoveFilter] {
        _ = try await self.domain(domain)
        return try await connection.query(MoveFilterSQL.filterList, [domain]).map(MoveFilter.init(row:))
    }

    /// Adds a filter at `position` (nil: last), after checking every part: nothing is written when one is bad.
    public func moveFilterAdd(domain name: String, _ filter: MoveFilter, position: Int?, actor: String) async throws -> MoveFilter {
        try ServiceAreaValidation.name(filter.name)
        let domain = try await domain(name)
        var filter = filter
        filter.attribute = try MoveFilter.attribute(filter.attribute, domain: domain)
        _ = try MoveFilter.matcher(filter.pattern)
        return try await connection.transaction { session in
            guard try session.query(DomainSQL.domainLock, [name]).first != nil else { throw DomainStore.noSuchDomain(name) }
            guard try session.query(ServiceAreaSQL.serviceAreaGet, [name, filter.serviceArea]).first != nil else {
                throw InputError(field: "service-area", problem: "no service area \(InputError.quoted(filter.serviceArea)) in domain '\(name)' (a filter moves users within their domain)")
            }
            var names: [String] = try session.query(MoveFilterSQL.filterList, [name]).map { try $0.decode("name") }
            let at = position ?? names.count + 1
            guard (1...names.count + 1).contains(at) else {
                throw InputError(field: "position", problem: "\(at) must be 1 to \(names.count + 1) (the domain has \(names.count) filters)")
            }
            guard try session.query(MoveFilterSQL.filterInsert, [name, filter.name, Int32(names.count + 1), filter.attribute, filter.pattern,
                                                                   filter.serviceArea]).first != nil else {
                throw InputError(field: "name", problem: "domain '\(name)' already has a move filter \(InputError.quoted(filter.name))")
            }
            names.insert(filter.name, at: at - 1)
            try session.query(MoveFilterSQL.filterRenumber, [name, PostgresTextArray(names)])
            filter.position = at
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "domain.move_filter_added", target: name,
                                                              message: "Domain '\(name)' move filter \(at) '\(filter.name)' added: \(filter.condition) → service area '\(filter.serviceArea)'")
            return filter
        }
    }

    public func moveFilterRemove(domain name: String, filter: String, actor: String) async throws {
        _ = try await domain(name)
        try await connection.transaction { session in
            guard try session.query(DomainSQL.domainLock, [name]).first != nil else { throw DomainStore.noSuchDomain(name) }
            guard try session.query(MoveFilterSQL.filterDelete, [name, filter]).first != nil else { throw Self.noSuchFilter(filter, domain: name) }
            let names: [String] = try session.query(MoveFilterSQL.filterList, [name]).map { try $0.decode("name") }
            try session.query(MoveFilterSQL.filterRenumber, [name, PostgresTextArray(names)])
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "domain.move_filter_removed", target: name,
                                                              message: "Domain '\(name)' move filter '\(filter)' removed")
        }
    }

    /// Puts a filter at `position`; returns whether anything changed.
    public func moveFilterMove(domain name: String, filter: String, position: Int, actor: String) async throws -> Bool {
        _ = try await domain(name)
        return try await connection.transaction { session in
            guard try session.query(DomainSQL.domainLock, [name]).first != nil else { throw DomainStore.noSuchDomain(name) }
            var names: [String] = try session.query(MoveFilterSQL.filterList, [name]).map { try $0.decode("name") }
            guard let index = names.firstIndex(of: filter) else { throw Self.noSuchFilter(filter, domain: name) }
            guard (1...names.count).contains(position) else {
                throw InputError(field: "position", problem: "\(position) must be 1 to \(names.count) (the domain has \(names.count) filters)")
            }
            guard index != position - 1 else { return false }
            names.remove(at: index)
            names.insert(filter, at: position - 1)
            try session.query(MoveFilterSQL.filterRenumber, [name, PostgresTextArray(names)])
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "domain.move_filter_moved", target: name,
                                                              message: "Domain '\(name)' move filter '\(filter)' moved to position \(position)")
            return true
        }
    }

    static func noSuchFilter(_ name: String, domain: String) -> InputError {
        InputError(field: "filter", problem: "domain '\(domain)' has no move filter \(InputError.quoted(name))")
    }

    public func automaticMove(domain: String) async throws -> Bool {
        guard let row = try await connection.query(MoveFilterSQL.automaticMoveGet, [domain]).first else { throw DomainStore.noSuchDomain(domain) }
        return try row.decode("automatic_move")
    }

    /// `ucp domain edit D --automatic-move on|off`; returns whether it changed.
    public func automaticMoveSet(domain: String, on: Bool, actor: String) async throws -> Bool {
        _ = try await self.domain(domain)
        return try await connection.transaction { session in try Self.automaticMoveSet(session, domain: domain, on: on, actor: actor) }
    }

    /// `automaticMoveSet` in the caller's transaction (the domain known to exist).
    static func automaticMoveSet(_ session: Session, domain: String, on: Bool, actor: String) throws -> Bool {
        guard try session.query(MoveFilterSQL.automaticMoveSet, [domain, on]).first != nil else { return false }
        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "domain.automatic_move", target: domain,
                                                          message: "Domain '\(domain)' automatic move \(on ? "on" : "off")")
        return true
    }

    /// The domain's filters, parsed.
    public func filterSet(domain name: String) async throws -> MoveFilterSet {
        let domain = try await domain(name)
        let filters = try await connection.query(MoveFilterSQL.filterList, [name]).map(MoveFilter.init(row:))
        return MoveFilterSet(filters: filters, matchers: try filters.map { try MoveFilter.matcher($0.pattern) }, mapping: domain.ldap?.mapping)
    }

    /// The user `userID` of `domain` as the filters see it, placed or not; nil when the domain has no such user.
    public func candidate(domain: String, userID: String) async throws -> MoveCandidate? {
        try await connection.query(MoveFilterSQL.candidate, [domain, userID]).first.map(MoveCandidate.init(row:))
    }

    /// One page of the domain's users not placed yet: at most `limit`, user IDs after `after` (nil:
    /// from the first), in user ID order.
    func candidates(domain: String, after: String?, limit: Int) async throws -> [MoveCandidate] {
        try await connection.query(MoveFilterSQL.candidatePage, [domain, after, limit]).map(MoveCandidate.init(row:))
    }

    /// How many unplaced users a domain-wide move (by hand or automatic) reads at a time; the tail of
    /// an LDAP synchronization takes its users awaiting provisioning as many at a time.
    public static let candidateChunkSize = 1000

    /// Every user of the domain not placed yet, in user ID order, `chunkSize` at a time (keyset
    /// pages): `body` gets each page before the next is read, so memory holds one page however large
    /// the domain. `body` may place its page's users: the next page starts after the last user ID of
    /// this one, so a user is handed over once whether it was placed or not.
    public func candidatePages(domain: String, chunkSize: Int = candidateChunkSize,
                               _ body: ([MoveCandidate]) async throws -> Void) async throws {
        let limit = max(1, chunkSize)
        var after: String?
        while true {
            let page = try await candidates(domain: domain, after: after, limit: limit)
            guard let last = page.last else { return }
            try await body(page)
            if page.count < limit { return }
            after = last.user.userID
        }
    }

    /// The automatic move at the end of an LDAP or domain synchronization (`syncType`) of `domain`:
    /// nothing unless the domain's automatic move is on. Each user not placed yet that a filter
    /// matches is placed in the filter's area when that touches no device — it has no services, or
    /// all of them are in that area already. A user with services elsewhere is only named: its move
    /// is a change order that re-applies the area's settings and resets its phones, which an
    /// operator starts (`ucp user move ID --filter`), not a synchronization.
    ///
    /// The unplaced users are read `chunkSize` at a time (`candidatePages`); each chunk's placements,
    /// audit line and detailed log lines are written in one transaction fenced on the job's attempt,
    /// then handed to `report`. The summary line with the totals comes last.
    public func automaticMoveAfterSync(domain: String, syncType: String, owner: QueueStore.Held?, jobID: Int64?, actor: String,
                                       chunkSize: Int = candidateChunkSize,
                                       report: @Sendable ([String]) async throws -> Void) async throws {
        guard try await connection.query(MoveFilterSQL.automaticMoveGet, [domain]).first?.decode("automatic_move") == true else { return }
        let set = try await filterSet(domain: domain)
        guard !set.filters.isEmpty else {
            let lines = ["Automatic move of domain '\(domain)': the domain has no move filters; no user placed"]
            try await append(lines, domain: domain, syncType: syncType, owner: owner, jobID: jobID, actor: actor, placed: [:])
            try await report(lines)
            return
        }
        var count = 0, byHand = 0, unmatched = 0
        try await candidatePages(domain: domain, chunkSize: chunkSize) { page in
            var lines: [String] = [], placed: [String: [String]] = [:]
            for candidate in page {
                guard let filter = set.decide(candidate) else { unmatched += 1; continue }
                let userID = candidate.user.userID
                if candidate.placesWithoutDeviceChange(in: filter.serviceArea) {
                    placed[filter.serviceArea, default: []].append(userID)
                    count += 1
                    lines.append("Automatic move: \(userID) placed in service area '\(filter.serviceArea)' by filter '\(filter.name)' (\(filter.condition))")
                } else {
                    byHand += 1
                    let areas = candidate.serviceAreas.map { $0.isEmpty ? "none" : "'\($0)'" }.joined(separator: ", ")
                    lines.append("Automatic move: \(userID) matches filter '\(filter.name)' (\(filter.condition)) for service area '\(filter.serviceArea)' "
                                 + "but has services in \(areas): not moved (a move with services is a change order): ucp user move \(userID) --filter")
                }
            }
            if !lines.isEmpty {
                try await append(lines, domain: domain, syncType: syncType, owner: owner, jobID: jobID, actor: actor, placed: placed)
                try await report(lines)
            }
        }
        let summary = ["Automatic move of domain '\(domain)': \(count) users placed, \(byHand) need a move by hand, \(unmatched) matched no filter"]
        try await append(summary, domain: domain, syncType: syncType, owner: owner, jobID: jobID, actor: actor, placed: [:])
        try await report(summary)
    }

    /// One chunk: its placements, their audit line and its log lines, in one transaction fenced on the job's attempt.
    private func append(_ lines: [String], domain: String, syncType: String, owner: QueueStore.Held?, jobID: Int64?, actor: String,
                        placed: [String: [String]]) async throws {
        try await connection.transaction { session in
            if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
            var count = 0
            for (area, users) in placed.sorted(by: { $0.key < $1.key }) {
                count += try session.query(MoveFilterSQL.place, [domain, PostgresTextArray(users), area]).count
            }
            if count > 0 {
                try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "users.moved", jobID: jobID, target: domain,
                                                                  message: "Automatic move of domain '\(domain)': \(count) users placed by the move filters")
            }
            try UserSyncStore.InTransaction(session).syncLogAppend(syncType: syncType, target: domain, lines: lines)
        }
    }
}
