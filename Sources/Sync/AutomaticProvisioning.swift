import Directory
import Foundation
import Inventory
import Postgres
import Queue
import Runtime

/// One user's order of automatic provisioning: the services of its roles in its service area.
public struct ProvisioningOrder: Sendable, Equatable {
    public var domain: String
    public var user: String
    public var serviceArea: String
    /// The line by the seed's four cases; `.none`: no line service, so the order holds only the
    /// services that need no line (`UserRole.withoutLine`).
    public var line: LineChoice
    /// The union of the user's roles (`UserRole.union`); its name lists them.
    public var services: UserRole
    /// Tells user records of one ID apart (`created_at` in microseconds): a user deleted and brought
    /// in again is a new record, provisioned again.
    public var generation: Int64

    /// The phone, named after the user (`UserRole.phoneName(for:)`).
    public var phoneName: String { UserRole.phoneName(for: user) }
    /// The order's idempotency key: a rerun never submits a user record's order twice.
    public var key: String { "autoprov:\(domain):\(user):\(generation)" }
}

/// What submitting one order did.
public struct ProvisioningSubmitted: Sendable {
    public var orderID: Int64
    /// The number the order took; empty for an order without a line.
    public var line: String
    /// False when the key named an order submitted before.
    public var created: Bool

    public init(orderID: Int64, line: String, created: Bool) {
        self.orderID = orderID
        self.line = line
        self.created = created
    }
}

/// The order engine as automatic provisioning uses it (Sources/Orders implements it; the worker
/// hands it to the LDAP synchronization's handler): ordinary orders, planned and refused as any.
public protocol ProvisioningOrders: Sendable {
    /// Submits the order (its key makes a second submission return the first), fenced on the
    /// sync job's attempt `owner`; a refusal is an `InputError`.
    func submit(_ order: ProvisioningOrder, connection: Connection, actor: String, owner: QueueStore.Held?) async throws -> ProvisioningSubmitted
}

/// A domain's automatic provisioning as an LDAP synchronization applies it: the domain's resolved
/// LDAP settings (its service area and user role filters) and its user roles.
public struct AutomaticProvisioningRules: Sendable {
    public let ldap: DomainLDAP
    public let roles: [String: UserRole]
    public let defaultRole: String?

    /// What the search must read for the filters.
    var attributes: [String] { ldap.readAttributes }

    /// The rules of `domain` when its automatic provisioning is on, else nil.
    public static func load(domain: Domain, connection: Connection) async throws -> AutomaticProvisioningRules? {
        let store = UserRoleStore(connection)
        let settings = try await store.provisioning(domain: domain.name)
        guard settings.on, let ldap = domain.ldap else { return nil }
        let roles = try await store.roleList(domain: domain.name)
        return AutomaticProvisioningRules(ldap: ldap, roles: Dictionary(uniqueKeysWithValues: roles.map { ($0.name, $0) }),
                                          defaultRole: settings.defaultRole)
    }

    /// What the filters say of one entry read, as the synchronization stages it with the entry: the
    /// position of the first service area rule that matches, and the roles that match, each filter
    /// evaluated with the directory's matching rules (`rules`, read from its schema).
    func stagedMatch(_ entry: [String: [String]], rules: LDAPMatchingRules) -> (serviceAreaRule: Int?, roles: [String]) {
        (ldap.firstServiceAreaRuleIndex(matching: entry, rules: rules), ldap.userRoles(matching: entry, rules: rules).map(\.name))
    }

    /// The staged match of a user awaiting provisioning, with its service area rule.
    func match(_ staged: ProvisioningAwaiting) -> ProvisioningMatch {
        let rules = ldap.serviceAreaRules
        return ProvisioningMatch(area: staged.serviceAreaRule.flatMap { rules.indices.contains($0) ? rules[$0] : nil },
                                 roles: staged.roles, phone: staged.phone)
    }
}

/// What the filters said of one user read by the synchronization.
struct ProvisioningMatch: Sendable {
    /// The first service area LDAP filter that matches; nil: none.
    var area: ServiceAreaRule?
    /// The roles whose role LDAP filter matches, in the domain's order.
    var roles: [String]
    /// The telephone number attribute as read (the LDAP synchronized number).
    var phone: String?
}

