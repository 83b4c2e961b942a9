import Queue
import Runtime
import XCTest

/// Process names (found by fuzzing, scripts/fuzz.sh names): a worker's sessions are found by
/// `application_name`, which PostgreSQL cuts at 63 bytes and keeps in ASCII only; the default name
/// comes from the host name, which may hold characters a name may not.
final class ProcessNameTests: XCTestCase {
    func testAcceptedNamesFitASessionNameAsTyped() throws {
        let longest = String(repeating: "w", count: Names.longestProcessName)
        XCTAssertTrue(Names.isValidProcessName(longest))
        XCTAssertEqual((Worker.sessionNamePrefix + longest).utf8.count, 63)
        XCTAssertFalse(Names.isValidProcessName(longest + "w"))
        XCTAssertFalse(Names.isValidProcessName("wörker"))
        XCTAssertTrue(Names.isValidProcessName("worker-1.dc:2@x_y"))
    }

    func testARefusedNameIsOneLineNamingTheRule() {
        XCTAssertThrowsError(try Names.validateProcessName("a\nb")) { error in
            XCTAssertEqual((error as? InputError)?.description,
                           "name: use 1 to 52 letters A-Z, a-z, digits, '.', '_', '-', '@' or ':' (got 'a\\nb')")
        }
    }

    func testTheDefaultNameIsValidWhateverTheHostIsCalled() {
        for host in ["Nightly sync", "", ".", "höst.example.com", String(repeating: "h", count: 300), "db1.example.com"] {
            let name = Names.defaultProcessName(role: "coordinator", host: host, pid: 4_194_304)
            XCTAssertTrue(Names.isValidProcessName(name), "\(name) from \(host)")
        }
        XCTAssertEqual(Names.defaultProcessName(role: "worker", host: "db1.example.com", pid: 42), "worker-db1-42")
        XCTAssertEqual(Names.defaultProcessName(role: "worker", host: "Nightly sync", pid: 42), "worker-Nightly-sync-42")
    }
}
