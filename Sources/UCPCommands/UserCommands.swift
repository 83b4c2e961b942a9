import APIServer
import ArgumentParser
import Foundation
import Inventory
import Orders
import Runtime
import Postgres
import Queue

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "The users of the domains: list, show, add by hand, edit, move to a service area, push to Unified CM.",
        discussion: """
            Seed 000's user steps: synchronized users come from LDAP or the devices; `add` creates one by hand \
            (source manual); `move` places a user in a service area (a user with services there becomes a \
            change order re-applying the area's settings, within one call processor); `push` is an order \
            that adds the user to Unified CM (or adopts the one there) with an optional credential policy.
            """,
        subcommands: [List.self, Show.self, Add.self, Edit.self, Move.self, Push.self],
        aliases: ["users"])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a domain's users.")
        @Option(help: "The domain.") var domain: String
        @Flag(help: "JSON instead of a table.") var json = false

        func run() async throws {
            let store = UserStore(Connection(try await Database.open()))
            let users = try await store.userList(domain: domain)
            let services = try await store.userServiceCounts(domain: domain)
            if json {
                print(try Output.json(users.map { user in
                    var object = UserOutput.json(user)
                    object["services"] = services[user.userID] ?? 0
                    return object
                }))
                return
            }
            guard !users.isEmpty else {
                print("domain '\(domain)' has no users")
                return
            }
            let header = ["USER ID", "NAME", "EMAIL", "PHONE", "SOURCE", "STATE", "SERVICES"]
            let rows = users.map { user in
                [user.userID, UserOutput.name(user), user.fields["email"] ?? "", user.fields["phone"] ?? "", user.source,
                 user.enabled ? user.state : "\(user.state) (disabled)", String(services[user.userID] ?? 0)]
            }
            print(UserOutput.table(header, rows))
            print("\(users.count) users")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one user.")
        @Argument(help: "The user ID.") var userID: String
        @Flag(help: "JSON instead of text.") var json = false

        func run() async throws {
            let store = UserStore(Connection(try await Database.open()))
            guard let user = try await store.userGet(userID: userID) else {
                throw UserStore.noSuchUser(userID)
            }
            let orders = try await store.userDeleteOrders(userID: user.userID)
            let services = try await store.userServices(userID: user.userID)
            if json {
                print(try Output.json(Representation.userDetail(user, services: services, deleteOrders: orders)))
                return
            }
            var lines = [("user id", user.userID), ("domain", user.domain), ("source", user.source),
                         ("service area", user.serviceArea ?? "none (domain level)")]
            for column in User.fieldColumns { if let value = user.fields[column] { lines.append((column.replacingOccurrences(of: "_", with: " "), value)) } }
            if let dn = user.directoryDN { lines.append(("directory dn", dn)) }
            lines.append(("enabled", user.enabled ? "yes" : "no (disabled in the directory)"))
            lines.append(("state", user.state + (user.staleSince.map { " since \(Output.shortTime($0))" } ?? "")))
            for order in orders {
                lines.append(("delete order", "\(order.id) \(order.action) \(order.state)" + (order.orderID.map { " (order \($0))" } ?? "")
                                  + (order.message.map { ": \($0)" } ?? "")))
            }
            lines.append(("created", Output.shortTime(user.createdAt)))
            lines.append(("updated", Output.shortTime(user.updatedAt)))
            if user.caseClash {
                lines.append(("case clash", "another user has this ID in another case; synchronizations leave this one alone (remove one of them)"))
            }
            let width = (lines.map(\.0.count).max() ?? 0) + 2
            for (name, value) in lines { print(pad(name, width) + value) }
            print(services.isEmpty ? "services: none" : "services: \(services.count)")
            var area: String?? = .none
            for service in services {
                if area != .some(service.serviceArea) {
                    area = .some(service.serviceArea)
                    print("  " + (service.serviceArea.map { "service area \($0)" } ?? "no service area"))
                }
                print("    " + pad(service.type, 28) + pad(service.key, 24) + " on \(service.device)" + UserOutput.detail(service.detail))
            }
        }
    }
}