/// Automatic service provisioning at the end of a successful LDAP synchronization (issue 15 item 9;
/// seed 004, the service area and role LDAP filters and the line options): for each user awaiting it
/// (brought in by this or an earlier synchronization while it was on, no order yet), one ordinary
/// order of its roles' services in its service area, the line by the seed's four cases. A user with
/// no line service (seed: "does not provision Line service for the user") gets an order of the
/// services that need no line (`UserRole.withoutLine`), and the log says what was left out and why;
/// it is provisioned then, once: a number synchronized later orders no line (an operator orders it,
/// as for any provisioned user whose number changes). A user left without an order (no filter
/// matches, a number in use …) is tried again by the next synchronization. Disabled accounts,
/// synchronized when the domain reads inactive users, are provisioned like the others (seed:
/// "Synchronizing disabled users enables you … to autoprovision services"). A dry run lists the
/// orders it would queue and submits nothing.
///
/// What the filters said of each entry is staged with the entry (`ldap_seen`, a temporary table of
/// the synchronization's session); the users awaiting provisioning are read from it `chunkSize` at
/// a time, and each page's lines go to the job's log and the end of the sync's detailed log (not in
/// a dry run) as the page ends, so memory does not grow with the directory and what was submitted
/// is logged even when a later page fails. The summary with the totals comes last.
enum AutomaticProvisioning {
    /// `database`: the synchronization's connection, whose session holds the staged matches;
    /// `chunkSize`: how many users awaiting provisioning are read at a time.
    static func afterSync(domain: String, rules: AutomaticProvisioningRules?, chunkSize: Int,
                          dryRun: Bool, orders: (any ProvisioningOrders)?, database: Connection, reporter: any SyncReporter,
                          owner: QueueStore.Held?, actor: String) async throws {
        guard let rules else { return }
        // Lines added to the detailed log (in a transaction fenced on the sync's attempt), then to the job's.
        func write(_ lines: [String]) async throws {
            guard !lines.isEmpty else { return }
            if !dryRun {
                try await database.transaction { session in
                    try LDAPSynchronization.fence(session, owner)
                    try UserSyncStore.InTransaction(session).syncLogAppend(syncType: LDAPSynchronization.syncType, target: domain, lines: lines)
                }
            }
            for line in lines { try await reporter.log(line) }
        }
        do {
            try await provision(domain: domain, rules: rules, chunkSize: chunkSize, dryRun: dryRun, orders: orders,
                                database: database, reporter: reporter, owner: owner, actor: actor, write: write)
        } catch let error where error is JobLostError || error is JobCanceledError || error is CancellationError {
            throw error
        } catch {
            // After the lines of the pages done: their orders stand.
            try await write(["Automatic provisioning of domain '\(domain)' failed: \(error)"])
        }
    }

    /// Provisions page by page, handing each page's lines to `write` as the page ends, the summary last.
    static func provision(domain: String, rules: AutomaticProvisioningRules, chunkSize: Int,
                          dryRun: Bool, orders: (any ProvisioningOrders)?, database: Connection, reporter: any SyncReporter,
                          owner: QueueStore.Held?, actor: String, write: ([String]) async throws -> Void) async throws {
        let prefix = dryRun ? "Dry run of the automatic provisioning" : "Automatic provisioning"
        let limit = max(1, chunkSize)
        var tally = Tally()
        // Keyset pages of the staged users: a page is read after the orders of the one before.
        var after: String?
        while true {
            try reporter.checkCancellation()
            let page = try await database.withSession { [after] session in
                try UserSyncStore.InTransaction(session).ldapProvisioningAwaiting(domain: domain, dryRun: dryRun, after: after, limit: limit)
            }
            guard let last = page.last else { break }
            after = last.userID
            tally.awaiting += page.count
            // Without an order engine only the count is wanted.
            if dryRun || orders != nil {
                try await write(try await provisionPage(page, domain: domain, rules: rules, dryRun: dryRun, orders: orders, database: database,
                                                        reporter: reporter, owner: owner, actor: actor, into: &tally))
            }
            if page.count < limit { break }
        }
        let awaiting = tally.awaiting, queued = tally.queued, before = tally.before, withoutLine = tally.withoutLine
        guard awaiting > 0 else { return try await write(["\(prefix) of domain '\(domain)': no user awaits it; no order"]) }
        guard dryRun || orders != nil else {
            return try await write(["\(prefix) of domain '\(domain)': this process cannot submit orders; \(awaiting) users not provisioned"])
        }
        let ordersText = "\(queued) orders \(dryRun ? "would be " : "")queued" + (withoutLine > 0 ? " (\(withoutLine) without a line)" : "")
        try await write(["\(prefix) of domain '\(domain)': \(awaiting) users await it, \(ordersText), "
                         + "\(awaiting - queued - before) without an order" + (before > 0 ? ", \(before) submitted before" : "")])
    }

    /// What the pages did so far, for the summary: counts only (each page's lines are written as it ends).
    struct Tally {
        var awaiting = 0, queued = 0, before = 0, withoutLine = 0
    }

