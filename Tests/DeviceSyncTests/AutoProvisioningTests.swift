import DirectoryFixtures
import Foundation
import Inventory
import Orders
import Postgres
import TestSupport
import XCTest

/// Automatic service provisioning at the end of an LDAP synchronization (issue 15 item 9; seed 004,
/// the service area and role LDAP filters, "Assign new line from the extension block" and "Apply
/// mask to LDAP synchronized telephone numbers"): a real slapd, a real worker running the sync and
/// the orders, `ucp devsim` as Unified CM and Unity Connection. One service area per case of the two
/// check boxes, each with a user with and one without an LDAP number.
final class AutoProvisioningTests: OrderTestCase {
    var slapd: SlapdServer!

    override func tearDown() async throws {
        slapd?.destroy()
        try await super.tearDown()
    }

    /// The service areas (the four cases of the check boxes) and their blocks.
    static let areas = [("SA_Neither", "5100-5199"), ("SA_Assign", "5200-5209"), ("SA_Mask", "5300-5399"), ("SA_Both", "5400-5499")]

    static func user(_ id: String, department: String, phone: String?, employeeNumber: String? = nil, disabled: Bool = false) -> FixtureUser {
        FixtureUser(cn: id, uid: id, sAMAccountName: id, givenName: "Given", sn: id.capitalized, mail: "\(id)@example.com",
                    telephoneNumber: phone, employeeNumber: employeeNumber, department: department,
                    userAccountControl: disabled ? 514 : 512)
    }

    /// With and without an LDAP number in each area; a manager (the role filter tests employeeNumber,
    /// an attribute the field mapping does not read, so the search asks for it); a user no area's filter
    /// matches; a disabled account (the domain synchronizes inactive users).
    static let directory = [
        user("apneither1", department: "Neither", phone: "51-01", employeeNumber: "M0001"),
        user("apneither2", department: "Neither", phone: nil),
        user("apassign1", department: "Assign", phone: "5299"),
        user("apassign2", department: "Assign", phone: nil),
        user("apmask1", department: "Mask", phone: "+1 408 555 0107"),
        user("apmask2", department: "Mask", phone: nil),
        user("apboth1", department: "Both", phone: "(555) 0112"),
        user("apboth2", department: "Both", phone: nil),
        user("apnowhere", department: "Nowhere", phone: "5150"),
        user("apdisabled", department: "Neither", phone: "5120", disabled: true),
    ]

    /// The numbers the seed's rules give (nil: no line service, so an order without a line).
    static let expected: [String: String?] = [
        "apneither1": "5101",   // neither box: the LDAP number, digits only
        "apneither2": nil,      // neither box, no LDAP number: no line service (the user only)
        "apassign1": "5200",    // assign only: the block, even with an LDAP number
        "apassign2": "5201",    // assign only, no LDAP number: the block
        "apmask1": "5307",      // mask only: 14085550107 under 53XX
        "apmask2": nil,         // mask only, no LDAP number: no line service (the user only)
        "apboth1": "5412",      // both: the masked number
        "apboth2": "5400",      // both, no LDAP number: the block
        "apdisabled": "5120",   // a disabled account the domain synchronizes: provisioned like the others (seed)
    ]

