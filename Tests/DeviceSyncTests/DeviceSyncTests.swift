import AXL
import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import TestSupport
import XCTest

/// Infrastructure and user synchronization through a real worker, against `ucp devsim` and PostgreSQL.
final class DeviceSyncTests: XCTestCase {
    var harness: SyncHarness!

    override func setUp() async throws {
        harness = try await SyncHarness()
        try harness.startWorker()
    }

    override func tearDown() async throws {
        harness?.stop()
    }

    func simulator(users: Int, _ flags: [String] = []) throws -> DeviceSimulatorProcess {
        try DeviceSimulatorProcess.start(for: self, users: users, arguments: flags)
    }

    /// Users, phones and lines counted exactly; a second run changes nothing; 10 users removed on the
    /// device are exactly the 10 marked removed.
    func testUserSyncReadsEveryUserPhoneAndLineAndMarksExactlyTheRemovedOnes() async throws {
        let users = 230
        let sim = try simulator(users: users)
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let (first, job) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        let counts = try await harness.counts("cucm", .user)
        XCTAssertEqual(counts["User"], users)
        XCTAssertEqual(counts["Phone"], users, "analog phones are skipped while analog_phone_support is off")
        XCTAssertEqual(counts["Line"], users)
        XCTAssertEqual(counts["RemoteDestinationProfile"], users / 5)
        XCTAssertEqual(job.progress.message, "Completed.")
        // Phones carry their lines, read with getPhone.
        let phone = try await harness.objects.deviceObjectList(device: "cucm", type: "Phone", limit: 1).first
        XCTAssertTrue(phone?.attributes.contains("\"lines\"") == true, phone?.attributes ?? "no phone")
        let show = try harness.ucp(["jobs", "show", String(job.id)])
        XCTAssertEqual(show.stdout.split(separator: "\n").last.map(String.init), "outcome:          Completed.")

        let (second, _) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        await assertEqual(try await harness.counts("cucm", .user), counts)
        await assertEqual(try await harness.removed("cucm", .user), [:])

        let gone = (100..<110).map { "user" + String(format: "%06d", $0) }
        for userid in gone {
            XCTAssertEqual(try sim.axl("removeUser") { $0.element("userid", userid) }, 200)
        }
        let (third, _) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(third.status, 0, third.stdout + third.stderr)
        await assertEqual(try await harness.counts("cucm", .user)["User"], users - 10)
        let removed = try await harness.objects.deviceObjectList(device: "cucm", type: "User", kind: .user, includeRemoved: true)
            .filter { $0.removedAt != nil }.map(\.key)
        XCTAssertEqual(removed.sorted(), gone)
        let counted = try harness.ucp(["device", "objects", "cucm", "--type", "User", "--count"])
        XCTAssertTrue(counted.stdout.contains("User                                  user   \(users - 10)      10"), counted.stdout)
        let device = try await DeviceStore(Connection(harness.database.app)).deviceGet(name: "cucm")
        XCTAssertNotNil(device?.firstSyncedAt)
    }

    /// Every AXL request the client sends during infrastructure and user sync is valid against AXLSoap.xsd 12.5.
    func testEveryRequestOfBothSyncsIsValidAgainstTheSchema() async throws {
        let capture = NSTemporaryDirectory() + "ucp-capture-\(harness.database.name)"
        defer { try? FileManager.default.removeItem(atPath: capture) }
        let sim = try simulator(users: 40, ["--capture-dir", capture])
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let (infra, infraJob) = try await harness.sync(.infra, "cucm")
        XCTAssertEqual(infra.status, 0, infra.stdout + infra.stderr)
        XCTAssertEqual(infraJob.progress.message, "Completed.")
        let (user, _) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(user.status, 0, user.stdout + user.stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: capture).filter { $0.hasSuffix(".xml") }
        let operations = Set(files.map { String($0.split(separator: "-", maxSplits: 1).last!.dropLast(4)) })
        for expected in ["getCCMVersion", "listSipTrunk", "listPhone", "getPhone", "listUser", "getDeviceProfile", "executeSQLQuery", "listGateway"] {
            XCTAssertTrue(operations.contains(expected), "no \(expected) captured: \(operations.sorted())")
        }
        XCTAssertEqual(try AXLSchema.validate(directory: capture), [], "every request valid against AXLSoap.xsd 12.5")
    }

