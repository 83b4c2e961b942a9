import AXL
import Foundation
import Inventory
@testable import Orders
import Postgres
import Queue
import Secrets
import TestSupport
import Transport
import XCTest

/// The directory search source (issue 15 item 10; seed 004 "Configuring Directory Search
/// Synchronization Source"): two simulated Unified CMs of version 12.5 (TestCCM, the users' home, and
/// OtherCCM), one of version 9.1, PostgreSQL and a real worker.
final class DirectorySourceTests: OrderTestCase {
    var other: DeviceSimulatorProcess!
    var otherCapture: String!

    /// TestCCM and unity as every order test has them, OtherCCM (a second devsim, no users of its own,
    /// not their home cluster) and OldCCM (version 9.1), both infrastructure-synchronized.
    func prepareClusters() async throws {
        try await prepare()
        otherCapture = capture + "-other"
        try FileManager.default.createDirectory(atPath: otherCapture, withIntermediateDirectories: true)
        addTeardownBlock { [otherCapture] in try? FileManager.default.removeItem(atPath: otherCapture!) }
        other = try DeviceSimulatorProcess.start(for: self, users: 0, arguments: ["--not-home-cluster", "--capture-dir", otherCapture])
        try await harness.register("OtherCCM", kind: .callProcessor, simulator: other)
        let old = try DeviceSimulatorProcess.start(for: self, users: 0, arguments: ["--cucm-version", "9.1.2.10000(28)"])
        try await harness.register("OldCCM", kind: .callProcessor, simulator: old)
        oldSimulator = old
        // Each infrastructure-synchronized, so its LDAP integration is read: UDS copies nothing to a call
        // processor whose integration was never read.
        for device in ["TestCCM", "OtherCCM", "OldCCM"] {
            let (sync, _) = try await harness.sync(.infra, device)
            XCTAssertEqual(sync.status, 0, sync.stdout + sync.stderr)
        }
        _ = try other.control("calls?clear=1")
        _ = try old.control("calls?clear=1")
    }

    var oldSimulator: DeviceSimulatorProcess!

    /// userid (lower case) → homeCluster, as the simulator holds its end users.
    func users(_ simulator: DeviceSimulatorProcess) throws -> [String: String] {
        var users: [String: String] = [:]
        for line in try simulator.control("state").split(separator: "\n") where line.hasPrefix("User ") {
            let fields = Dictionary(line.split(separator: " ").dropFirst(2).compactMap { part -> (String, String)? in
                let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
                return pair.count == 2 ? (pair[0], pair[1]) : nil
            }, uniquingKeysWith: { first, _ in first })
            if let userid = fields["userid"] { users[userid.lowercased()] = fields["homeCluster"] ?? "" }
        }
        return users
    }