    func prepareDirectory(_ users: [FixtureUser] = AutoProvisioningTests.directory) async throws {
        try await prepare()
        slapd = try SlapdServer(users: users)
        let passwordFile = folder + "/ldap-password"
        try DirectoryFixture.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        try ucp(["device", "add", "--name", "corp-ad", "--kind", "ldap", "--server-type", "ad", "--address", "127.0.0.1",
                 "--port", String(slapd.port), "--user", DirectoryFixture.syncDN, "--password-file", passwordFile])
        for (area, block) in Self.areas {
            try ucp(["service-area", "add", "--domain", Self.domain, "--name", area, "--call-processor", "TestCCM",
                     "--device-pool", "DP_Site01", "--location", "Hub_None", "--device-css", "CSS_Internal", "--line-css", "CSS_Internal",
                     "--partition", "PT_Internal", "--dn-block", block, "--message-processor", "unity",
                     "--voicemail-profile", "Default", "--unity-template", "voicemailusertemplate"])
        }
        var edit = ["domain", "edit", Self.domain, "--directory", "corp-ad", "--search-base", DirectoryFixture.peopleBase, "--sync-inactive-users",
                    "--user-role-filter", "Managers=(employeeNumber=M*)",
                    "--service-area-mask", "SA_Mask=53XX", "--service-area-mask", "SA_Both=54XX",
                    "--service-area-new-line", "SA_Assign", "--service-area-new-line", "SA_Both"]
        for (area, _) in Self.areas {
            edit += ["--service-area-filter", "\(area)=(department=\(area.dropFirst(3)))"]
        }
        try ucp(edit)
    }