/// The fields `user add|edit` set (UserDraft.columns); nil: not given, '' clears it on edit.
struct UserFieldOptions: ParsableArguments {
    @Option(help: "First name (up to 64 characters).") var firstName: String?
    @Option(help: "Middle name.") var middleName: String?
    @Option(help: "Last name (required on add: Unified CM needs it).") var lastName: String?
    @Option(help: "Mail address (name@domain).") var email: String?
    @Option(help: "Telephone number.") var phone: String?
    @Option(help: "Department.") var department: String?
    @Option(help: "Title.") var title: String?
    @Option(help: "The manager's user ID.") var manager: String?

    var given: [String: String] {
        let values: [(String, String?)] = [("first_name", firstName), ("middle_name", middleName), ("last_name", lastName), ("email", email),
                                           ("phone", phone), ("department", department), ("title", title), ("manager_id", manager)]
        return Dictionary(uniqueKeysWithValues: values.compactMap { name, value in value.map { (name, $0) } })
    }
}

extension UsersCommand {
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user by hand in a domain (seed 000 step 1; source manual). Writes no device.")
        @Argument(help: "The user ID (letters, digits, '.', '_', '@', '-'; unique without case).") var userID: String
        @Option(help: "The domain.") var domain: String
        @Option(help: "Place the user in this service area of the domain.") var serviceArea: String?
        @OptionGroup var fields: UserFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let store = UserStore(Connection(try await Database.open()))
            let user = try await store.userAdd(UserDraft(userID: userID, domain: domain, fields: fields.given), placedIn: serviceArea,
                                               actor: global.actorName)
            print("user \(user.userID) added to domain '\(user.domain)'" + (user.serviceArea.map { ", placed in service area '\($0)'" } ?? " (not placed in a service area)"))
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a manual user's fields ('' clears one). Users an LDAP or device synchronization keeps follow their source and are refused.")
        @Argument(help: "The user ID.") var userID: String
        @OptionGroup var fields: UserFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let changes = fields.given
            guard !changes.isEmpty else {
                throw InputError(field: "fields", problem: "name at least one to change (--first-name, --last-name, --email, …)")
            }
            let store = UserStore(Connection(try await Database.open()))
            let before = try await store.userGet(userID: userID)
            let user = try await store.userEdit(userID: userID, actor: global.actorName) { current in
                for (column, value) in changes { current[column] = value }
            }
            print(before == user ? "user \(user.userID): nothing changed" : "user \(user.userID) edited")
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a user to a service area (seed 000 step 3), named or chosen by the domain's move filters.",
            discussion: """
                A user without services is only placed. A user with services becomes a change order that re-applies \
                the new area's device pool, location and CSSes to its phones and lines (the partition stays) and \
                resets its phones; its plan is printed like any order's. Only within one call processor. \
                --filter: the first move filter of the user's domain that matches chooses the area (ucp domain \
                move-filter); with --domain and no user ID, every user of the domain not placed yet.
                """)
        @Argument(help: "The user ID (none with --filter --domain).") var userID: String?
        @Option(help: "The service area of the user's domain to move to.") var serviceArea: String?
        @Flag(help: "Move to the service area of the first move filter of the user's domain that matches.") var filter = false
        @Option(help: "With --filter and no user ID: every user of this domain not placed yet.") var domain: String?
        @Flag(help: "Print the plan; write nothing.") var dryRun = false
        @Flag(help: "Wait for the change order to end; exit 0 succeeded, 1 otherwise.") var wait = false
        // Tests only: how many unplaced users --filter --domain reads at a time (to cross page boundaries).
        @Option(help: .hidden) var chunkSize: Int = MoveFilterStore.candidateChunkSize
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            if filter {
                if serviceArea != nil { throw InputError(field: "filter", problem: "chooses the service area: give --filter or --service-area, not both") }
                if domain != nil, userID != nil { throw InputError(field: "domain", problem: "moves every unplaced user of the domain: give a user ID or --domain, not both") }
            } else {
                if domain != nil { throw InputError(field: "domain", problem: "only with --filter (every unplaced user of the domain, by the move filters)") }
                if serviceArea == nil { throw InputError(field: "service-area", problem: "required (--service-area AREA, or --filter)") }
            }
            let connection = Connection(try await Database.open())
            if let domain {
                try await MoveByFilter.domain(domain, connection: connection, dryRun: dryRun, actor: global.actorName, chunkSize: chunkSize)
                return
            }
            guard let userID else { throw InputError(field: "user", problem: "required (a user ID, or --filter --domain D)") }
            guard let area = try await filter ? MoveByFilter.area(userID: userID, connection: connection) : serviceArea else { throw ExitCode.failure }
            let plan = try await OrderStore(connection).planMove(userID: userID, serviceArea: area)
            try await UserOrderOutput.run(plan, connection: connection, dryRun: dryRun, wait: wait, actor: global.actorName)
        }
    }

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Push a user to Unified CM (seed 000 step 4): an order that adds it, or adopts the one there, with an optional credential policy (step 2).")
        @Argument(help: "The user ID.") var userID: String
        @Option(help: "The service area whose call processor gets the user (default: the user's placement).") var serviceArea: String?
        @Option(help: "The Unified CM credential policy for the user's password and PIN (set by update after the add).") var credentialPolicy: String?
        @Flag(help: "Print the plan; write nothing.") var dryRun = false
        @Flag(help: "Wait for the order to end; exit 0 succeeded, 1 otherwise.") var wait = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let connection = Connection(try await Database.open())
            let plan = try await OrderStore(connection).planPush(userID: userID, serviceArea: serviceArea, credentialPolicy: credentialPolicy)
            try await UserOrderOutput.run(plan, connection: connection, dryRun: dryRun, wait: wait, actor: global.actorName)
        }
    }
}