    /// Waits for the job, then for every directory order, to end; returns the directory orders.
    func directoryOrdersEnded(after job: Int64) async throws -> [Order] {
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let state = try await harness.queue.jobGet(id: job)?.state.rawValue ?? ""
            if ["succeeded", "failed", "canceled"].contains(state) { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let directoryJob = try await harness.queue.jobGet(id: job)
        XCTAssertEqual(directoryJob?.state.rawValue, "succeeded", "the directory job")
        // Follow-up jobs (an add order's fan-out, a removal) are queued by order.run: wait for every job.
        while Date() < deadline {
            let open = try await sql("SELECT count(*)::bigint AS n FROM jobs WHERE state IN ('queued', 'running', 'canceling') AND type IN ('directory.sync', 'order.run')")[0].decode("n", as: Int64.self)
            let orders = try await sql("SELECT count(*)::bigint AS n FROM orders WHERE state IN ('submitted', 'running', 'rolling_back')")[0].decode("n", as: Int64.self)
            if open == 0 && orders == 0 { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let ids = try await sql("SELECT id FROM orders WHERE kind = 'directory' ORDER BY id").map { try $0.decode("id", as: Int64.self) }
        var orders: [Order] = []
        for id in ids { orders.append(try await order(id)) }
        return orders
    }

    func jobID(_ text: String) throws -> Int64 {
        guard let range = text.range(of: #"job (\d+)"#, options: .regularExpression),
              let id = Int64(text[range].dropFirst(4)) else { throw TestFailure("no job in: \(text)") }
        return id
    }

    /// Stops the worker and enables UDS; returns its `directory.sync` job, queued for the test to
    /// run in this process (the secrets key in the environment until the test ends).
    func enableUDSToRunInProcess() throws -> Int64 {
        stopWorker()
        let set = try ucp(["settings", "set", "directory_source", "call_processor"])
        setenv(SecretKey.environmentVariable, harness.keyPath, 1)
        addTeardownBlock { unsetenv(SecretKey.environmentVariable) }
        return try jobID(set.stdout)
    }

    /// Enabling UDS copies every provisioned user to every Unified CM of version 10 or later with
    /// exactly one home cluster (the first order's call processor); the version 9.1 one gets nothing.
    /// With UDS on, a new order's user is copied too; canceling that order (the user leaves its home
    /// cluster) removes the copy. A lost answer on a copy's addUser is adopted: no duplicate, and the
    /// user found is not taken as the order's (nothing on an end user proves it).
    func testEnablingUDSCopiesEveryProvisionedUserWithOneHomeCluster() async throws {
        try await prepareClusters()
        let first = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        let firstOrder = try await order(try orderID(first))
        XCTAssertEqual(firstOrder.state, "succeeded", first.stdout)
        let provisioned = try await sql("SELECT DISTINCT lower(user_id) AS u FROM user_services WHERE device = 'TestCCM' UNION SELECT 'jdoe'")
            .map { try $0.decode("u", as: String.self) }
        XCTAssertGreaterThan(provisioned.count, 5)
        // The first copy's answer is lost: the retry finds the user and adopts it, not as the order's own.
        _ = try other.control("faults?drop=addUser:1")

        let set = try ucp(["settings", "set", "directory_source", "call_processor"])
        XCTAssertTrue(set.stdout.contains("directory_source set to call_processor (UDS)"), set.stdout)
        let orders = try await directoryOrdersEnded(after: try jobID(set.stdout))
        XCTAssertTrue(orders.allSatisfy { $0.state == "succeeded" }, orders.map { "\($0.id) \($0.callProcessor) \($0.state) \($0.error ?? "")" }.joined(separator: "\n"))
        XCTAssertFalse(orders.contains { $0.callProcessor == "OldCCM" }, "a version 9 Unified CM gets no directory order")

        let home = try users(sim), copies = try users(other)
        for user in provisioned {
            XCTAssertEqual(home[user], "true", "\(user): TestCCM (its first order's) is its home cluster")
            XCTAssertEqual(copies[user], "false", "\(user): copied to OtherCCM, not its home cluster")
        }
        XCTAssertEqual(Set(copies.keys), Set(provisioned), "OtherCCM has the provisioned users, no one else")
        // One end user each: the lost answer's user adopted (libcurl may send a request again whose reused
        // connection closed unanswered: the device answers "duplicate", and the step adopts it all the same).
        let userLines = try other.control("state").split(separator: "\n").filter { $0.hasPrefix("User ") }
        XCTAssertEqual(userLines.count, provisioned.count, userLines.joined(separator: "\n"))
        XCTAssertEqual(try oldSimulator.control("calls").split(separator: "\n").filter { !$0.hasPrefix("get") && !$0.hasPrefix("list") }, [],
                       "nothing written to the version 9.1 Unified CM")
        let copySteps = try await sql("""
            SELECT s.created_uuid IS NOT NULL AND NOT s.adopted AS own, s.adopted, o.job_id FROM order_steps s JOIN orders o ON o.id = s.order_id
             WHERE o.kind = 'directory' AND s.name = 'uds_user' AND s.device = 'OtherCCM' AND s.attempts >= 1
            """)
        let own = try copySteps.filter { try $0.decode("own", as: Bool.self) }.count
        let adopted = try copySteps.filter { try $0.decode("adopted", as: Bool.self) }
        XCTAssertEqual(own, provisioned.count - 1, "every copy whose answer came is the order's own (its undo would remove it)")
        XCTAssertEqual(adopted.count, 1, "the copy whose answer was lost is adopted: not proven the order's")
        let adoptedJob = try XCTUnwrap(adopted.first).decode("job_id", as: Int64.self)
        let adoptedLog = try await sql("SELECT message FROM job_logs WHERE job_id = \(adoptedJob)").map { try $0.decode("message", as: String.self) }
        XCTAssertTrue(adoptedLog.contains { $0.contains("(uds_user): '") && $0.contains("on OtherCCM") && $0.contains("not proven this order's") },
                      adoptedLog.joined(separator: "\n"))
        let audit = try await sql("SELECT message FROM audit_log WHERE action = 'settings.changed' ORDER BY id").map { try $0.decode("message", as: String.self) }
        XCTAssertTrue(audit.contains { $0.hasPrefix("Setting directory_source changed to call_processor") }, audit.joined(separator: "\n"))
        let shown = try ucp(["settings", "show"]).stdout
        XCTAssertTrue(shown.contains("directory_source") && shown.contains("call_processor"), shown)
        XCTAssertTrue(shown.contains("OtherCCM: \(provisioned.count) succeeded"), shown)
        let listed = try ucp(["order", "list"]).stdout
        XCTAssertTrue(listed.contains("directory"), listed)

        // A new order with UDS on: its user is copied to OtherCCM as well.
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name, email) VALUES ('asmith', 'Cisco', 'manual', 'Ann', 'Smith', 'asmith@example.com')")
        let added = try ucp(["order", "submit", "-f", try orderFile("asmith.yaml", user: "asmith", phone: "SEP00AA00BB0002", voicemail: false), "--wait"])
        let addID = try orderID(added)
        let addOrder = try await order(addID)
        XCTAssertEqual(addOrder.state, "succeeded", added.stdout)
        let fanOut = try await sql("SELECT id FROM jobs WHERE type = 'directory.sync' ORDER BY id DESC LIMIT 1")[0].decode("id", as: Int64.self)
        let after = try await directoryOrdersEnded(after: fanOut)
        XCTAssertTrue(after.allSatisfy { $0.state == "succeeded" }, after.map { "\($0.id) \($0.state) \($0.error ?? "")" }.joined(separator: "\n"))
        XCTAssertEqual(try users(other)["asmith"], "false", "the new order's user is on OtherCCM")
        XCTAssertEqual(try users(sim)["asmith"], "true", "TestCCM is its home cluster")

        // The user leaves its home cluster (its add order canceled): the copy goes too.
        let cancel = try ucp(["order", "cancel", String(addID), "--wait"])
        let cancelOrder = try await order(try orderID(cancel))
        XCTAssertEqual(cancelOrder.state, "succeeded", cancel.stdout)
        let removal = try await sql("SELECT id FROM jobs WHERE type = 'directory.sync' ORDER BY id DESC LIMIT 1")[0].decode("id", as: Int64.self)
        XCTAssertNotEqual(removal, fanOut, "the cancel queued the removal")
        let ended = try await directoryOrdersEnded(after: removal)
        XCTAssertTrue(ended.allSatisfy { $0.state == "succeeded" }, ended.map { "\($0.id) \($0.state) \($0.error ?? "")" }.joined(separator: "\n"))
        XCTAssertNil(try users(sim)["asmith"], "gone from its home cluster")
        XCTAssertNil(try users(other)["asmith"], "the copy removed")
        XCTAssertEqual(try users(other)["jdoe"], "false", "the other copies stay")
        XCTAssertTrue(try other.control("calls").contains("removeUser uuid="), "removed by the uuid the copy's order added")
        XCTAssertEqual(try AXLSchema.validate(directory: otherCapture), [], "every request valid against AXLSoap.xsd 12.5")
    }

    /// The copies planned two users at a time (a chunk boundary crossed again and again; users that
    /// only an order names, first and last by user ID and between, so the orders' keyset ends some
    /// chunks and the services' others), the job's first attempt crashing in the chunk of 'morder'
    /// (a trigger refuses its order): the chunks before it stay queued, that chunk queues nothing.
    /// The queue then rescues the job and starts attempt 2: the lost attempt 1 is refused by the
    /// fence (nothing queued), attempt 2 queues the rest — not what attempt 1 queued, even a copy of
    /// it that ended rolled back since (no order holds that pair: only its submit key is taken) — so
    /// every provisioned user has exactly one copy order on each Unified CM that lacks it (the same
    /// orders the one-read plan made), and attempt 2's line counts apart what attempt 1 queued.
    func testCopiesArePlannedAChunkAtATimeAndARetryQueuesNothingTwice() async throws {
        try await prepareClusters()
        let first = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(first)).state, "succeeded")
        _ = try await sql("""
            INSERT INTO users (user_id, domain, source, first_name, last_name)
            SELECT u, 'Cisco', 'manual', 'Order', 'Only' FROM unnest(ARRAY['aorder', 'Morder', 'zorder']) AS u
            """)
        _ = try await sql("""
            INSERT INTO orders (kind, domain, service_area, user_id, call_processor, state, submitted_by)
            SELECT 'add', 'Cisco', 'SA_Orders', u, 'TestCCM', 'succeeded', 'test' FROM unnest(ARRAY['aorder', 'Morder', 'zorder']) AS u
            """)
        // What the plan of one read made: every provisioned user to OtherCCM (none there), and to its
        // home TestCCM unless there already as its home cluster.
        let provisioned = Set(try await sql("""
            SELECT lower(s.user_id) AS u FROM user_services s JOIN devices d ON d.name = s.device AND d.kind = 'call_processor'
            UNION SELECT lower(o.user_id) FROM orders o WHERE o.kind IN ('add', 'push') AND o.state = 'succeeded'
            """).map { try $0.decode("u", as: String.self) })
        let homeAlready = Set(try await sql("""
            SELECT lower(object_key) AS u FROM device_objects WHERE device = 'TestCCM' AND sync_kind = 'user' AND object_type = 'User'
               AND removed_at IS NULL AND attributes->>'homeCluster' = 'true'
            """).map { try $0.decode("u", as: String.self) })
        XCTAssertGreaterThan(provisioned.count, 8, "several chunks of two")
        XCTAssertTrue(provisioned.isSuperset(of: ["aorder", "morder", "zorder", "jdoe"]))
        let expected = provisioned.map { "\($0) OtherCCM" } + provisioned.subtracting(homeAlready).map { "\($0) TestCCM" }
        XCTAssertGreaterThan(provisioned.subtracting(homeAlready).count, 2, "copies to the home cluster too")

        let job = try enableUDSToRunInProcess()
        let connection = Connection(harness.database.app), owner = Connection(harness.database.owner)
        func planned() async throws -> [String] {
            try await sql("""
                SELECT lower(o.user_id) || ' ' || o.call_processor AS pair FROM orders o
                 WHERE o.kind = 'directory' AND o.request->>'action' = 'copy' AND o.submit_key LIKE 'directory:\(job):%'
                 ORDER BY 1
                """).map { try $0.decode("pair", as: String.self) }
        }
        let line = { (count: String) in
            "Directory search source UDS: \(count) for \(provisioned.count) provisioned user(s) on 2 Unified CM(s) of version 10 or later (OtherCCM, TestCCM)"
        }

        // Attempt 1 crashes in the chunk of 'morder' (its own transaction rolls back).
        try await owner.withSession { try $0.execute("""
            CREATE FUNCTION refuse_morder() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'the order of morder refused by the test'; END $$;
            CREATE TRIGGER refuse_morder BEFORE INSERT ON orders FOR EACH ROW WHEN (lower(NEW.user_id) = 'morder')
                EXECUTE FUNCTION refuse_morder();
            """) }
        let attempt1 = try await claimInProcess(job)
        do {
            _ = try await DirectorySource.copy(user: nil, context: attempt1, connection: connection, chunkSize: 2)
            XCTFail("attempt 1 crashes in the chunk of morder")
        } catch let error as PostgresError {
            XCTAssertTrue(error.message.contains("the order of morder refused by the test"), "\(error)")
        }
        try await owner.withSession { try $0.execute("DROP TRIGGER refuse_morder ON orders") }
        let crashed = try await planned()
        XCTAssertFalse(crashed.isEmpty, "the chunks before morder's queued")
        XCTAssertTrue(Set(crashed).isSubset(of: expected), "\(crashed)")
        XCTAssertFalse(crashed.contains { $0.hasPrefix("morder ") }, "morder's chunk queued nothing")
        XCTAssertLessThan(crashed.count, expected.count - 1, "morder's chunk and those after it left")
        // One of attempt 1's copies ended rolled back since: no order holds its pair any more.
        _ = try await sql("""
            UPDATE orders SET state = 'rolled_back' WHERE id = (SELECT min(id) FROM orders WHERE submit_key LIKE 'directory:\(job):%')
            """)

        // The worker's lease runs out: the coordinator's rescue queues the job again, the next claim
        // starts attempt 2.
        _ = try await sql("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = \(job)")
        _ = try await harness.queue.jobRescueExpired(actor: "test-coordinator")
        await assertEqual(try await harness.queue.jobGet(id: job)?.state, .queued, "rescued, queued again")
        let attempt2 = try await claimInProcess(job)
        XCTAssertEqual(attempt2.job.attempt, 2)

        // Attempt 1, lost, is refused by the fence: nothing queued.
        let (everyone, _) = try await DirectorySource.provisionedChunk(after: "", user: nil, size: 100, connection: connection)
        do {
            _ = try await DirectorySource.queueCopies(of: everyone, on: ["OtherCCM", "TestCCM"], context: attempt1, connection: connection)
            XCTFail("the lost attempt queues nothing")
        } catch is JobLostError {}
        await assertEqual(try await planned(), crashed, "nothing queued by the lost attempt")

        // Attempt 2 (three users a chunk) queues the rest.
        let rest = try await DirectorySource.copy(user: nil, context: attempt2, connection: connection, chunkSize: 3)
        XCTAssertEqual(rest, line("\(expected.count - crashed.count) directory order(s) queued by this attempt (\(crashed.count) queued before)"))
        await assertEqual(try await planned(), expected.sorted(), "each provisioned user once on each Unified CM that lacks it")
        await assertEqual(try await sql("SELECT count(*)::bigint AS n FROM orders WHERE kind = 'directory'")[0].decode("n", as: Int64.self),
                          Int64(expected.count))
        let home = try await sql("SELECT o.user_id, array_to_string(array_agg(s.name ORDER BY s.position), ',') AS steps FROM orders o JOIN order_steps s ON s.order_id = o.id WHERE o.kind = 'directory' AND o.call_processor = 'TestCCM' GROUP BY o.user_id")
        XCTAssertTrue(try home.allSatisfy { try $0.decode("steps", as: String.self) == "uds_user,uds_home" }, "the home cluster's copies make it the home cluster")
        await assertEqual(try await sql("SELECT count(*)::bigint AS n FROM jobs WHERE type = 'order.run' AND state = 'queued'")[0].decode("n", as: Int64.self),
                          Int64(expected.count), "one order.run each")

        // Run once more, everything is held: nothing queued, all counted as queued before.
        let again = try await DirectorySource.copy(user: nil, context: attempt2, connection: connection, chunkSize: 2)
        XCTAssertEqual(again, line("0 directory order(s) queued by this attempt (\(expected.count) queued before)"))
        await assertEqual(try await planned(), expected.sorted())
    }

    /// A chunk of copies goes in with a fixed number of statements however many copies it holds (bulk
    /// data moves set-based; enabling UDS for 10,000 users on 2 Unified CMs made ~100,000 one order at
    /// a time): statement-level triggers count, per transaction, the statements writing orders, steps,
    /// jobs and the audit trail while a chunk of two users and one of all the others are queued — the
    /// same five each. The rows are those the one-order-at-a-time code wrote: each order with its
    /// steps, its own `order.run` (linked both ways) and one audit line, and orders, jobs and audit
    /// lines numbered in the plan's order.
    func testAChunkOfCopiesIsQueuedWithAFixedNumberOfStatements() async throws {
        try await prepareClusters()
        let first = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(first)).state, "succeeded")
        let job = try enableUDSToRunInProcess()
        let connection = Connection(harness.database.app), owner = Connection(harness.database.owner)
        try await owner.withSession { try $0.execute("""
            CREATE TABLE statements_counted (xact bigint, tbl text, op text);
            CREATE FUNCTION count_statement() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
                BEGIN INSERT INTO statements_counted VALUES (txid_current(), TG_TABLE_NAME, TG_OP); RETURN NULL; END $$;
            CREATE TRIGGER orders_counted AFTER INSERT OR UPDATE ON orders FOR EACH STATEMENT EXECUTE FUNCTION count_statement();
            CREATE TRIGGER steps_counted AFTER INSERT ON order_steps FOR EACH STATEMENT EXECUTE FUNCTION count_statement();
            CREATE TRIGGER jobs_counted AFTER INSERT ON jobs FOR EACH STATEMENT EXECUTE FUNCTION count_statement();
            CREATE TRIGGER audit_counted AFTER INSERT ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION count_statement();
            """) }
        let context = try await claimInProcess(job)
        let (everyone, _) = try await DirectorySource.provisionedChunk(after: "", user: nil, size: 100, connection: connection)
        XCTAssertGreaterThan(everyone.count, 6)
        let small = try await DirectorySource.queueCopies(of: Array(everyone.prefix(2)), on: ["OtherCCM", "TestCCM"], context: context, connection: connection)
        let large = try await DirectorySource.queueCopies(of: Array(everyone.dropFirst(2)), on: ["OtherCCM", "TestCCM"], context: context, connection: connection)
        XCTAssertEqual(small.queuedBefore + large.queuedBefore, 0)
        XCTAssertGreaterThanOrEqual(small.queued, 2)
        XCTAssertGreaterThan(large.queued, 2 * small.queued, "the second chunk holds several times the copies")