    /// The bad input of the role commands and of the domain's switch: one line naming the field and
    /// the rule, exit 64, nothing written.
    func assertRefused(_ arguments: [String], _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try harness.ucp(arguments)
        XCTAssertEqual(result.status, 64, "\(arguments): \(result.stdout)\(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.hasPrefix("ucp: " + expected), "\(arguments): \(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "one line: \(result.stderr)", file: file, line: line)
    }

    func count(_ query: String) async throws -> Int64 {
        try await sql(query)[0].decode("n")
    }

    func autoOrders() async throws -> [String: Order] {
        var orders: [String: Order] = [:]
        for row in try await sql("SELECT id FROM orders WHERE submit_key LIKE 'autoprov:%'") {
            let order = try await order(try row.decode("id"))
            orders[order.userID] = order
        }
        return orders
    }

    /// Waits for `count` automatic provisioning orders to end; returns them by user.
    func autoOrdersEnded(_ count: Int, file: StaticString = #filePath, line: UInt = #line) async throws -> [String: Order] {
        var orders: [String: Order] = [:]
        let ended = try await eventually(timeout: 120) {
            orders = try await self.autoOrders()
            return orders.count == count && orders.values.allSatisfy { $0.isFinished }
        }
        XCTAssertTrue(ended, "\(count) orders ended: \(orders.mapValues(\.state))", file: file, line: line)
        return orders
    }

    func testRoleCommandsRefuseBadInputAndWriteNothing() async throws {
        try await prepareDirectory()
        try assertRefused(["domain", "edit", Self.domain, "--automatic-provisioning", "on"],
                          "automatic-provisioning: on needs a user role in domain 'Cisco'")
        try assertRefused(["domain", "edit", Self.domain, "--automatic-provisioning", "maybe"], "automatic-provisioning: 'maybe' must be on or off")
        try assertRefused(["domain", "edit", Self.domain, "--default-role", "Nobody", "--update", "do-not-update"],
                          "default-role: domain 'Cisco' has no user role 'Nobody'")
        try assertRefused(["domain", "role", "add", Self.domain, "--name", "Staff", "--phone-model", "Cisco 8845"],
                          "phone-model: 'Cisco 8845' is a desk phone, named by its MAC address, which automatic provisioning does not know")
        try assertRefused(["domain", "role", "add", Self.domain, "--name", "Staff", "--phone-model", "Nokia 3310"],
                          "phone-model: 'Nokia 3310' is not a model orders provision")
        try assertRefused(["domain", "role", "add", Self.domain, "--name", "Staff/1", "--phone-model", "Cisco Unified Client Services Framework"], "name: 'Staff/1' must be")
        try assertRefused(["domain", "role", "add", Self.domain, "--name", "Staff", "--phone-model", "Cisco Unified Client Services Framework", "--voicemail", "maybe"],
                          "voicemail: 'maybe' must be yes or no")
        try assertRefused(["domain", "role", "add", "Nowhere", "--name", "Staff", "--phone-model", "Cisco Unified Client Services Framework"], "domain 'Nowhere': no such domain")
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_roles"), 0)
        await assertEqual(try await sql("SELECT update_policy FROM domains WHERE name = 'Cisco'")[0].decode("update_policy", as: String.self),
                          "all_fields", "a refused edit changes nothing")

        try ucp(["domain", "role", "add", Self.domain, "--name", "Staff", "--phone-model", "cisco unified client services framework"])
        try assertRefused(["domain", "role", "add", Self.domain, "--name", "Staff", "--phone-model", "Cisco Unified Client Services Framework"],
                          "name: domain 'Cisco' already has a user role 'Staff'")
        try assertRefused(["domain", "role", "edit", Self.domain, "Other", "--voicemail", "yes"], "role: domain 'Cisco' has no user role 'Other'")
        try ucp(["domain", "edit", Self.domain, "--automatic-provisioning", "on", "--default-role", "Staff"])
        try assertRefused(["domain", "role", "remove", Self.domain, "Staff"], "role: 'Staff' is the default role of domain 'Cisco'")
        XCTAssertTrue(try ucp(["domain", "role", "edit", Self.domain, "Staff", "--voicemail", "yes", "--im-and-presence", "SP_Jabber"]).stdout
            .contains("changed: phone Cisco Unified Client Services Framework, voicemail, IM and Presence (service profile SP_Jabber)"))
        XCTAssertTrue(try ucp(["domain", "role", "edit", Self.domain, "Staff", "--voicemail", "yes"]).stdout.contains("nothing changed"))
        let json = try JSONSerialization.jsonObject(with: Data(try ucp(["domain", "role", "list", Self.domain, "--json"]).stdout.utf8)) as? [[String: Any]]
        XCTAssertEqual(json?.first?["name"] as? String, "Staff")
        XCTAssertEqual(json?.first?["default"] as? Bool, true)
        XCTAssertEqual(json?.first?["im_and_presence"] as? String, "SP_Jabber")
        let listed = try ucp(["domain", "role", "list", Self.domain]).stdout
        XCTAssertTrue(listed.contains("Staff") && listed.contains("phone Cisco Unified Client Services Framework") && listed.contains("automatic provisioning on"), listed)
        let shown = try ucp(["domain", "show", Self.domain]).stdout
        XCTAssertTrue(shown.contains("on, default role 'Staff'"), shown)
    }

    /// `domain edit` with LDAP settings, rules and the switches is one transaction: when its last write
    /// (the automatic provisioning switch) fails, the settings, rules and automatic move written before
    /// it in the command are not kept, nor their audit lines. The failure is a trigger the test puts on
    /// `domains`; without it, the same edit changes everything at once.
    func testADomainEditWritesItsOptionsInOneTransaction() async throws {
        try await prepareDirectory([])
        try ucp(["domain", "role", "add", Self.domain, "--name", "Staff", "--phone-model", "Cisco Unified Client Services Framework"])
        func settings() async throws -> String {
            try await sql("""
                SELECT update_policy || ' ' || automatic_move || ' ' || automatic_provisioning || ' ' || coalesce(default_role, '-')
                       || ' ' || coalesce((SELECT string_agg(rule, ',' ORDER BY rule) FROM domain_rules r WHERE r.domain = d.name), '-') AS s
                  FROM domains d WHERE name = '\(Self.domain)'
                """)[0].decode("s")
        }
        func auditCount() async throws -> Int64 {
            try await count("SELECT count(*)::bigint AS n FROM audit_log WHERE target = '\(Self.domain)' AND action LIKE 'domain.%'")
        }
        let before = try await settings(), auditBefore = try await auditCount()
        _ = try await sql("""
            CREATE FUNCTION test_refuse_provisioning() RETURNS trigger LANGUAGE plpgsql
            AS $$ BEGIN RAISE EXCEPTION 'automatic provisioning refused by the test'; END $$
            """)
        _ = try await sql("""
            CREATE TRIGGER test_refuse_provisioning BEFORE UPDATE ON domains FOR EACH ROW
            WHEN (OLD.automatic_provisioning IS DISTINCT FROM NEW.automatic_provisioning) EXECUTE FUNCTION test_refuse_provisioning()
            """)
        let edit = ["domain", "edit", Self.domain, "--update", "do-not-update", "--rule", "sync-existing-users", "--automatic-move", "on",
                    "--automatic-provisioning", "on", "--default-role", "Staff"]
        let refused = try harness.ucp(edit)
        XCTAssertNotEqual(refused.status, 0, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("automatic provisioning refused by the test"), refused.stderr)
        await assertEqual(try await settings(), before, "nothing of the edit kept")
        await assertEqual(try await auditCount(), auditBefore, "no audit line")

        _ = try await sql("DROP TRIGGER test_refuse_provisioning ON domains")
        XCTAssertEqual(try ucp(edit).stdout, "domain 'Cisco' changed\n")
        await assertEqual(try await settings(), "do_not_update true true Staff sync_existing_users")
        let actions = try await sql("SELECT action FROM audit_log WHERE target = '\(Self.domain)' AND action LIKE 'domain.%' ORDER BY id")
            .map { try $0.decode("action", as: String.self) }.suffix(4)
        XCTAssertEqual(Array(actions), ["domain.changed", "domain.rules_changed", "domain.automatic_move", "domain.automatic_provisioning"])
        XCTAssertEqual(try ucp(edit).stdout, "domain 'Cisco': nothing changed\n")
    }

    /// The seed's four cases, with and without an LDAP number; the role filter and the default role
    /// together; a user no service area filter matches; the dry run; a second synchronization.
    func testLinesFollowTheSeedsFourCasesAndASecondSyncSubmitsNothing() async throws {
        try await prepareDirectory()
        try ucp(["domain", "role", "add", Self.domain, "--name", "Staff", "--phone-model", "Cisco Unified Client Services Framework"])
        try ucp(["domain", "role", "add", Self.domain, "--name", "Managers", "--phone-model", "Cisco Unified Client Services Framework", "--voicemail", "yes"])
        try ucp(["domain", "edit", Self.domain, "--automatic-provisioning", "on", "--default-role", "Staff"])

        // The dry run lists the orders it would queue and submits nothing.
        let dry = try ucp(["submit", "sync", "ldap", "--domain", Self.domain, "--dry-run"]).stdout
        XCTAssertTrue(dry.contains("Dry run of the automatic provisioning of domain 'Cisco': 10 users await it, 9 orders would be queued (2 without a line), 1 without an order"), dry)
        XCTAssertTrue(dry.contains("apneither1, SA_Neither, 5101, Managers, Staff: phone Cisco Unified Client Services Framework, voicemail"), dry)
        XCTAssertTrue(dry.contains("apmask1, SA_Mask, 5307, Staff: phone Cisco Unified Client Services Framework"), dry)
        XCTAssertTrue(dry.contains("apassign1, SA_Assign, the next free number of the block, Staff: phone Cisco Unified Client Services Framework"), dry)
        XCTAssertTrue(dry.contains("apneither2, SA_Neither, no line, Staff: the user on Unified CM"), dry)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM orders"), 0)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM users WHERE user_id LIKE 'ap%'"), 0)

