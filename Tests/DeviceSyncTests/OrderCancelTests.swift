import Foundation
import Orders
import Postgres
import Queue
import TestSupport
import XCTest

/// `order cancel` of an order that has not succeeded, and `job cancel` of an order's job: a queued
/// order is withdrawn before it writes (its number free again), a running one stops before its next
/// device write and ends failed, ready for `order rollback` — never an order left open for good.
final class OrderCancelTests: OrderTestCase {
    /// Held back by maintenance mode, the order is withdrawn by `order cancel`: canceled, its job
    /// canceled, audited, nothing written; the user's next order takes the same number. `job cancel`
    /// of the next one's queued job withdraws that one too.
    func testAQueuedOrderIsWithdrawnAndItsNumberAndUserAreFreeAgain() async throws {
        try await prepare()
        try ucp(["maintenance", "on"])
        let file = try orderFile()
        let id = try orderID(try ucp(["order", "submit", "-f", file]))
        let queued = try await order(id)
        XCTAssertEqual(queued.line, "4000")
        let canceled = try ucp(["order", "cancel", String(id)])
        XCTAssertTrue(canceled.stdout.contains("order \(id) canceled: withdrawn before it ran"), canceled.stdout)
        let withdrawn = try await order(id)
        XCTAssertEqual(withdrawn.state, "canceled")
        XCTAssertNil(withdrawn.error)
        let job = try await QueueStore(Connection(harness.database.app)).jobGet(id: try XCTUnwrap(withdrawn.jobID))
        XCTAssertEqual(job?.state, .canceled)
        let audit = try await sql("SELECT message FROM audit_log WHERE action = 'order.canceled' AND target = 'order \(id)'").map { try $0.decode("message", as: String.self) }
        XCTAssertEqual(audit, ["Order \(id) of jdoe withdrawn (canceled before its first attempt ran): canceled"])
        let refused = try harness.ucp(["order", "cancel", String(id)])
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("order \(id): is an add order that is canceled; only a succeeded add order, or an order that is queued or running, can be canceled"),
                      refused.stderr)

        // The user and the number are free: the same file is accepted again, and `job cancel` of its queued job withdraws it.
        let again = try orderID(try ucp(["order", "submit", "-f", file]))
        let second = try await order(again)
        XCTAssertEqual(second.line, "4000")
        let jobCanceled = try ucp(["jobs", "cancel", String(try XCTUnwrap(second.jobID))])
        XCTAssertTrue(jobCanceled.stdout.contains("canceled"), jobCanceled.stdout)
        await assertEqual(try await order(again).state, "canceled")

