import APIServer
import ArgumentParser
import Foundation
import HTTPAPI
import Postgres

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Make, list and revoke the API tokens of `ucp serve`.",
        subcommands: [TokenCreateCommand.self, TokenListCommand.self, TokenRevokeCommand.self])
}

struct TokenCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Make a token and print it once: only its SHA-256 is kept, so it cannot be shown again.")

    @Option(help: "The token's name: the actor of the audit lines of what it does.") var name: String
    @Option(help: "viewer (reads), operator (also submits, cancels, switches maintenance) or admin (also changes devices, domains, settings, tokens).")
    var role: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let role = try APIRole.parse(role)
        try TokenStore.validateName(name)
        let made = try await TokenStore(Connection(try await Database.open()))
            .tokenCreate(name: name, role: role, actor: global.actorName)
        print(made.secret)
    }
}

struct TokenListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the tokens (never their secrets).")

    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let tokens = try await TokenStore(Connection(try await Database.open())).tokenList()
        if json {
            print(try Output.json(tokens.map(Representation.token)))
            return
        }
        for token in tokens {
            let state = token.revokedAt.map { "revoked \(Output.shortTime($0))" } ?? "active"
            print("\(pad(token.name, 24))\(pad(token.role.rawValue, 10))\(pad(state, 24))made by \(token.createdBy)")
        }
    }
}

struct TokenRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token: it stops working at once.")

    @Argument(help: "The token's name.") var name: String
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        _ = try await TokenStore(Connection(try await Database.open())).tokenRevoke(name: name, actor: global.actorName)
        print("token '\(name)' revoked")
    }
}
