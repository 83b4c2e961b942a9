import Foundation
import Inventory
import Postgres
import TestSupport
import XCTest

/// Move filters and automatic moves (issue 15 item 8; seed 000 step 4) through a real worker,
/// PostgreSQL and `ucp devsim`: the first filter in order decides; bad filters are one line and
/// write nothing; `ucp user move --filter` takes the one move path; the automatic move at the end
/// of a domain synchronization places only users not placed yet, and only when it is on.
final class MoveFilterTests: OrderTestCase {
    static let salesArea = "SA_Sales"

    func addSalesArea() throws {
        try ucp(["service-area", "add", "--domain", Self.domain, "--name", Self.salesArea, "--call-processor", "TestCCM",
                 "--device-pool", "DP_Site02", "--partition", "PT_Internal"])
    }

    func count(_ table: String) async throws -> Int64 {
        try await sql("SELECT count(*)::bigint AS n FROM \(table)")[0].decode("n", as: Int64.self)
    }

    func placement(_ user: String) async throws -> String? {
        try await sql("SELECT service_area FROM users WHERE user_id = '\(user)'").first?.decodeIfPresent("service_area")
    }

    func filterNames() throws -> [String] {
        let list = try ucp(["domain", "move-filter", "list", Self.domain, "--json"]).stdout
        let filters = try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [[String: Any]] ?? []
        return filters.map { "\($0["position"] ?? "")=\($0["name"] ?? "")" }
    }

    /// The order of the filters decides which area a user goes to; `move` reorders, `remove`
    /// closes the gap; each bad filter is one line naming the field, exit non-zero, nothing written.
    func testFilterOrderDecidesAndBadFiltersAreRefusedWritingNothing() async throws {
        try await prepare()
        try addSalesArea()
        try ucp(["user", "edit", "jdoe", "--department", "Sales EMEA"])
        try ucp(["domain", "move-filter", "add", Self.domain, "--name", "Everyone", "--attribute", "department", "--match", "*",
                 "--service-area", Self.area])
        let added = try ucp(["domain", "move-filter", "add", Self.domain, "--name", "Sales", "--attribute", "Department", "--match", "sales*",
                             "--service-area", Self.salesArea, "--position", "1"])
        XCTAssertTrue(added.stdout.contains("move filter 1 'Sales': department=sales* → service area 'SA_Sales' added"), added.stdout)
        XCTAssertEqual(try filterNames(), ["1=Sales", "2=Everyone"])

        let first = try ucp(["user", "move", "jdoe", "--filter", "--dry-run"])
        XCTAssertTrue(first.stdout.contains("user jdoe: move filter 1 'Sales'"), first.stdout)
        XCTAssertTrue(first.stdout.contains("to 'SA_Sales': placement only"), first.stdout)
        try ucp(["domain", "move-filter", "move", Self.domain, "Sales", "--position", "2"])
        XCTAssertEqual(try filterNames(), ["1=Everyone", "2=Sales"])
        let second = try ucp(["user", "move", "jdoe", "--filter", "--dry-run"])
        XCTAssertTrue(second.stdout.contains("user jdoe: move filter 1 'Everyone'"), second.stdout)
        await assertEqual(try await placement("jdoe"), nil, "a dry run writes nothing")

        let filters = try await count("move_filters"), audit = try await count("audit_log")
        let cases: [([String], String)] = [
            (["--name", "X", "--attribute", "colour", "--match", "red", "--service-area", Self.area],
             "attribute: 'colour' is not an attribute the domain reads (department, location, device_pool; domain 'Cisco' has no directory source)"),
            (["--name", "X", "--attribute", "department", "--match", "a**b", "--service-area", Self.area], "pattern: 'a**b' has '**'"),
            (["--name", "X", "--attribute", "department", "--match", "", "--service-area", Self.area], "pattern: '' must be 1 to 200 characters"),
            (["--name", "X", "--attribute", "department", "--match", "x", "--service-area", "SA_None"], "service-area: no service area 'SA_None' in domain 'Cisco'"),
            (["--name", "bad/name", "--attribute", "department", "--match", "x", "--service-area", Self.area], "name: 'bad/name' must be 1 to 100"),
            (["--name", "Sales", "--attribute", "department", "--match", "x", "--service-area", Self.area], "name: domain 'Cisco' already has a move filter 'Sales'"),
            (["--name", "X", "--attribute", "department", "--match", "x", "--service-area", Self.area, "--position", "9"], "position: 9 must be 1 to 3"),
        ]
        for (arguments, expected) in cases {
            let result = try harness.ucp(["domain", "move-filter", "add", Self.domain] + arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments): \(result.stdout)")
            XCTAssertTrue(result.stderr.hasPrefix("ucp: " + expected), "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(arguments): one line")
        }
        for (arguments, expected) in [
            (["domain", "move-filter", "add", "Nowhere", "--name", "X", "--attribute", "department", "--match", "x", "--service-area", Self.area],
             "domain 'Nowhere': no such domain"),
            (["domain", "move-filter", "remove", Self.domain, "Nope"], "filter: domain 'Cisco' has no move filter 'Nope'"),
            (["domain", "move-filter", "move", Self.domain, "Sales", "--position", "0"], "position: 0 must be 1 to 2"),
            (["domain", "edit", Self.domain, "--automatic-move", "maybe"], "automatic-move: 'maybe' must be on or off"),
            (["user", "move", "jdoe", "--filter", "--service-area", Self.area], "filter: chooses the service area"),
            (["user", "move", "jdoe"], "service-area: required"),
        ] {
            let result = try harness.ucp(arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments): \(result.stdout)")
            XCTAssertTrue(result.stderr.hasPrefix("ucp: " + expected), "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(arguments): one line")
        }
        await assertEqual(try await count("move_filters"), filters)
        await assertEqual(try await count("audit_log"), audit)
        await assertEqual(try await sql("SELECT automatic_move FROM domains WHERE name = 'Cisco'")[0].decode("automatic_move") as Bool, false)

        try ucp(["domain", "move-filter", "remove", Self.domain, "Everyone"])
        XCTAssertEqual(try filterNames(), ["1=Sales"])
        let listed = try ucp(["domain", "move-filter", "list", Self.domain]).stdout
        XCTAssertTrue(listed.contains("1  Sales  department  sales*  SA_Sales"), listed)
        XCTAssertTrue(listed.contains("1 move filters; automatic move off"), listed)
        let shown = try JSONSerialization.jsonObject(with: Data(try ucp(["domain", "show", Self.domain, "--json"]).stdout.utf8)) as? [String: Any]
        XCTAssertEqual(shown?["automatic_move"] as? Bool, false)
        XCTAssertEqual((shown?["move_filters"] as? [[String: Any]])?.first?["match"] as? String, "sales*")
    }