        // Per transaction that wrote orders: its statements on each table, in the order of the transactions.
        let counted = try await sql("""
            SELECT array_to_string(array_agg(c.tbl || ' ' || c.op || ' ' || c.n ORDER BY c.tbl, c.op), ', ') AS statements
              FROM (SELECT xact, tbl, op, count(*) AS n FROM statements_counted GROUP BY xact, tbl, op) AS c
             WHERE c.xact IN (SELECT xact FROM statements_counted WHERE tbl = 'orders' AND op = 'INSERT')
             GROUP BY c.xact ORDER BY c.xact
            """).map { try $0.decode("statements", as: String.self) }
        let fixed = "audit_log INSERT 1, jobs INSERT 1, order_steps INSERT 1, orders INSERT 1, orders UPDATE 1"
        XCTAssertEqual(counted, [fixed, fixed], "one transaction a chunk, five statements each whatever its size")

        // Each order: its steps from position 1, its own order.run linked both ways, one audit line as before.
        let orders = try await sql("""
            SELECT o.id, lower(o.user_id) || ' ' || o.call_processor AS pair, o.request::text AS request, o.job_id,
                   j.type, j.target, j.payload::text AS payload, j.state AS job_state, j.submitted_by AS job_actor, o.submitted_by,
                   (SELECT array_to_string(array_agg(s.position || ' ' || s.name || ' ' || s.device || ' ' || s.state ORDER BY s.position), ', ')
                      FROM order_steps s WHERE s.order_id = o.id) AS steps,
                   (SELECT array_to_string(array_agg(a.actor || '|' || a.action || '|' || a.job_id || '|' || a.target || '|' || a.message ORDER BY a.id), '; ')
                      FROM audit_log a WHERE a.target = 'order ' || o.id) AS audit
              FROM orders o LEFT JOIN jobs j ON j.id = o.job_id
             WHERE o.kind = 'directory' ORDER BY o.id
            """)
        XCTAssertEqual(orders.count, small.queued + large.queued)
        let actor = context.job.submittedBy
        for row in orders {
            let id: Int64 = try row.decode("id"), jobID: Int64 = try row.decode("job_id"), pair: String = try row.decode("pair")
            let (user, device) = (String(pair.split(separator: " ")[0]), String(pair.split(separator: " ")[1]))
            let home = device == "TestCCM"
            XCTAssertEqual(try row.decode("steps", as: String.self),
                           home ? "1 uds_user TestCCM pending, 2 uds_home TestCCM pending" : "1 uds_user \(device) pending", pair)
            XCTAssertEqual(try row.decode("type", as: String.self), "order.run", pair)
            XCTAssertEqual(try row.decode("target", as: String.self), "order \(id)", pair)
            XCTAssertEqual(try row.decode("payload", as: String.self), #"{"order": \#(id), "action": "apply"}"#, pair)
            XCTAssertEqual(try row.decode("job_state", as: String.self), "queued", pair)
            XCTAssertEqual(try row.decode("job_actor", as: String.self), actor, pair)
            XCTAssertEqual(try row.decode("submitted_by", as: String.self), actor, pair)
            let request = try JSONSerialization.jsonObject(with: Data(try row.decode("request", as: String.self).utf8)) as? [String: String]
            XCTAssertEqual(request?["action"], "copy", pair)
            XCTAssertEqual(request?["home"], "TestCCM", pair)
            XCTAssertEqual(request?["user"]?.lowercased(), user, pair)
            XCTAssertEqual(try row.decode("audit", as: String.self),
                           "\(actor)|order.submitted|\(jobID)|order \(id)|Order \(id) submitted: directory \(home ? "uds_user, uds_home" : "uds_user") of '\(request?["user"] ?? "")' on '\(device)'",
                           pair)
        }
        // Numbered in the plan's order (by user, then call processor): orders, their jobs, their audit lines.
        let pairs = try orders.map { try $0.decode("pair", as: String.self) }
        XCTAssertEqual(pairs, pairs.sorted())
        let jobIDs = try orders.map { try $0.decode("job_id", as: Int64.self) }
        XCTAssertEqual(jobIDs, jobIDs.sorted())
        let auditOrder = try await sql("""
            SELECT a.target FROM audit_log a WHERE a.action = 'order.submitted' AND a.target IN (SELECT 'order ' || id FROM orders WHERE kind = 'directory')
             ORDER BY a.id
            """).map { try $0.decode("target", as: String.self) }
        XCTAssertEqual(auditOrder, try orders.map { "order \(try $0.decode("id", as: Int64.self))" })
    }

