import ArgumentParser
import Foundation
import Inventory
import Postgres
import Runtime

/// `ucp domain move-filter add|list|remove|move` (issue 15 item 8; seed 000 step 4, "Define a filter").
struct MoveFilterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move-filter", abstract: "A domain's ordered move filters: which service area a user is moved to by its attributes.",
        discussion: """
            A filter tests one attribute: department, location or device_pool (those of the user's phones), or an \
            LDAP attribute the domain's field mapping reads (givenName, title, mail …). The pattern is a value \
            with '*' as the wildcard, compared without case. The first filter in order that matches decides: \
            `ucp user move ID --filter`, `ucp user move --filter --domain D`, and — with `ucp domain edit D \
            --automatic-move on` — the end of each LDAP and domain synchronization for users not placed yet.
            """,
        subcommands: [Add.self, List.self, Remove.self, Move.self], aliases: ["move-filters"])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a move filter (last, or at --position).")
        @Argument(help: "The domain.") var domain: String
        @Option(help: "The filter's name: letters, digits, space, '_', '-', '.', '@' (1 to 100).") var name: String
        @Option(help: "department, location, device_pool or an LDAP attribute of the domain's field mapping.") var attribute: String
        @Option(help: "The value to match; '*' is the wildcard (Sales, Sales*, *Paris*); without case.") var match: String
        @Option(help: "The service area of the domain the filter moves users to.") var serviceArea: String
        @Option(help: "Where the filter goes (1: tried first; default last).") var position: Int?
        @Flag(help: "Print JSON.") var json = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let store = MoveFilterStore(Connection(try await Database.open()))
            let filter = try await store.moveFilterAdd(domain: domain, MoveFilter(name: name, attribute: attribute, pattern: match, serviceArea: serviceArea),
                                                       position: position, actor: global.actorName)
            if json { print(try Output.json(MoveFilterOutput.json(filter))) } else { print("move filter \(MoveFilterOutput.text(filter)) added to domain '\(domain)'") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a domain's move filters in order.")
        @Argument(help: "The domain.") var domain: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let connection = Connection(try await Database.open())
            let filters = try await MoveFilterStore(connection).moveFilterList(domain: domain)
            if json {
                print(try Output.json(filters.map(MoveFilterOutput.json)))
                return
            }
            let automatic = try await MoveFilterStore(connection).automaticMove(domain: domain)
            guard !filters.isEmpty else {
                print("domain '\(domain)' has no move filters (automatic move \(automatic ? "on" : "off"))")
                return
            }
            print(UserOutput.table(["#", "NAME", "ATTRIBUTE", "MATCH", "SERVICE AREA"],
                                   filters.map { [String($0.position), $0.name, $0.attribute, $0.pattern, $0.serviceArea] }))
            print("\(filters.count) move filters; automatic move \(automatic ? "on" : "off")")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a move filter (the later ones move up).")
        @Argument(help: "The domain.") var domain: String
        @Argument(help: "The filter's name.") var name: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await MoveFilterStore(Connection(try await Database.open())).moveFilterRemove(domain: domain, filter: name, actor: global.actorName)
            print("move filter '\(name)' removed from domain '\(domain)'")
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a move filter at another position (1: tried first).")
        @Argument(help: "The domain.") var domain: String
        @Argument(help: "The filter's name.") var name: String
        @Option(help: "The new position.") var position: Int
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let moved = try await MoveFilterStore(Connection(try await Database.open()))
                .moveFilterMove(domain: domain, filter: name, position: position, actor: global.actorName)
            print(moved ? "move filter '\(name)' is now at position \(position)" : "move filter '\(name)': nothing changed")
        }
    }
}

enum MoveFilterOutput {
    static func json(_ filter: MoveFilter) -> [String: Any] {
        ["name": filter.name, "position": filter.position, "attribute": filter.attribute, "match": filter.pattern,
         "service_area": filter.serviceArea]
    }

    /// `1 'Sales': department=Sales* → SA_Sales`.
    static func text(_ filter: MoveFilter) -> String {
        "\(filter.position) '\(filter.name)': \(filter.condition) → service area '\(filter.serviceArea)'"
    }
}