/// A user order printed like any order's plan, then placed, or stored and queued.
enum UserOrderOutput {
    static func run(_ plan: UserOrderPlan, connection: Connection, dryRun: Bool, wait: Bool, actor: String) async throws {
        print("order: \(plan.summary)")
        for line in OrderOutput.planLines(plan.steps) { print(line) }
        guard !dryRun else { return }
        if plan.kind == "place" {
            let user = try await UserStore(connection).userPlace(userID: plan.user.userID, serviceArea: plan.area.name, actor: actor)
            print("user \(user.userID) placed in service area '\(plan.area.name)'")
            return
        }
        let submitted = try await OrderStore(connection).submit(plan, actor: actor)
        print("order \(submitted.order.id) submitted (job \(submitted.jobID.map(String.init) ?? "-")): \(plan.kind) \(plan.user.userID)")
        if wait { try await OrderOutput.wait(for: submitted.order.id, connection: connection) }
    }
}

/// `ucp user move --filter`: the domain's move filters choose the area; the move is planMove's.
enum MoveByFilter {
    /// The area the first matching filter names, printed with the filter; nil (and a line saying
    /// so) when none matches.
    static func area(userID: String, connection: Connection) async throws -> String? {
        guard let user = try await UserStore(connection).userGet(userID: userID) else { throw UserStore.noSuchUser(userID) }
        let store = MoveFilterStore(connection)
        let set = try await store.filterSet(domain: user.domain)
        guard let candidate = try await store.candidate(domain: user.domain, userID: user.userID), let filter = set.decide(candidate) else {
            print("user \(user.userID): no move filter of domain '\(user.domain)' matches (\(set.filters.count) filters): nothing moved")
            return nil
        }
        print("user \(user.userID): move filter \(MoveFilterOutput.text(filter))")
        return filter.serviceArea
    }

