import Foundation
import Postgres
import Queue
import Runtime
import ScheduleRules

/// The stored schedules: every change is validated first, written with its audit line in one
/// transaction, and refused whole (nothing written) when any rule fails. Firing schedules (runs,
/// `last_fired_at`) is the coordinator's later duty, not this store's.
public struct ScheduleStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    // MARK: reads

    public func scheduleGet(name: String) async throws -> Schedule? {
        try await connection.query(ScheduleSQL.scheduleGet, [name]).first.map(Schedule.init(row:))
    }

    /// Every schedule, by name.
    public func scheduleList() async throws -> [Schedule] {
        try await connection.query(ScheduleSQL.scheduleList).map(Schedule.init(row:))
    }

    // MARK: changes

    /// Granular lines of `definition` naming an object that does not exist (the preview's warnings).
    public func unknownObjects(in definition: ScheduleDefinition) async throws -> [SyncPlanWarning] {
        guard case .granular = definition.selection else { return [] }
        return SchedulePreview(definition, catalog: try await InventoryCatalogSource(connection).catalog()).unknownObjects
    }

    /// Adds a schedule. A granular line naming an object that does not exist is refused, with its
    /// line number, unless `allowUnknown` (the object may be added later).
    @discardableResult
    public func scheduleAdd(_ definition: ScheduleDefinition, actor: String, allowUnknown: Bool = false) async throws -> Schedule {
        try definition.validate()
        if !allowUnknown { try Self.refuseUnknown(try await unknownObjects(in: definition)) }
        return try await connection.transaction { session in
            let name = definition.name.value
            guard try session.query(ScheduleSQL.scheduleGet, [name]).isEmpty else {
                throw Self.alreadyExists(name)
            }
            let rows: Rows
            do {
                rows = try session.query(ScheduleSQL.scheduleInsert, definition.parameters + [actor, definition.startsWhenStored])
            } catch let error as PostgresError where error.kind == .uniqueViolation {
                throw Self.alreadyExists(name)
            }
            let schedule = try Schedule(row: rows.first!)
            try Self.audit(session, actor: actor, action: "schedule.added", target: name,
                           message: "Schedule '\(name)' added: \(Self.summary(schedule.definition))")
            return schedule
        }
    }

    /// Applies `change` to the schedule's fields. The name cannot change (delete and add again).
    /// An edit that changes nothing writes nothing. Changed granular text is checked as `scheduleAdd`
    /// checks it (unchanged text is not: an object removed since does not block other edits).
    @discardableResult
    public func scheduleUpdate(name: String, actor: String, allowUnknown: Bool = false,
                               _ change: @escaping @Sendable (inout ScheduleDefinition) throws -> Void) async throws -> Schedule {
        let catalog = allowUnknown ? nil : try await InventoryCatalogSource(connection).catalog()
        return try await connection.transaction { session in
            guard let row = try session.query(ScheduleSQL.scheduleGetForUpdate, [name]).first else {
                throw Self.noSuchSchedule(name)
            }
            let current = try Schedule(row: row)
            var after = current.definition
            try change(&after)
            guard after.name == current.definition.name else {
                throw InputError(field: "name", problem: "a schedule cannot be renamed (delete it and add it again)")
            }
            try after.validate()
            if let catalog, after.selection != current.definition.selection {
                try Self.refuseUnknown(SchedulePreview(after, catalog: catalog).unknownObjects)
            }
            let fields = after.changedFields(from: current.definition)
            guard !fields.isEmpty else { return current }
            let rows = try session.query(ScheduleSQL.scheduleUpdate, after.parameters + [actor])
            let schedule = try Schedule(row: rows.first!)
            try Self.audit(session, actor: actor, action: "schedule.changed", target: name,
                           message: "Schedule '\(name)' changed: \(fields.joined(separator: ", "))")
            return schedule
        }
    }

    public func scheduleDelete(name: String, actor: String) async throws {
        try await scheduleDelete(names: [name], actor: actor)
    }

    /// Deletes several schedules together: all of them, or none when one of them does not exist.
    public func scheduleDelete(names: [String], actor: String) async throws {
        try await connection.transaction { session in
            for name in names {
                guard try session.query(ScheduleSQL.scheduleGetForUpdate, [name]).first != nil else {
                    throw Self.noSuchSchedule(name)
                }
                try session.query(ScheduleSQL.scheduleDelete, [name])
                try Self.audit(session, actor: actor, action: "schedule.deleted", target: name,
                               message: "Schedule '\(name)' deleted")
            }
        }
    }

    // MARK: helpers

    public static func noSuchSchedule(_ name: String) -> InputError {
        InputError(field: "schedule '\(name)'", problem: "no such schedule")
    }

    /// One refusal per granular line that names nothing.
    static func refuseUnknown(_ unknown: [SyncPlanWarning]) throws {
        guard !unknown.isEmpty else { return }
        throw InputError(unknown.map {
            InputError(field: "granular", problem: "\($0) (add it first, or give --allow-unknown to store the line anyway)")
        })
    }

    static func alreadyExists(_ name: String) -> InputError {
        InputError(field: "name", problem: "a schedule named '\(name)' already exists")
    }

    /// `every 6 hours from … (UTC), builder: All; options: parallel`.
    static func summary(_ definition: ScheduleDefinition) -> String {
        var text = "\(definition.timingSummary), \(definition.selection.summary)"
        let options = definition.optionNames
        text += options.isEmpty ? "" : "; options: \(options.joined(separator: ", "))"
        return text
    }

    private static func audit(_ session: Session, actor: String, action: String, target: String, message: String) throws {
        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: action, target: target, message: message)
    }
}