    /// One page of users awaiting provisioning: each user's order submitted (listed in a dry run) and
    /// counted in `tally`. Returns the page's lines: its orders (after the table's header, when
    /// they are the run's first), then the reasons and notes.
    private static func provisionPage(_ page: [ProvisioningAwaiting], domain: String, rules: AutomaticProvisioningRules, dryRun: Bool,
                                      orders: (any ProvisioningOrders)?, database: Connection, reporter: any SyncReporter,
                                      owner: QueueStore.Held?, actor: String, into tally: inout Tally) async throws -> [String] {
        let store = UserRoleStore(database)
        let firstOrders = tally.queued == 0
        var queued: [String] = [], notes: [String] = []
        for staged in page {
            try reporter.checkCancellation()
            let userID = staged.userID, generation = staged.generation
            let match = rules.match(staged)
            var submittedOrder = false
            func skip(_ reason: String) { notes.append("Automatic provisioning: \(userID): no order: \(reason)") }
            var names = match.roles
            if let fallback = rules.defaultRole, !names.contains(fallback) { names.append(fallback) }
            let unknown = names.filter { rules.roles[$0] == nil }
            for name in unknown { notes.append("Automatic provisioning: \(userID): the role LDAP filter names '\(name)', which is not a user role of the domain; ignored") }
            guard let services = UserRole.union(names.compactMap { rules.roles[$0] }) else {
                skip("no user role (no role LDAP filter matches and the domain has no default role)")
                continue
            }
            guard let area = match.area else {
                skip("no service area LDAP filter matches")
                continue
            }
            let line = LineChoice.choose(ldapNumber: match.phone, mask: area.mask, assignNewLine: area.assignNewLine)
            let order = ProvisioningOrder(domain: domain, user: userID, serviceArea: area.name, line: line, services: services,
                                          generation: generation)
            do {
                if dryRun {
                    // The user is not in the inventory (a dry run keeps nothing), so the order cannot be planned yet.
                    switch line {
                    case .number(let number): queued.append("\(userID), \(area.name), \(number), \(services.name): \(services.services)")
                    case .fromBlock: queued.append("\(userID), \(area.name), the next free number of the block, \(services.name): \(services.services)")
                    case .none: queued.append("\(userID), \(area.name), no line, \(services.name): \(services.withoutLine.ordered.joined(separator: ", "))")
                    }
                    submittedOrder = true
                } else if let orders {
                    let submitted = try await orders.submit(order, connection: database, actor: actor, owner: owner)
                    try await store.provisioningDone(user: userID, owner: owner)
                    if submitted.created {
                        queued.append("\(userID), \(submitted.orderID), \(area.name), \(submitted.line.isEmpty ? "no line" : submitted.line)")
                        submittedOrder = true
                    } else {
                        tally.before += 1
                        notes.append("Automatic provisioning: \(userID): order \(submitted.orderID) was submitted before (key \(order.key)); not submitted again")
                    }
                }
            } catch let error as InputError {
                skip(error.description)
            } catch let error where !(error is JobLostError || error is JobCanceledError || error is CancellationError) {
                // One user's failure (a lost connection, …) is that user's line; the others go on.
                skip("submission failed: \(error)")
            }
            if submittedOrder { tally.queued += 1 }
            if submittedOrder, case .none(let reason) = line {
                tally.withoutLine += 1
                let split = services.withoutLine
                notes.append("Automatic provisioning: \(userID): no line service (\(reason), service area '\(area.name)' "
                             + "\(area.mask == nil ? "uses the LDAP number" : "applies the mask only")), so the order holds "
                             + "\(split.ordered.joined(separator: ", ")) and leaves out what needs the line: \(split.leftOut.joined(separator: ", ")); "
                             + "a number synchronized later orders no line (the user is provisioned once): order it with ucp order submit")
            }
        }
        guard !queued.isEmpty else { return notes }
        let header = dryRun ? "Automatic provisioning would queue orders for the following users: UserId, ServiceArea, Number, Roles: Services"
                            : "Automatic provisioning orders were queued for the following users: UserId, OrderId, ServiceArea, Number"
        return (firstOrders ? [header] : []) + queued + notes
    }
}

extension UserRole {
    /// What an order of these services holds when the user has no line service, and what it leaves
    /// out because it needs the line: the phone carries it, voicemail is reached at it, the Extension
    /// Mobility profile holds it. The user itself (pushed to Unified CM) and IM and Presence (a user
    /// setting) need none.
    var withoutLine: (ordered: [String], leftOut: [String]) {
        var ordered = ["the user on Unified CM"], leftOut = ["phone \(phoneModel)"]
        if let imPresence { ordered.append("IM and Presence (service profile \(imPresence))") }
        if voicemail { leftOut.append("voicemail") }
        if extensionMobility { leftOut.append("extension mobility") }
        return (ordered, leftOut)
    }
}