        try ucp(["submit", "sync", "ldap", "--domain", Self.domain, "--wait"])
        let orders = try await autoOrdersEnded(9)
        let state = try state()
        for (user, number) in Self.expected.sorted(by: { $0.key < $1.key }) {
            let phone = "CSF" + user.uppercased()
            guard let number else {
                // No line service: the services that need none, here the user pushed to Unified CM.
                let order = try XCTUnwrap(orders[user], "\(user): an order without a line")
                XCTAssertEqual(order.kind, "push", user)
                XCTAssertEqual(order.state, "succeeded", "\(user): \(order.error ?? "")")
                XCTAssertNil(order.line, user)
                await assertEqual(try await steps(order.id).map(\.name), [.user], user)
                XCTAssertTrue(state.contains { $0.hasPrefix("User ") && $0.contains("userid=\(user) ") }, "\(user): on Unified CM")
                XCTAssertFalse(state.contains { $0.contains("name=\(phone)") }, "\(user): no phone")
                await assertEqual(try await count("SELECT count(*)::bigint AS n FROM user_services WHERE user_id = '\(user)'"), 0, "\(user): no service")
                await assertEqual(try await sql("SELECT coalesce(service_area, '') AS a FROM users WHERE user_id = '\(user)'")[0].decode("a", as: String.self),
                                  order.serviceArea, "\(user): placed in its area")
                continue
            }
            guard let order = orders[user] else { XCTFail("\(user): no order"); continue }
            XCTAssertEqual(order.state, "succeeded", "\(user): \(order.error ?? "")")
            XCTAssertEqual(order.line, number, user)
            XCTAssertTrue(order.submitKey?.hasPrefix("autoprov:Cisco:\(user):") == true, order.submitKey ?? "no key")
            XCTAssertTrue(state.contains { $0.hasPrefix("Line ") && $0.contains("pattern=\(number) ") }, "\(user): line \(number) on the device")
            XCTAssertTrue(state.contains { $0.hasPrefix("Phone ") && $0.contains("name=\(phone)") }, "\(user): phone \(phone)")
            let recorded: [String] = try await sql("SELECT detail->>'number' AS n FROM user_services WHERE user_id = '\(user)' AND service_type = 'line'")
                .map { try $0.decode("n") }
            XCTAssertEqual(recorded, [number], "\(user): the line in the user record")
        }
        XCTAssertNil(orders["apnowhere"])
        // The manager: Managers (filter) and Staff (default) together: the Managers phone, and voicemail.
        let manager = state.first { $0.hasPrefix("Phone ") && $0.contains("name=CSFAPNEITHER1") } ?? ""
        XCTAssertTrue(manager.contains("Cisco Unified Client Services Framework"), manager)
        XCTAssertTrue(state.contains { $0.hasPrefix("UnityUser ") && $0.contains("Alias=apneither1 ") }, "the manager's voicemail")
        XCTAssertFalse(state.contains { $0.hasPrefix("UnityUser ") && $0.contains("Alias=apassign1 ") }, "Staff alone has no voicemail")