    func testABurstOf503sIsBackedOffAndTheSyncCompletes() async throws {
        let sim = try simulator(users: 30, ["--rate-503", "0.2"])
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let (result, job) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertEqual(job.progress.message, "Completed.")
        await assertEqual(try await harness.counts("cucm", .user)["User"], 30)
        let log = try harness.ucp(["device", "log", "cucm", "--kind", "user"])
        XCTAssertTrue(log.stdout.contains("requests were sent again after backing off"), log.stdout)
    }

    func testAFaultOnOneTypeIsReportedAndTheRestIsRead() async throws {
        let sim = try simulator(users: 10, ["--fault-type", "SipTrunk"])
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let (result, job) = try await harness.sync(.infra, "cucm")
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let outcome = "Completed. But the following objects could not be synchronized: [SIPTrunk]"
        XCTAssertEqual(job.progress.message, outcome)
        let log = try harness.ucp(["device", "log", "cucm", "--kind", "infra"])
        XCTAssertEqual(log.stdout.split(separator: "\n").last.map { String($0.split(separator: " ", maxSplits: 3)[3]) }, outcome, log.stdout)
        let counts = try await harness.counts("cucm", .infra)
        XCTAssertNil(counts["SIPTrunk"])
        XCTAssertGreaterThan(counts["RoutePartition"] ?? 0, 0)
        let show = try harness.ucp(["jobs", "show", String(job.id)])
        XCTAssertTrue(show.stdout.hasSuffix("outcome:          \(outcome)\n"), show.stdout)
    }

    func testUnexpectedElementsAreSkippedWithOneWarningEach() async throws {
        let sim = try simulator(users: 10, ["--unknown-elements"])
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let (result, _) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        await assertEqual(try await harness.counts("cucm", .user)["User"], 10)
        let log = try await harness.objects.deviceSyncLogGet(device: "cucm", kind: .user)
        let warnings = log?.lines.filter { $0.message.hasPrefix("Skipped unexpected element <") } ?? []
        XCTAssertTrue(warnings.contains { $0.message.hasSuffix("> in User") }, "\(warnings.map(\.message))")
        XCTAssertEqual(Set(warnings.map(\.message)).count, warnings.count, "one warning per element name and type")
    }

    // Issue 10, finding 1, for a paging sync: its worker is paused past its lease mid-sync. The
    // coordinator ends the sync `worker lost`; when the worker resumes, the old attempt writes no page
    // to device_objects and nothing to the job's log after the rescue, and its worker says it lost it.
    func testAPausedWorkerWritesNoPageOfTheSyncItLost() async throws {
        harness.processes.kill("worker")
        let processes = harness.processes
        defer { processes.kill("paused", signal: SIGCONT) }
        try processes.start("coordinator", ["coordinator", "--name", "c1", "--rescue-interval", "1s"])
        try processes.start("paused", ["worker", "--name", "paused", "--lease", "3s"])
        let sim = try simulator(users: 3000, ["--latency-ms", "20"])
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let id = try await harness.queue.jobEnqueue(.init(UserSync.self, target: "cucm", actor: "test")).id
        let objects = Connection(harness.database.owner)
        func pageCount() async throws -> Int64 {
            try await objects.query(Statement("", "SELECT count(*)::bigint AS n FROM device_objects WHERE device = 'cucm'"))
                .first!.decode("n")
        }
        await assertTrue(try await eventually(timeout: 60, interval: 0.05) { try await pageCount() > 0 },
                         "the sync wrote its first page")
        processes.kill("paused", signal: SIGSTOP)
        await assertTrue(try await eventually(timeout: 20) { try await harness.queue.jobGet(id: id)?.state == .failed },
                         "the coordinator ended the paused worker's sync: \(String(describing: try await harness.queue.jobGet(id: id)))\n\(processes.log("coordinator"))")
        await assertEqual(try await harness.queue.jobGet(id: id)?.error, "worker lost")
        let rescuedAt: Date = try await objects.query(Statement("", "SELECT clock_timestamp() AS now")).first!.decode("now")
        let pagesAtRescue = try await pageCount()
        processes.kill("paused", signal: SIGCONT)
        await assertTrue(try await eventually(timeout: 30) { processes.log("paused").contains("lost its lease") },
                         "the resumed worker says it lost the sync: \(processes.log("paused"))")
        await assertEqual(try await pageCount(), pagesAtRescue, "no page written after the rescue")
        let lastSeen: Date = try await objects.query(Statement("", "SELECT max(last_seen) AS at FROM device_objects WHERE device = 'cucm'"))
            .first!.decode("at")
        XCTAssertLessThanOrEqual(lastSeen, rescuedAt, "no object touched after the rescue")
        let lateLines = try await harness.queue.jobLogRead(id: id).filter { $0.at > rescuedAt }
        XCTAssertEqual(lateLines.map(\.message), [], "nothing logged for the lost attempt after the rescue")
        // The device's detailed log: no line after the rescue, and shown as cut off by the lost worker.
        let deviceLog = try await harness.objects.deviceSyncLogGet(device: "cucm", kind: .user)
        XCTAssertEqual(deviceLog?.lines.filter { $0.at > rescuedAt }.map(\.message), [], "no device log line after the rescue")
        XCTAssertEqual(deviceLog?.state, "interrupted")
        XCTAssertEqual(deviceLog?.outcome, "Interrupted: worker lost.")
        XCTAssertNil(deviceLog?.finishedAt)
    }

