import Foundation
import Inventory
import Postgres
import Runtime
import TestSupport
import XCTest

/// The domain synchronization's business rules (seed 004) and `ucp service-area` as operators type
/// them: bad input is one line on stderr naming the field, a non-zero exit, and nothing written.
final class DomainRuleCommandTests: XCTestCase {
    func testRulePriorityAndAdditivity() throws {
        XCTAssertNil(try DomainRules.parse([""]).inEffect)
        XCTAssertNil(try DomainRules.parse(["sync-all-unity-users", "sync-primary-user-from-unity"]).inEffect,
                     "the coresident rules alone are not enough")
        let all = try DomainRules.parse(["match-department=Sales", "sync-existing-users", "sync-all-users"])
        XCTAssertEqual(all.inEffect, .syncAllUsers)
        XCTAssertTrue(all.matchRules.isEmpty, "Sync All Users overrides the rest")
        let existing = try DomainRules.parse(["match-location=HQ", "sync-existing-users"])
        XCTAssertEqual(existing.inEffect, .syncExistingUsers)
        XCTAssertTrue(existing.matchRules.isEmpty, "Sync Only Existing Users overrides the Match rules")
        let matches = try DomainRules.parse(["match-device-pool=DP_HQ, DP_Branch", "match-department=Sales,Support"])
        XCTAssertEqual(matches.inEffect, .matchDepartment)
        XCTAssertEqual(matches.matchRules.map(\.rule), [.matchDepartment, .matchDevicePool], "the Match rules are additive")
        XCTAssertEqual(matches.matchRules.map(\.values), [["Sales", "Support"], ["DP_HQ", "DP_Branch"]])
        XCTAssertEqual(matches.summary, "match-department=Sales,Support, match-device-pool=DP_HQ,DP_Branch")
    }

    func testRulesServiceAreasAndTheRefusalThroughUCP() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        func rows() async throws -> [Int] {
            let row = try await Connection(database.owner).query(Statement("", """
                SELECT (SELECT count(*) FROM domain_rules) AS rules, (SELECT count(*) FROM service_areas) AS areas,
                       (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM audit_log) AS audit
                """)).first!
            return [try row.decode("rules"), try row.decode("areas"), try row.decode("jobs"), try row.decode("audit")]
        }
        XCTAssertEqual(try processes.run(["domain", "add", "--name", "Cisco"]).status, 0)
        let before = try await rows()

        // Bad input: one line naming the field, nothing written, nothing queued.
        let cases: [([String], String)] = [
            (["domain", "edit", "Cisco", "--rule", "match-department"],
             "rule: match-department must name what it matches (match-department=VALUE,VALUE…)"),
            (["domain", "edit", "Cisco", "--rule", "match-department=,"],
             "rule: match-department must name what it matches (match-department=VALUE,VALUE…)"),
            (["domain", "edit", "Cisco", "--rule", "sync-everyone"], "rule: 'sync-everyone' is not a rule (one of "),
            (["domain", "edit", "Cisco", "--rule", "sync-all-users=x"], "rule: sync-all-users takes no list (only the Match rules do)"),
            (["submit", "sync", "domain", "--domain", "Cisco"],
             "domain 'Cisco': you are required to enable one of the rules Sync All Users (Unified CM), Sync Only Existing Users, Match Department, Match Location or Match Device Pool before a domain synchronization (e.g. ucp domain edit 'Cisco' --rule sync-all-users)"),
            (["service-area", "add", "--domain", "Cisco", "--name", "HQ", "--call-processor", "CUCM1", "--device-pool", "DP"],
             "call_processor: no device named 'CUCM1' (add it with ucp device add --kind cucm)"),
            (["service-area", "add", "--domain", "Cisco", "--name", "HQ", "--device-pool", "DP"],
             "call_processor: required (--call-processor NAME)"),
            (["service-area", "add", "--domain", "Cisco", "--name", "HQ", "--call-processor", "CUCM1", "--device-pool", "DP",
              "--dn-block", "4000-4099", "--dn-block", "4050-4060"], "dn_block: 4050-4060 overlaps 4000-4099"),
            (["service-area", "remove", "--domain", "Cisco", "HQ"], "service area 'HQ': no such service area in domain 'Cisco'"),
        ]
        for (arguments, expected) in cases {
            let result = try processes.run(arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertTrue(result.stderr.hasPrefix("ucp: \(expected)"), "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, "one line: \(result.stderr)")
        }
        let unchanged = try await rows()
        XCTAssertEqual(unchanged, before, "bad input wrote nothing")

        // The coresident rules alone still leave the sync refused; a required rule lets it be queued.
        XCTAssertEqual(try processes.run(["domain", "edit", "Cisco", "--rule", "sync-all-unity-users"]).stdout, "domain 'Cisco' changed\n")
        XCTAssertNotEqual(try processes.run(["submit", "sync", "domain", "--domain", "Cisco"]).status, 0)
        let set = try processes.run(["domain", "edit", "Cisco", "--rule", "match-department=Sales,Support", "--rule", "sync-all-unity-users"])
        XCTAssertEqual(set.stdout, "domain 'Cisco' changed\n", set.stderr)
        let again = try processes.run(["domain", "edit", "Cisco", "--rule", "sync-all-unity-users", "--rule", "match-department=Sales,Support"])
        XCTAssertEqual(again.stdout, "domain 'Cisco': nothing changed\n", again.stderr)
        let shown = try processes.run(["domain", "show", "Cisco"])
        XCTAssertTrue(shown.stdout.contains("match-department=Sales,Support, sync-all-unity-users"), shown.stdout)
        let queued = try processes.run(["submit", "sync", "domain", "--domain", "Cisco"])
        XCTAssertEqual(queued.status, 0, queued.stderr)
        XCTAssertTrue(queued.stdout.contains("sync.domain of Cisco"), queued.stdout)
        let cleared = try processes.run(["domain", "edit", "Cisco", "--rule", ""])
        XCTAssertEqual(cleared.stdout, "domain 'Cisco' changed\n", cleared.stderr)
        let after = try await rows()
        XCTAssertEqual(after[0], 0)
    }
}
