import Postgres

/// Query plans, for tests that assert a statement reads through an index.
public enum QueryPlans {
    /// A fresh database whose owner ran `setup` (the rows a plan is judged with, and the ANALYZE that
    /// gives the planner their statistics), with the owner's connection.
    public static func seeded(_ setup: String) async throws -> (database: TestDatabase, owner: Connection) {
        let database = try await TestServer.freshDatabase()
        let owner = Connection(database.owner)
        try await owner.withSession { session in try session.execute(setup) }
        return (database, owner)
    }

    /// The plan PostgreSQL runs `statement` with for `values` (SQL literals, parenthesized) once it
    /// uses the generic plan: a prepared statement's sixth and later executions may.
    public static func generic(_ connection: Connection, _ statement: Statement, _ values: String) async throws -> String {
        try await connection.withSession { session in
            try session.execute("PREPARE plan_under_test AS " + statement.sql)
            defer { try? session.execute("DEALLOCATE plan_under_test") }
            try session.execute("SET plan_cache_mode = force_generic_plan")
            defer { try? session.execute("RESET plan_cache_mode") }
            let rows = try session.query(Statement("", "EXPLAIN (COSTS OFF) EXECUTE plan_under_test " + values))
            return try rows.map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
        }
    }
}