    func testAHangingDeviceStopsProgressAndCancelEndsTheSync() async throws {
        let sim = try simulator(users: 200, ["--hang-after", "12"])
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let submitted = try harness.ucp(["submit", "sync", "user", "--device", "cucm"])
        let id = Int64(submitted.stdout.split(separator: " ")[1])!
        var lastChange = Date()
        var last: JobProgress?
        let stalled = try await eventually(timeout: 30, interval: 0.2) {
            let job = try await harness.queue.jobGet(id: id)!
            if job.state == .running, job.progress != last { last = job.progress; lastChange = Date() }
            return job.state == .running && Date().timeIntervalSince(lastChange) > 3
        }
        XCTAssertTrue(stalled, "the sync should be running with its progress stopped")
        let cancel = try harness.ucp(["jobs", "cancel", String(id)])
        XCTAssertEqual(cancel.status, 0, cancel.stderr)
        let ended = try await eventually(timeout: 20) { try await harness.queue.jobGet(id: id)!.state == .canceled }
        XCTAssertTrue(ended, "canceled within seconds, not at the request timeout")
        await assertEqual(try await harness.objects.deviceSyncLogGet(device: "cucm", kind: .user)?.state, "canceled")
    }

    func testMalformedXMLFailsTheSyncNamingTheOperation() async throws {
        let sim = try simulator(users: 10, ["--malformed-op", "listPhone"])
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let (result, job) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(job.state, .failed)
        XCTAssertTrue(job.error?.contains("listPhone: the answer is not valid XML") == true, job.error ?? "")
        XCTAssertTrue(result.stderr.contains("listPhone"), result.stderr)
    }

    /// Wrong password: the test fails with the reason; a Unity Connection sync then refuses to start;
    /// the password is nowhere in clear.
    func testWrongPasswordFailsTheTestAndAUnitySyncRefusesToStart() async throws {
        let sim = try simulator(users: 10)
        let wrong = "Wr0ng-\(UInt32.random(in: 0...UInt32.max))"
        try await harness.register("unity", kind: .messageProcessor, simulator: sim, password: wrong)
        let test = try harness.ucp(["device", "test", "unity", "--wait"])
        XCTAssertEqual(test.status, 1)
        XCTAssertTrue(test.stdout.contains("device 'unity' test: failure: authentication failed (HTTP 401)"), test.stdout)
        let (sync, job) = try await harness.sync(.infra, "unity")
        XCTAssertEqual(sync.status, 1)
        XCTAssertTrue(job.error?.contains("the last connection test is failure, not successful") == true, job.error ?? "")

        // The right password: the test succeeds and the Unity syncs read the CUPI objects.
        try await DeviceStore(Connection(harness.database.app), secretBox: harness.box)
            .deviceUpdate(name: "unity", password: .init(sim.password), actor: "test") { _ in }
        let retest = try harness.ucp(["device", "test", "unity", "--wait"])
        XCTAssertEqual(retest.status, 0, retest.stdout + retest.stderr)
        XCTAssertTrue(retest.stdout.contains("test: success: Cisco Unity Connection"), retest.stdout)
        let (infra, _) = try await harness.sync(.infra, "unity")
        XCTAssertEqual(infra.status, 0, infra.stdout + infra.stderr)
        let (user, _) = try await harness.sync(.user, "unity")
        XCTAssertEqual(user.status, 0, user.stdout + user.stderr)
        let counts = try await harness.counts("unity", .user)
        XCTAssertEqual(counts["VoiceMailInfo"], 5)
        XCTAssertEqual(counts["UMInfo"], 5)
        XCTAssertEqual(counts["EmailInfo"], 5)
        await assertGreaterThan(try await harness.counts("unity", .infra)["UnifiedMessagingFeatureSpecification"] ?? 0, 0)

        // Neither password in clear anywhere: logs, audit, device show, the database.
        let show = try harness.ucp(["device", "show", "unity"])
        let audit = try harness.ucp(["audit"])
        let everything = try await Connection(harness.database.owner).withSession { session -> String in
            let rows = try session.query(Statement("", """
                SELECT string_agg(t, ' ') AS all FROM (
                    SELECT row_to_json(d)::text AS t FROM devices d UNION ALL SELECT message FROM audit_log
                    UNION ALL SELECT message FROM job_logs UNION ALL SELECT coalesce(error, '') FROM jobs
                    UNION ALL SELECT message FROM device_sync_log_lines UNION ALL SELECT attributes::text FROM device_objects) x
                """))
            return try rows.first!.decode("all")
        }
        for secret in [wrong, sim.password] {
            for (place, text) in [("device show", show.stdout), ("audit", audit.stdout), ("database", everything),
                                  ("worker log", harness.processes.log("worker")), ("test output", test.stdout + test.stderr)] {
                XCTAssertFalse(text.contains(secret), "the password is in the \(place)")
            }
        }
    }

