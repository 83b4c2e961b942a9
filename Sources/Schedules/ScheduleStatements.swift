import Postgres

/// Every statement that touches `schedules` (migrations/004_schedules.sql), by name. Values are always
/// bound parameters. Rows come back with `builder_text`, the builder choices joined by commas.
enum ScheduleSQL {
    /// A schedule's row, with the database's time it was read (`Schedule.readAt`).
    static let columns = "s.*, array_to_string(s.builder_choices, ',') AS builder_text, now() AS read_at"

    /// $12: no start was given, so it starts now on the database's clock ($3 is ignored).
    static let scheduleInsert = Statement("schedule_insert", """
        INSERT INTO schedules AS s (name, frequency, start_at, time_zone, selection_kind, builder_choices,
                                    granular_text, force_domain, parallel, abort_on_failure, updated_by)
        VALUES ($1, $2, CASE WHEN $12::boolean THEN now() ELSE $3::timestamptz END, $4, $5, $6::text[], $7,
                $8::boolean, $9::boolean, $10::boolean, $11)
        RETURNING \(columns)
        """)
    static let scheduleGet = Statement("schedule_get", "SELECT \(columns) FROM schedules s WHERE s.name = $1")
    static let scheduleGetForUpdate = Statement("schedule_get_for_update",
                                                "SELECT \(columns) FROM schedules s WHERE s.name = $1 FOR UPDATE")
    static let scheduleList = Statement("schedule_list", "SELECT \(columns) FROM schedules s ORDER BY s.name")
    static let scheduleUpdate = Statement("schedule_update", """
        UPDATE schedules AS s
           SET frequency = $2, start_at = $3::timestamptz, time_zone = $4, selection_kind = $5,
               builder_choices = $6::text[], granular_text = $7, force_domain = $8::boolean,
               parallel = $9::boolean, abort_on_failure = $10::boolean, updated_by = $11,
               updated_at = clock_timestamp()
         WHERE s.name = $1
        RETURNING \(columns)
        """)
    static let scheduleDelete = Statement("schedule_delete", "DELETE FROM schedules WHERE name = $1")
}

extension ScheduleDefinition {
    /// `$1`…`$10` of the insert and update statements; the caller appends the actor.
    var parameters: [any PostgresEncodable] {
        let choices: PostgresTextArray? = {
            guard case .builder = selection else { return nil }
            return PostgresTextArray(selection.builderChoices.map(\.rawValue))
        }()
        let granular: String? = {
            guard case .granular(let text) = selection else { return nil }
            return text
        }()
        return [name.value, frequency.cliForm, start, timeZone.identifier, selection.kind, choices, granular,
                forceDomain, parallel, abortOnFailure]
    }
}

