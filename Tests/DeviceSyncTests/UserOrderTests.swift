import AXL
import Foundation
import Inventory
import Orders
import Postgres
import Queue
import TestSupport
import XCTest

/// `ucp user add|edit|move|push` and the credential policy (issue 14; seed 000 steps 1–4) through a
/// real worker, PostgreSQL and `ucp devsim`: plan equals execution, undo of a move restores the
/// before-image, drift ends "needs attention", bad input is one line and writes nothing.
final class UserOrderTests: OrderTestCase {
    static let moveArea = "SA_Move"

    /// A second area on the same call processor, with other device settings.
    func addMoveArea() throws {
        try ucp(["service-area", "add", "--domain", Self.domain, "--name", Self.moveArea, "--call-processor", "TestCCM",
                 "--device-pool", "DP_Site02", "--location", "Phantom", "--device-css", "CSS_Local", "--line-css", "CSS_National",
                 "--partition", "PT_Internal", "--dn-block", "4100-4109", "--message-processor", "unity",
                 "--voicemail-profile", "Default", "--unity-template", "voicemailusertemplate"])
    }

    /// An area of the same call processor with an external mask and another voicemail profile.
    func addMaskedArea() throws {
        try ucp(["service-area", "add", "--domain", Self.domain, "--name", "SA_Masked", "--call-processor", "TestCCM",
                 "--device-pool", "DP_Site02", "--location", "Phantom", "--device-css", "CSS_Local", "--line-css", "CSS_National",
                 "--partition", "PT_Internal", "--dn-block", "4200-4209", "--external-mask", "+14085551XXX", "--message-processor", "unity",
                 "--voicemail-profile", "NoVoiceMail", "--unity-template", "voicemailusertemplate"])
    }

    /// Runs the user order `arguments` (with `--wait`) while the device fails as `faults` says: the
    /// order ends rolled back and the device is as before it.
    @discardableResult
    func assertRolledBack(_ arguments: [String], faults: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) async throws -> Order {
        let before = try state()
        try fault(faults)
        let failed = try harness.ucp(arguments + ["--wait"])
        XCTAssertEqual(failed.status, 1, failed.stdout + failed.stderr, file: file, line: line)
        let order = try await order(try orderID(from: failed))
        XCTAssertEqual(order.state, "rolled_back", order.error ?? "", file: file, line: line)
        XCTAssertEqual(try state(), before, message, file: file, line: line)
        return order
    }

    func count(_ table: String) async throws -> Int64 {
        try await sql("SELECT count(*)::bigint AS n FROM \(table)")[0].decode("n", as: Int64.self)
    }

    func placement(_ user: String) async throws -> String? {
        try await sql("SELECT service_area FROM users WHERE user_id = '\(user)'").first?.decodeIfPresent("service_area")
    }

    /// The line of `state()` for one object.
    func object(_ prefix: String, _ key: String) throws -> String {
        try state().first { $0.hasPrefix(prefix + " ") && $0.contains(key + " ") } ?? ""
    }

