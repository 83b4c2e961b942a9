import ArgumentParser
import Foundation
import Postgres
import Queue

struct MaintenanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maintenance",
        abstract: "Switch maintenance mode on or off by hand, or show it. While it is on, no order starts.")

    @Argument(help: "on, off or status.")
    var action: String

    @Flag(help: "Print JSON (status).")
    var json = false

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard ["on", "off", "status"].contains(action) else {
            throw ValidationError("action: must be on, off or status (got '\(action)')")
        }
        let store = QueueStore(Connection(try await Database.open()))
        if action != "status" {
            try await store.maintenanceSet(on: action == "on", actor: global.actorName)
        }
        let state = try await store.maintenanceState()
        if json {
            print(try Output.json(["active": state.active, "reason": state.reason as Any? ?? NSNull(),
                                   "since": Output.iso(state.since)]))
        } else if state.active {
            print("maintenance mode is on: \(state.reason ?? "")")
        } else {
            print("maintenance mode is off")
        }
    }
}
