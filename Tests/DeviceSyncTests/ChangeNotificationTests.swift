import AXL
import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import TestSupport
import Transport
import XCTest

extension DeviceSimulatorProcess {
    /// POSTs one of the simulator's controls (`change-queue/reset`, `change-queue/burst?count=N`); returns its answer line.
    func control(_ path: String) throws -> String {
        let connection = try HTTPClientConnection(HTTPConfiguration(caFile: certificatePath, username: user, password: password))
        var answer: [UInt8] = []
        let status = try connection.perform(.post, url: baseURL + "/devsim/" + path, headers: [], body: []) { chunk in
            answer.append(contentsOf: chunk)
            return true
        }
        guard status == 200 else { throw TestFailure("devsim control \(path): HTTP \(status)") }
        return String(decoding: answer, as: UTF8.self)
    }
}

/// Change notification (issue 13) through real workers, `ucp devsim` and PostgreSQL.
final class ChangeNotificationTests: XCTestCase {
    var harness: SyncHarness!

    override func setUp() async throws {
        harness = try await SyncHarness()
    }

    override func tearDown() async throws {
        harness?.stop()
    }

    var store: ChangeNotificationStore { ChangeNotificationStore(Connection(harness.database.app)) }

    /// A Unified CM on a fresh simulator, synchronized (infrastructure and user) by the test worker.
    func synchronizedDevice(users: Int, _ flags: [String] = [], startWorker: Bool = true) async throws -> DeviceSimulatorProcess {
        let sim = try DeviceSimulatorProcess.start(for: self, users: users, arguments: flags)
        if startWorker { try harness.startWorker() }
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        for kind in [DeviceSyncKind.infra, .user] {
            let (result, job) = try await harness.sync(kind, "cucm")
            XCTAssertEqual(job.state, .succeeded, result.stdout + result.stderr)
        }
        return sim
    }

    /// Queues a poll of the device and waits for it to end.
    func poll(_ device: String = "cucm") async throws -> Job {
        let id = try await harness.queue.jobEnqueue(.init(ChangeNotificationPoll.self, target: device,
                                                          dedupKey: ChangeNotificationPoll.dedupKey(device: device), actor: "test")).id
        return try await finished(id)
    }

    func finished(_ id: Int64, timeout: Double = 120) async throws -> Job {
        var job: Job?
        let ended = try await eventually(timeout: timeout) {
            job = try await harness.queue.jobGet(id: id)
            return job.map { [.succeeded, .failed, .canceled].contains($0.state) } ?? false
        }
        guard ended, let job else { throw TestFailure("job \(id) did not end: \(String(describing: job))") }
        return job
    }

    /// The present objects of a kind, by type and key: their attributes (jsonb's text, so equal JSON compares equal).
    func inventory(_ kind: DeviceSyncKind, device: String = "cucm") async throws -> [String: String] {
        var objects: [String: String] = [:]
        for object in try await harness.objects.deviceObjectList(device: device, kind: kind, limit: 100_000) {
            objects["\(object.type)/\(object.key)"] = object.attributes
        }
        return objects
    }

    /// The inventory a poll left equals the one a full sync reads (named object by object when not).
    func assertSame(_ afterPoll: [String: String], _ afterSync: [String: String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(afterPoll.count, afterSync.count, file: file, line: line)
        for (key, value) in afterSync where afterPoll[key] != value {
            XCTFail("\(key): poll stored \(afterPoll[key] ?? "nothing"), a full sync reads \(value)", file: file, line: line)
        }
    }

    func attributes(_ type: String, _ key: String) async throws -> [String: Any]? {
        guard let object = try await harness.objects.deviceObjectList(device: "cucm", type: type, limit: 100_000)
            .first(where: { $0.key == key }) else { return nil }
        return try JSONSerialization.jsonObject(with: Data(object.attributes.utf8)) as? [String: Any]
    }

    func syncJobs(after id: Int64) async throws -> [Job] {
        try await harness.queue.jobList(state: nil, type: nil, limit: 1000)
            .filter { $0.id > id && ($0.type == InfrastructureSync.jobType || $0.type == UserSync.jobType) }
    }

    // MARK: the acceptance

    /// Adds, updates and removals of users, phones and lines made through AXL are in the inventory
    /// after one poll, exactly as a full synchronization reads them; a type off the seed's object list
    /// is not asked for; the poll runs in maintenance mode; its log and `ucp device cn` tell it.
    func testChangesMadeThroughAXLAreInTheInventoryAfterOnePoll() async throws {
        let sim = try await synchronizedDevice(users: 20)
        let baseline = try await store.cnState(device: "cucm")
        XCTAssertNotNil(baseline?.position, "the first synchronization took the baseline before it read: "
                        + ((try? harness.ucp(["device", "log", "cucm", "--kind", "infra"]).stdout) ?? ""))
        let changes: [(String, (inout XMLWriter) -> Void)] = [
            ("addUser", { $0.raw("<user><firstName>Chris</firstName><lastName>Notify</lastName><userid>cnuser1</userid><department>Sales</department></user>") }),
            ("updateUser", { $0.raw("<userid>user000003</userid><department>Changed</department>") }),
            ("removeUser", { $0.element("userid", "user000005") }),
            ("addLine", { $0.raw("<line><pattern>7001</pattern><routePartitionName>PT_Internal</routePartitionName><description>New line</description><usage>Device</usage></line>") }),
            ("updateLine", { $0.raw("<pattern>1000004</pattern><routePartitionName>PT_Internal</routePartitionName><description>Updated line</description>") }),
            ("removeLine", { $0.raw("<pattern>1000006</pattern><routePartitionName>PT_Internal</routePartitionName>") }),
            // Renamed: present under its new key only.
            ("updateLine", { $0.raw("<pattern>1000009</pattern><routePartitionName>PT_Internal</routePartitionName><newPattern>7009</newPattern>") }),
            ("addPhone", { $0.raw("<phone><name>SEP00000000C001</name><description>CN phone</description><product>Cisco 8845</product><model>Cisco 8845</model><protocol>SIP</protocol><devicePoolName>DP_HQ</devicePoolName><ownerUserName>cnuser1</ownerUserName><lines><line><index>1</index><dirn><pattern>7001</pattern><routePartitionName>PT_Internal</routePartitionName></dirn></line></lines></phone>") }),
            ("updatePhone", { $0.raw("<name>SEP001122000007</name><description>Moved desk phone</description>") }),
            ("removePhone", { $0.element("name", "SEP001122000008") }),
            // A Region is kept by the infrastructure sync but is not on the seed's change-notification list.
            ("addRegion", { $0.raw("<region><name>R_CN_Test</name></region>") }),
        ]
        for (operation, body) in changes {
            XCTAssertEqual(try sim.axl(operation, body), 200, operation)
        }
        // Polls run while maintenance mode is on (seed: supported in maintenance mode).
        XCTAssertEqual(try harness.ucp(["maintenance", "on"]).status, 0)
        let job = try await poll()
        XCTAssertEqual(job.state, .succeeded, job.error ?? "")
        XCTAssertEqual(try harness.ucp(["maintenance", "off"]).status, 0)

        await assertEqual(try await attributes("User", "cnuser1")?["department"] as? String, "Sales")
        await assertEqual(try await attributes("User", "user000003")?["department"] as? String, "Changed")
        await assertEqual(try await attributes("Line", "7001/PT_Internal")?["description"] as? String, "New line")
        await assertEqual(try await attributes("Line", "1000004/PT_Internal")?["description"] as? String, "Updated line")
        await assertEqual(try await attributes("Phone", "SEP00000000C001")?["description"] as? String, "CN phone")
        await assertEqual(try await attributes("Phone", "SEP001122000007")?["description"] as? String, "Moved desk phone")
        let removed = try await harness.objects.deviceObjectList(device: "cucm", kind: .user, includeRemoved: true, limit: 100_000)
            .filter { $0.removedAt != nil }.map { "\($0.type)/\($0.key)" }
        XCTAssertEqual(Set(removed), ["User/user000005", "Line/1000006/PT_Internal", "Phone/SEP001122000008", "Line/1000009/PT_Internal"])
        await assertEqual(try await attributes("Line", "7009/PT_Internal")?["pattern"] as? String, "7009")
        let infraAfterPoll = try await inventory(.infra)
        XCTAssertNil(infraAfterPoll["Region/R_CN_Test"], "Region is not on the object list: the poll did not ask for it")

        // The inventory equals what a full synchronization reads now.
        let afterPoll = try await inventory(.user)
        let (_, resync) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(resync.state, .succeeded)
        let afterSync = try await inventory(.user)
        assertSame(afterPoll, afterSync)

        let log = try harness.ucp(["device", "log", "cucm", "--kind", "cn"])
        XCTAssertEqual(log.status, 0, log.stderr)
        XCTAssertTrue(log.stdout.contains("Change notification of 'cucm' started"), log.stdout)
        XCTAssertTrue(log.stdout.contains("User: 1 added, 1 updated, 1 removed"), log.stdout)
        // Removing user000005 cleared the owner of its phone: an update too, as on Unified CM.
        XCTAssertTrue(log.stdout.contains("Phone: 1 added, 2 updated, 1 removed"), log.stdout)
        XCTAssertTrue(log.stdout.contains("Line: 1 added, 2 updated, 1 removed"), log.stdout)
        XCTAssertFalse(log.stdout.contains("Region"), log.stdout)
        let shown = try harness.ucp(["device", "cn", "cucm"])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("change notification: on (default: Unified CM 10.0 or later)"), shown.stdout)
        XCTAssertTrue(shown.stdout.contains("last outcome:        Completed. 11 changes"), shown.stdout)
        let state = try await store.cnState(device: "cucm")
        XCTAssertEqual(state?.queueID, baseline?.queueID)
        XCTAssertEqual(state?.nextStartChangeID, (baseline?.nextStartChangeID ?? 0) + 12, "the position moved past the 12 changes")
    }