        let log = try ucp(["domain", "log", Self.domain, "--kind", "ldap"]).stdout
        XCTAssertTrue(log.hasSuffix("\nAutomatic provisioning of domain 'Cisco': 10 users await it, 9 orders queued (2 without a line), 1 without an order\n"),
                      "the summary last: \(log)")
        XCTAssertTrue(log.contains("Automatic provisioning orders were queued for the following users: UserId, OrderId, ServiceArea, Number"), log)
        for user in ["apneither1", "apassign1", "apassign2", "apmask1", "apboth1", "apboth2", "apdisabled"] {
            let order = try XCTUnwrap(orders[user])
            XCTAssertTrue(log.contains("\(user), \(order.id), \(order.serviceArea), \(order.line ?? "")"), "\(user) listed: \(log)")
        }
        for user in ["apneither2", "apmask2"] {
            let order = try XCTUnwrap(orders[user])
            XCTAssertTrue(log.contains("\(user), \(order.id), \(order.serviceArea), no line"), "\(user) listed: \(log)")
        }
        XCTAssertTrue(log.contains("Automatic provisioning: apneither2: no line service (no LDAP synchronized number, service area 'SA_Neither' uses the LDAP number), "
                                   + "so the order holds the user on Unified CM and leaves out what needs the line: phone Cisco Unified Client Services Framework; "
                                   + "a number synchronized later orders no line (the user is provisioned once): order it with ucp order submit"), log)
        XCTAssertTrue(log.contains("Automatic provisioning: apmask2: no line service (no LDAP synchronized number to apply the mask to, service area 'SA_Mask' applies the mask only)"), log)
        XCTAssertTrue(log.contains("Automatic provisioning: apnowhere: no order: no service area LDAP filter matches"), log)

