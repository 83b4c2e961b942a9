import Foundation
import Postgres
import Queue
import Runtime

/// Applies the numbered SQL files of `migrations/` in one transaction under an advisory lock, so
/// two `ucp migrate` at once are safe; records them in `schema_migrations`; a failing file rolls
/// everything back and is named in the error.
public struct Migrator: Sendable {
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        public let sql: String
    }

    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// Where the migrations are: `UCP_MIGRATIONS_DIR`, else a `migrations/` folder found above the
    /// executable (a build tree), else `<prefix>/share/ucp/migrations` beside an installed binary.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Migrator {
        if let configured = environment["UCP_MIGRATIONS_DIR"], !configured.isEmpty {
            return Migrator(directory: configured)
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = executable.deletingLastPathComponent()
        let shared = folder.deletingLastPathComponent().appendingPathComponent("share/ucp/migrations")
        while folder.path != "/" {
            let candidate = folder.appendingPathComponent("migrations")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("001_queue.sql").path) {
                return Migrator(directory: candidate.path)
            }
            folder = folder.deletingLastPathComponent()
        }
        if FileManager.default.fileExists(atPath: shared.path) { return Migrator(directory: shared.path) }
        throw InputError(field: "migrations", problem: "folder not found; set UCP_MIGRATIONS_DIR to the migrations/ folder")
    }

    public func migrations() throws -> [Migration] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }.sorted()
        var seen: Set<Int> = []
        return try names.map { name in
            guard let prefix = name.split(separator: "_").first, prefix.count == 3, let version = Int(prefix) else {
                throw InputError(field: "migrations/\(name)", problem: "file names must start with a three-digit number and '_'")
            }
            guard seen.insert(version).inserted else {
                throw InputError(field: "migrations/\(name)", problem: "version \(version) is used twice")
            }
            let sql = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
            return Migration(version: version, name: name, sql: sql)
        }
    }

    static let lockKey: Int64 = 7566937000
    static let createTable = Statement("", """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version     integer PRIMARY KEY,
            name        text NOT NULL,
            checksum    text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now(),
            applied_by  text NOT NULL
        )
        """)
    static let lock = Statement("", "SELECT pg_advisory_xact_lock($1)")
    static let applied = Statement("", "SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    static let checksum = Statement("", "SELECT md5($1) AS sum")
    static let record = Statement("", """
        INSERT INTO schema_migrations (version, name, checksum, applied_by) VALUES ($1, $2, md5($3), $4)
        """)

    /// Applies what is pending; returns the names applied (empty when the schema is current).
    public func apply(_ connection: Connection, actor: String) async throws -> [String] {
        let migrations = try migrations()
        return try await connection.transaction { session in
            try session.query(Self.lock, [Self.lockKey])
            try session.query(Self.createTable)
            var applied: [Int: String] = [:]
            for row in try session.query(Self.applied) {
                applied[try row.decode("version")] = try row.decode("checksum", as: String.self)
            }
            var done: [String] = []
            for migration in migrations {
                if let recorded = applied[migration.version] {
                    let current: String = try session.query(Self.checksum, [migration.sql]).first!.decode("sum")
                    guard current == recorded else {
                        throw InputError(field: "migrations/\(migration.name)", problem: "changed after it was applied; add a new migration instead")
                    }
                    continue
                }
                do {
                    try session.execute(migration.sql)
                } catch let error as PostgresError {
                    throw InputError(field: "migrations/\(migration.name)", problem: "\(error.message); nothing was applied")
                }
                try session.query(Self.record, [migration.version, migration.name, migration.sql, actor])
                try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "migration.applied",
                                                              message: "Migration \(migration.name) applied")
                done.append(migration.name)
            }
            return done
        }
    }

    /// True when every migration file has been applied.
    public func isCurrent(_ connection: Connection) async throws -> Bool {
        let versions = try migrations().map { Int64($0.version) }
        return try await connection.withSession { session in
            let exists: Bool = try session.query(Self.tableExists).first!.decode("exists")
            guard exists else { return false }
            let applied = Set(try session.query(Self.applied).map { try $0.decode("version", as: Int64.self) })
            return versions.allSatisfy(applied.contains)
        }
    }

    static let tableExists = Statement("", "SELECT to_regclass('schema_migrations') IS NOT NULL AS exists")
}