    /// An object removed and added again under the same key is another object with a new uuid (as
    /// Unified CM gives every add a new pkid): within one poll and across two, the inventory keeps it
    /// present under its new uuid (the removal, by the old uuid, does not reach it), as a full
    /// synchronization reads it.
    func testAnObjectRemovedAndAddedAgainIsPresentUnderItsNewUUID() async throws {
        let sim = try await synchronizedDevice(users: 10)
        func user(_ key: String) async throws -> DeviceObject? {
            try await harness.objects.deviceObjectList(device: "cucm", type: "User", includeRemoved: true, limit: 100_000).first { $0.key == key }
        }
        let original = try await user("user000003")
        let samePoll = try XCTUnwrap(original?.uuid)
        try await makeAndPoll([
            ("removeUser", { $0.element("userid", "user000003") }),
            ("addUser", { $0.raw("<user><firstName>Back</firstName><lastName>Again</lastName><userid>user000003</userid><department>Returned</department></user>") }),
        ], on: sim)
        let found = try await user("user000003")
        let readded = try XCTUnwrap(found)
        XCTAssertNil(readded.removedAt, "removed and added again in one poll: present")
        XCTAssertNotEqual(readded.uuid, samePoll, "under the uuid of the new object")
        await assertEqual(try await attributes("User", "user000003")?["department"] as? String, "Returned")

        let present = try await user("user000004")
        let twoPolls = try XCTUnwrap(present?.uuid)
        try await makeAndPoll([("removeUser", { $0.element("userid", "user000004") })], on: sim)
        let removed = try await user("user000004")
        XCTAssertNotNil(removed?.removedAt, "removed in the first poll")
        try await makeAndPoll([
            ("addUser", { $0.raw("<user><firstName>Back</firstName><lastName>Later</lastName><userid>user000004</userid></user>") }),
        ], on: sim)
        let back = try await user("user000004")
        let later = try XCTUnwrap(back)
        XCTAssertNil(later.removedAt, "added again in the next poll: present")
        XCTAssertNotEqual(later.uuid, twoPolls)

        let afterPoll = try await inventory(.user)
        let uuids = try await harness.objects.deviceObjectList(device: "cucm", type: "User", limit: 100_000).map { "\($0.key) \($0.uuid ?? "")" }
        let (_, resync) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(resync.state, .succeeded)
        assertSame(afterPoll, try await inventory(.user))
        await assertEqual(try await harness.objects.deviceObjectList(device: "cucm", type: "User", limit: 100_000).map { "\($0.key) \($0.uuid ?? "")" },
                          uuids, "the uuids a full synchronization reads")
    }

    // MARK: user records (item 3)

    func sql(_ text: String) async throws -> Rows {
        try await Connection(harness.database.owner).query(Statement("", text))
    }

    /// Domain "Cisco" holding the users of "cucm" (Sync All Users; one service area per site: device
    /// pool DP_SiteNN, partition PT_Internal), its user records built by a domain synchronization.
    func recordDomain(users: Int) async throws {
        for arguments in [["domain", "add", "--name", "Cisco"], ["domain", "edit", "Cisco", "--rule", "sync-all-users"]] {
            let result = try harness.ucp(arguments)
            XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        }
        for site in 1...10 {
            let name = "Site" + String(format: "%02d", site)
            let added = try harness.ucp(["service-area", "add", "--domain", "Cisco", "--name", "SA_" + name, "--call-processor", "cucm",
                                         "--device-pool", "DP_" + name, "--partition", "PT_Internal"])
            XCTAssertEqual(added.status, 0, added.stdout + added.stderr)
        }
        let synced = try domainSync()
        XCTAssertTrue(synced.contains("users \(users) created"), synced)
    }

    /// Runs a domain synchronization of "Cisco"; returns its summary line.
    func domainSync() throws -> String {
        let run = try harness.ucp(["submit", "sync", "domain", "--domain", "Cisco", "--wait"])
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let log = try harness.ucp(["domain", "log", "Cisco", "--kind", "domain"]).stdout
        return log.split(separator: "\n").first { $0.hasPrefix("Domain synchronization of domain 'Cisco'") }.map(String.init) ?? log
    }

    /// Each user record and service with its row version and update time, by user.
    func records() async throws -> [String: [String]] {
        var rows: [String: [String]] = [:]
        for row in try await sql("""
            SELECT user_id, format('user %s %s %s %s', xmin, updated_at, coalesce(first_name, ''), coalesce(department, '')) AS r FROM users
            UNION ALL SELECT user_id, format('%s %s %s %s %s %s', service_type, object_key, service_area, detail, xmin, updated_at) FROM user_services
            ORDER BY 1, 2
            """) {
            rows[try row.decode("user_id"), default: []].append(try row.decode("r"))
        }
        return rows
    }