    func testUnifiedCMExpressIsRefused() async throws {
        let sim = try simulator(users: 5, ["--product", "express"])
        try await harness.register("cme", kind: .callProcessor, simulator: sim)
        let test = try harness.ucp(["device", "test", "cme", "--wait"])
        XCTAssertEqual(test.status, 1)
        XCTAssertTrue(test.stdout.contains("Express, which is not supported"), test.stdout)
        let (sync, job) = try await harness.sync(.infra, "cme")
        XCTAssertEqual(sync.status, 1)
        XCTAssertTrue(job.error?.contains("Express, which is not supported") == true, job.error ?? "")
        await assertEqual(try await harness.counts("cme", .infra), [:])

        // The same simulator answers as a Unity Express to CUPI.
        try await harness.register("cue", kind: .messageProcessor, simulator: sim)
        let unityTest = try harness.ucp(["device", "test", "cue", "--wait"])
        XCTAssertEqual(unityTest.status, 1)
        XCTAssertTrue(unityTest.stdout.contains("is Cisco Unity Express, which is not supported"), unityTest.stdout)
    }

    func testIMAndPresenceUserSyncIsRefusedWithTheSeedsReason() async throws {
        let sim = try simulator(users: 5)
        try await harness.register("imp", kind: .presenceProcessor, simulator: sim)
        let (sync, job) = try await harness.sync(.user, "imp")
        XCTAssertEqual(sync.status, 1)
        XCTAssertTrue(job.error?.contains("User synchronization is disabled for IM and Presence") == true, job.error ?? "")
    }

    func testAnalogPhonesAreKeptWhenTheSettingIsOn() async throws {
        let sim = try simulator(users: 20)
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let set = try harness.ucp(["settings", "set", "analog_phone_support", "on"])
        XCTAssertEqual(set.status, 0, set.stderr)
        let (result, _) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        await assertGreaterThan(try await harness.counts("cucm", .user)["Phone"] ?? 0, 20)
    }

    // Was testTheSyncStillRunsTheStandInForStandInPayloads: stand-ins are no longer payload fields of the
    // production sync, but a worker's hidden flag naming the targets it stands in for.
    func testAStandInWorkerRunsTheStandInForItsTargetOnly() async throws {
        let standIn = try await harness.queue.jobEnqueue(.init(InfrastructureSync.self, target: SyncHarness.standInDevice,
                                                               actor: "test")).id
        let done = try await eventually(timeout: 20) { try await harness.queue.jobGet(id: standIn)!.state == .succeeded }
        XCTAssertTrue(done)
        let real = try await harness.queue.jobEnqueue(.init(InfrastructureSync.self, target: "no-such-device", actor: "test")).id
        let failed = try await eventually(timeout: 20) { try await harness.queue.jobGet(id: real)!.state == .failed }
        XCTAssertTrue(failed, "the real sync runs for every other target")
    }
}