        // The key: submitting a user's order again returns the first and writes nothing.
        let first = try XCTUnwrap(orders["apassign1"])
        let again = try await OrderStore(Connection(harness.database.app)).submit(
            OrderRequest(domain: Self.domain, serviceArea: "SA_Assign", user: "apassign1", phoneName: "CSFAPASSIGN1", phoneModel: PhoneModel.jabber),
            key: try XCTUnwrap(first.submitKey), actor: "test")
        XCTAssertFalse(again.created)
        XCTAssertEqual(again.order.id, first.id)

        // A second synchronization submits nothing new: the one without an order still awaits it
        // (and says why again); the provisioned ones, with or without a line, no longer do.
        try ucp(["submit", "sync", "ldap", "--domain", Self.domain, "--wait"])
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM orders"), 9)
        let second = try ucp(["domain", "log", Self.domain, "--kind", "ldap"]).stdout
        XCTAssertTrue(second.hasSuffix("\nAutomatic provisioning of domain 'Cisco': 1 users await it, 0 orders queued, 1 without an order\n"), second)
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM users WHERE provisioning_pending"), 1)

        // A user brought in later whose LDAP number is in use: the planner refuses it, the log says
        // why and the sync goes on with the others.
        try slapd.reload(users: Self.directory + [Self.user("aptaken", department: "Neither", phone: "5101"),
                                                  Self.user("apfresh", department: "Assign", phone: nil)])
        try ucp(["submit", "sync", "ldap", "--domain", Self.domain, "--wait"])
        let taken = try ucp(["domain", "log", Self.domain, "--kind", "ldap"]).stdout
        XCTAssertTrue(taken.contains("Automatic provisioning: aptaken: no order: line (automatic provisioning): 5101 is already in use"), taken)
        XCTAssertTrue(taken.contains("3 users await it, 1 orders queued, 2 without an order"), taken)
        let fresh = try await autoOrders()["apfresh"]
        XCTAssertEqual(fresh?.line, "5202")