    /// A directory order whose step fails is rolled back: on the home cluster the end user it adopted
    /// stays as it was (the device's state as before), a copy that was refused leaves nothing; enabling
    /// again plans them anew and they succeed.
    func testAFailedDirectoryOrderRollsBackOnlyWhatItAdded() async throws {
        try await prepareClusters()
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        let addOrder = try await order(try orderID(added))
        XCTAssertEqual(addOrder.state, "succeeded", added.stdout)
        let before = try state(), otherBefore = try other.control("state")
        try fault("clear=1&fail=updateUser:1")
        _ = try other.control("faults?clear=1&fail=addUser:1")
        let set = try ucp(["settings", "set", "directory_source", "call_processor"])
        let orders = try await directoryOrdersEnded(after: try jobID(set.stdout))
        let home = try XCTUnwrap(orders.first { $0.callProcessor == "TestCCM" })
        XCTAssertEqual(home.state, "rolled_back", home.error ?? "")
        let homeSteps = try await steps(home.id)
        XCTAssertEqual(homeSteps.map(\.name), [.udsUser, .udsHome])
        XCTAssertEqual(homeSteps.map(\.state), ["skipped", "failed"], "the adopted end user is left alone")
        XCTAssertEqual(try state(), before, "TestCCM as before")
        let refused = orders.filter { $0.callProcessor == "OtherCCM" && $0.state != "succeeded" }
        XCTAssertEqual(refused.map(\.state), ["rolled_back"])
        XCTAssertEqual(try users(other).count, orders.filter { $0.callProcessor == "OtherCCM" }.count - 1)
        XCTAssertNotEqual(try other.control("state"), otherBefore)

        try fault("clear=1")
        let again = try ucp(["settings", "set", "directory_source", "call_processor"])
        let all = try await directoryOrdersEnded(after: try jobID(again.stdout))
        XCTAssertEqual(all.count, orders.count + 2, "the two rolled back planned anew, nothing else")
        XCTAssertTrue(all.suffix(2).allSatisfy { $0.state == "succeeded" }, all.suffix(2).map { "\($0.id) \($0.state) \($0.error ?? "")" }.joined(separator: "\n"))
        XCTAssertEqual(try users(sim)["jdoe"], "true")
        XCTAssertEqual(try users(other)["jdoe"], "false")
    }