    /// Every user of the domain not placed yet, moved by the filters: each plan printed, then placed
    /// or submitted, one user at a time (a user that cannot move is a line, and the exit is 1). The
    /// users are read `chunkSize` at a time, so memory stays flat as the domain grows.
    static func domain(_ domain: String, connection: Connection, dryRun: Bool, actor: String,
                       chunkSize: Int = MoveFilterStore.candidateChunkSize) async throws {
        let store = MoveFilterStore(connection)
        let set = try await store.filterSet(domain: domain)
        guard !set.filters.isEmpty else {
            throw InputError(field: "domain '\(domain)'", problem: "has no move filters (ucp domain move-filter add '\(domain)' …)")
        }
        var moved = 0, unmatched = 0, refused = 0
        try await store.candidatePages(domain: domain, chunkSize: chunkSize) { page in
            for candidate in page {
                guard let filter = set.decide(candidate) else { unmatched += 1; continue }
                print("user \(candidate.user.userID): move filter \(MoveFilterOutput.text(filter))")
                do {
                    let plan = try await OrderStore(connection).planMove(userID: candidate.user.userID, serviceArea: filter.serviceArea)
                    try await UserOrderOutput.run(plan, connection: connection, dryRun: dryRun, wait: false, actor: actor)
                    moved += 1
                } catch let error as InputError {
                    print("user \(candidate.user.userID): not moved: \(error)")
                    refused += 1
                }
            }
        }
        print("domain '\(domain)': \(moved) users \(dryRun ? "would move" : "moved"), \(unmatched) matched no filter, \(refused) refused")
        if refused > 0 { throw ExitCode.failure }
    }
}

/// Prints the detailed log of a domain's latest LDAP (or domain) synchronization.
struct DomainLogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "The detailed log of the domain's latest synchronization (seed: View Detailed Log).")
    @Argument(help: "The domain.") var name: String
    @Option(help: "Which synchronization: ldap (domain comes with the domain synchronization; writeback with ucp domain write-back).")
    var kind: String = "ldap"

    func run() async throws {
        guard ["ldap", "domain", "writeback"].contains(kind) else { throw ValidationError("kind: must be ldap, domain or writeback (got '\(kind)')") }
        guard let (log, job) = try await Self.read(kind: kind, target: name, connection: Connection(try await Database.open())) else {
            print("domain '\(name)': no \(kind) synchronization has run yet")
            return
        }
        let (outcome, finishedAt) = Self.outcome(of: log, job: job)
        print("\(kind) synchronization of '\(name)'\(log.jobID.map { " (job \($0))" } ?? ""): \(outcome), "
              + (finishedAt.map { "\(Output.shortTime(log.startedAt)) to \(Output.shortTime($0))" } ?? "started \(Output.shortTime(log.startedAt))"))
        for line in log.lines { print(line) }
    }

    /// The detailed log and, while it says `running` (a log written as it goes, the domain
    /// write-back's), its job as the queue has it now; nil when none ran yet.
    static func read(kind: String, target: String, connection: Connection) async throws -> (SyncLog, Job?)? {
        let logs = UserStore(connection), queue = QueueStore(connection)
        guard var log = try await logs.syncLogGet(syncType: kind, target: target) else { return nil }
        while log.outcome == "running", let id = log.jobID {
            let job = try await queue.jobGet(id: id)
            if let job, job.state == .running || job.state == .canceling { return (log, job) }
            // A handler closes its log before its job ends: read again, so that a log closed (or
            // replaced by a newer run) meanwhile shows as it is, not as a job that ended without closing it.
            guard let again = try await logs.syncLogGet(syncType: kind, target: target) else { return nil }
            if again.outcome == "running" && again.jobID == id { return (again, job) }
            log = again
        }
        return (log, nil)
    }

    /// The outcome to show and when the run ended (nil: still running). A log still `running` whose
    /// job no longer runs — its worker killed, the job ended by the coordinator's rescue, or pruned
    /// since — was never closed: it shows how the job ended, never a stale `running`.
    static func outcome(of log: SyncLog, job: Job?) -> (String, Date?) {
        guard log.outcome == "running" else { return (log.outcome, log.finishedAt) }
        guard let job else { return ("failed: the job is gone from the queue (it ended without closing this log)", nil) }
        let reason = job.error.map { " (\($0))" } ?? ""
        switch job.state {
        case .running, .canceling:
            return ("running", nil)
        case .queued:
            return ("failed: the attempt that wrote it ended\(reason) without closing it; the job is queued again", nil)
        case .succeeded, .failed, .canceled:
            return ("\(job.state == .canceled ? "canceled" : "failed"): the job ended \(job.state.rawValue)\(reason) without closing this log",
                    job.finishedAt)
        }
    }
}