        // The refused user is tried again by the next synchronization: its LDAP number changed to a free
        // one. A user provisioned without a line whose entry now has a number gets no order: provisioned once.
        let withoutLine = try XCTUnwrap(orders["apneither2"])
        let directory = Self.directory.filter { $0.uid != "apneither2" } + [Self.user("apneither2", department: "Neither", phone: "5160")]
        try slapd.reload(users: directory + [Self.user("aptaken", department: "Neither", phone: "5102"),
                                             Self.user("apfresh", department: "Assign", phone: nil)])
        try ucp(["submit", "sync", "ldap", "--domain", Self.domain, "--wait"])
        let retried = try ucp(["domain", "log", Self.domain, "--kind", "ldap"]).stdout
        XCTAssertTrue(retried.contains("2 users await it, 1 orders queued, 1 without an order"), retried)
        let later = try await autoOrders()
        XCTAssertEqual(later["aptaken"]?.line, "5102")
        XCTAssertEqual(later["apneither2"]?.id, withoutLine.id, "no line ordered for the number synchronized later")
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM orders WHERE lower(user_id) = 'apneither2'"), 1)
        XCTAssertFalse(try self.state().contains { $0.hasPrefix("Line ") && $0.contains("pattern=5160 ") }, "no line 5160")
    }

    /// Seed 004, "Apply mask" without a number: no line service, and the user's other services still
    /// provisioned — the user on Unified CM and, the role asking it, IM and Presence; the phone,
    /// voicemail and Extension Mobility need the line and are left out, the log says which and why.
    /// The user with a number gets all of them.
    func testAUserWithoutLineServiceGetsTheServicesThatNeedNoLine() async throws {
        let users = Self.directory.filter { ["apmask1", "apmask2"].contains($0.uid) }
        try await prepareDirectory(users)
        try ucp(["domain", "role", "add", Self.domain, "--name", "Jabber", "--phone-model", "Cisco Unified Client Services Framework", "--voicemail", "yes",
                 "--extension-mobility", "yes", "--im-and-presence", "SP_Jabber"])
        try ucp(["domain", "edit", Self.domain, "--automatic-provisioning", "on", "--default-role", "Jabber"])

        try ucp(["submit", "sync", "ldap", "--domain", Self.domain, "--wait"])
        let orders = try await autoOrdersEnded(2)
        let full = try XCTUnwrap(orders["apmask1"]), bare = try XCTUnwrap(orders["apmask2"])
        XCTAssertEqual(full.state, "succeeded", full.error ?? "")
        XCTAssertEqual(full.line, "5307")
        XCTAssertEqual(bare.state, "succeeded", bare.error ?? "")
        XCTAssertEqual(bare.kind, "push")
        await assertEqual(try await steps(bare.id).map(\.name), [.user, .imPresence])

        let pushed = try calls().filter { $0.contains("apmask2") && !$0.hasPrefix("get") }
        XCTAssertEqual(pushed.count, 2, pushed.joined(separator: "\n"))
        XCTAssertTrue(pushed[0].hasPrefix("addUser") && pushed[1] == "updateUser userid=apmask2 homeCluster=true imAndPresenceEnable=true serviceProfile=SP_Jabber",
                      pushed.joined(separator: "\n"))
        let device = try state()
        let user = device.first { $0.hasPrefix("User ") && $0.contains("userid=apmask2 ") } ?? ""
        XCTAssertTrue(user.contains("homeCluster=true") && user.contains("imAndPresenceEnable=true") && user.contains("serviceProfile=SP_Jabber"), user)
        XCTAssertFalse(device.contains { $0.contains("CSFAPMASK2") || $0.contains("UDP_apmask2") }, "no phone, no device profile")
        XCTAssertFalse(device.contains { $0.hasPrefix("UnityUser ") && $0.contains("Alias=apmask2 ") }, "no voicemail")
        XCTAssertTrue(device.contains { $0.hasPrefix("UnityUser ") && $0.contains("Alias=apmask1 ") }, "the user with a line has voicemail")
        let services = try await sql("SELECT service_type FROM user_services WHERE user_id = 'apmask2'").map { try $0.decode("service_type", as: String.self) }
        XCTAssertEqual(services, ["im_presence"], "IM and Presence in the user record")

        let log = try ucp(["domain", "log", Self.domain, "--kind", "ldap"]).stdout
        XCTAssertTrue(log.contains("2 users await it, 2 orders queued (1 without a line), 0 without an order"), log)
        XCTAssertTrue(log.contains("Automatic provisioning: apmask2: no line service (no LDAP synchronized number to apply the mask to, service area 'SA_Mask' applies the mask only), "
                                   + "so the order holds the user on Unified CM, IM and Presence (service profile SP_Jabber) and leaves out what needs the line: "
                                   + "phone Cisco Unified Client Services Framework, voicemail, extension mobility;"), log)
        let audit = try await sql("SELECT message FROM audit_log WHERE target = 'order \(bare.id)' AND action = 'order.submitted'")
            .map { try $0.decode("message", as: String.self) }
        XCTAssertEqual(audit, ["Order \(bare.id) submitted: push apmask2 to 'TestCCM' in 'SA_Mask' without a line (no LDAP synchronized number to apply the mask to): user, im_presence"])
    }

    /// Seed 004: with neither box checked the LDAP number is used, with the mask box the masked
    /// number — wherever it lies (the seed keeps LDAP numbers apart from the blocks): an E.164 LDAP
    /// number outside the block, a `\+` mask in an area with a block, a `+` mask in an area without
    /// one. Such a number is stored and sent as Unified CM's E.164 pattern (`\+` and the digits), in
    /// the area's partition; the mailbox's extension is `+` and the digits. A number in use on the
    /// device, or held by another user's open order, is still refused with its reason.
    func testLDAPAndMaskedNumbersOutsideTheBlocksAreProvisionedAndANumberInUseIsRefused() async throws {
        try await prepareDirectory([
            Self.user("apoutside", department: "Neither", phone: "+1 408 555 0101"),
            Self.user("apinuse", department: "Neither", phone: "100-0003"),     // the simulator's line 1000003 in PT_Internal
            Self.user("apescaped", department: "Escaped", phone: "555 0102"),
            Self.user("applus", department: "Plus", phone: "(555) 0103"),
            Self.user("aptwin", department: "Plus", phone: "555-0103"),         // applus's masked number too
        ])
        for (area, block) in [("SA_Escaped", ["--dn-block", "5500-5599"]), ("SA_Plus", [])] {
            try ucp(["service-area", "add", "--domain", Self.domain, "--name", area, "--call-processor", "TestCCM",
                     "--device-pool", "DP_Site01", "--location", "Hub_None", "--device-css", "CSS_Internal", "--line-css", "CSS_Internal",
                     "--partition", "PT_Internal", "--message-processor", "unity",
                     "--voicemail-profile", "Default", "--unity-template", "voicemailusertemplate"] + block)
        }
        try ucp(["domain", "edit", Self.domain,
                 "--service-area-filter", "SA_Neither=(department=Neither)", "--service-area-filter", "SA_Escaped=(department=Escaped)",
                 "--service-area-filter", "SA_Plus=(department=Plus)",
                 "--service-area-mask", "SA_Escaped=\\+1408XXXXXXX", "--service-area-mask", "SA_Plus=+1408XXXXXXX"])
        try ucp(["domain", "role", "add", Self.domain, "--name", "Staff", "--phone-model", "Cisco Unified Client Services Framework", "--voicemail", "yes"])
        try ucp(["domain", "edit", Self.domain, "--automatic-provisioning", "on", "--default-role", "Staff"])

        try ucp(["submit", "sync", "ldap", "--domain", Self.domain, "--wait"])
        let log = try ucp(["domain", "log", Self.domain, "--kind", "ldap"]).stdout
        XCTAssertTrue(log.contains("Automatic provisioning: apinuse: no order: line (automatic provisioning): 1000003 is already in use on 'TestCCM' or held by an open order"), log)
        // applus and aptwin ask for one number: the first to be submitted gets it, the other is refused.
        let twins = ["applus", "aptwin"].filter { log.contains("Automatic provisioning: \($0): no order: line (automatic provisioning): \\+14085550103 is already in use on 'TestCCM' or held by an open order") }
        XCTAssertEqual(twins.count, 1, log)
        XCTAssertTrue(log.contains("5 users await it, 3 orders queued, 2 without an order"), log)

        let orders = try await autoOrdersEnded(3)
        let state = try state()
        let expected = ["apoutside": "14085550101", "apescaped": "\\+14085550102", (twins.first == "applus" ? "aptwin" : "applus"): "\\+14085550103"]
        for (user, number) in expected.sorted(by: { $0.key < $1.key }) {
            guard let order = orders[user] else { XCTFail("\(user): no order: \(log)"); continue }
            XCTAssertEqual(order.state, "succeeded", "\(user): \(order.error ?? "")")
            XCTAssertEqual(order.line, number, user)
            XCTAssertEqual(order.linePartition, "PT_Internal", user)
            let line = state.first { $0.hasPrefix("Line ") && $0.contains("pattern=\(number) ") } ?? ""
            XCTAssertTrue(line.contains("routePartitionName=PT_Internal"), "\(user): line \(number) on the device: \(line)")
            let mailbox = state.first { $0.hasPrefix("UnityUser ") && $0.contains("Alias=\(user) ") } ?? ""
            XCTAssertTrue(mailbox.contains("DtmfAccessId=\(number.replacingOccurrences(of: "\\", with: "")) "), "\(user): mailbox \(mailbox)")
            let recorded: [String] = try await sql("SELECT detail->>'number' AS n FROM user_services WHERE user_id = '\(user)' AND service_type = 'line'")
                .map { try $0.decode("n") }
            XCTAssertEqual(recorded, [number], "\(user): the line in the user record")
        }
        XCTAssertNil(orders["apinuse"])
        XCTAssertFalse(state.contains { $0.hasPrefix("Line ") && $0.contains("pattern=+") }, "no pattern with a plain +")
    }
}
