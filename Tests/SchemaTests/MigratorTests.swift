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
}