    func services(_ userID: String) async throws -> [String] {
        try await sql("""
            SELECT format('%s %s %s', service_type, object_key, coalesce(service_area, '-')) AS s FROM user_services
             WHERE user_id = '\(userID)' ORDER BY 1
            """).map { try $0.decode("s") }
    }

    typealias AXLWrite = (operation: String, body: (inout XMLWriter) -> Void)

    /// Makes the changes on the simulator through AXL, then runs one poll, which must succeed.
    func makeAndPoll(_ changes: [AXLWrite], on sim: DeviceSimulatorProcess, file: StaticString = #filePath, line: UInt = #line) async throws {
        for (operation, body) in changes {
            XCTAssertEqual(try sim.axl(operation, body), 200, operation, file: file, line: line)
        }
        let job = try await poll()
        XCTAssertEqual(job.state, .succeeded, job.error ?? "", file: file, line: line)
    }

    /// Changes made through AXL to users, phones and lines are in the user records after one poll —
    /// the same records a domain synchronization makes of them (a run after it writes nothing) — and
    /// the users they do not touch are not rewritten; services removed on the device leave the record.
    func testUserRecordsFollowChangesMadeThroughAXLAfterOnePoll() async throws {
        let sim = try await synchronizedDevice(users: 20)
        try await recordDomain(users: 20)
        await assertTrue(try await services("user000008").contains("phone SEP001122000008 SA_Site09"))
        let before = try await records()
        let changes: [AXLWrite] = [
            ("addUser", { $0.raw("<user><firstName>Chris</firstName><lastName>Notify</lastName><userid>cnuser1</userid><department>Sales</department><homeCluster>true</homeCluster></user>") }),
            ("addLine", { $0.raw("<line><pattern>7001</pattern><routePartitionName>PT_Internal</routePartitionName><description>New line</description><usage>Device</usage></line>") }),
            ("addPhone", { $0.raw("<phone><name>SEP00000000C001</name><description>CN phone</description><product>Cisco 8845</product><model>Cisco 8845</model><protocol>SIP</protocol><devicePoolName>DP_Site02</devicePoolName><ownerUserName>cnuser1</ownerUserName><lines><line><index>1</index><dirn><pattern>7001</pattern><routePartitionName>PT_Internal</routePartitionName></dirn></line></lines></phone>") }),
            ("updateUser", { $0.raw("<userid>user000003</userid><department>Changed</department>") }),
            ("removeUser", { $0.element("userid", "user000005") }),
            ("removeLine", { $0.raw("<pattern>1000006</pattern><routePartitionName>PT_Internal</routePartitionName>") }),
            ("updatePhone", { $0.raw("<name>SEP001122000007</name><description>Moved desk phone</description>") }),
            ("removePhone", { $0.element("name", "SEP001122000008") }),
        ]
        try await makeAndPoll(changes, on: sim)

        // In device_objects and in the user records.
        await assertEqual(try await attributes("Phone", "SEP00000000C001")?["ownerUserName"] as? String, "cnuser1")
        let added = try await services("cnuser1")
        XCTAssertTrue(added.contains("phone SEP00000000C001 SA_Site02") && added.contains("line 7001/PT_Internal SA_Site02"), "\(added)")
        await assertEqual(try await sql("SELECT department FROM users WHERE user_id = 'user000003'").first?.decode("department", as: String.self),
                          "Changed")
        await assertEqual(try await services("user000005"), [], "a user removed on the device keeps no service")
        await assertEqual(try await services("user000006"), ["im_presence user000006 SA_Site07", "phone SEP001122000006 SA_Site07"],
                          "the line removed on the device left the record")
        await assertEqual(try await services("user000008"), ["im_presence user000008 SA_Site01"],
                          "the phone and its line left the record (IM and Presence goes to the first area without a phone)")
        let moved = try await sql("SELECT detail->>'description' AS d FROM user_services WHERE object_key = 'SEP001122000007'")
        XCTAssertEqual(try moved.first?.decode("d", as: String.self), "Moved desk phone")

        // The users no change touched are not rewritten: same row versions and times.
        let after = try await records()
        let touched: Set<String> = ["cnuser1", "user000003", "user000005", "user000006", "user000007", "user000008"]
        for (user, rows) in before where !touched.contains(user) {
            XCTAssertEqual(after[user], rows, "\(user) was rewritten")
        }
        XCTAssertEqual(Set(after.keys).subtracting(before.keys), ["cnuser1"])

        let log = try harness.ucp(["device", "log", "cucm", "--kind", "cn"]).stdout
        XCTAssertTrue(log.contains("User records of domain 'Cisco': 6 users followed"), log)
        // The same records a whole domain synchronization makes: it finds nothing to write.
        let summary = try domainSync()
        XCTAssertTrue(summary.contains("users 0 created, 0 updated"), summary)
        XCTAssertTrue(summary.contains("services 0 added, 0 updated, 0 removed"), summary)
    }

    /// A poll whose get came before an order's last write, applied after the order wrote the inventory,
    /// would take the object (and the user's record) back to before the order until the next poll: the
    /// poll fetches such objects again and applies what the device holds after the order.
    func testAnObjectAnOrderWroteAfterThePollsGetIsFetchedAgain() async throws {
        let sim = try await synchronizedDevice(users: 5)
        XCTAssertEqual(try sim.axl("addUser", { $0.raw("<user><firstName>Race</firstName><lastName>User</lastName><userid>raceuser</userid><department>Before</department></user>") }), 200)
        // Held long enough for the order below to write on a loaded machine (the answer, made now, still says "Before").
        _ = try sim.control("faults?clear=1&pause-seconds=10&hold=getUser:1")
        _ = try sim.control("calls?clear=1")
        let id = try await harness.queue.jobEnqueue(.init(ChangeNotificationPoll.self, target: "cucm",
                                                          dedupKey: ChangeNotificationPoll.dedupKey(device: "cucm"), actor: "test")).id
        let held = try await eventually(timeout: 60, interval: 0.05) { try sim.control("calls").contains("getUser") }
        XCTAssertTrue(held, "the poll's getUser reached the device")
        // Meanwhile an order changes the user on the device and records it in the inventory (as an
        // order's end does: the object's fields, last seen now).
        XCTAssertEqual(try sim.axl("updateUser", { $0.raw("<userid>raceuser</userid><department>After</department>") }), 200)
        _ = try await sql("""
            INSERT INTO device_objects (device, sync_kind, object_type, object_key, uuid, attributes, seen_by)
            VALUES ('cucm', 'user', 'User', 'raceuser', NULL, '{"userid": "raceuser", "department": "After"}', 0)
            ON CONFLICT (device, sync_kind, object_type, object_key)
            DO UPDATE SET attributes = EXCLUDED.attributes, last_seen = clock_timestamp(), removed_at = NULL
            """)
        try await assertOrdersWriteKept(poll: id, user: "raceuser", "the held get's 'Before' did not overwrite what the order wrote")
    }