    /// jdoe provisioned on TestCCM by an add order, then UDS enabled; returns the directory orders, ended.
    func provisionJdoeAndEnableUDS() async throws -> [Order] {
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(added)).state, "succeeded", added.stdout)
        let set = try ucp(["settings", "set", "directory_source", "call_processor"])
        return try await directoryOrdersEnded(after: try jobID(set.stdout))
    }

    /// Deletes `user` (its delete request and planning job) and waits for the removal of its copies
    /// that the delete order queues when it took the user off its home cluster; returns that job.
    func deleteQueuingTheCopiesRemoval(_ user: String) async throws -> Int64 {
        try await queueDelete(user)
        var removal: Int64?
        let queued = try await eventually(timeout: 90) {
            removal = try await self.sql("SELECT id FROM jobs WHERE type = 'directory.sync' AND payload::text LIKE '%leftHome%' LIMIT 1").first?.decode("id")
            return removal != nil
        }
        XCTAssertTrue(queued, "the delete order queued the copies' removal")
        return try XCTUnwrap(removal)
    }

    /// Adds an end user on `simulator` as an administrator would by hand (its own AXL request): with
    /// `lastName`, home cluster true.
    func addByHand(_ simulator: DeviceSimulatorProcess, userid: String, lastName: String) throws {
        let body = AXLEnvelope.request(.latest, "addUser") { writer in
            writer.open("user")
            writer.element("lastName", lastName)
            writer.element("userid", userid)
            writer.element("presenceGroupName", "Standard Presence group")
            writer.element("homeCluster", "true")
            writer.close("user")
        }
        let connection = try HTTPClientConnection(HTTPConfiguration(caFile: simulator.certificatePath, username: simulator.user,
                                                                    password: simulator.password))
        var answer: [UInt8] = []
        let status = try connection.perform(.post, url: simulator.axlURL, headers: [
            "Content-Type: \(AXLEnvelope.contentType)", "SOAPAction: \(AXLVersion.latest.soapAction("addUser"))",
        ], body: body) { chunk in
            answer.append(contentsOf: chunk)
            return true
        }
        XCTAssertEqual(status, 200, String(decoding: answer, as: UTF8.self))
    }

    /// Someone adds the user by hand on OtherCCM while a copy's addUser is on its way (after the copy's
    /// pre-check read no user there): the device answers "duplicate" and the copy adopts the user — the
    /// same last name as the copy's proves nothing — so the order succeeds without taking it, and the
    /// removal when the user leaves its home cluster leaves it where it is, saying so in its log.
    func testAUserAddedByHandDuringACopyIsAdoptedAndLeftAlone() async throws {
        try await prepareClusters()
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(added)).state, "succeeded")
        _ = try other.control("faults?clear=1&pause-seconds=5&stall=addUser:1")
        let set = try ucp(["settings", "set", "directory_source", "call_processor"])
        var stalled: String?
        let seen = try await eventually(timeout: 60) {
            stalled = try self.other.control("calls").split(separator: "\n").first { $0.hasPrefix("addUser ") }.map(String.init)
            return stalled != nil
        }
        XCTAssertTrue(seen, "a copy's addUser reached OtherCCM")
        let words = try XCTUnwrap(stalled).split(whereSeparator: { " {}".contains($0) })
        func value(_ name: String) -> String? { words.first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) } }
        let userid = try XCTUnwrap(value("userid")), lastName = try XCTUnwrap(value("lastName"))
        try addByHand(other, userid: userid, lastName: lastName)

        let orders = try await directoryOrdersEnded(after: try jobID(set.stdout))
        XCTAssertTrue(orders.allSatisfy { $0.state == "succeeded" }, orders.map { "\($0.id) \($0.state) \($0.error ?? "")" }.joined(separator: "\n"))
        let copy = try XCTUnwrap(orders.first { $0.callProcessor == "OtherCCM" && $0.userID.lowercased() == userid.lowercased() })
        let copySteps = try await steps(copy.id)
        let step = try XCTUnwrap(copySteps.first)
        XCTAssertEqual(step.name, .udsUser)
        XCTAssertTrue(step.adopted, "the user added by hand is adopted")
        XCTAssertNil(step.createdUUID, "not taken as the order's: its undo would leave it")
        let log = try await sql("SELECT message FROM job_logs WHERE job_id = \(try XCTUnwrap(copy.jobID))").map { try $0.decode("message", as: String.self) }
        XCTAssertTrue(log.contains("Step 1 (uds_user): '\(userid)' is on OtherCCM already (a duplicate answer); not proven this order's: adopted, left alone by undo"),
                      log.joined(separator: "\n"))
        XCTAssertEqual(try users(other)[userid.lowercased()], "true", "OtherCCM holds the user added by hand (home cluster true), not a copy")

        // The user leaves its home cluster: the copy it adopted stays, and the removal's log says why.
        let removal = try await deleteQueuingTheCopiesRemoval(userid)
        let ended = try await directoryOrdersEnded(after: removal)
        XCTAssertFalse(ended.contains { $0.request.contains("\"remove\"") }, "no removal order")
        XCTAssertNil(try users(sim)[userid.lowercased()], "gone from its home cluster")
        XCTAssertEqual(try users(other)[userid.lowercased()], "true", "the user added by hand is still on OtherCCM")
        let removalLog = try await sql("SELECT message FROM job_logs WHERE job_id = \(removal)").map { try $0.decode("message", as: String.self) }
        XCTAssertTrue(removalLog.contains("User '\(userid)' left its home cluster 'TestCCM': its copy on 'OtherCCM' stays — directory order \(copy.id) "
                                          + "adopted the user it found there (not proven its own): remove it on 'OtherCCM' by hand if it is the copy"),
                      removalLog.joined(separator: "\n"))
    }

    /// Copies queued while UDS was on do not run once the source is switched back to LDAP: each ends
    /// canceled before its first device call, its steps skipped, a line in its log, nothing written
    /// (the copy already at its pre-check finishes: the switch leaves copies where they are). One
    /// worker running one job at a time, the first copy's getUser held at the device while the source
    /// is switched, so the others are still queued.
    /// Enables UDS with one worker running one job at a time and the first copy's pre-check (getUser)
    /// held at its device: the other copies stay queued meanwhile. Returns the enabling job.
    func enableUDSHoldingTheFirstCopy() async throws -> Int64 {
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(added)).state, "succeeded")
        harness.processes.kill("worker")
        try harness.processes.start("worker1", ["worker", "--concurrency", "1", "--name", "one-job-worker"])
        for simulator in [sim!, other!] {
            _ = try simulator.control("faults?clear=1&pause-seconds=5&stall=getUser:1")
            _ = try simulator.control("calls?clear=1")
        }
        let set = try ucp(["settings", "set", "directory_source", "call_processor"])
        let held = try await eventually(timeout: 60) {
            try [self.sim!, self.other!].contains { try $0.control("calls").split(separator: "\n").contains { $0.hasPrefix("getUser ") } }
        }
        XCTAssertTrue(held, "the first copy reached its pre-check")
        return try jobID(set.stdout)
    }

    func testCopiesQueuedBeforeTheSourceSwitchesBackToLDAPAreCanceled() async throws {
        try await prepareClusters()
        let enabling = try await enableUDSHoldingTheFirstCopy()
        try ucp(["settings", "set", "directory_source", "ldap"])

        let orders = try await directoryOrdersEnded(after: enabling)
        let canceled = orders.filter { $0.state == "canceled" }, others = orders.filter { $0.state != "canceled" }
        XCTAssertEqual(others.map(\.state), ["succeeded"], "only the copy that had started runs")
        XCTAssertEqual(canceled.count, orders.count - 1)
        XCTAssertGreaterThan(canceled.count, 5)
        for order in canceled {
            XCTAssertEqual(order.error, "directory search source switched back to the LDAP server before the copy started")
            await assertEqual(Set(try await steps(order.id).map(\.state)), ["skipped"], "order \(order.id)")
            let log = try await sql("SELECT message FROM job_logs WHERE job_id = \(try XCTUnwrap(order.jobID))").map { try $0.decode("message", as: String.self) }
            XCTAssertTrue(log.contains("Order \(order.id) canceled: the directory search source is the LDAP server again (switched since the copy was queued); "
                                       + "'\(order.userID)' not copied to \(order.callProcessor), nothing written"), log.joined(separator: "\n"))
        }
        let writes = try [sim!, other!].flatMap { try $0.control("calls").split(separator: "\n") }.filter { !$0.hasPrefix("get") && !$0.hasPrefix("list") }
        XCTAssertLessThanOrEqual(writes.count, 2, "at most the started copy's addUser and updateUser: \(writes)")
        XCTAssertLessThanOrEqual(try users(other).count, 1, "no copy on OtherCCM but the one started")
        let status = try await DirectorySource.status(connection: Connection(harness.database.app))
        XCTAssertTrue(status.contains { $0.hasPrefix("OtherCCM") && $0.contains("canceled") }, "\(status)")
    }

    /// A copy queued for a user who is then being deleted does not run: it ends canceled before its
    /// first device call, nothing written; the other users' copies run.
    func testACopyQueuedForAUserBeingDeletedIsCanceled() async throws {
        try await prepareClusters()
        let enabling = try await enableUDSHoldingTheFirstCopy()
        let last = try await sql("SELECT user_id FROM orders WHERE kind = 'directory' ORDER BY id DESC LIMIT 1")[0].decode("user_id", as: String.self)
        // Its delete request pending (what a stale-user action does first), the delete order not run yet.
        _ = try await sql("UPDATE users SET state = 'deleting', stale_since = clock_timestamp() WHERE user_id = '\(last)'")

        let orders = try await directoryOrdersEnded(after: enabling)
        let canceled = orders.filter { $0.state == "canceled" }
        XCTAssertFalse(canceled.isEmpty)
        XCTAssertTrue(canceled.allSatisfy { $0.userID == last }, canceled.map { "\($0.id) \($0.userID)" }.joined(separator: "\n"))
        XCTAssertTrue(orders.filter { $0.userID != last }.allSatisfy { $0.state == "succeeded" },
                      orders.map { "\($0.id) \($0.userID) \($0.state) \($0.error ?? "")" }.joined(separator: "\n"))
        for order in canceled {
            XCTAssertEqual(order.error, "user deleted before the copy started")
            let log = try await sql("SELECT message FROM job_logs WHERE job_id = \(try XCTUnwrap(order.jobID))").map { try $0.decode("message", as: String.self) }
            XCTAssertTrue(log.contains("Order \(order.id) canceled: '\(last)' is being deleted (or gone from the inventory); "
                                       + "'\(last)' not copied to \(order.callProcessor), nothing written"), log.joined(separator: "\n"))
        }
        XCTAssertNil(try users(other)[last.lowercased()], "no copy of the user being deleted")
        XCTAssertFalse(try other.control("calls").contains("userid=\(last) "), "nothing sent for it")
    }

    /// A copy still on its way when its user is deleted from its home cluster: the delete's end cannot
    /// see it (it has not succeeded, so nothing is removed then); the copy's own end, after it landed,
    /// queues its removal — no copy stays behind.
    func testACopyLandingAfterItsUserWasDeletedIsRemoved() async throws {
        try await prepareClusters()
        _ = try await provisionJdoeAndEnableUDS()

        // A new user's copy to OtherCCM held at the device (long enough for the delete to run meanwhile).
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name) VALUES ('asmith', 'Cisco', 'manual', 'Ann', 'Smith')")
        _ = try other.control("faults?clear=1&pause-seconds=12&stall=addUser:1")
        let added = try ucp(["order", "submit", "-f", try orderFile("asmith.yaml", user: "asmith", phone: "SEP00AA00BB0002", voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(added)).state, "succeeded")
        let held = try await eventually(timeout: 60) {
            try self.other.control("calls").split(separator: "\n").contains { $0.hasPrefix("addUser ") && $0.contains("userid=asmith ") }
        }
        XCTAssertTrue(held, "the copy's addUser is held at OtherCCM")
        try await queueDelete("asmith")
        var delete: Order?
        let deleted = try await eventually(timeout: 60) {
            if let id = try await self.sql("SELECT id FROM orders WHERE kind = 'delete' AND user_id = 'asmith'").first?.decode("id", as: Int64.self) {
                delete = try await self.order(id)
            }
            return delete?.isFinished == true
        }
        XCTAssertTrue(deleted, "the delete order ended")
        XCTAssertEqual(delete?.state, "succeeded", delete?.error ?? "")
        let copyID = try await sql("SELECT id FROM orders WHERE kind = 'directory' AND user_id = 'asmith' AND call_processor = 'OtherCCM'")[0]
            .decode("id", as: Int64.self)
        await assertEqual(try await order(copyID).isFinished, false, "the copy was still on its way when the delete ended")

        var removal: Order?
        let removed = try await eventually(timeout: 90) {
            if let id = try await self.sql("SELECT id FROM orders WHERE kind = 'directory' AND user_id = 'asmith' AND request->>'action' = 'remove'")
                .first?.decode("id", as: Int64.self) {
                removal = try await self.order(id)
            }
            return removal?.isFinished == true
        }
        XCTAssertTrue(removed, "the copy's end queued its removal")
        await assertEqual(try await order(copyID).state, "succeeded", "the copy landed")
        XCTAssertEqual(removal?.state, "succeeded", removal?.error ?? "")
        XCTAssertEqual(removal?.callProcessor, "OtherCCM")
        XCTAssertNil(try users(sim)["asmith"], "deleted from its home cluster")
        XCTAssertNil(try users(other)["asmith"], "the copy that landed after the delete is removed")
        XCTAssertEqual(try users(other)["jdoe"], "false", "the other copies stay")
    }

    /// The simulator `calls()` reads (the crash harness watches it): TestCCM's, or `watched`.
    var watched: DeviceSimulatorProcess?
    override func calls() throws -> [String] {
        try (watched ?? sim).control("calls").split(separator: "\n").map(String.init)
    }

    /// UDS on, a user copied: deleting the user (its delete order removes it from its home cluster)
    /// removes the copy the directory order added (by its uuid), not the delete order, though OtherCCM's
    /// user sync read it; the other users' copies stay.
    func testDeletingTheUserFromItsHomeClusterRemovesTheCopy() async throws {
        try await prepareClusters()
        _ = try await provisionJdoeAndEnableUDS()
        XCTAssertEqual(try users(other)["jdoe"], "false")
        let copies = try users(other).count
        // The copy read by OtherCCM's user sync: the delete order still leaves it to the directory's removal.
        let (userSync, _) = try await harness.sync(.user, "OtherCCM")
        XCTAssertEqual(userSync.status, 0, userSync.stdout + userSync.stderr)

        let ended = try await directoryOrdersEnded(after: try await deleteQueuingTheCopiesRemoval("jdoe"))
        let delete: Int64 = try await sql("SELECT id FROM orders WHERE kind = 'delete' AND user_id = 'jdoe'")[0].decode("id")
        let deleteSteps = try await steps(delete)
        XCTAssertEqual(Set(deleteSteps.map(\.device)), ["TestCCM"], "the delete order plans nothing on the copy's call processor")
        let remove = try XCTUnwrap(ended.last)
        XCTAssertEqual(remove.state, "succeeded", remove.error ?? "")
        let steps = try await steps(remove.id)
        XCTAssertEqual(steps.map(\.name), [.removeUser])
        XCTAssertEqual(remove.callProcessor, "OtherCCM")
        XCTAssertNil(try users(sim)["jdoe"], "the delete order removed it from its home cluster")
        XCTAssertNil(try users(other)["jdoe"], "and the copy went with it")
        XCTAssertEqual(try users(other).count, copies - 1, "the other copies stay")
    }

    /// A worker killed while a copy's addUser is at the device (after it landed, its answer not yet
    /// back: hold, on enabling; before it lands: stall, on a new order's fan-out): the next attempt resumes the step, finds the user with
    /// a user (or a duplicate) and adopts it — nothing proves it is the order's own — one end user, no failure.
    func testAWorkerKilledDuringACopysAddUserLeavesOneUser() async throws {
        try await prepareClusters()
        var workers = try CrashWorkers(self)
        watched = other
        _ = try other.control("faults?clear=1&pause-seconds=3&hold=addUser:1")
        let set = try ucp(["settings", "set", "directory_source", "call_processor"])
        try await workers.kill(whenTheDeviceHas: "addUser")
        let orders = try await directoryOrdersEnded(after: try jobID(set.stdout))
        XCTAssertTrue(orders.allSatisfy { $0.state == "succeeded" }, orders.map { "\($0.id) \($0.state) \($0.error ?? "")" }.joined(separator: "\n"))
        let lines = try other.control("state").split(separator: "\n").filter { $0.hasPrefix("User ") }
        let ids = lines.compactMap { $0.split(separator: " ").first { $0.hasPrefix("userid=") } }
        XCTAssertEqual(ids.count, Set(ids).count, "no duplicate: \(lines.joined(separator: "\n"))")
        XCTAssertGreaterThan(ids.count, 5)
        let taken = try await sql("""
            SELECT count(*) FILTER (WHERE s.created_uuid IS NOT NULL AND NOT s.adopted)::bigint AS own, count(*) FILTER (WHERE s.adopted)::bigint AS adopted
              FROM order_steps s JOIN orders o ON o.id = s.order_id
             WHERE o.kind = 'directory' AND s.name = 'uds_user' AND s.device = 'OtherCCM'
            """)[0]
        // The held copy's answer never reached the killed worker (nor did those of the copies in flight
        // beside it, up to its concurrency): adopted; the others are their orders' own.
        let own = try taken.decode("own", as: Int64.self), adopted = try taken.decode("adopted", as: Int64.self)
        XCTAssertEqual(own + adopted, Int64(ids.count), "each copy is its order's own or adopted")
        XCTAssertTrue((1...4).contains(adopted), "the held copy adopted, and at most the worker's concurrency: \(adopted)")

        // Before it lands: a new order's copy (UDS on) stalled at the device, the worker killed.
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name) VALUES ('crash1', 'Cisco', 'manual', 'Crash', 'Test')")
        _ = try other.control("faults?clear=1&pause-seconds=3&stall=addUser:1")
        _ = try other.control("calls?clear=1")
        let added = try ucp(["order", "submit", "-f", try orderFile("crash1.yaml", user: "crash1", phone: "SEP00CC00DD0001", voicemail: false), "--wait"])
        await assertEqual(try await order(try orderID(added)).state, "succeeded")
        try await workers.kill(whenTheDeviceHas: "addUser")
        let fanOut = try await sql("SELECT id FROM jobs WHERE type = 'directory.sync' ORDER BY id DESC LIMIT 1")[0].decode("id", as: Int64.self)
        let after = try await directoryOrdersEnded(after: fanOut)
        XCTAssertTrue(after.allSatisfy { $0.state == "succeeded" }, after.map { "\($0.id) \($0.state) \($0.error ?? "")" }.joined(separator: "\n"))
        let crash = try other.control("state").split(separator: "\n").filter { $0.hasPrefix("User ") && $0.contains("userid=crash1 ") }
        XCTAssertEqual(crash.count, 1, crash.joined(separator: "\n"))
        XCTAssertTrue(crash.first?.contains("homeCluster=false") == true, crash.joined(separator: "\n"))
    }

    /// An order's follow-ups are never lost: an attempt that ended the order and died before queueing
    /// its UDS copies (here: UDS switched on behind the order's back, so none was queued) leaves them to
    /// the next attempt, which finds the order ended and makes them.
    func testAFinishedOrdersJobMakesItsFollowUpsAgain() async throws {
        try await prepareClusters()
        let added = try ucp(["order", "submit", "-f", try orderFile(voicemail: false), "--wait"])
        let id = try orderID(added)
        await assertEqual(try await order(id).state, "succeeded")
        await assertEqual(try await sql("SELECT count(*)::bigint AS n FROM jobs WHERE type = 'directory.sync'")[0].decode("n", as: Int64.self), 0)
        _ = try await sql("INSERT INTO settings (key, value, updated_at, updated_by) VALUES ('directory_source', '\"call_processor\"', now(), 'test')")

        let again = try ucp(["submit", "job", "order.run", "--payload", "{\"order\": \(id), \"action\": \"apply\"}", "--wait"])
        let logged = try await sql("SELECT message FROM job_logs WHERE job_id = \(try jobID(again.stdout))").map { try $0.decode("message", as: String.self) }
        XCTAssertTrue(logged.contains("Order \(id) is succeeded: nothing to do but its follow-ups"), logged.joined(separator: "\n"))
        let queued = try await sql("SELECT id FROM jobs WHERE type = 'directory.sync'").first?.decode("id", as: Int64.self)
        let followUp = try XCTUnwrap(queued, "the copies of the order's user queued")
        let orders = try await directoryOrdersEnded(after: followUp)
        XCTAssertTrue(orders.allSatisfy { $0.state == "succeeded" }, orders.map { "\($0.id) \($0.state) \($0.error ?? "")" }.joined(separator: "\n"))
        XCTAssertEqual(try users(other)["jdoe"], "false", "the order's user copied to OtherCCM")
    }

    /// Seed 004: with UDS on, adding a call processor starts the directory sync to it — its first
    /// infrastructure sync (not LDAP-integrated) queues `directory.sync`, which copies the provisioned
    /// users there (not its home cluster); a later sync of it queues nothing.
    func testACallProcessorAddedWhileUDSIsOnGetsTheCopies() async throws {
        try await prepareClusters()
        _ = try await provisionJdoeAndEnableUDS()
        let copied = try users(other)
        XCTAssertEqual(copied["jdoe"], "false")

        let newer = try DeviceSimulatorProcess.start(for: self, users: 0, arguments: ["--not-home-cluster"])
        try await harness.register("NewCCM", kind: .callProcessor, simulator: newer)
        let before = try await sql("SELECT coalesce(max(id), 0)::bigint AS id FROM jobs WHERE type = 'directory.sync'")[0].decode("id", as: Int64.self)
        let (sync, syncJob) = try await harness.sync(.infra, "NewCCM")
        XCTAssertEqual(sync.status, 0, sync.stdout + sync.stderr)
        let logged = try await sql("SELECT message FROM job_logs WHERE job_id = \(syncJob.id)").map { try $0.decode("message", as: String.self) }
        XCTAssertTrue(logged.contains { $0.hasPrefix("Directory search source is the call processor (UDS) and 'NewCCM' is new: directory.sync queued") },
                      logged.joined(separator: "\n"))
        let queued = try await sql("SELECT id FROM jobs WHERE type = 'directory.sync' AND id > \(before) ORDER BY id").map { try $0.decode("id", as: Int64.self) }
        XCTAssertEqual(queued.count, 1, "one directory sync queued by the new call processor's sync")
        let orders = try await directoryOrdersEnded(after: try XCTUnwrap(queued.first))
        let toNew = orders.filter { $0.callProcessor == "NewCCM" }
        XCTAssertFalse(toNew.isEmpty)
        XCTAssertTrue(toNew.allSatisfy { $0.state == "succeeded" }, toNew.map { "\($0.id) \($0.state) \($0.error ?? "")" }.joined(separator: "\n"))
        XCTAssertEqual(try users(newer), copied, "the same copies as OtherCCM, none its home cluster")

        let (again, _) = try await harness.sync(.infra, "NewCCM")
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        await assertEqual(try await sql("SELECT count(*)::bigint AS n FROM jobs WHERE type = 'directory.sync' AND id > \(before)")[0].decode("n", as: Int64.self), 1,
                          "a later sync of it queues nothing")
    }

    /// UDS is refused (one line naming the field and the rule, exit 64, nothing written) while a call
    /// processor is LDAP-integrated; with UDS on, synchronizing an LDAP-integrated call processor that
    /// was just added switches the source back to LDAP, with its audit line and a line in the device's log.
    func testUDSIsRefusedWhileLDAPIntegratedAndSwitchedBackWhenOneIsFound() async throws {
        sim = try DeviceSimulatorProcess.start(for: self, users: 2)
        try await harness.register("TestCCM", kind: .callProcessor, simulator: sim)
        let (plain, _) = try await harness.sync(.infra, "TestCCM")
        XCTAssertEqual(plain.status, 0, plain.stdout + plain.stderr)
        let set = try ucp(["settings", "set", "directory_source", "call_processor"])
        let job = try jobID(set.stdout)
        let none = try await directoryOrdersEnded(after: job)
        XCTAssertEqual(none.count, 0, "no provisioned user: no order")
        let shownOff = try ucp(["device", "show", "TestCCM"]).stdout
        XCTAssertTrue(shownOff.contains("ldap integration") && shownOff.contains("off"), shownOff)

        let integrated = try DeviceSimulatorProcess.start(for: self, users: 2, arguments: ["--ldap-integrated"])
        try await harness.register("LdapCCM", kind: .callProcessor, simulator: integrated)
        let (sync, syncJob) = try await harness.sync(.infra, "LdapCCM")
        XCTAssertEqual(sync.status, 0, sync.stdout + sync.stderr)
        let expected = "Directory search source switched back to the LDAP server: call processor 'LdapCCM' is LDAP-integrated"
        let audit = try await sql("SELECT message FROM audit_log WHERE action = 'settings.changed' ORDER BY id").map { try $0.decode("message", as: String.self) }
        XCTAssertTrue(audit.last?.hasPrefix(expected) == true, audit.joined(separator: "\n"))
        let logged = try await sql("SELECT message FROM job_logs WHERE job_id = \(syncJob.id)").map { try $0.decode("message", as: String.self) }
        XCTAssertTrue(logged.contains { $0.hasPrefix(expected) }, logged.joined(separator: "\n"))
        let source = try await DirectorySourceStore(Connection(harness.database.app)).source()
        XCTAssertEqual(source, .ldap)
        let shown = try ucp(["device", "show", "LdapCCM"]).stdout
        XCTAssertTrue(shown.contains("ldap integration") && shown.contains("on (users synchronized from LDAP)"), shown)

        // Refused now: one line naming the field and the rule; nothing written, no job.
        let before = try await sql("SELECT (SELECT count(*) FROM audit_log)::bigint AS a, (SELECT count(*) FROM jobs)::bigint AS j")[0]
        let refused = try harness.ucp(["settings", "set", "directory_source", "call_processor"])
        XCTAssertEqual(refused.status, 64, refused.stdout + refused.stderr)
        XCTAssertEqual(refused.stderr, "ucp: directory_source: call_processor (UDS) is refused while a call processor is LDAP-integrated ('LdapCCM')\n")
        let after = try await sql("SELECT (SELECT count(*) FROM audit_log)::bigint AS a, (SELECT count(*) FROM jobs)::bigint AS j")[0]
        XCTAssertEqual(try after.decode("a", as: Int64.self), try before.decode("a", as: Int64.self), "no audit line")
        XCTAssertEqual(try after.decode("j", as: Int64.self), try before.decode("j", as: Int64.self), "no job")
        let still = try await DirectorySourceStore(Connection(harness.database.app)).source()
        XCTAssertEqual(still, .ldap)
        let bad = try harness.ucp(["settings", "set", "directory_source", "uds"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertEqual(bad.stderr, "ucp: directory_source: must be ldap or call_processor (got 'uds')\n")
    }
}
