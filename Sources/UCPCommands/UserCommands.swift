import APIServer
import ArgumentParser
import Foundation
import Inventory
import Postgres

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "The users of the domains (LDAP synchronization creates them).",
        subcommands: [List.self, Show.self])

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
            var lines = [("user id", user.userID), ("domain", user.domain), ("source", user.source)]
            for column in User.fieldColumns { if let value = user.fields[column] { lines.append((column.replacingOccurrences(of: "_", with: " "), value)) } }
            if let dn = user.directoryDN { lines.append(("directory dn", dn)) }
            lines.append(("enabled", user.enabled ? "yes" : "no (disabled in the directory)"))
            lines.append(("state", user.state + (user.staleSince.map { " since \(Output.shortTime($0))" } ?? "")))
            for order in orders { lines.append(("delete order", "\(order.id) \(order.action) \(order.state)")) }
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

/// Prints the detailed log of a domain's latest LDAP (or domain) synchronization.
struct DomainLogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "The detailed log of the domain's latest synchronization (seed: View Detailed Log).")
    @Argument(help: "The domain.") var name: String
    @Option(help: "Which synchronization: ldap (domain comes with the domain synchronization).") var kind: String = "ldap"

    func run() async throws {
        guard ["ldap", "domain"].contains(kind) else { throw ValidationError("kind: must be ldap or domain (got '\(kind)')") }
        guard let log = try await UserStore(Connection(try await Database.open())).syncLogGet(syncType: kind, target: name) else {
            print("domain '\(name)': no \(kind) synchronization has run yet")
            return
        }
        print("\(kind) synchronization of '\(name)'\(log.jobID.map { " (job \($0))" } ?? ""): \(log.outcome), "
              + "\(Output.shortTime(log.startedAt)) to \(Output.shortTime(log.finishedAt))")
        for line in log.lines { print(line) }
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
