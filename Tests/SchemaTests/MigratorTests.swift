import Foundation
import Postgres
import Queue
import Schema
import TestSupport
import XCTest

final class MigratorTests: XCTestCase {
    func testTwoMigrationsAtOnceApplyOnceAndAgainIsANoOp() async throws {
        let server = try TestServer.configuration()
        let name = "t_mig_\(UInt32.random(in: 0...UInt32.max))"
        try await Connection(server).withSession { try $0.execute("CREATE DATABASE \(name)") }
        let database = server.with(database: name)
        let migrator = Migrator(directory: PackagePaths.root + "/migrations")
        async let first = migrator.apply(Connection(database), actor: "a")
        async let second = migrator.apply(Connection(database), actor: "b")
        let results = try await [first, second]
        XCTAssertEqual(results.map(\.count).sorted(), [0, try migrator.migrations().count])
        await assertEqual(try await migrator.apply(Connection(database), actor: "c"), [])
        await assertTrue(try await migrator.isCurrent(Connection(database)))
    }

    func testAFailingFileLeavesTheSchemaAsItWasAndIsNamed() async throws {
        let server = try TestServer.configuration()
        let name = "t_mig_\(UInt32.random(in: 0...UInt32.max))"
        try await Connection(server).withSession { try $0.execute("CREATE DATABASE \(name)") }
        let database = server.with(database: name)
        let folder = NSTemporaryDirectory() + "ucp-migrations-\(name)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: PackagePaths.root + "/migrations/001_queue.sql", toPath: folder + "/001_queue.sql")
        try "CREATE TABLE extra (id int);\nSELECT no_such_function();\n".write(toFile: folder + "/002_broken.sql", atomically: true, encoding: .utf8)
        do {
            _ = try await Migrator(directory: folder).apply(Connection(database), actor: "t")
            XCTFail("a broken migration applied")
        } catch {
            XCTAssertTrue("\(error)".contains("002_broken.sql"), "\(error)")
        }
        let exists: Bool = try await Connection(database).query(Statement("", """
            SELECT to_regclass('jobs') IS NOT NULL OR to_regclass('extra') IS NOT NULL AS any
            """)).first!.decode("any")
        XCTAssertFalse(exists, "nothing of the failed run may remain")
    }
    /// Users that clash by case only (imported before identities were case-insensitive) do not make
    /// migration 018 fail: the oldest keeps the identity, the others are marked, and from then on a
    /// second spelling of one identity is refused.
    func testCaseClashingUsersDoNotFailMigration018() async throws {
        let server = try TestServer.configuration()
        let name = "t_mig_\(UInt32.random(in: 0...UInt32.max))"
        try await Connection(server).withSession { try $0.execute("CREATE DATABASE \(name)") }
        let database = server.with(database: name)
        let folder = NSTemporaryDirectory() + "ucp-migrations-\(name)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let all = try FileManager.default.contentsOfDirectory(atPath: PackagePaths.root + "/migrations").filter { $0.hasSuffix(".sql") }.sorted()
        func copy(_ files: [String]) throws {
            for file in files { try FileManager.default.copyItem(atPath: PackagePaths.root + "/migrations/" + file, toPath: folder + "/" + file) }
        }
        try copy(all.filter { $0 < "018" })
        _ = try await Migrator(directory: folder).apply(Connection(database), actor: "t")
        let connection = Connection(database)
        _ = try await connection.query(Statement("", """
            INSERT INTO users (user_id, domain, created_at) VALUES ('JSmith', 'd', now() - interval '1 day'), ('jsmith', 'd', now()),
                                                                 ('JSMITH', 'd', now()), ('other', 'd', now())
            """))
        try copy(all.filter { $0 >= "018" })
        _ = try await Migrator(directory: folder).apply(Connection(database), actor: "t")
        let marked = try await connection.query(Statement("", "SELECT user_id FROM users WHERE case_clash ORDER BY user_id"))
            .map { try $0.decode("user_id", as: String.self) }
        XCTAssertEqual(marked, ["JSMITH", "jsmith"])
        do {
            _ = try await connection.query(Statement("", "INSERT INTO users (user_id, domain) VALUES ('OTHER', 'd')"))
            XCTFail("a second spelling of one user ID was accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("users_identity"), "\(error)")
        }
    }
}