/// Phones of a domain's call processors that no user holds (seed: "Exporting Phones Without Associated Users").
struct DomainOrphansCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orphans", abstract: "List the phones of the domain's call processors that no user record holds.")
    @Argument(help: "The domain.") var name: String
    @Flag(help: "CSV (call processor, phone, description, device pool, owner named by the phone).") var csv = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let connection = Connection(try await Database.open())
        guard try await DomainStore(connection).domain(named: name) != nil else {
            throw ValidationError("domain: '\(name)' does not exist")
        }
        let phones = try await UserStore(connection).domainOrphanPhones(domain: name)
        if json {
            print(try Output.json(phones.map { ["device": $0.device, "name": $0.name, "description": $0.description,
                                                "device_pool": $0.devicePool, "owner": $0.owner] }))
        } else if csv {
            func field(_ text: String) -> String {
                text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
            }
            print("call_processor,phone,description,device_pool,owner")
            for phone in phones { print([phone.device, phone.name, phone.description, phone.devicePool, phone.owner].map(field).joined(separator: ",")) }
        } else if phones.isEmpty {
            print("domain '\(name)': every phone of its call processors is held by a user")
        } else {
            print(UserOutput.table(["CALL PROCESSOR", "PHONE", "DESCRIPTION", "DEVICE POOL", "OWNER"],
                                   phones.map { [$0.device, $0.name, $0.description, $0.devicePool, $0.owner] }))
            print("\(phones.count) phones without a user")
        }
    }
}

enum UserOutput {
    /// A service's detail as `key value` pairs, sorted (` (number 1000; partition PT_Internal)`).
    static func detail(_ json: String) -> String {
        guard let object = try? JSONDecoder().decode([String: DetailValue].self, from: Data(json.utf8)), !object.isEmpty else { return "" }
        return " (" + object.keys.sorted().map { "\($0.replacingOccurrences(of: "_", with: " ")) \(object[$0]!)" }.joined(separator: "; ") + ")"
    }

    /// A value of a service's detail: text, a flag, a number or a list of them.
    enum DetailValue: Decodable, CustomStringConvertible {
        case text(String), flag(Bool), number(Double), list([DetailValue])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) { self = .flag(flag) }
            else if let text = try? container.decode(String.self) { self = .text(text) }
            else if let number = try? container.decode(Double.self) { self = .number(number) }
            else { self = .list(try container.decode([DetailValue].self)) }
        }

        var description: String {
            switch self {
            case .text(let text): return text
            case .flag(let flag): return flag ? "yes" : "no"
            case .number(let number): return number == number.rounded() ? String(Int(number)) : String(number)
            case .list(let values): return values.map(\.description).joined(separator: ", ")
            }
        }
    }

    static func name(_ user: User) -> String {
        [user.fields["first_name"], user.fields["middle_name"], user.fields["last_name"]].compactMap { $0 }.joined(separator: " ")
    }

    static func json(_ user: User) -> [String: Any] { Representation.user(user) }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in index == cells.count - 1 ? cell : pad(cell, widths[index] + 2) }.joined()
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