    /// `user add` makes a manual user at domain level; `users` still lists and shows it; `edit`
    /// changes and clears fields of manual users only; every bad input is one line naming the field,
    /// exit non-zero, and nothing written.
    func testAddAndEditUsersAndRefuseBadInputWritingNothing() async throws {
        try await prepare()
        let added = try ucp(["user", "add", "mjones", "--domain", Self.domain, "--first-name", "Mary", "--last-name", "Jones",
                             "--email", "mjones@example.com", "--department", "Sales"])
        XCTAssertTrue(added.stdout.contains("user mjones added to domain 'Cisco' (not placed"), added.stdout)
        let show = try ucp(["users", "show", "mjones"])
        XCTAssertTrue(show.stdout.contains("manual") && show.stdout.contains("Jones") && show.stdout.contains("none (domain level)"), show.stdout)
        XCTAssertTrue(try ucp(["users", "list", "--domain", Self.domain]).stdout.contains("mjones"))
        // Added and placed at once: one transaction, one audit line.
        let placed = try ucp(["user", "add", "mplaced", "--domain", Self.domain, "--last-name", "Placed", "--service-area", Self.area])
        XCTAssertTrue(placed.stdout.contains("user mplaced added to domain 'Cisco', placed in service area '\(Self.area)'"), placed.stdout)
        let placedAudit = try await sql("SELECT message FROM audit_log WHERE target = 'user mplaced'").map { try $0.decode("message", as: String.self) }
        XCTAssertEqual(placedAudit, ["User 'mplaced' added to domain 'Cisco' by hand, placed in service area '\(Self.area)'"])

        let edited = try ucp(["user", "edit", "mjones", "--title", "Director", "--department", ""])
        XCTAssertTrue(edited.stdout.contains("user mjones edited"), edited.stdout)
        let row = try await sql("SELECT title, department, source FROM users WHERE user_id = 'mjones'")[0]
        XCTAssertEqual(try row.decodeIfPresent("title") as String?, "Director")
        XCTAssertNil(try row.decodeIfPresent("department") as String?)
        XCTAssertEqual(try row.decode("source") as String, "manual")
        XCTAssertTrue(try ucp(["user", "edit", "mjones", "--title", "Director"]).stdout.contains("nothing changed"))

        let users = try await count("users"), audit = try await count("audit_log")
        let updated: String = try await sql("SELECT updated_at::text AS t FROM users WHERE user_id = 'mjones'")[0].decode("t")
        let cases: [([String], String)] = [
            (["user", "add", "bad/id", "--domain", Self.domain, "--last-name", "X"], "user: 'bad/id' must be 1 to 128 letters"),
            (["user", "add", "admin", "--domain", Self.domain, "--last-name", "X"], "user: 'admin' is a built-in administrator"),
            // A pattern's `$` would match before a final line break: the whole value is matched.
            (["user", "add", "x0\n", "--domain", Self.domain, "--last-name", "X"], "user: 'x0\\n' must be 1 to 128 letters"),
            (["user", "add", "x1", "--domain", "Nowhere", "--last-name", "X"], "domain"),
            (["user", "add", "x2", "--domain", Self.domain], "last-name: is required"),
            (["user", "add", "x3", "--domain", Self.domain, "--last-name", "X", "--email", "nope"], "email: 'nope' must be a mail address"),
            (["user", "add", "x4", "--domain", Self.domain, "--last-name", "X", "--service-area", "SA_None"], "service-area: no service area 'SA_None'"),
            (["user", "add", "MJONES", "--domain", Self.domain, "--last-name", "X"], "user: 'MJONES' already exists in domain 'Cisco'"),
            (["user", "edit", "mjones", "--phone", "call me"], "phone: 'call me' must be a telephone number"),
            (["user", "edit", "mjones", "--last-name", ""], "last-name: is required"),
            (["user", "edit", "nobody", "--title", "X"], "user 'nobody': no such user"),
            (["user", "edit", "user000001", "--title", "X"], "user 'user000001': is synchronized from Unified CM"),
            (["user", "move", "mjones", "--service-area", "SA_None"], "service-area: no service area 'SA_None' in domain 'Cisco'"),
            (["user", "push", "mjones"], "service-area: user 'mjones' is not placed in a service area"),
            (["user", "push", "mjones", "--service-area", Self.area, "--credential-policy", "bad<name>"], "credential-policy: 'bad<name>' must be a credential policy's name"),
        ]
        for (arguments, expected) in cases {
            let result = try harness.ucp(arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments): \(result.stdout)")
            XCTAssertTrue(result.stderr.hasPrefix("ucp: " + expected), "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(arguments): one line")
        }
        await assertEqual(try await count("users"), users)
        await assertEqual(try await count("audit_log"), audit)
        await assertEqual(try await count("orders"), 0)
        await assertEqual(try await sql("SELECT updated_at::text AS t FROM users WHERE user_id = 'mjones'")[0].decode("t") as String, updated)
        XCTAssertEqual(try writes(), [], "no device write")

        // A bad credential policy in an order file: the field and its line.
        let file = try orderFile(extra: "credential_policy: \"a<b\"\n")
        let result = try harness.ucp(["order", "plan", "-f", file])
        XCTAssertEqual(result.status, 64, result.stdout + result.stderr)
        XCTAssertTrue(result.stderr.hasPrefix("ucp: credential_policy (order.yaml line 9): 'a<b' must be"), result.stderr)
    }

    /// A user without services moves by placement alone: no order, no device call.
    func testMovingAUserWithoutServicesOnlyPlacesIt() async throws {
        try await prepare()
        try addMoveArea()
        let moved = try ucp(["user", "move", "jdoe", "--service-area", Self.moveArea])
        XCTAssertTrue(moved.stdout.contains("placement only"), moved.stdout)
        XCTAssertTrue(moved.stdout.contains("user jdoe placed in service area 'SA_Move'"), moved.stdout)
        await assertEqual(try await placement("jdoe"), Self.moveArea)
        XCTAssertTrue(try ucp(["user", "move", "jdoe", "--service-area", Self.moveArea]).stdout.contains("already in service area"))
        await assertEqual(try await count("orders"), 0)
        XCTAssertEqual(try calls().filter { !$0.hasPrefix("GET /vmrest/version") }, [])
    }

