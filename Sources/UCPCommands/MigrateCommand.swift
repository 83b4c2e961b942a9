import ArgumentParser
import Foundation
import Postgres
import Queue
import Schema

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the pending migrations of migrations/ (safe to run twice, and twice at once).")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let database = try Database.openForMigration()
        let migrator = try Migrator.locate()
        let applied = try await migrator.apply(Connection(database), actor: global.actorName)
        if applied.isEmpty {
            print("\(database): schema is current (\(try migrator.migrations().count) migrations)")
        } else {
            for name in applied { print("applied \(name)") }
        }
    }
}
