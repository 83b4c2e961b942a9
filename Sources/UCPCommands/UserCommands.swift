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
            let users = try await UserStore(Connection(try await Database.open())).userList(domain: domain)
            if json {
                print(try Output.json(users.map(UserOutput.json)))
                return
            }
            guard !users.isEmpty else {
                print("domain '\(domain)' has no users")
                return
            }
            let header = ["USER ID", "NAME", "EMAIL", "PHONE", "SOURCE", "STATE"]
            let rows = users.map { user in
                [user.userID, UserOutput.name(user), user.fields["email"] ?? "", user.fields["phone"] ?? "", user.source,
                 user.enabled ? user.state : "\(user.state) (disabled)"]
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
            let orders = try await store.userDeleteOrders(userID: userID)
            if json {
                print(try Output.json(Representation.userDetail(user, deleteOrders: orders)))
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
            let width = (lines.map(\.0.count).max() ?? 0) + 2
            for (name, value) in lines { print(pad(name, width) + value) }
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

enum UserOutput {
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