    /// By hand: the matching filter's area through the one move path (placement for a user without
    /// services); no match is one line, exit 1, nothing written. `--domain` moves every unplaced user.
    func testMoveByFilterByHand() async throws {
        try await prepare()
        try addSalesArea()
        try ucp(["domain", "move-filter", "add", Self.domain, "--name", "Sales", "--attribute", "department", "--match", "Field Sales",
                 "--service-area", Self.salesArea])
        let none = try harness.ucp(["user", "move", "jdoe", "--filter"])
        XCTAssertEqual(none.status, 1, none.stdout + none.stderr)
        XCTAssertEqual(none.stdout, "user jdoe: no move filter of domain 'Cisco' matches (1 filters): nothing moved\n")
        await assertEqual(try await placement("jdoe"), nil)

        try ucp(["user", "edit", "jdoe", "--department", "FIELD SALES"])
        let moved = try ucp(["user", "move", "JDOE", "--filter"])
        XCTAssertTrue(moved.stdout.contains("user jdoe: move filter 1 'Sales': department=Field Sales → service area 'SA_Sales'"), moved.stdout)
        XCTAssertTrue(moved.stdout.contains("user jdoe placed in service area 'SA_Sales'"), moved.stdout)
        await assertEqual(try await placement("jdoe"), Self.salesArea)
        await assertEqual(try await count("orders"), 0)

        // The whole domain: only users not placed yet; a dry run writes nothing.
        _ = try await sql("INSERT INTO users (user_id, domain, source, last_name, department) VALUES ('asmith', 'Cisco', 'manual', 'Smith', 'Field Sales')")
        let dry = try ucp(["user", "move", "--filter", "--domain", Self.domain, "--dry-run"])
        XCTAssertTrue(dry.stdout.contains("user asmith: move filter 1 'Sales'"), dry.stdout)
        XCTAssertFalse(dry.stdout.contains("user jdoe:"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("domain 'Cisco': 1 users would move"), dry.stdout)
        await assertEqual(try await placement("asmith"), nil)
        try ucp(["user", "move", "--filter", "--domain", Self.domain])
        await assertEqual(try await placement("asmith"), Self.salesArea)
        XCTAssertEqual(try writes(), [], "no device write")
    }

    /// `--filter --domain` reads the unplaced users a page at a time: with pages of 3 over 16
    /// unplaced users it says what one page of all says, each user once (a repeated or skipped user at
    /// a page boundary shows); a dry run writes nothing; the move places the users without services,
    /// submits one change order per user with services, and names the users it cannot move.
    func testMoveByFilterOfADomainInPagesConsidersEachUserOnce() async throws {
        try await prepare()
        try addSalesArea()
        // The simulator's users 0 and 8 are in Sales with voicemail (SA_Sales has no message
        // processor: refused), 1 and 9 in Engineering with phones (change orders); 2 to 7 match nothing.
        try ucp(["domain", "move-filter", "add", Self.domain, "--name", "Sales", "--attribute", "department", "--match", "sales",
                 "--service-area", Self.salesArea])
        try ucp(["domain", "move-filter", "add", Self.domain, "--name", "Engineering", "--attribute", "department", "--match", "engineering",
                 "--service-area", Self.area])
        _ = try await sql("""
            INSERT INTO users (user_id, domain, source, last_name, department, service_area) VALUES
              ('kept', 'Cisco', 'manual', 'Kept', 'Sales', 'SA_Site01'),
              ('m01', 'Cisco', 'manual', 'M', 'Sales', NULL), ('m02', 'Cisco', 'manual', 'M', 'Other', NULL),
              ('m03', 'Cisco', 'manual', 'M', 'Sales', NULL), ('m04', 'Cisco', 'manual', 'M', 'Other', NULL),
              ('m05', 'Cisco', 'manual', 'M', 'SALES', NULL)
            """)
        let move = ["user", "move", "--filter", "--domain", Self.domain]
        func considered(_ stdout: String) -> [String] {
            stdout.split(separator: "\n").filter { $0.contains(": move filter ") }.map { String($0.split(separator: ":")[0]) }
        }
        let expected = ["m01", "m03", "m05", "user000000", "user000001", "user000008", "user000009"].map { "user \($0)" }
        let orders = try await count("orders"), audit = try await count("audit_log"), placed = try await count("users WHERE service_area IS NOT NULL")

        let whole = try harness.ucp(move + ["--dry-run"])
        let paged = try harness.ucp(move + ["--dry-run", "--chunk-size", "3"])
        XCTAssertEqual(whole.status, 1, "two users refused: " + whole.stdout + whole.stderr)
        XCTAssertEqual(paged.status, 1, paged.stdout + paged.stderr)
        XCTAssertEqual(paged.stdout, whole.stdout, "pages of 3 say what one page of all says")
        XCTAssertEqual(considered(whole.stdout).sorted(), expected, whole.stdout)
        XCTAssertTrue(whole.stdout.hasSuffix("domain 'Cisco': 5 users would move, 9 matched no filter, 2 refused\n"), whole.stdout)
        await assertEqual(try await count("orders"), orders, "a dry run writes nothing")
        await assertEqual(try await count("audit_log"), audit)
        await assertEqual(try await count("users WHERE service_area IS NOT NULL"), placed)

        let moved = try harness.ucp(move + ["--chunk-size", "3"])
        XCTAssertEqual(moved.status, 1, moved.stdout + moved.stderr)
        XCTAssertEqual(considered(moved.stdout), considered(whole.stdout), "the same users in the same order, each once")
        XCTAssertTrue(moved.stdout.hasSuffix("domain 'Cisco': 5 users moved, 9 matched no filter, 2 refused\n"), moved.stdout)
        for user in ["m01", "m03", "m05"] { await assertEqual(try await placement(user), Self.salesArea, user) }
        for user in ["m02", "m04", "jdoe", "user000000", "user000002"] { await assertEqual(try await placement(user), nil, user) }
        await assertEqual(try await placement("kept"), "SA_Site01", "a placed user is not considered")
        for user in ["user000000", "user000008"] {
            XCTAssertTrue(moved.stdout.contains("user \(user): not moved: service-area: 'SA_Sales' uses message processor none"), moved.stdout)
        }
        // One change order per user with services.
        let submitted = try await sql("SELECT id, user_id FROM orders ORDER BY user_id")
        XCTAssertEqual(try submitted.map { try $0.decode("user_id") as String }, ["user000001", "user000009"])
        XCTAssertEqual(moved.stdout.split(separator: "\n").filter { $0.hasPrefix("order ") && $0.contains(" submitted ") }.count, 2, moved.stdout)
        for row in submitted {
            let done = try await ended(try row.decode("id", as: Int64.self))
            XCTAssertEqual(done.state, "succeeded", done.error ?? "")
        }
        for user in ["user000001", "user000009"] { await assertEqual(try await placement(user), Self.area, user) }
    }

    /// The automatic move after a domain synchronization: off, nothing moves; on, each user not
    /// placed yet that a filter matches is placed when no device changes (no services, or all of
    /// them in that area), a user with services elsewhere is named in the log, and a placed user
    /// stays where it is. The detailed log says who went where by which filter.
    func testAutomaticMoveAfterADomainSyncPlacesOnlyUnplacedUsers() async throws {
        try await prepare()
        try addSalesArea()
        try ucp(["domain", "move-filter", "add", Self.domain, "--name", "Sales", "--attribute", "department", "--match", "sales",
                 "--service-area", Self.salesArea])
        // The simulator's user000001 has its phone in DP_Site02: the second synchronization puts its
        // services in SA_Sales. user000000 and user000008 are in department Sales, their services elsewhere.
        try ucp(["domain", "move-filter", "add", Self.domain, "--name", "Site02", "--attribute", "device_pool", "--match", "dp_site02",
                 "--service-area", Self.salesArea])
        try ucp(["user", "edit", "jdoe", "--department", "Sales"])
        _ = try await sql("INSERT INTO users (user_id, domain, source, last_name, department, service_area) VALUES ('kept', 'Cisco', 'manual', 'Kept', 'Sales', 'SA_Site01')")

        try ucp(["submit", "sync", "domain", "--domain", Self.domain, "--wait"])
        await assertEqual(try await count("users WHERE service_area IS NOT NULL"), 1, "automatic move off: only 'kept' is placed")
        XCTAssertFalse(try ucp(["domain", "log", Self.domain, "--kind", "domain"]).stdout.contains("Automatic move"))

        try ucp(["domain", "edit", Self.domain, "--automatic-move", "on"])
        XCTAssertTrue(try ucp(["domain", "show", Self.domain]).stdout.contains("automatic move     on"))
        try ucp(["submit", "sync", "domain", "--domain", Self.domain, "--wait"])
        await assertEqual(try await placement("jdoe"), Self.salesArea)
        await assertEqual(try await placement("kept"), "SA_Site01", "a placed user stays")
        await assertEqual(try await placement("user000001"), Self.salesArea, "all its services in that area: placed")
        await assertEqual(try await placement("user000000"), nil, "services elsewhere: a move by hand")
        await assertEqual(try await count("orders"), 0)
        XCTAssertEqual(try writes(), [], "no device write")

        let log = try ucp(["domain", "log", Self.domain, "--kind", "domain"]).stdout
        XCTAssertTrue(log.contains("Automatic move of domain 'Cisco': 2 users placed, 2 need a move by hand"), log)
        XCTAssertTrue(log.contains("Automatic move: jdoe placed in service area 'SA_Sales' by filter 'Sales' (department=sales)"), log)
        XCTAssertTrue(log.contains("Automatic move: user000001 placed in service area 'SA_Sales' by filter 'Site02' (device_pool=dp_site02)"), log)
        XCTAssertTrue(log.contains("Automatic move: user000000 matches filter 'Sales' (department=sales) for service area 'SA_Sales' but has services in 'SA_Orders', 'SA_Site01': not moved"), log)
        XCTAssertFalse(log.contains("Automatic move: kept"), log)

        // Off again: a new unplaced user stays unplaced.
        try ucp(["domain", "edit", Self.domain, "--automatic-move", "off"])
        _ = try await sql("INSERT INTO users (user_id, domain, source, last_name, department) VALUES ('later', 'Cisco', 'manual', 'Later', 'Sales')")
        try ucp(["submit", "sync", "domain", "--domain", Self.domain, "--wait"])
        await assertEqual(try await placement("later"), nil)
    }
}
