import AXL
import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import TestSupport
import XCTest

/// A device that removes an object while a sync pages over its type (review HIGH, main 72d8e4a):
/// lists are read by position, so every later object moves up a place and the one at the next page's
/// start is never read. The sync confirms on the device what it did not see before it marks anything
/// removed: only what is gone is marked removed. `ucp devsim`'s `remove-after` removes an object
/// right after answering a chosen page, deterministically.
extension DeviceSyncTests {
    /// A sync with small pages and one request at a time (so the page the device shifts is known).
    func pagedSync(_ kind: DeviceSyncKind, _ device: String, pageSize: Int) async throws -> Job {
        let result = try harness.ucp(["submit", "job", "sync.\(kind.rawValue)", "--target", device,
                                      "--payload", "{\"pageSize\":\(pageSize),\"concurrency\":1}", "--wait"])
        guard let idText = result.stdout.split(separator: " ").dropFirst().first, let id = Int64(idText),
              let job = try await harness.queue.jobGet(id: id) else {
            throw TestFailure("no job in: \(result.stdout) \(result.stderr)")
        }
        XCTAssertEqual(job.state, .succeeded, result.stdout + result.stderr)
        return job
    }

    /// The objects marked removed, as `type/key`, sorted.
    func removed(_ device: String, _ kind: DeviceSyncKind) async throws -> [String] {
        try await harness.objects.deviceObjectList(device: device, kind: kind, includeRemoved: true, limit: 100_000)
            .filter { $0.removedAt != nil }.map { "\($0.type)/\($0.key)" }.sorted()
    }

    /// Present objects of a type: attributes by key.
    func present(_ device: String, _ kind: DeviceSyncKind, _ type: String) async throws -> [String: String] {
        var objects: [String: String] = [:]
        for object in try await harness.objects.deviceObjectList(device: device, type: type, kind: kind, limit: 100_000) {
            objects[object.key] = object.attributes
        }
        return objects
    }

    func logLines(_ device: String, _ kind: DeviceSyncKind) async throws -> [String] {
        try await harness.objects.deviceSyncLogGet(device: device, kind: kind)?.lines.map(\.message) ?? []
    }

    /// A Unified CM of `users` users on a fresh simulator, user-synchronized once.
    func userSynchronizedCallProcessor(users: Int) async throws -> DeviceSimulatorProcess {
        let sim = try simulator(users: users)
        try await harness.register("cucm", kind: .callProcessor, simulator: sim)
        let (first, _) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        return sim
    }

    func removeUser(_ sim: DeviceSimulatorProcess, _ userid: String) throws {
        XCTAssertEqual(try sim.axl("removeUser") { $0.element("userid", userid) }, 200)
    }

    /// A user removed right after page 1 of listUser: the user at page 2's start, skipped by the
    /// list, is confirmed by getUser and stays present with the attributes a full read gives it; a
    /// user removed before the sync is confirmed gone and is the only one marked removed. The next
    /// sync marks the user removed mid-read (it was read before it went).
    func testAnObjectRemovedMidListMarksNoExistingObjectRemoved() async throws {
        let users = 250
        let sim = try await userSynchronizedCallProcessor(users: users)
        let before = try await present("cucm", .user, "User")
        XCTAssertEqual(before.count, users)

        try removeUser(sim, "user000200")
        _ = try sim.control("calls?clear=1")
        XCTAssertTrue(try sim.control("faults?clear=1&remove-after=listUser:1:user000003").hasPrefix("faults: 1 armed"))
        _ = try await pagedSync(.user, "cucm", pageSize: 100)

        // Under the old code user000100 (page 2's first row once user000003 went) was marked removed too.
        await assertEqual(try await removed("cucm", .user), ["User/user000200"])
        let afterShift = try await present("cucm", .user, "User")
        XCTAssertEqual(afterShift.count, users - 1)
        XCTAssertEqual(afterShift["user000100"], before["user000100"], "stored as a read gives it")
        let calls = try sim.control("calls").split(separator: "\n")
        XCTAssertEqual(calls.filter { $0.hasPrefix("getUser ") }.count, 2, "one get for each user the list did not return")
        XCTAssertFalse(calls.contains { $0.hasPrefix("listUser ") && $0.contains("returnedTags{userid=''}") }, "two unseen: no second pass")
        let lines = try await logLines("cucm", .user)
        XCTAssertTrue(lines.contains("User: 1 of the 2 objects the list did not return are still on the device (read again by uuid): objects were removed during the read, which moves a list's later pages"),
                      lines.joined(separator: "\n"))
        let total = try await harness.counts("cucm", .user).values.reduce(0, +)
        XCTAssertTrue(lines.contains("Read \(total) objects (0 new, 1 marked removed)"), lines.joined(separator: "\n"))

        let (third, _) = try await harness.sync(.user, "cucm")
        XCTAssertEqual(third.status, 0, third.stdout + third.stderr)
        await assertEqual(try await removed("cucm", .user), ["User/user000003", "User/user000200"])
        let afterFull = try await present("cucm", .user, "User")
        XCTAssertEqual(afterFull["user000100"], afterShift["user000100"])
        let thirdLines = try await logLines("cucm", .user)
        XCTAssertFalse(thirdLines.contains { $0.contains("the list did not return") })
    }