    /// Push with a credential policy: addUser, then updateUser of the policies (not settable on
    /// add); the device's writes are the plan's and valid against AXLSoap.xsd 12.5; the user is
    /// placed. A failure of the policy update rolls the push back (the user removed); a user the
    /// device already has is adopted, the policies it had kept as the step's before-image.
    func testPushWithACredentialPolicyPlansExecutesAndUndoes() async throws {
        try await prepare()
        let dry = try ucp(["user", "push", "jdoe", "--service-area", Self.area, "--credential-policy", "CP_Strong", "--dry-run"])
        XCTAssertTrue(dry.stdout.contains("addUser user{firstName=John lastName=Doe userid=jdoe"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("2. credential_policy"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("updateUser userid=jdoe passwordCredentials{pwdCredPolicyName=CP_Strong} pinCredentials{pinCredPolicyName=CP_Strong}"), dry.stdout)
        await assertEqual(try await count("orders"), 0, "a dry run stores nothing")

        // The policy update fails: the push is rolled back, the device as before.
        try await assertRolledBack(["user", "push", "jdoe", "--service-area", Self.area, "--credential-policy", "CP_Strong"],
                                   faults: "fail=updateUser:1", "the user the push added is gone")

        try fault("clear=1")
        _ = try sim.control("calls?clear=1")
        let pushed = try ucp(["user", "push", "jdoe", "--service-area", Self.area, "--credential-policy", "CP_Strong", "--wait"])
        let id = try orderID(from: pushed)
        await assertEqual(try await order(id).kind, "push")
        let planned = try await plannedWrites(id)
        XCTAssertEqual(try writes(), planned, "the device's writes are the plan's")
        XCTAssertEqual(try AXLSchema.validate(directory: capture), [], "every request and answer valid against AXLSoap.xsd 12.5")
        let user = try object("User", "userid=jdoe")
        XCTAssertTrue(user.contains("passwordCredentials=CP_Strong pinCredentials=CP_Strong"), user)
        await assertEqual(try await placement("jdoe"), Self.area, "pushed from its area: placed there")

        // A synchronized user is adopted; its policy change is undone by a rollback while unchanged.
        let synced = "user000002"
        let syncedBefore = try object("User", "userid=\(synced)")
        XCTAssertTrue(syncedBefore.contains("passwordCredentials=Default Credential Policy"), syncedBefore)
        let adopted = try ucp(["user", "push", synced, "--service-area", Self.area, "--credential-policy", "CP_Kiosk", "--wait"])
        let adoptedID = try orderID(from: adopted)
        let adoptedSteps = try await steps(adoptedID)
        XCTAssertEqual(adoptedSteps.map(\.name), [.user, .credentialPolicy])
        XCTAssertEqual(adoptedSteps.first?.adopted, true)
        XCTAssertEqual(adoptedSteps.last?.beforeImage?.rendered, "passwordCredentials{pwdCredPolicyName='Default Credential Policy'} pinCredentials{pinCredPolicyName='Default Credential Policy'}")
        XCTAssertTrue(try object("User", "userid=\(synced)").contains("passwordCredentials=CP_Kiosk pinCredentials=CP_Kiosk"))
    }

    /// An adopted user's policy is restored by the undo while it still shows what the order wrote;
    /// changed by someone else after the step, it is left alone and the order needs attention. A
    /// policy the call processor does not have is refused when the push or the order is planned.
    func testACredentialPolicyDriftEndsNeedingAttention() async throws {
        try await prepare()
        let synced = "user000003"
        let before = try state()
        // The policy step is followed by a failing line step of an add order for the synchronized user.
        try fault("fail=addLine:1")
        let undone = try harness.ucp(["order", "submit", "-f", try orderFile("undo.yaml", user: synced, phone: "SEP00AA00BB0003", voicemail: false,
                                                                             extra: "credential_policy: CP_Strong\n"), "--wait"])
        XCTAssertEqual(undone.status, 1, undone.stdout + undone.stderr)
        await assertEqual(try await order(try orderID(from: undone)).state, "rolled_back")
        XCTAssertEqual(try state(), before, "the user's policies are as before the order")

        let file = try orderFile(user: synced, phone: "SEP00AA00BB0003", voicemail: false, onFailure: "stop",
                                 extra: "credential_policy: CP_Strong\n")
        try fault("fail=addLine:1")
        let result = try harness.ucp(["order", "submit", "-f", file, "--wait"])
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        let id = try orderID(from: result)
        await assertEqual(try await order(id).state, "failed")
        XCTAssertTrue(try object("User", "userid=\(synced)").contains("passwordCredentials=CP_Strong"))
        // Someone sets another policy on Unified CM.
        XCTAssertEqual(try sim.axl("updateUser") { writer in
            writer.element("userid", synced)
            writer.open("passwordCredentials")
            writer.element("pwdCredPolicyName", "CP_Kiosk")
            writer.close("passwordCredentials")
        }, 200)
        let rollback = try harness.ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertEqual(rollback.status, 1, rollback.stdout)
        let order = try await order(id)
        XCTAssertEqual(order.state, "needs_attention")
        XCTAssertTrue(order.error?.contains("drift") == true, order.error ?? "")
        XCTAssertTrue(try object("User", "userid=\(synced)").contains("passwordCredentials=CP_Kiosk pinCredentials=CP_Strong"),
                      "the user is left as someone else changed it")
        let states = Dictionary(uniqueKeysWithValues: try await steps(id).map { ($0.name, $0.state) })
        XCTAssertEqual(states[.credentialPolicy], "conflict")

        // A policy the call processor's infrastructure sync did not read: refused when planned, in one
        // line naming the field; no order stored, nothing sent to the device.
        try fault("clear=1")
        _ = try sim.control("calls?clear=1")
        let orders = try await count("orders")
        let unknown = try harness.ucp(["user", "push", "jdoe", "--service-area", Self.area, "--credential-policy", "CP_Nope", "--wait"])
        XCTAssertEqual(unknown.status, 64, unknown.stdout + unknown.stderr)
        XCTAssertEqual(unknown.stderr, "ucp: credential-policy: no credential policy 'CP_Nope' on 'TestCCM' (as its infrastructure synchronization read it)\n")
        await assertEqual(try await count("orders"), orders, "nothing stored")
        XCTAssertEqual(try writes(), [], "nothing written to the device")
        let nope = try orderFile("nope.yaml", user: "jdoe", phone: "SEP00AA00BB0009", voicemail: false, extra: "credential_policy: CP_Nope\n")
        try assertRefused(nope, "credential_policy (nope.yaml line 9): no credential policy 'CP_Nope' on 'TestCCM'", "an order file naming an unknown policy")
    }

    /// A user with services moved within its call processor: a change order whose plan re-applies the
    /// new area's device pool, location and CSSes (partition unchanged) and resets the phone; the
    /// device's writes equal the plan; the user and its services are placed in the new area. A
    /// failure part way restores the before-images (the device exactly as before), and a move to an
    /// area of another call processor is refused in one line.
    func testMovingAUserWithServicesIsAChangeOrderWhoseUndoRestoresTheBeforeImage() async throws {
        try await prepare()
        try addMoveArea()
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        XCTAssertTrue(added.stdout.contains("succeeded"), added.stdout)
        await assertEqual(try await placement("jdoe"), Self.area, "the add order placed the user")

        let dry = try ucp(["user", "move", "jdoe", "--service-area", Self.moveArea, "--dry-run"])
        XCTAssertTrue(dry.stdout.contains("updatePhone name=SEP00AA00BB0001 callingSearchSpaceName=CSS_Local devicePoolName=DP_Site02 locationName=Phantom"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("updateLine pattern=4000 routePartitionName=PT_Internal shareLineAppearanceCssName=CSS_National"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("doDeviceReset deviceName=SEP00AA00BB0001"), dry.stdout)
        await assertEqual(try await count("orders"), 1, "a dry run stores nothing")

        // The line update fails: the phone's before-image is written back, the device as before.
        _ = try sim.control("calls?clear=1")
        let failedOrder = try await assertRolledBack(["user", "move", "jdoe", "--service-area", Self.moveArea], faults: "fail=updateLine:1",
                                                     "undo restored the before-image")
        XCTAssertEqual(failedOrder.kind, "change")
        let undoWrites = try writes()
        XCTAssertEqual(undoWrites.filter { $0.hasPrefix("updatePhone") }.count, 2, "the update and its undo: \(undoWrites)")
        await assertEqual(try await placement("jdoe"), Self.area, "not moved")

        try fault("clear=1")
        _ = try sim.control("calls?clear=1")
        let moved = try ucp(["user", "move", "jdoe", "--service-area", Self.moveArea, "--wait"])
        let id = try orderID(from: moved)
        await assertEqual(try await order(id).state, "succeeded")
        let planned = try await plannedWrites(id)
        XCTAssertEqual(try writes(), planned, "the device's writes are the plan's")
        XCTAssertEqual(try AXLSchema.validate(directory: capture), [], "every request and answer valid against AXLSoap.xsd 12.5")
        let phone = try object("Phone", "name=SEP00AA00BB0001")
        for setting in ["devicePoolName=DP_Site02", "locationName=Phantom", "callingSearchSpaceName=CSS_Local", "lines=1:4000/PT_Internal"] {
            XCTAssertTrue(phone.contains(setting), "\(setting): \(phone)")
        }
        XCTAssertTrue(try object("Line", "pattern=4000").contains("shareLineAppearanceCssName=CSS_National"))
        await assertEqual(try await placement("jdoe"), Self.moveArea)
        let areas = try await sql("SELECT DISTINCT service_area FROM user_services WHERE user_id = 'jdoe'").map { try $0.decode("service_area", as: String.self) }
        XCTAssertEqual(areas, [Self.moveArea], "the services followed the user")

        // Another call processor: refused in one line, nothing written.
        try await harness.register("OtherCCM", kind: .callProcessor, simulator: sim)
        let (infra, _) = try await harness.sync(.infra, "OtherCCM")
        XCTAssertEqual(infra.status, 0, infra.stdout + infra.stderr)
        try ucp(["service-area", "add", "--domain", Self.domain, "--name", "SA_Other", "--call-processor", "OtherCCM", "--device-pool", "DP_Site01"])
        let orders = try await count("orders")
        let across = try harness.ucp(["user", "move", "jdoe", "--service-area", "SA_Other"])
        XCTAssertNotEqual(across.status, 0)
        XCTAssertTrue(across.stderr.hasPrefix("ucp: service-area: 'SA_Other' uses call processor 'OtherCCM', but 'jdoe' has a phone on 'TestCCM': moving across call processors is not supported"), across.stderr)
        XCTAssertEqual(across.stderr.split(separator: "\n").count, 1)
        await assertEqual(try await count("orders"), orders)
        await assertEqual(try await placement("jdoe"), Self.moveArea)
    }

    /// A move re-applies the new area's external mask and voicemail settings (issue 14 §3): the
    /// phone's appearance of the user's line takes the area's mask (the lines read and written
    /// whole), the line the area's voicemail profile and forwards to voicemail through its line
    /// CSS; the plan shows those calls and the device's writes equal it. A failure part way writes
    /// the before-images back (the mask gone again); a move on to an area without a mask leaves
    /// the mask as it is, and says so.
    func testAMoveReappliesTheNewAreasMaskAndVoicemailSettings() async throws {
        try await prepare()
        try addMoveArea()
        try addMaskedArea()
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: true), "--wait"])
        XCTAssertTrue(added.stdout.contains("succeeded"), added.stdout)
        let phoneBefore = try object("Phone", "name=SEP00AA00BB0001")
        XCTAssertTrue(phoneBefore.contains("lines=1:4000/PT_Internal") && !phoneBefore.contains("PT_Internal["), "no mask from SA_Orders: \(phoneBefore)")

        let dry = try ucp(["user", "move", "jdoe", "--service-area", "SA_Masked", "--dry-run"])
        XCTAssertTrue(dry.stdout.contains("updatePhone name=SEP00AA00BB0001 callingSearchSpaceName=CSS_Local devicePoolName=DP_Site02 locationName=Phantom "
                                          + "lines{line{index=1 dirn{pattern=4000 routePartitionName=PT_Internal} e164Mask=+14085551XXX}}"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("updateLine pattern=4000 routePartitionName=PT_Internal "
                                          + "callForwardBusy{forwardToVoiceMail=true callingSearchSpaceName=CSS_National}"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("shareLineAppearanceCssName=CSS_National voiceMailProfileName=NoVoiceMail"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("external mask '+14085551XXX' on the phones' appearances"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("voicemail profile 'NoVoiceMail' and call forwards to voicemail"), dry.stdout)

        // The line update fails: the phone's lines as they were are written back (no mask).
        try await assertRolledBack(["user", "move", "jdoe", "--service-area", "SA_Masked"], faults: "fail=updateLine:1", "undo restored the before-image")

        try fault("clear=1")
        _ = try sim.control("calls?clear=1")
        let moved = try ucp(["user", "move", "jdoe", "--service-area", "SA_Masked", "--wait"])
        let id = try orderID(from: moved)
        let done = try await order(id)
        XCTAssertEqual(done.state, "succeeded", done.error ?? moved.stdout)
        let planned = try await plannedWrites(id)
        XCTAssertEqual(try writes(), planned, "the device's writes are the plan's")
        XCTAssertEqual(try AXLSchema.validate(directory: capture), [], "every request and answer valid against AXLSoap.xsd 12.5")
        XCTAssertTrue(try object("Phone", "name=SEP00AA00BB0001").contains("lines=1:4000/PT_Internal[+14085551XXX]"))
        let line = try object("Line", "pattern=4000")
        for setting in ["voiceMailProfileName=NoVoiceMail", "callForwardBusy=true\u{1}CSS_National", "callForwardNotRegistered=true\u{1}CSS_National",
                        "shareLineAppearanceCssName=CSS_National"] {
            XCTAssertTrue(line.contains(setting), "\(setting): \(line)")
        }

        // On to an area that sets no mask: the mask stays, and the plan says so.
        let onward = try ucp(["user", "move", "jdoe", "--service-area", Self.moveArea, "--dry-run"])
        XCTAssertFalse(onward.stdout.contains("lines{"), onward.stdout)
        XCTAssertTrue(onward.stdout.contains("external masks left as they are (the area sets none)"), onward.stdout)
        let second = try ucp(["user", "move", "jdoe", "--service-area", Self.moveArea, "--wait"])
        await assertEqual(try await order(try orderID(from: second)).state, "succeeded")
        XCTAssertTrue(try object("Phone", "name=SEP00AA00BB0001").contains("lines=1:4000/PT_Internal[+14085551XXX]"))
        XCTAssertTrue(try object("Line", "pattern=4000").contains("voiceMailProfileName=Default"))
    }

    /// The inventory's object of `type` keyed `key` on TestCCM: its attributes, the job that last
    /// wrote it, and whether it was last seen after `since` (a database time).
    func inventoryObject(_ type: String, _ key: String, since: String = "-infinity") async throws -> (attributes: [String: Any], seenBy: Int64?, seenSince: Bool) {
        let rows = try await sql("SELECT attributes::text AS a, seen_by, last_seen > '\(since)'::timestamptz AS since FROM device_objects "
                                 + "WHERE device = 'TestCCM' AND object_type = '\(type)' AND object_key = '\(key)' AND removed_at IS NULL")
        guard let row = rows.first else { throw TestFailure("no \(type) \(key) in the inventory") }
        let attributes = try JSONSerialization.jsonObject(with: Data(try row.decode("a", as: String.self).utf8)) as? [String: Any] ?? [:]
        return (attributes, try row.decodeIfPresent("seen_by"), try row.decode("since"))
    }

    /// The database's time now (text), for `inventoryObject(since:)`.
    func databaseNow() async throws -> String {
        try await sql("SELECT clock_timestamp()::text AS t")[0].decode("t")
    }

    /// The detail and area of `user`'s service of `type` keyed `key`, as the user record holds it.
    func service(_ user: String, _ type: String, _ key: String) async throws -> (detail: [String: Any], area: String?) {
        let rows = try await sql("SELECT detail::text AS d, service_area FROM user_services WHERE user_id = '\(user)' AND service_type = '\(type)' "
                                 + "AND object_key = '\(key)'")
        guard let row = rows.first else { throw TestFailure("no \(type) \(key) of \(user)") }
        return (try JSONSerialization.jsonObject(with: Data(try row.decode("d", as: String.self).utf8)) as? [String: Any] ?? [:],
                try row.decodeIfPresent("service_area"))
    }

    /// The e164Mask of the phone's appearance of `pattern`, as its inventory attributes hold its lines.
    static func mask(_ phone: [String: Any], _ pattern: String) -> String? {
        let lines = (phone["lines"] as? [String: Any])?["line"]
        let list = lines as? [[String: Any]] ?? (lines as? [String: Any]).map { [$0] } ?? []
        return list.first { ($0["dirn"] as? [String: Any])?["pattern"] as? String == pattern }?["e164Mask"] as? String
    }

    /// A move's success records what it wrote (issue 14: the user record shows its services placed
    /// in the area without waiting for a sync): with no sync or poll after it, the inventory's phone
    /// and line show the new area's device pool, location, CSSes, mask and voicemail profile,
    /// written over what the add order (jdoe) or the syncs (user000000) recorded, the rest kept; the
    /// move's job stamped them (a poll whose gets began before fetches them again); the user's
    /// services show the new settings, in the new area (`ucp user show`).
    func testAMoveRecordsWhatItWroteInTheInventoryWithoutASync() async throws {
        try await prepare()
        try addMoveArea()
        try addMaskedArea()
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        XCTAssertTrue(added.stdout.contains("succeeded"), added.stdout)
        let before = try await inventoryObject("Phone", "SEP00AA00BB0001").attributes
        XCTAssertEqual(before["devicePoolName"] as? String, "DP_Site01", "the add order recorded the phone: \(before)")
        let synced = try await inventoryObject("Phone", "SEP001122000000").attributes
        XCTAssertEqual(synced["devicePoolName"] as? String, "DP_Site01", "\(synced)")
        await assertEqual(try await service("user000000", "line", "1000000/PT_Internal").detail["voicemail_profile"] as? String, "Default")
        let otherJobs = "jobs WHERE kind <> 'order'"
        let jobsBefore = try await count(otherJobs)
        let start = try await databaseNow()

        // jdoe (an add order's services) to SA_Move: device pool, location and CSSes.
        let moved = try await order(try orderID(from: try ucp(["user", "move", "jdoe", "--service-area", Self.moveArea, "--wait"])))
        XCTAssertEqual(moved.state, "succeeded", moved.error ?? "")
        let phone = try await inventoryObject("Phone", "SEP00AA00BB0001", since: start)
        for (tag, value) in [("devicePoolName", "DP_Site02"), ("locationName", "Phantom"), ("callingSearchSpaceName", "CSS_Local"),
                             ("product", "Cisco 8845"), ("name", "SEP00AA00BB0001")] {
            XCTAssertEqual(phone.attributes[tag] as? String, value, "\(tag): \(phone.attributes)")
        }
        XCTAssertEqual(phone.seenBy, moved.jobID, "stamped by the move's job")
        XCTAssertTrue(phone.seenSince, "last seen when the move recorded it")
        let line = try await inventoryObject("Line", "4000/PT_Internal", since: start)
        XCTAssertEqual(line.attributes["shareLineAppearanceCssName"] as? String, "CSS_National", "\(line.attributes)")
        XCTAssertEqual(line.attributes["pattern"] as? String, "4000", "the rest kept: \(line.attributes)")
        XCTAssertEqual(line.seenBy, moved.jobID, "stamped by the move's job")
        XCTAssertTrue(line.seenSince, "last seen when the move recorded it")
        let phoneService = try await service("jdoe", "phone", "SEP00AA00BB0001")
        XCTAssertEqual(phoneService.area, Self.moveArea)
        XCTAssertEqual(phoneService.detail["device_pool"] as? String, "DP_Site02", "\(phoneService.detail)")
        XCTAssertEqual(phoneService.detail["location"] as? String, "Phantom", "\(phoneService.detail)")
        XCTAssertEqual(phoneService.detail["product"] as? String, "Cisco 8845", "the rest kept: \(phoneService.detail)")
        await assertEqual(try await placement("jdoe"), Self.moveArea)
        let shown = try ucp(["user", "show", "jdoe"]).stdout
        XCTAssertTrue(shown.contains("service area SA_Move"), shown)
        XCTAssertTrue(shown.contains("device pool DP_Site02; location Phantom"), shown)

        // user000000 (what the syncs read) to SA_Masked: the mask on its phone's appearance, the
        // voicemail profile on its line; the fields the move did not write as the sync read them.
        let masked = try await order(try orderID(from: try ucp(["user", "move", "user000000", "--service-area", "SA_Masked", "--wait"])))
        XCTAssertEqual(masked.state, "succeeded", masked.error ?? "")
        let syncedPhone = try await inventoryObject("Phone", "SEP001122000000")
        for (tag, value) in [("devicePoolName", "DP_Site02"), ("locationName", "Phantom"), ("callingSearchSpaceName", "CSS_Local"),
                             ("description", synced["description"] as? String ?? "?"), ("ownerUserName", "user000000")] {
            XCTAssertEqual(syncedPhone.attributes[tag] as? String, value, "\(tag): \(syncedPhone.attributes)")
        }
        XCTAssertEqual(Self.mask(syncedPhone.attributes, "1000000"), "+14085551XXX", "\(syncedPhone.attributes)")
        XCTAssertEqual(syncedPhone.seenBy, masked.jobID)
        let syncedLine = try await inventoryObject("Line", "1000000/PT_Internal")
        for (tag, value) in [("voiceMailProfileName", "NoVoiceMail"), ("shareLineAppearanceCssName", "CSS_National"), ("usage", "Device")] {
            XCTAssertEqual(syncedLine.attributes[tag] as? String, value, "\(tag): \(syncedLine.attributes)")
        }
        let syncedPhoneService = try await service("user000000", "phone", "SEP001122000000")
        XCTAssertEqual(syncedPhoneService.area, "SA_Masked")
        XCTAssertEqual(syncedPhoneService.detail["device_pool"] as? String, "DP_Site02", "\(syncedPhoneService.detail)")
        XCTAssertEqual(syncedPhoneService.detail["description"] as? String, synced["description"] as? String, "\(syncedPhoneService.detail)")
        let syncedLineService = try await service("user000000", "line", "1000000/PT_Internal")
        XCTAssertEqual(syncedLineService.detail["voicemail_profile"] as? String, "NoVoiceMail", "\(syncedLineService.detail)")
        XCTAssertEqual(syncedLineService.detail["position"] as? String, "1", "the rest kept: \(syncedLineService.detail)")
        await assertEqual(try await placement("user000000"), "SA_Masked")
        await assertEqual(try await count(otherJobs), jobsBefore, "no sync or poll ran")
    }

    /// One user, one change at a time: an add order for a user with an open move or push order is
    /// refused (plan and submit), and a move or push for a user with an open add order — one line
    /// naming the field and the rule, no order stored, nothing sent to the device. (Maintenance
    /// mode holds the first orders open.)
    func testAnAddOrderAndAChangeOrderOfOneUserAreNotOpenAtOnce() async throws {
        try await prepare()
        try addMoveArea()
        _ = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        try ucp(["maintenance", "on"])
        let move = try orderID(from: try ucp(["user", "move", "jdoe", "--service-area", Self.moveArea]))
        let add = try orderID(try ucp(["order", "submit", "-f", try orderFile("held.yaml", user: "user000004", phone: "SEP00AA00BB0004", voicemail: false)]))
        await assertEqual(try await order(move).state, "submitted", "held back by maintenance mode")
        _ = try sim.control("calls?clear=1")
        let orders = try await count("orders")

        try assertRefused(try orderFile("second.yaml", phone: "SEP00AA00BB0002", voicemail: false),
                          "user (second.yaml line 4): 'jdoe' has open change order \(move) (submitted): let it end, or resolve it first")
        for arguments in [["user", "move", "user000004", "--service-area", Self.moveArea], ["user", "push", "user000004", "--service-area", Self.area]] {
            let result = try harness.ucp(arguments)
            XCTAssertEqual(result.status, 64, "\(arguments): \(result.stdout)\(result.stderr)")
            XCTAssertEqual(result.stderr, "ucp: user 'user000004': has open add order \(add) (submitted): let it end, or resolve it first\n", "\(arguments)")
        }
        // A second add order of a user whose add order is open: both would extend the user's device
        // list from the same read, one losing the other's phone.
        try assertRefused(try orderFile("another.yaml", user: "user000004", phone: "SEP00AA00BB0005", voicemail: false),
                          "user (another.yaml line 4): 'user000004' has open add order \(add) (submitted): let it end, or resolve it first")
        await assertEqual(try await count("orders"), orders, "nothing stored")
        XCTAssertEqual(try writes(), [], "nothing written to the device")

        // Once they ended, the same orders are taken.
        try ucp(["maintenance", "off"])
        for id in [move, add] { await assertEqual(try await ended(id).state, "succeeded") }
        let second = try ucp(["order", "submit", "-f", try orderFile("second.yaml", phone: "SEP00AA00BB0002", voicemail: false), "--wait"])
        XCTAssertTrue(second.stdout.contains("succeeded"), second.stdout)
    }

    /// Drift between a move's step and its undo: someone changes the moved phone while the line step
    /// is held up; the line step then fails, the rollback leaves the phone as that person left it,
    /// restores the rest, and the change order needs attention.
    func testDriftBeforeTheUndoOfAMoveEndsNeedingAttention() async throws {
        try await prepare()
        try addMoveArea()
        try await assertMoveDrift(to: Self.moveArea, phoneDone: "devicePoolName=DP_Site02", phoneChanged: "devicePoolName=DP_Site03") { writer in
            writer.element("name", "SEP00AA00BB0001")
            writer.element("devicePoolName", "DP_Site03")
        }
    }

    /// Drift of the mask a move wrote: someone sets another mask on the phone's appearance while the
    /// line step is held up; the undo leaves the phone's lines as that person left them, and the
    /// change order needs attention.
    func testDriftOfAMovedMaskEndsNeedingAttention() async throws {
        try await prepare()
        try addMaskedArea()
        try await assertMoveDrift(to: "SA_Masked", phoneDone: "lines=1:4000/PT_Internal[+14085551XXX]",
                                  phoneChanged: "lines=1:4000/PT_Internal[+19195550XXX]") { writer in
            writer.element("name", "SEP00AA00BB0001")
            writer.open("lines")
            writer.open("line")
            writer.element("index", "1")
            writer.open("dirn")
            writer.element("pattern", "4000")
            writer.element("routePartitionName", "PT_Internal")
            writer.close("dirn")
            writer.element("e164Mask", "+19195550XXX")
            writer.close("line")
            writer.close("lines")
        }
    }

    /// The move's line update is carried out but its answer lost, and every read of the line after
    /// it too (the next tries' pre-checks): the step fails having changed the line. The rollback
    /// undoes it like a step stopped at its fence — the line shows what the order wrote, so its
    /// before-image is written back — once it can read the line: its first read lost too, the
    /// order ends failed on that undo (marked so), and `order rollback` finishes with the device as
    /// before the move. (The rollback used to skip the failed step and end rolled back with the
    /// line's CSS left changed.)
    func testAMoveWhoseLineUpdateAnswerWasLostIsUndoneByTheRollback() async throws {
        try await prepare()
        try addMoveArea()
        _ = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        let before = try state()
        try fault("drop=updateLine:1:100")
        try fault("drop=getLine:2:100")
        let failed = try harness.ucp(["user", "move", "jdoe", "--service-area", Self.moveArea, "--wait"])
        XCTAssertEqual(failed.status, 1, failed.stdout + failed.stderr)
        let id = try orderID(from: failed)
        let stopped = try await order(id)
        XCTAssertEqual(stopped.state, "failed", stopped.error ?? "")
        XCTAssertTrue(stopped.error?.hasPrefix("undo of step move_line: ") == true, stopped.error ?? "")
        XCTAssertTrue(try object("Line", "pattern=4000").contains("shareLineAppearanceCssName=CSS_National"), "the lost update took effect")
        let stoppedSteps = try await steps(id)
        let moveLine = try XCTUnwrap(stoppedSteps.first { $0.name == .moveLine })
        XCTAssertTrue(moveLine.undoFailed)
        XCTAssertNotNil(moveLine.beforeImage)

        try fault("clear=1")
        let again = try ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertTrue(again.stdout.hasSuffix("order \(id) rolled back\n"), again.stdout)
        XCTAssertEqual(try state(), before, "the line's and the phone's before-images written back")
        let states = try await steps(id).map { "\($0.name.rawValue) \($0.state)" }
        XCTAssertEqual(states, ["move_phone undone", "move_line undone", "reset pending"])
        await assertEqual(try await placement("jdoe"), Self.area, "not moved")
    }

    /// jdoe gets a phone, then moves to `area`; once the phone step is done (the phone shows
    /// `phoneDone`) and the line step's read is held up, `change` updates the phone behind the
    /// order's back; the line step then fails: the change order needs attention, the phone is left
    /// showing `phoneChanged`, and the user is not moved.
    func assertMoveDrift(to area: String, phoneDone: String, phoneChanged: String, change: @escaping (inout XMLWriter) -> Void,
                         file: StaticString = #filePath, line: UInt = #line) async throws {
        _ = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        _ = try sim.control("calls?clear=1")
        // The line step's read waits until the test has made its change (the test waits for that
        // read to arrive, then changes the phone; the pause only bounds how long the device waits).
        try fault("pause-seconds=20&stall=getLine:1&fail=updateLine:1")
        let move = try ucp(["user", "move", "jdoe", "--service-area", area])
        await assertTrue(try await eventually(timeout: 60) { try self.calls().contains { $0.hasPrefix("getLine") } }, "the line step's read arrives")
        XCTAssertTrue(try object("Phone", "name=SEP00AA00BB0001").contains(phoneDone), "the phone step is done", file: file, line: line)
        XCTAssertEqual(try sim.axl("updatePhone", change), 200, file: file, line: line)
        let id = try orderID(from: move)
        await assertTrue(try await eventually(timeout: 90) { try await self.order(id).isFinished }, "the order ends")
        let order = try await order(id)
        XCTAssertEqual(order.state, "needs_attention", order.error ?? "", file: file, line: line)
        XCTAssertTrue(order.error?.contains("drift") == true, order.error ?? "", file: file, line: line)
        let phone = try object("Phone", "name=SEP00AA00BB0001")
        XCTAssertTrue(phone.contains(phoneChanged), "the phone is left as someone else changed it: \(phone)", file: file, line: line)
        let states = try await steps(order.id).map { "\($0.name.rawValue) \($0.state)" }
        XCTAssertEqual(states, ["move_phone conflict", "move_line failed", "reset pending"], file: file, line: line)
        await assertEqual(try await placement("jdoe"), Self.area, "not moved")
    }

    /// The order id in the first line a user order's submission prints (`order N submitted …`).
    func orderID(from result: CommandResult) throws -> Int64 {
        guard let line = result.stdout.split(separator: "\n").first(where: { $0.hasPrefix("order ") && $0.contains(" submitted") }),
              let id = line.split(separator: " ").dropFirst().first.flatMap({ Int64($0) }) else {
            throw TestFailure("no order id in: \(result.stdout)\(result.stderr)")
        }
        return id
    }
}