    /// The poll `id` succeeded, kept the department "After" an order wrote while it ran, and fetched
    /// the user again for it.
    func assertOrdersWriteKept(poll id: Int64, user: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        let poll = try await finished(id)
        XCTAssertEqual(poll.state, .succeeded, poll.error ?? "", file: file, line: line)
        await assertEqual(try await attributes("User", user)?["department"] as? String, "After", message, file: file, line: line)
        let log = try harness.ucp(["device", "log", "cucm", "--kind", "cn"]).stdout
        XCTAssertTrue(log.contains("Fetched 1 objects again: an order wrote them in the inventory after the page was asked for"), log,
                      file: file, line: line)
    }

    /// Review finding (issue 13): a changed tag is as the device held it when listChange answered. An
    /// order that writes the object on the device and in the inventory after that answer, before the
    /// poll applies it, is not overwritten: the tag was stamped with a time taken after listChange, so
    /// the inventory went back to the page's value until the order's own change came in (this test
    /// failed so: "Before"). The devsim holds the answer, made, until the order has written.
    func testAChangedTagNeverOverwritesAnOrdersWriteMadeAfterTheListChange() async throws {
        let sim = try await synchronizedDevice(users: 5)
        XCTAssertEqual(try sim.axl("updateUser", { $0.raw("<userid>user000001</userid><department>Before</department>") }), 200)
        XCTAssertEqual(try sim.control("change-queue/hold"), "change queue: the next answer is held\n")
        let id = try await harness.queue.jobEnqueue(.init(ChangeNotificationPoll.self, target: "cucm",
                                                          dedupKey: ChangeNotificationPoll.dedupKey(device: "cucm"), actor: "test")).id
        let held = try await eventually(timeout: 60, interval: 0.05) { try sim.control("change-queue/held") == "held: 1\n" }
        XCTAssertTrue(held, "the poll's listChange was answered from the queue and held")
        // Meanwhile an order changes the user on the device and records it in the inventory (as an
        // order's end does: the object's fields, last seen now).
        XCTAssertEqual(try sim.axl("updateUser", { $0.raw("<userid>user000001</userid><department>After</department>") }), 200)
        _ = try await sql("""
            UPDATE device_objects SET attributes = attributes || '{"department": "After"}', last_seen = clock_timestamp()
             WHERE device = 'cucm' AND sync_kind = 'user' AND object_type = 'User' AND object_key = 'user000001'
            """)
        XCTAssertEqual(try sim.control("change-queue/release"), "released: 1\n")
        try await assertOrdersWriteKept(poll: id, user: "user000001",
                                        "the page's changed tag 'Before' did not overwrite what the order wrote after listChange")
        // The order's own change, on the next poll, leaves it so.
        await assertEqual(try await self.poll().state, .succeeded)
        await assertEqual(try await attributes("User", "user000001")?["department"] as? String, "After")
    }

    /// Seed 004: no write-back to LDAP during change notification. A poll that starts while a write-back
    /// of a domain on the device runs reads nothing and moves no position; the next poll, after it,
    /// applies the change made meanwhile.
    func testAPollDuringAWriteBackOfItsDomainIsPostponedAndTheNextReadsTheChanges() async throws {
        let sim = try await synchronizedDevice(users: 5)
        try await recordDomain(users: 5)
        await assertEqual(try await poll().state, .succeeded, "the baseline")
        // A write-back of domain Cisco running on another worker (held by the test).
        let writeBack = try await harness.queue.jobEnqueue(.init(WriteBackRun.self, target: "Cisco", runAt: Date().addingTimeInterval(3600),
                                                                 actor: "test")).id
        _ = try await sql("""
            UPDATE jobs SET state = 'running', worker = 'other-worker', attempt = 1, started_at = now(), heartbeat_at = now(),
                            lease_expires_at = now() + interval '1 hour' WHERE id = \(writeBack)
            """)
        XCTAssertEqual(try sim.axl("updateUser", { $0.raw("<userid>user000002</userid><department>During</department>") }), 200)
        let position = try await store.cnState(device: "cucm")?.position
        let postponed = try await poll()
        XCTAssertEqual(postponed.state, .succeeded, postponed.error ?? "")
        await assertEqual(try await store.cnState(device: "cucm")?.position, position, "the position did not move")
        await assertEqual(try await attributes("User", "user000002")?["department"] as? String, "Finance", "nothing applied")
        let log = try harness.ucp(["device", "log", "cucm", "--kind", "cn"]).stdout
        XCTAssertTrue(log.contains("Change notification of 'cucm' postponed: the write back to LDAP of domain 'Cisco' (job \(writeBack)) is running"), log)

        _ = try await sql("UPDATE jobs SET state = 'canceled', finished_at = now(), lease_expires_at = NULL WHERE id = \(writeBack)")
        await assertEqual(try await poll().state, .succeeded)
        await assertEqual(try await attributes("User", "user000002")?["department"] as? String, "During")
    }

    /// Review finding (issue 13): a postponed poll counts as a poll — the next is due an interval after
    /// it, not at the coordinator's next tick — and the log is trimmed on that path too.
    func testAPostponedPollDefersTheNextByAnIntervalAndTrimsTheLog() async throws {
        _ = try await synchronizedDevice(users: 5)
        try await recordDomain(users: 5)
        await assertEqual(try await poll().state, .succeeded)
        let writeBack = try await harness.queue.jobEnqueue(.init(WriteBackRun.self, target: "Cisco", runAt: Date().addingTimeInterval(3600),
                                                                 actor: "test")).id
        _ = try await sql("""
            UPDATE jobs SET state = 'running', worker = 'other-worker', attempt = 1, started_at = now(), heartbeat_at = now(),
                            lease_expires_at = now() + interval '1 hour' WHERE id = \(writeBack)
            """)
        // The last poll long ago (due now), and more lines in the log than are kept.
        _ = try await sql("UPDATE device_change_notification SET last_poll_started_at = now() - interval '1 hour' WHERE device = 'cucm'")
        _ = try await sql("""
            INSERT INTO device_sync_log_lines (device, sync_kind, level, message)
            SELECT 'cucm', 'cn', 'info', 'old line ' || n FROM generate_series(1, \(ChangeNotificationStore.logLinesKept + 100)) AS n
            """)
        await assertEqual(try await poll().state, .succeeded)
        let state = try await store.cnState(device: "cucm")
        XCTAssertTrue(state?.lastPollOutcome?.contains("postponed: the write back to LDAP of domain 'Cisco'") == true, state?.lastPollOutcome ?? "")
        let interval = TimeInterval(state?.intervalSeconds ?? 300)
        await assertEqual(try await store.cnPollsEnqueue(actor: "test"), [], "not due again at the next tick")
        await assertEqual(try await store.cnPollsEnqueue(actor: "test", now: Date().addingTimeInterval(interval + 60)), ["cucm"],
                          "due an interval after the postponed poll")
        let lines = try await sql("SELECT count(*) AS n FROM device_sync_log_lines WHERE device = 'cucm' AND sync_kind = 'cn'")
        // cn_log_trim keeps the line it measures from as well.
        XCTAssertLessThanOrEqual(try lines.first?.decode("n", as: Int64.self) ?? .max, Int64(ChangeNotificationStore.logLinesKept + 1))
    }

