import Foundation
import Postgres
import PostgresCluster
import TestSupport
import XCTest

/// As root the embedded cluster's server runs as the `postgres` system user; a home that user cannot
/// reach is refused with a line that says so and what to do, instead of initdb's bare "Permission denied".
final class EmbeddedHomeTests: XCTestCase {
    func testAHomeThePostgresUserCannotReachIsRefusedWithTheReason() throws {
        try XCTSkipUnless(geteuid() == 0, "only root hands the server to the postgres user")
        let closed = NSTemporaryDirectory() + "ucp-closed-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: closed, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: closed) }
        let cluster = LocalCluster(directory: closed + "/home/postgres")
        XCTAssertThrowsError(try cluster.start()) { error in
            XCTAssertEqual((error as? PostgresError)?.kind, .invalidConfiguration)
            XCTAssertTrue("\(error)".contains("the postgres system user cannot reach \(closed)/home/postgres"), "\(error)")
            XCTAssertFalse("\(error)".contains("\n"), "one line")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: closed + "/home/postgres/data"), "initdb did not run")
    }
}