        // A third runs once maintenance is off, with that number; the device saw only its writes.
        let third = try orderID(try ucp(["order", "submit", "-f", file]))
        try ucp(["maintenance", "off"])
        let ended = try await ended(third)
        XCTAssertEqual(ended.state, "succeeded", ended.error ?? "")
        XCTAssertEqual(ended.line, "4000")
        let planned = try await plannedWrites(third)
        XCTAssertEqual(try writes(), planned)
    }

    /// A succeeded add order is not canceled while another order of its user is open (a second
    /// phone's order, held back by maintenance mode): one line naming that order, exit 64, no
    /// cancel order stored; once that order ended, the cancel is accepted. (A cancel order used to
    /// be queued at once, to undo what the open order builds on.)
    func testACancelIsRefusedWhileAnotherOrderOfTheUserIsOpen() async throws {
        try await prepare()
        let first = try orderID(try ucp(["order", "submit", "-f", try orderFile(), "--wait"]))
        try ucp(["maintenance", "on"])
        let second = try orderID(try ucp(["order", "submit", "-f", try orderFile("second.yaml", phone: "SEP00AA00BB0002", voicemail: false)]))
        await assertEqual(try await order(second).state, "submitted")

        let refused = try harness.ucp(["order", "cancel", String(first)])
        XCTAssertEqual(refused.status, 64, refused.stdout + refused.stderr)
        XCTAssertEqual(refused.stderr, "ucp: order \(first): user 'jdoe' has open add order \(second) (submitted): let it end, or resolve it first\n")
        let cancels = try await sql("SELECT count(*)::bigint AS n FROM orders WHERE kind = 'cancel'")[0].decode("n", as: Int64.self)
        XCTAssertEqual(cancels, 0, "no cancel order stored")

        try ucp(["maintenance", "off"])
        await assertEqual(try await ended(second).state, "succeeded")
        let accepted = try ucp(["order", "cancel", String(first)])
        XCTAssertTrue(accepted.stdout.contains("cancel"), accepted.stdout)
        let queued = try await sql("SELECT count(*)::bigint AS n FROM orders WHERE kind = 'cancel' AND cancels = \(first)")[0].decode("n", as: Int64.self)
        XCTAssertEqual(queued, 1)
    }

    /// Canceled while the device holds its phone add's answer, the order waits for that answer
    /// (the phone recorded as made), sends nothing more, ends failed with the reason, and `order
    /// rollback` takes back what it made. Deterministic: the cancel is committed while the device
    /// holds the answer (3 s), and the saga's next fenced write sees it, whatever the heartbeats do.
    func testARunningOrderStopsBeforeItsNextWriteAndRollsBack() async throws {
        try await prepare()
        try fault("clear=1&pause-seconds=3&hold=addPhone:1")
        let before = try state()
        let id = try orderID(try ucp(["order", "submit", "-f", try orderFile()]))
        let seen = Date().addingTimeInterval(60)
        while try !calls().contains(where: { $0.hasPrefix("addPhone ") }), Date() < seen { try await Task.sleep(nanoseconds: 50_000_000) }
        let stopping = try ucp(["order", "cancel", String(id)])
        XCTAssertTrue(stopping.stdout.contains("order \(id) is running: it stops before its next device write"), stopping.stdout)

        let stopped = try await ended(id)
        XCTAssertEqual(stopped.state, "failed")
        XCTAssertTrue(stopped.error?.hasPrefix("canceled by an operator while it ran before step 4 (associate)") ?? false, stopped.error ?? "")
        let job = try await QueueStore(Connection(harness.database.app)).jobGet(id: try XCTUnwrap(stopped.jobID))
        XCTAssertEqual(job?.state, .canceled)
        XCTAssertFalse(try calls().contains { $0.hasPrefix("updateUser ") && $0.contains("associatedDevices") }, "no write after the cancel")
        let stepStates = try await steps(id).map(\.state)
        XCTAssertEqual(stepStates, ["done", "done", "done", "pending", "pending", "pending", "pending"])

        let rolledBack = try ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertTrue(rolledBack.stdout.contains("rolled back"), rolledBack.stdout)
        await assertEqual(try await order(id).state, "rolled_back")
        let after = try state()
        XCTAssertTrue(after == before, "the device as before the order: \(Set(after).symmetricDifference(before).sorted())")
    }

    /// A worker, its 2 s lease, and no coordinator yet: what the rescue does is held back until the
    /// test has the job in the state it wants (`startRescuingCoordinator`).
    func startLeaseWorker(_ name: String) throws {
        harness.processes.kill("worker")
        _ = try harness.processes.start(name, ["worker", "--concurrency", "4", "--name", "lease-\(name)", "--lease", "2s"])
    }

    func withdrawals(_ id: Int64) async throws -> [String] {
        try await sql("SELECT actor || ': ' || message AS line FROM audit_log WHERE action = 'order.canceled' AND target = 'order \(id)' ORDER BY id")
            .map { try $0.decode("line", as: String.self) }
    }

    /// Canceled while its worker is dead (SIGKILL while the device keeps the order's first read
    /// waiting), the job stays canceling until its lease runs out; the coordinator's rescue ends it
    /// canceled and, in the rounds after, withdraws the order (nothing sent: canceled), audited —
    /// with no second `order cancel`. The user and the number are free: the same file runs again.
    func testAnOrderWhoseCancelingJobTheRescueEndsIsWithdrawn() async throws {
        try await prepare()
        try startLeaseWorker("worker1")
        try fault("clear=1&pause-seconds=10&stall=getUser:1")
        let file = try orderFile()
        let id = try orderID(try ucp(["order", "submit", "-f", file]))
        let reading = try await eventually(timeout: 60) { try self.calls().contains { $0.hasPrefix("getUser ") } }
        XCTAssertTrue(reading, "the device never got the order's first read")
        harness.processes.kill("worker1")
        let running = try await order(id)
        XCTAssertEqual(running.state, "submitted")
        await assertEqual(try await steps(id).map(\.state).filter { $0 != "pending" }, [], "nothing sent before the kill")
        let jobID = try XCTUnwrap(running.jobID)

        let stopping = try ucp(["order", "cancel", String(id)])
        XCTAssertTrue(stopping.stdout.contains("order \(id) is running: it stops before its next device write"), stopping.stdout)
        let queue = QueueStore(Connection(harness.database.app))
        await assertEqual(try await queue.jobGet(id: jobID)?.state, .canceling)
        await assertEqual(try await order(id).state, "submitted")

        try startRescuingCoordinator()
        let withdrawn = try await eventually(timeout: 30) { try await self.order(id).state == "canceled" }
        let seen = try await order(id)
        XCTAssertTrue(withdrawn, "order \(id) is \(seen.state) after its job \(jobID) was rescued")
        XCTAssertNil(seen.error)
        await assertEqual(try await queue.jobGet(id: jobID)?.state, .canceled)
        await assertEqual(try await withdrawals(id),
                          ["test-coordinator: Order \(id) of jdoe withdrawn (its job \(jobID) ended (canceled) before the order did): canceled"])

        // The user and the number are free again: the same file is accepted and runs with that number.
        try fault("clear=1")
        try startLeaseWorker("worker2")
        let again = try orderID(try ucp(["order", "submit", "-f", file]))
        let next = try await ended(again)
        XCTAssertEqual(next.state, "succeeded", next.error ?? "")
        XCTAssertEqual(next.line, "4000")
    }

    /// Canceled while its worker's handler waits on the device, then the worker stopped (SIGTERM) with
    /// a grace period shorter than the wait: the stopping worker hands the canceling job back (released
    /// as canceled), and the coordinator's sweep withdraws the order (nothing sent: canceled), audited.
    func testAnOrderWhoseCancelingJobAStoppingWorkerReleasesIsWithdrawn() async throws {
        try await prepare()
        harness.processes.kill("worker")
        _ = try harness.processes.start("worker1", ["worker", "--concurrency", "4", "--name", "stopping-worker", "--grace", "1s"])
        try fault("clear=1&pause-seconds=10&stall=getUser:1")
        let id = try orderID(try ucp(["order", "submit", "-f", try orderFile()]))
        let reading = try await eventually(timeout: 60) { try self.calls().contains { $0.hasPrefix("getUser ") } }
        XCTAssertTrue(reading, "the device never got the order's first read")
        let running = try await order(id)
        let jobID = try XCTUnwrap(running.jobID)
        let stopping = try ucp(["order", "cancel", String(id)])
        XCTAssertTrue(stopping.stdout.contains("order \(id) is running: it stops before its next device write"), stopping.stdout)

        harness.processes.kill("worker1", signal: SIGTERM)
        let queue = QueueStore(Connection(harness.database.app))
        let released = try await eventually(timeout: 30) { try await queue.jobGet(id: jobID)?.state == .canceled }
        XCTAssertTrue(released, "the stopping worker released the canceling job as canceled")
        await assertEqual(try await order(id).state, "submitted", "the order waits for the sweep")

        try startRescuingCoordinator()
        let withdrawn = try await eventually(timeout: 30) { try await self.order(id).state == "canceled" }
        let seen = try await order(id)
        XCTAssertTrue(withdrawn, "order \(id) is \(seen.state) after its job \(jobID) was released")
        XCTAssertNil(seen.error)
        await assertEqual(try await withdrawals(id),
                          ["test-coordinator: Order \(id) of jdoe withdrawn (its job \(jobID) ended (canceled) before the order did): canceled"])
        await assertEqual(try await steps(id).map(\.state).filter { $0 != "pending" }, [], "nothing was sent")
    }

    /// A running order whose job the rescue fails (its last attempt's worker killed while the device
    /// holds the phone add's answer) ends failed with what to do next, audited, without an operator;
    /// `order cancel` then refuses it with the same hint, and `order rollback` takes back what it made.
    func testAnOrderWhoseJobTheRescueFailsEndsFailedWithWhatToDoNext() async throws {
        try await prepare()
        try startLeaseWorker("worker1")
        try fault("clear=1&pause-seconds=10&hold=addPhone:1")
        let before = try state()
        let id = try orderID(try ucp(["order", "submit", "-f", try orderFile()]))
        let adding = try await eventually(timeout: 60) { try self.calls().contains { $0.hasPrefix("addPhone ") } }
        XCTAssertTrue(adding, "the device never got addPhone")
        let submitted = try await order(id)
        let jobID = try XCTUnwrap(submitted.jobID)
        // Its last attempt: the rescue fails it instead of queuing it again.
        _ = try await sql("UPDATE jobs SET max_attempts = attempt WHERE id = \(jobID)")
        harness.processes.kill("worker1")
        await assertEqual(try await order(id).state, "running")

        try startRescuingCoordinator()
        let failed = try await eventually(timeout: 30) { try await self.order(id).state == "failed" }
        let seen = try await order(id)
        XCTAssertTrue(failed, "order \(id) is \(seen.state) after its job \(jobID) was rescued")
        let next = "`ucp order rollback \(id)` undoes what it did, `ucp order retry \(id)` goes on"
        XCTAssertEqual(seen.error, "its job \(jobID) ended (failed) before the order did: \(next)")
        await assertEqual(try await QueueStore(Connection(harness.database.app)).jobGet(id: jobID)?.state, .failed)
        await assertEqual(try await withdrawals(id),
                          ["test-coordinator: Order \(id) of jdoe withdrawn (its job \(jobID) ended (failed) before the order did): failed"])
        let refused = try harness.ucp(["order", "cancel", String(id)])
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("can be canceled; \(next)"), refused.stderr)

        try fault("clear=1")
        try startLeaseWorker("worker2")
        let rolledBack = try ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertTrue(rolledBack.stdout.hasPrefix("order \(id) rollback queued (job "), rolledBack.stdout)
        XCTAssertTrue(rolledBack.stdout.hasSuffix("order \(id) rolled back\n"), rolledBack.stdout)
        let after = try state()
        XCTAssertTrue(after == before, "the device as before the order: \(Set(after).symmetricDifference(before).sorted())")
    }
}