    /// admin and globaladmin changed on the device (seed: change notification updates all users except
    /// them) leave their user records untouched: no record made, none changed, no service given.
    func testChangesToAdminAndGlobaladminLeaveTheirRecordsUntouched() async throws {
        let sim = try await synchronizedDevice(users: 10)
        try await recordDomain(users: 10)
        _ = try await sql("""
            INSERT INTO users (user_id, domain, source, first_name, department) VALUES ('Admin', 'Cisco', 'device', 'Built', 'In')
            """)
        let before = try await records()
        let changes: [AXLWrite] = [
            ("addUser", { $0.raw("<user><firstName>Global</firstName><lastName>Admin</lastName><userid>globaladmin</userid><homeCluster>true</homeCluster></user>") }),
            ("addUser", { $0.raw("<user><firstName>Changed</firstName><lastName>Admin</lastName><userid>admin</userid><department>Changed</department><homeCluster>true</homeCluster></user>") }),
            ("updateUser", { $0.raw("<userid>admin</userid><department>Changed again</department>") }),
            ("addPhone", { $0.raw("<phone><name>SEP00000000A001</name><description>Admin phone</description><product>Cisco 8845</product><model>Cisco 8845</model><protocol>SIP</protocol><devicePoolName>DP_Site01</devicePoolName><ownerUserName>admin</ownerUserName><lines><line><index>1</index><dirn><pattern>1000001</pattern><routePartitionName>PT_Internal</routePartitionName></dirn></line></lines></phone>") }),
            ("updateUser", { $0.raw("<userid>user000001</userid><department>Followed</department>") }),
        ]
        try await makeAndPoll(changes, on: sim)
        await assertEqual(try await attributes("User", "admin")?["department"] as? String, "Changed again", "the inventory mirrors the device")
        let after = try await records()
        XCTAssertEqual(after["Admin"], before["Admin"], "admin's record is untouched")
        XCTAssertNil(after["globaladmin"], "no record is made for globaladmin")
        await assertEqual(try await services("Admin"), [])
        XCTAssertNotEqual(after["user000001"], before["user000001"], "the other change in the same poll is followed")
        await assertEqual(try await sql("SELECT department FROM users WHERE user_id = 'user000001'").first?.decode("department", as: String.self),
                          "Followed")
    }

    /// An answer paged at 4 changes is read to the end in one poll; the burst's updates carry their
    /// changed tags, so no object is fetched.
    func testAPagedAnswerIsReadToTheEnd() async throws {
        let sim = try await synchronizedDevice(users: 20, ["--change-page-size", "4"])
        XCTAssertEqual(try sim.control("change-queue/burst?count=23"), "burst: 23 changes\n")
        let job = try await poll()
        XCTAssertEqual(job.state, .succeeded, job.error ?? "")
        for index in 0..<20 {
            let expected = index < 3 ? "burst-\(index + 20)" : "burst-\(index)"
            await assertEqual(try await attributes("User", "user" + String(format: "%06d", index))?["department"] as? String, expected)
        }
        let log = try await store.cnLogGet(device: "cucm")
        let pages = log?.lines.filter { $0.message.hasPrefix("Applied changes") }.count ?? 0
        XCTAssertEqual(pages, 6, "23 changes at 4 a page")
        XCTAssertTrue(log?.outcome?.contains("23 changes (User: 23 updated); 0 fetched") == true, log?.outcome ?? "")
    }

