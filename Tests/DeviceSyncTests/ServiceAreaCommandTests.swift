import Foundation
import Inventory
import Postgres
import TestSupport
import XCTest

/// `ucp service-area …` against devices an infrastructure synchronization read from `ucp devsim`:
/// names are checked against the inventory, bad input is one line on stderr, a non-zero exit, and
/// nothing written.
final class ServiceAreaCommandTests: XCTestCase {
    var harness: SyncHarness!

    override func setUp() async throws {
        harness = try await SyncHarness()
        try harness.startWorker()
    }

    override func tearDown() async throws {
        harness?.stop()
    }

    func testServiceAreasThroughUCP() async throws {
        let sim = try DeviceSimulatorProcess.start(for: self, users: 10)
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        try await harness.register("unity", kind: .messageProcessor, simulator: sim)
        // A Unified CM nobody synchronized yet: no object of it can be named.
        try await harness.register("cucm-new", kind: .callProcessor, simulator: sim)
        // A Unity Connection synchronizes only after a successful connection test.
        let tested = try harness.ucp(["device", "test", "unity", "--wait"])
        XCTAssertEqual(tested.status, 0, tested.stdout + tested.stderr)
        for device in ["cucm", "unity"] {
            let (result, _) = try await harness.sync(.infra, device)
            XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        }
        let domain = try harness.ucp(["domain", "add", "--name", "Sales"])
        XCTAssertEqual(domain.status, 0, domain.stderr)

        // Names in any case; stored as the device spells them.
        let london = try harness.ucp([
            "service-area", "add", "Sales", "London", "--call-processor", "cucm", "--message-processor", "unity",
            "--device-pool", "default", "--location", "Hub_None", "--partition", "PT_Internal", "--partition", "PT_Local",
            "--device-css", "CSS_Internal", "--line-css", "css_local", "--mask", "+44207946XXXX", "--voicemail-profile", "Default",
            "--subscriber-template", "VMT_Site01", "--class-of-service", "COS_Staff",
            "--dn-block", "4000-4999", "--dn-block", "5000-5099@PT_Local", "--actor", "alice",
        ])
        XCTAssertEqual(london.status, 0, london.stderr)
        XCTAssertEqual(london.stdout, "service area 'London' added to domain 'Sales' (call processor 'cucm', message processor 'unity')\n")
        // The same numbers in another partition of the same call processor do not overlap.
        let paris = try harness.ucp(["service-area", "add", "Sales", "Paris", "--call-processor", "cucm", "--device-pool", "Default",
                                     "--dn-block", "4000-4999@PT_National", "--dn-block", "40000-49999@PT_Internal"])
        XCTAssertEqual(paris.status, 0, paris.stderr)
        XCTAssertEqual(paris.stdout, "service area 'Paris' added to domain 'Sales' (call processor 'cucm')\n")

        let shown = try harness.ucp(["service-area", "show", "Sales", "london", "--json"])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        let area = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(area["name"] as? String, "London")
        XCTAssertEqual(area["device_pool"] as? String, "Default")
        XCTAssertEqual(area["line_css"] as? String, "CSS_Local")
        XCTAssertEqual(area["route_partitions"] as? [String], ["PT_Internal", "PT_Local"])
        XCTAssertEqual(area["external_mask"] as? String, "+44207946XXXX")
        XCTAssertEqual(area["subscriber_template"] as? String, "VMT_Site01")
        XCTAssertEqual(area["class_of_service"] as? String, "COS_Staff")
        XCTAssertEqual((area["dn_blocks"] as? [[String: String]])?.map { "\($0["first"]!)-\($0["last"]!)@\($0["route_partition"]!)" },
                       ["4000-4999@PT_Internal", "5000-5099@PT_Local"])
        let shownText = try harness.ucp(["service-area", "show", "Sales", "London"])
        for line in ["device pool          Default", "partitions           PT_Internal, PT_Local",
                     "dn block             4000-4999 in 'PT_Internal'", "class of service     COS_Staff"] {
            XCTAssertTrue(shownText.stdout.contains(line + "\n"), "missing '\(line)' in:\n\(shownText.stdout)")
        }
        let listed = try harness.ucp(["service-area", "list", "Sales", "--json"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let areas = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(areas.map { $0["name"] as? String }, ["London", "Paris"])
        let table = try harness.ucp(["service-area", "list"])
        XCTAssertTrue(table.stdout.contains("40000-49999@PT_Internal 4000-4999@PT_National"), table.stdout)
        let domainShown = try harness.ucp(["domain", "show", "Sales"])
        XCTAssertTrue(domainShown.stdout.contains("call processor     cucm (service areas London, Paris)\n"), domainShown.stdout)
        XCTAssertTrue(domainShown.stdout.contains("message processor  unity (service areas London)\n"), domainShown.stdout)
        let domainJSON = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(harness.ucp(["domain", "show", "Sales", "--json"]).stdout.utf8)) as? [String: Any])
        XCTAssertEqual((domainJSON["call_processors"] as? [[String: Any]])?.first?["name"] as? String, "cucm")

        let base = ["service-area", "add", "Sales", "X", "--call-processor", "cucm", "--device-pool", "Default"]
        let before = try await rowCounts()
        let bad: [([String], String)] = [
            (["service-area", "add", "Sales", "X", "--call-processor", "cucm", "--device-pool", "Nope"],
             "device-pool: no DevicePool 'Nope' on call processor 'cucm' (run an infrastructure sync first)"),
            (["service-area", "add", "Sales", "X", "--call-processor", "cucm-new", "--device-pool", "Default"],
             "device-pool: no DevicePool 'Default' on call processor 'cucm-new' (run an infrastructure sync first)"),
            (base + ["--partition", "PT_Internal", "--partition", "PT_Mars"],
             "partition: no RoutePartition 'PT_Mars' on call processor 'cucm' (run an infrastructure sync first)"),
            (base + ["--line-css", "CSS_Nowhere"], "line-css: no CallingSearchSpace 'CSS_Nowhere' on call processor 'cucm' (run an infrastructure sync first)"),
            (base + ["--voicemail-profile", "Gone"], "voicemail-profile: no VoicemailProfile 'Gone' on call processor 'cucm' (run an infrastructure sync first)"),
            (base + ["--message-processor", "unity", "--class-of-service", "COS_Nope"],
             "class-of-service: no UnifiedMessagingFeatureSpecification 'COS_Nope' on message processor 'unity' (run an infrastructure sync first)"),
            (base + ["--subscriber-template", "VMT_Site01"], "subscriber-template: is a Unity Connection object; give --message-processor too"),
            (["service-area", "add", "Sales", "X", "--call-processor", "unity", "--device-pool", "Default"],
             "call-processor: device 'unity' is a Unity Connection, not a Unified CM (--kind cucm)"),
            (base + ["--message-processor", "cucm"], "message-processor: device 'cucm' is a Unified CM, not a Unity Connection (--kind unity)"),
            (["service-area", "add", "Sales", "X", "--call-processor", "ghost", "--device-pool", "Default"],
             "call-processor: no device named 'ghost' (add it with ucp device add --kind cucm)"),
            (base + ["--partition", "PT_Internal", "--dn-block", "4500-4599"],
             "dn-block: 4500-4599 overlaps 4000-4999 of service area 'London' (domain 'Sales') on call processor 'cucm' in partition 'PT_Internal'"),
            (base + ["--dn-block", "100-199@PT_Park", "--dn-block", "150-250@PT_Park"],
             "dn-block: 150-250 overlaps 100-199 of service area 'X' (domain 'Sales') on call processor 'cucm' in partition 'PT_Park'"),
            (["service-area", "edit", "Sales", "Paris", "--dn-block", "5050-5060@PT_Local"],
             "dn-block: 5050-5060 overlaps 5000-5099 of service area 'London' (domain 'Sales') on call processor 'cucm' in partition 'PT_Local'"),
            (base + ["--dn-block", "100-2000"], "dn-block: '100-2000': first and last number must have the same number of digits"),
            (base + ["--dn-block", "4x00-4999"], "dn-block: '4x00-4999' must be FIRST-LAST[@PARTITION] with numbers of 1 to 24 digits (e.g. 4000-4999@PT_Internal)"),
            (base + ["--mask", "12x4"], "mask: '12x4' has a lower-case 'x' (use upper-case X)"),
            (["service-area", "edit", "Sales", "London", "--mask", "1+1"], "mask: '1+1' has '+' at character 2 (+ and \\+ may only begin the mask)"),
            (["service-area", "add", "Ghost", "X", "--call-processor", "cucm", "--device-pool", "Default"], "domain 'Ghost': no such domain"),
            (["service-area", "add", "Sales", "LONDON", "--call-processor", "cucm", "--device-pool", "Default"],
             "name: domain 'Sales' already has a service area named 'LONDON' (names are unique whatever their case)"),
            (["service-area", "add", "Sales", "X", "--device-pool", "Default"], "call-processor: required (a device of kind cucm)"),
            (["service-area", "add", "Sales", "X/Y", "--call-processor", "cucm", "--device-pool", "Default"],
             "name: 'X/Y' must be 1 to 100 letters, digits, spaces, '_', '-', '.' or '@'"),
            (["service-area", "show", "Sales", "Nope"], "service area 'Nope': no such service area in domain 'Sales'"),
            (["service-area", "list", "Ghost"], "domain 'Ghost': no such domain"),
            (["service-area", "remove", "Sales", "Nope"], "service area 'Nope': no such service area in domain 'Sales'"),
            (["device", "remove", "unity"], "device 'unity': cannot be removed while service area 'London' of domain 'Sales' refers to it"),
            (["domain", "remove", "Sales"], "domain 'Sales': cannot be removed while it has service areas (2; ucp service-area remove)"),
        ]
        for (arguments, expected) in bad {
            let result = try harness.ucp(arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertEqual(result.stderr, "ucp: \(expected)\n", "\(arguments)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
        }
        // The overlap rule holds for writes that bypass the store too (the table's trigger).
        do {
            try await Connection(harness.database.app).query(Statement("", """
                INSERT INTO service_area_dn_blocks (service_area, call_processor, route_partition, first_number, last_number)
                SELECT id, call_processor, 'PT_Internal', '4990', '5010' FROM service_areas WHERE name = 'Paris'
                """))
            XCTFail("an overlapping block was inserted")
        } catch let error as PostgresError {
            XCTAssertEqual(error.message, "dn-block: 4990-5010 overlaps 4000-4999 of service area 'London' (domain 'Sales') on call processor 'cucm' in partition 'PT_Internal'")
        }
        await assertEqual(try await rowCounts(), before, "bad input wrote nothing")

        // Two operators adding overlapping blocks at once: exactly one wins, whatever the timing.
        let racers = ["Racer1", "Racer2"].map { name in
            ["service-area", "add", "Sales", name, "--call-processor", "cucm", "--device-pool", "Default",
             "--dn-block", name == "Racer1" ? "7000-7099@PT_Park" : "7050-7149@PT_Park"]
        }
        let processes = harness.processes
        let results = try await withThrowingTaskGroup(of: CommandResult.self) { group in
            for arguments in racers { group.addTask { try processes.run(arguments) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(results.map(\.status).sorted(), [0, 64], results.map(\.stderr).joined())
        let loser = try XCTUnwrap(results.first { $0.status != 0 })
        XCTAssertTrue(loser.stderr.hasPrefix("ucp: dn-block: ") && loser.stderr.contains(" overlaps "), loser.stderr)
        for name in ["Racer1", "Racer2"] { _ = try harness.ucp(["service-area", "remove", "Sales", name]) }

        let edited = try harness.ucp(["service-area", "edit", "Sales", "London", "--location", "", "--mask", "+4420XXXXXXXX",
                                      "--dn-block", "4000-4499", "--actor", "bob"])
        XCTAssertEqual(edited.status, 0, edited.stderr)
        XCTAssertEqual(edited.stdout, "service area 'London' of domain 'Sales' changed\n")
        let same = try harness.ucp(["service-area", "edit", "Sales", "London", "--mask", "+4420XXXXXXXX"])
        XCTAssertEqual(same.stdout, "service area 'London' of domain 'Sales': nothing changed\n")
        let stored = try await ServiceAreaStore(Connection(harness.database.app)).serviceArea(domain: "Sales", name: "London")
        let afterEdit = try XCTUnwrap(stored)
        XCTAssertNil(afterEdit.settings.location)
        XCTAssertEqual(afterEdit.settings.devicePool, "Default", "what is not given stays")
        XCTAssertEqual(afterEdit.settings.dnBlocks, [DNBlock(first: "4000", last: "4499", partition: "PT_Internal")])
        // 4500-4599 is free now.
        let freed = try harness.ucp(base + ["--partition", "PT_Internal", "--dn-block", "4500-4599"])
        XCTAssertEqual(freed.status, 0, freed.stderr)

        for name in ["X", "Paris", "London"] {
            let removed = try harness.ucp(["service-area", "remove", "Sales", name, "--actor", "carol"])
            XCTAssertEqual(removed.status, 0, removed.stderr)
            XCTAssertEqual(removed.stdout, "service area '\(name)' removed from domain 'Sales'\n")
        }
        await assertEqual(try await rowCounts().prefix(2), [0, 0], "no service area or block left")
        let domainRemoved = try harness.ucp(["domain", "remove", "Sales"])
        XCTAssertEqual(domainRemoved.status, 0, domainRemoved.stderr)

        let audit = try await harness.queue.auditList(since: nil, jobID: nil, limit: 200)
            .filter { $0.action.hasPrefix("service_area.") && !($0.target ?? "").contains("Racer") }.sorted { $0.id < $1.id }
        XCTAssertEqual(audit.map(\.action), ["service_area.added", "service_area.added", "service_area.changed", "service_area.added",
                                             "service_area.removed", "service_area.removed", "service_area.removed"])
        XCTAssertEqual(audit[0].actor, "alice")
        XCTAssertEqual(audit[0].target, "Sales/London")
        XCTAssertEqual(audit[0].message, "Service area 'London' of domain 'Sales' added: call processor 'cucm', message processor 'unity', device pool 'Default', location 'Hub_None', partitions PT_Internal, PT_Local, device CSS 'CSS_Internal', line CSS 'CSS_Local', mask +44207946XXXX, voicemail profile 'Default', subscriber template 'VMT_Site01', class of service 'COS_Staff', DN blocks 4000-4999@PT_Internal, 5000-5099@PT_Local")
        XCTAssertEqual(audit[2].message, "Service area 'London' of domain 'Sales' changed: location, external_mask, dn_blocks")
        XCTAssertEqual(audit[2].actor, "bob")
        XCTAssertEqual(audit[6].actor, "carol")
    }

    /// Rows in `service_areas`, `service_area_dn_blocks`, `domains` and `devices`, and lines in `audit_log`.
    func rowCounts() async throws -> [Int] {
        let row = try await Connection(harness.database.owner).query(Statement("", """
            SELECT (SELECT count(*) FROM service_areas) AS areas, (SELECT count(*) FROM service_area_dn_blocks) AS blocks,
                   (SELECT count(*) FROM domains) AS domains, (SELECT count(*) FROM devices) AS devices,
                   (SELECT count(*) FROM audit_log) AS audit
            """)).first!
        return [try row.decode("areas"), try row.decode("blocks"), try row.decode("domains"), try row.decode("devices"),
                try row.decode("audit")]
    }
}