    /// Many objects removed between syncs and one more mid-read: the unseen ones are confirmed by a
    /// second pass of the list (uuids only) rather than a get each; the shifted user is still present,
    /// exactly the removed ones are marked removed.
    func testManyUnseenObjectsAreConfirmedByASecondListPass() async throws {
        let users = 300
        let sim = try await userSynchronizedCallProcessor(users: users)

        let gone = (200..<260).map { "user" + String(format: "%06d", $0) }
        for userid in gone { try removeUser(sim, userid) }
        _ = try sim.control("calls?clear=1")
        _ = try sim.control("faults?clear=1&remove-after=listUser:1:user000003")
        _ = try await pagedSync(.user, "cucm", pageSize: 100)

        await assertEqual(try await removed("cucm", .user), gone.map { "User/" + $0 })
        await assertEqual(try await present("cucm", .user, "User").count, users - gone.count)
        let calls = try sim.control("calls").split(separator: "\n")
        XCTAssertTrue(calls.contains { $0.hasPrefix("listUser ") && $0.contains("returnedTags{userid=''}") }, "the second pass lists keys only")
        XCTAssertEqual(calls.filter { $0.hasPrefix("getUser ") }.count, 1, "only the user the second pass found is fetched")
        let lines = try await logLines("cucm", .user)
        XCTAssertTrue(lines.contains { $0.hasPrefix("User: 1 of the 61 objects the list did not return are still on the device") },
                      lines.joined(separator: "\n"))
    }

    /// Unity Connection: a mailbox removed right after page 1 of /vmrest/users (500 rows a page): the
    /// mailbox at page 2's start is confirmed by a GET of its ObjectId in each type read from users,
    /// and nothing is marked removed; the next sync marks the removed mailbox removed.
    func testAUnityUserRemovedMidListMarksNoExistingUserRemoved() async throws {
        let sim = try simulator(users: 1100)  // 550 mailboxes: two pages
        try await harness.register("unity", kind: .messageProcessor, simulator: sim)
        let test = try harness.ucp(["device", "test", "unity", "--wait"])
        XCTAssertEqual(test.status, 0, test.stdout + test.stderr)
        let (first, _) = try await harness.sync(.user, "unity")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        let before = try await present("unity", .user, "VoiceMailInfo")
        XCTAssertEqual(before.count, 550)

        _ = try sim.control("faults?clear=1&remove-after=cupiReadUser:1:user000004")
        let (second, _) = try await harness.sync(.user, "unity")
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        await assertEqual(try await removed("unity", .user), [])
        for type in ["VoiceMailInfo", "UMInfo", "EmailInfo"] {
            await assertEqual(try await present("unity", .user, type).count, 550)
        }
        let after = try await present("unity", .user, "VoiceMailInfo")
        XCTAssertEqual(before.filter { after[$0.key] != $0.value }.map(\.key).sorted(), [], "stored as a read gives them")
        let lines = try await logLines("unity", .user)
        for type in ["VoiceMailInfo", "UMInfo", "EmailInfo"] {
            XCTAssertTrue(lines.contains { $0.hasPrefix("\(type): 1 of the 1 objects the list did not return are still on the device") },
                          lines.joined(separator: "\n"))
        }

        let (third, _) = try await harness.sync(.user, "unity")
        XCTAssertEqual(third.status, 0, third.stdout + third.stderr)
        await assertEqual(try await removed("unity", .user), ["EmailInfo/user000004", "UMInfo/user000004", "VoiceMailInfo/user000004"])
    }
}