    /// Fault 5007 (the AXL service restarted: a new queue id) triggers one full synchronization and a
    /// new baseline, with the reason in the log and the audit trail; so does a start evicted from the cache.
    func testFault5007AndAnEvictedStartEachTriggerOneFullSyncAndANewBaseline() async throws {
        let sim = try await synchronizedDevice(users: 10, ["--change-cache-size", "5"])
        let before = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        let reset = try sim.control("change-queue/reset")
        let newQueue = String(reset.split(separator: " ").last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let job = try await poll()
        XCTAssertEqual(job.state, .succeeded, job.error ?? "")
        let syncs = try await syncJobs(after: before)
        XCTAssertEqual(syncs.map(\.type).sorted(), [InfrastructureSync.jobType, UserSync.jobType])
        await assertEqual(try await store.cnState(device: "cucm")?.queueID, newQueue)
        let audit = try await harness.queue.auditList(since: nil, jobID: nil, limit: 1000).filter { $0.action == "cn.resync" }
        XCTAssertEqual(audit.count, 1)
        XCTAssertTrue(audit.first?.message.contains("fault 5007") == true, audit.first?.message ?? "")
        XCTAssertTrue(audit.first?.message.contains("the AXL service restarted") == true, audit.first?.message ?? "")
        let log = try harness.ucp(["device", "log", "cucm", "--kind", "cn"])
        XCTAssertTrue(log.stdout.contains("missed changes (fault 5007"), log.stdout)
        for sync in syncs { await assertEqual(try await finished(sync.id).state, .succeeded) }

        // Now past the cache: 12 changes where 5 are kept evict the position.
        let second = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        _ = try sim.control("change-queue/burst?count=12")
        await assertEqual(try await poll().state, .succeeded)
        let evicted = try await syncJobs(after: second)
        XCTAssertEqual(evicted.map(\.type).sorted(), [InfrastructureSync.jobType, UserSync.jobType])
        let reasons = try await harness.queue.auditList(since: nil, jobID: nil, limit: 1000).filter { $0.action == "cn.resync" }
        XCTAssertEqual(reasons.count, 2)
        XCTAssertTrue(reasons.contains { $0.message.contains("no longer in the change cache") }, reasons.map(\.message).joined(separator: "\n"))
        for sync in evicted { await assertEqual(try await finished(sync.id).state, .succeeded) }
        // The full syncs read the burst; the next poll starts from the new baseline without a resync.
        await assertEqual(try await poll().state, .succeeded)
        await assertEqual(try await syncJobs(after: second).count, 2)
    }

    /// Review finding (issue 13): a listChange answer that is a normal page whose firstChangeId is newer
    /// than the start asked for (a device that skips evicted changes instead of answering a fault,
    /// `--evict-quietly`) triggers exactly one full synchronization and a new baseline, the reason in
    /// the device's log and the audit trail; the next poll reads from the new baseline.
    func testAFirstChangeIDNewerThanTheStartAskedTriggersOneFullSyncAndANewBaseline() async throws {
        let sim = try await synchronizedDevice(users: 10, ["--change-cache-size", "5", "--evict-quietly"])
        let start = try await store.cnState(device: "cucm")?.nextStartChangeID
        XCTAssertEqual(start, 1)
        let before = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        // 12 changes where 5 are kept: the answer from change 1 starts at change 8.
        _ = try sim.control("change-queue/burst?count=12")
        let job = try await poll()
        XCTAssertEqual(job.state, .succeeded, job.error ?? "")
        let syncs = try await syncJobs(after: before)
        XCTAssertEqual(syncs.map(\.type).sorted(), [InfrastructureSync.jobType, UserSync.jobType])
        let reason = "the first change id in the cache (8) is newer than the position asked for (1): changes were evicted unread"
        let audit = try await harness.queue.auditList(since: nil, jobID: nil, limit: 1000).filter { $0.action == "cn.resync" }
        XCTAssertEqual(audit.count, 1)
        XCTAssertTrue(audit.first?.message.contains(reason) == true, audit.first?.message ?? "")
        let log = try harness.ucp(["device", "log", "cucm", "--kind", "cn"]).stdout
        XCTAssertTrue(log.contains("missed changes (\(reason))"), log)
        await assertEqual(try await store.cnState(device: "cucm")?.nextStartChangeID, 13, "the new baseline: after the newest change")
        for sync in syncs { await assertEqual(try await finished(sync.id).state, .succeeded) }
        let after = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        await assertEqual(try await poll().state, .succeeded)
        await assertEqual(try await syncJobs(after: after).count, 0, "one full synchronization only")
        await assertEqual(try await harness.queue.auditList(since: nil, jobID: nil, limit: 1000).filter { $0.action == "cn.resync" }.count, 1)
    }

    /// Review finding (issue 13): a device whose listChange on an empty queue numbers no change (no
    /// lastChangeId nor nextStartChangeId: `--empty-queue-unnumbered`) is baselined at the queue's
    /// start, and the next poll asks without a start. Baselined at change 1, the poll after the AXL
    /// service restarted (the new queue's ids go on from 4) asked for change 1 and resynced for
    /// nothing (this test failed so: two resyncs).
    func testTheBaselineOfAnEmptyUnnumberedQueueResyncsForNothing() async throws {
        let sim = try await synchronizedDevice(users: 5, ["--empty-queue-unnumbered"])
        await assertEqual(try await store.cnState(device: "cucm")?.nextStartChangeID, ChangePosition.queueStart,
                          "the sync's baseline of the empty queue")
        _ = try sim.control("change-queue/burst?count=3")
        await assertEqual(try await poll().state, .succeeded)
        await assertEqual(try await attributes("User", "user000002")?["department"] as? String, "burst-2")
        await assertEqual(try await store.cnState(device: "cucm")?.nextStartChangeID, 4)
        // The AXL service restarts: fault 5007, one resync, a new baseline of the new, empty queue.
        let before = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        _ = try sim.control("change-queue/reset")
        await assertEqual(try await poll().state, .succeeded)
        let syncs = try await syncJobs(after: before)
        XCTAssertEqual(syncs.map(\.type).sorted(), [InfrastructureSync.jobType, UserSync.jobType])
        for sync in syncs { await assertEqual(try await finished(sync.id).state, .succeeded) }
        await assertEqual(try await store.cnState(device: "cucm")?.nextStartChangeID, ChangePosition.queueStart)
        // A poll of the still empty queue moves nothing; then change 4 is read without a resync.
        await assertEqual(try await poll().state, .succeeded)
        XCTAssertEqual(try sim.axl("updateUser", { $0.raw("<userid>user000001</userid><department>After restart</department>") }), 200)
        let after = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        let job = try await poll()
        XCTAssertEqual(job.state, .succeeded, job.error ?? "")
        await assertEqual(try await attributes("User", "user000001")?["department"] as? String, "After restart")
        await assertEqual(try await syncJobs(after: after).count, 0, "no full synchronization for an empty baseline")
        await assertEqual(try await harness.queue.auditList(since: nil, jobID: nil, limit: 1000).filter { $0.action == "cn.resync" }.count, 1)
        await assertEqual(try await store.cnState(device: "cucm")?.nextStartChangeID, 5)
    }

    /// Review finding (issue 13): a resync's sync that ends "Completed. But the following objects could
    /// not be synchronized" left changes unread, so the resync stays pending and the next poll queues
    /// it again; the mark clears as the second of the two syncs ends having read everything, not at
    /// the next poll. (Before: the partial sync counted as succeeded, and the mark cleared only at the
    /// poll after both; this test failed so.)
    func testAResyncStaysPendingUntilBothSyncsReadEverythingAndClearsAsTheSecondEnds() async throws {
        let sim = try await synchronizedDevice(users: 5)
        _ = try sim.control("faults?clear=1&fail=listSipTrunk:1")
        let before = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        _ = try sim.control("change-queue/reset")
        await assertEqual(try await poll().state, .succeeded)
        let first = try await syncJobs(after: before)
        XCTAssertEqual(first.map(\.type).sorted(), [InfrastructureSync.jobType, UserSync.jobType])
        var ended: [String: Job] = [:]
        for sync in first { ended[sync.type] = try await finished(sync.id) }
        XCTAssertEqual(ended[InfrastructureSync.jobType]?.state, .succeeded)
        XCTAssertEqual(ended[InfrastructureSync.jobType]?.progress.message, "Completed. But the following objects could not be synchronized: [SIPTrunk]")
        XCTAssertEqual(ended[UserSync.jobType]?.progress.message, "Completed.")
        await assertTrue(try await store.cnState(device: "cucm")?.resyncPendingSince != nil, "SIPTrunk was not read: still pending")
        let partial = try harness.ucp(["device", "log", "cucm", "--kind", "cn"]).stdout
        XCTAssertTrue(partial.contains("could not read SIPTrunk: still pending; the next poll queues it again"), partial)

        let polled = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        await assertEqual(try await poll().state, .succeeded)
        let again = try await syncJobs(after: polled)
        XCTAssertEqual(again.map(\.type), [InfrastructureSync.jobType], "the user sync read everything")
        let infra = try await finished(try XCTUnwrap(again.first).id)
        XCTAssertEqual(infra.progress.message, "Completed.")
        // Cleared as it ended, without a poll.
        await assertTrue(try await store.cnState(device: "cucm")?.resyncPendingSince == nil)
        let cleared = try harness.ucp(["device", "log", "cucm", "--kind", "cn"]).stdout
        XCTAssertTrue(cleared.contains("has read everything (the infrastructure synchronization, job \(infra.id), ended last): no resync pending"), cleared)
    }

    /// Review finding (issue 13, HIGH): a resync whose syncs fail or are canceled is asked for again.
    /// The re-baseline marks it pending; each poll queues again the sync that has not succeeded since
    /// (one of each at most) and says so in the log and `ucp device cn`; the mark clears once an
    /// infrastructure and a user sync started after it have succeeded.
    func testAFailedOrCanceledResyncIsQueuedAgainUntilBothSyncsSucceed() async throws {
        let sim = try await synchronizedDevice(users: 5)
        // An order running on another worker holds device syncs in the queue (polls run beside orders).
        let order = try await harness.queue.jobEnqueue(.init(kind: .order, type: "noop", runAt: Date().addingTimeInterval(3600), actor: "test")).id
        _ = try await sql("""
            UPDATE jobs SET state = 'running', worker = 'other-worker', attempt = 1, started_at = now(), heartbeat_at = now(),
                            lease_expires_at = now() + interval '1 hour' WHERE id = \(order)
            """)
        func queuedSyncs(after id: Int64) async throws -> [String: Int64] {
            var jobs: [String: Int64] = [:]
            for job in try await syncJobs(after: id) where job.state == .queued { jobs[job.type] = job.id }
            return jobs
        }
        let before = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        _ = try sim.control("change-queue/reset")
        await assertEqual(try await poll().state, .succeeded)
        let first = try await queuedSyncs(after: before)
        XCTAssertEqual(first.keys.sorted(), [InfrastructureSync.jobType, UserSync.jobType])
        let pending = try await store.cnState(device: "cucm")
        XCTAssertNotNil(pending?.resyncPendingSince)
        XCTAssertTrue(pending?.resyncPendingReason?.contains("fault 5007") == true, pending?.resyncPendingReason ?? "")
        let shown = try harness.ucp(["device", "cn", "cucm"]).stdout
        XCTAssertTrue(shown.contains("resync pending:      since "), shown)

        // Both canceled: the next poll queues both again.
        for id in first.values { _ = try await harness.queue.jobCancel(id: id, actor: "test") }
        let canceled = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        await assertEqual(try await poll().state, .succeeded)
        let second = try await queuedSyncs(after: canceled)
        XCTAssertEqual(second.keys.sorted(), [InfrastructureSync.jobType, UserSync.jobType], "queued again after the cancel")
        let log = try harness.ucp(["device", "log", "cucm", "--kind", "cn"]).stdout
        XCTAssertTrue(log.contains("infrastructure synchronization queued again (job \(second[InfrastructureSync.jobType] ?? -1))"), log)
        // A poll while they are queued adds none (one of each at most).
        await assertEqual(try await poll().state, .succeeded)
        await assertEqual(try await queuedSyncs(after: canceled), second)

        // The user sync canceled, the infrastructure sync succeeds: the next poll queues the user sync only.
        let (infra, user) = (try XCTUnwrap(second[InfrastructureSync.jobType]), try XCTUnwrap(second[UserSync.jobType]))
        _ = try await harness.queue.jobCancel(id: user, actor: "test")
        _ = try await sql("UPDATE jobs SET state = 'canceled', finished_at = now(), lease_expires_at = NULL WHERE id = \(order)")
        await assertEqual(try await finished(infra).state, .succeeded)
        await assertTrue(try await store.cnState(device: "cucm")?.resyncPendingSince != nil, "pending until the user sync succeeds")
        let infraDone = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        await assertEqual(try await poll().state, .succeeded)
        let third = try await syncJobs(after: infraDone)
        XCTAssertEqual(third.map(\.type), [UserSync.jobType], "only the user sync has not succeeded since the mark")
        await assertEqual(try await finished(try XCTUnwrap(third.first).id).state, .succeeded)

        // Both read everything since the mark: cleared as the second ended; the next poll queues nothing.
        await assertTrue(try await store.cnState(device: "cucm")?.resyncPendingSince == nil)
        let userDone = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        await assertEqual(try await poll().state, .succeeded)
        await assertEqual(try await syncJobs(after: userDone).count, 0)
        await assertTrue(try await store.cnState(device: "cucm")?.resyncPendingSince == nil)
        let json = try harness.ucp(["device", "cn", "cucm", "--json"]).stdout
        let state = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        XCTAssertTrue(state?["resync_pending"] is NSNull, json)
        let cleared = try harness.ucp(["device", "log", "cucm", "--kind", "cn"]).stdout
        XCTAssertTrue(cleared.contains("has read everything (the user synchronization, job \(try XCTUnwrap(third.first).id), ended last): no resync pending"), cleared)
    }

    /// Review finding (issue 13): a busy Unified CM ("Maximum AXL Memory Allocation Consumed") is asked
    /// again after backing off, and the poll reads the changes without a resync; any fault other than
    /// one about the queue or the start change id fails the poll (no resync, the position kept) and
    /// the next poll reads the changes.
    func testABusyUnifiedCMIsAskedAgainAndAnotherFaultFailsThePollWithoutAResync() async throws {
        let sim = try await synchronizedDevice(users: 5)
        let before = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        XCTAssertEqual(try sim.axl("updateUser", { $0.raw("<userid>user000001</userid><department>Busy</department>") }), 200)
        _ = try sim.control("faults?clear=1&busy=listChange:2")
        _ = try sim.control("calls?clear=1")
        let busy = try await poll()
        XCTAssertEqual(busy.state, .succeeded, busy.error ?? "")
        await assertEqual(try await attributes("User", "user000001")?["department"] as? String, "Busy")
        let calls = try sim.control("calls").split(separator: "\n").filter { $0.hasPrefix("listChange") }
        XCTAssertEqual(calls.count, 3, "two busy answers, then the page: \(calls)")

        let position = try await store.cnState(device: "cucm")?.position
        XCTAssertEqual(try sim.axl("updateUser", { $0.raw("<userid>user000002</userid><department>After</department>") }), 200)
        _ = try sim.control("faults?clear=1&fail=listChange:1")
        let failed = try await poll()
        XCTAssertEqual(failed.state, .failed)
        XCTAssertTrue(failed.error?.contains("Simulated failure of listChange") == true, failed.error ?? "")
        await assertEqual(try await store.cnState(device: "cucm")?.position, position, "the position did not move")
        await assertTrue(try await store.cnState(device: "cucm")?.resyncPendingSince == nil)
        await assertEqual(try await poll().state, .succeeded)
        await assertEqual(try await attributes("User", "user000002")?["department"] as? String, "After")
        await assertEqual(try await syncJobs(after: before).count, 0, "no full synchronization was queued")
        let audit = try await harness.queue.auditList(since: nil, jobID: nil, limit: 1000).filter { $0.action == "cn.resync" }
        XCTAssertEqual(audit.count, 0)
    }

    /// Another Unified CM version than the baseline's (an upgrade: the seed asks for a user
    /// synchronization after it) triggers a full synchronization and a new baseline.
    func testANewUnifiedCMVersionTriggersAFullSyncAndANewBaseline() async throws {
        _ = try await synchronizedDevice(users: 5)
        try await Connection(harness.database.owner).query(Statement("", """
            UPDATE device_change_notification SET cucm_version = '11.5.1.10000(1)' WHERE device = 'cucm'
            """))
        let before = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        await assertEqual(try await poll().state, .succeeded)
        let syncs = try await syncJobs(after: before)
        XCTAssertEqual(syncs.map(\.type).sorted(), [InfrastructureSync.jobType, UserSync.jobType])
        let audit = try await harness.queue.auditList(since: nil, jobID: nil, limit: 1000).filter { $0.action == "cn.resync" }
        XCTAssertEqual(audit.count, 1)
        XCTAssertTrue(audit.first?.message.contains("version changed from 11.5.1.10000(1) to 12.5.1.11900(146)") == true,
                      audit.first?.message ?? "")
        await assertEqual(try await store.cnState(device: "cucm")?.cucmVersion, "12.5.1.11900(146)")
    }

    /// The first poll of a device never synchronized only takes the baseline; the first poll of a
    /// device synchronized without one (changes since that sync unknown) also queues a full sync.
    func testTheFirstPollTakesTheBaselineAndResyncsADeviceSynchronizedWithoutOne() async throws {
        let sim = try DeviceSimulatorProcess.start(for: self, users: 5)
        try harness.startWorker()
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let before = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        await assertEqual(try await poll().state, .succeeded)
        await assertEqual(try await syncJobs(after: before).count, 0, "nothing to read again: no inventory yet")
        await assertTrue(try await store.cnState(device: "cucm")?.position != nil)

        for kind in [DeviceSyncKind.infra, .user] { _ = try await harness.sync(kind, "cucm") }
        try await Connection(harness.database.owner).query(Statement("", """
            UPDATE device_change_notification SET queue_id = NULL, next_start_change_id = NULL WHERE device = 'cucm'
            """))
        let synced = try await harness.queue.jobList(state: nil, type: nil, limit: 1).first?.id ?? 0
        await assertEqual(try await poll().state, .succeeded)
        let syncs = try await syncJobs(after: synced)
        XCTAssertEqual(syncs.map(\.type).sorted(), [InfrastructureSync.jobType, UserSync.jobType])
        let audit = try await harness.queue.auditList(since: nil, jobID: nil, limit: 1000).filter { $0.action == "cn.resync" }
        XCTAssertTrue(audit.first?.message.contains("no baseline was taken") == true, audit.first?.message ?? "")
    }

    /// A worker killed with SIGKILL in the middle of a poll loses no change: the position moved only
    /// with the pages applied, the coordinator hands the poll to another worker, which replays the rest.
    func testAWorkerKilledMidPollLosesNoChange() async throws {
        _ = try harness.processes.start("worker", ["worker", "--concurrency", "4", "--name", "doomed-worker", "--lease", "3s"])
        let sim = try await synchronizedDevice(users: 20, ["--change-page-size", "2", "--latency-ms", "200"], startWorker: false)
        let start = try await store.cnState(device: "cucm")?.nextStartChangeID ?? 0
        _ = try sim.control("change-queue/burst?count=20")
        let id = try await harness.queue.jobEnqueue(.init(ChangeNotificationPoll.self, target: "cucm",
                                                          dedupKey: ChangeNotificationPoll.dedupKey(device: "cucm"), actor: "test")).id
        // Killed once the first pages are applied and more remain.
        let midway = try await eventually(timeout: 60, interval: 0.02) {
            let next = try await store.cnState(device: "cucm")?.nextStartChangeID ?? 0
            return next > start && next < start + 20
        }
        XCTAssertTrue(midway, "the poll never stood between its first and last page")
        harness.processes.kill("worker")
        await assertEqual(try await harness.queue.jobGet(id: id)?.state, .running, "killed mid-poll")
        _ = try harness.processes.start("coordinator", ["coordinator", "--rescue-interval", "0.5s", "--name", "test-coordinator"])
        _ = try harness.processes.start("worker2", ["worker", "--concurrency", "4", "--name", "second-worker"])
        let job = try await finished(id)
        XCTAssertEqual(job.state, .succeeded, job.error ?? "")
        XCTAssertEqual(job.attempt, 2, "the second worker ran the poll again")
        for index in 0..<20 {
            await assertEqual(try await attributes("User", "user" + String(format: "%06d", index))?["department"] as? String, "burst-\(index)")
        }
        await assertEqual(try await store.cnState(device: "cucm")?.nextStartChangeID, start + 20)
    }

    /// Changes made while a full synchronization reads are none of them missing afterwards: the sync
    /// took the baseline before it read, and the first poll after it replays them.
    func testChangesDuringAFullSyncAreNoneOfThemMissingAfterwards() async throws {
        let sim = try DeviceSimulatorProcess.start(for: self, users: 200, arguments: ["--latency-ms", "30"])
        try harness.startWorker()
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let submitted = try harness.ucp(["submit", "sync", "user", "--device", "cucm"])
        XCTAssertEqual(submitted.status, 0, submitted.stderr)
        let baselined = try await eventually(timeout: 60, interval: 0.02) { try await self.store.cnState(device: "cucm")?.position != nil }
        XCTAssertTrue(baselined)
        // While the sync reads: additions, updates and removals at both ends of the lists.
        var made = 0
        for index in [0, 1, 198, 199] {
            let userid = "user" + String(format: "%06d", index)
            XCTAssertEqual(try sim.axl("updateUser") { $0.raw("<userid>\(userid)</userid><department>During sync</department>") }, 200)
            made += 1
        }
        XCTAssertEqual(try sim.axl("removeUser") { $0.element("userid", "user000060") }, 200)
        XCTAssertEqual(try sim.axl("addUser") { $0.raw("<user><lastName>During</lastName><userid>zz-during</userid></user>") }, 200)
        XCTAssertEqual(try sim.axl("updatePhone") { $0.raw("<name>SEP001122000077</name><description>During sync</description>") }, 200)
        let sync = try await harness.queue.jobList(state: nil, type: UserSync.jobType, limit: 1).first
        XCTAssertEqual(sync?.state, .running, "the changes were made while the sync read")
        let syncJob = try await finished(try XCTUnwrap(sync?.id))
        XCTAssertEqual(syncJob.state, .succeeded)
        await assertEqual(try await poll().state, .succeeded)
        let afterPoll = try await inventory(.user)
        for index in [0, 1, 198, 199] {
            XCTAssertTrue(afterPoll["User/user" + String(format: "%06d", index)]?.contains("During sync") == true)
        }
        XCTAssertNil(afterPoll["User/user000060"])
        XCTAssertNotNil(afterPoll["User/zz-during"])
        XCTAssertTrue(afterPoll["Phone/SEP001122000077"]?.contains("During sync") == true)
        // And equal to what a full synchronization reads now.
        let (_, again) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(again.state, .succeeded)
        let afterSync = try await inventory(.user)
        assertSame(afterPoll, afterSync)
    }

    /// The coordinator polls a synchronized Unified CM on its interval; `ucp device cn` sets and shows it
    /// and refuses a bad interval in one line naming the field; a Unified CM older than 10.0 is off.
    func testTheCoordinatorPollsOnTheIntervalAndTheCommandSetsIt() async throws {
        let sim = try await synchronizedDevice(users: 5)
        let bad = try harness.ucp(["device", "cn", "cucm", "--interval", "0s"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("interval"), bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        let set = try harness.ucp(["device", "cn", "cucm", "--interval", "1s"])
        XCTAssertEqual(set.status, 0, set.stderr)
        XCTAssertTrue(set.stdout.contains("interval:            1 s"), set.stdout)
        _ = try harness.processes.start("coordinator", ["coordinator", "--name", "test-coordinator"])
        _ = try sim.axl("updateUser") { $0.raw("<userid>user000001</userid><department>Polled</department>") }
        let polled = try await eventually(timeout: 60) {
            try await self.attributes("User", "user000001")?["department"] as? String == "Polled"
        }
        XCTAssertTrue(polled, "the coordinator's polls brought the change")
        let polls = try await harness.queue.jobList(state: nil, type: ChangeNotificationPoll.jobType, limit: 1000)
        XCTAssertLessThanOrEqual(polls.filter { $0.state == .queued || $0.state == .running }.count, 1)
        let off = try harness.ucp(["device", "cn", "cucm", "--disable", "--json"])
        let shown = try JSONSerialization.jsonObject(with: Data(off.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(shown?["on"] as? Bool, false, off.stdout)

        try await DeviceStore(Connection(harness.database.app), secretBox: harness.box).deviceAdd(
            DeviceDraft(name: "old-cucm", kind: .callProcessor, version: "9.1", address: "127.0.0.1", port: sim.port,
                        adminUser: sim.user, caFile: sim.certificatePath),
            password: .init(sim.password), actor: "test")
        await assertEqual(try await store.cnState(device: "old-cucm")?.on, false)
        let refused = try harness.ucp(["device", "cn", "old-cucm", "--enable"])
        XCTAssertEqual(refused.status, 64, refused.stdout + refused.stderr)
    }
}
