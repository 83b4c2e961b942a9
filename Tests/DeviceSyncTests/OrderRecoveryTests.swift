import Foundation
import Orders
import Postgres
import TestSupport
import Transport
import XCTest

/// An order's job attempted again after its order stopped or while it rolled back, a mailbox there
/// before the order, an undo the device refuses, and a cancel order that needs attention — through
/// a real worker, PostgreSQL and `ucp devsim`. A worker lost at a given point is emulated, not
/// killed: its job is put back to running with a lapsed lease and the queue's rescue hands it on
/// (`rescueEmulated`), so the next attempt starts exactly where the test left the order.
final class OrderRecoveryTests: OrderTestCase {
    // MARK: a new attempt of a job whose order stopped

    /// The job's worker died after the saga stopped the order (`on_failure: stop`, failed) and before
    /// the job ended: the next attempt makes the order's follow-ups and nothing else — no device
    /// write, the order still failed (it used to apply again and end succeeded with nobody asking).
    func testANewAttemptOfAJobWhoseOrderFailedWritesNothing() async throws {
        try await prepare()
        try fault("fail=updateLine:1")
        let result = try harness.ucp(["order", "submit", "-f", try orderFile(onFailure: "stop"), "--wait"])
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        let failed = try await order(try orderID(result))
        XCTAssertEqual(failed.state, "failed", failed.error ?? "")
        let jobID = try XCTUnwrap(failed.jobID)

        _ = try sim.control("calls?clear=1")
        let lost = try await rescueEmulated(jobID)
        await assertEqual(try await jobEnded(jobID, after: lost), "failed")
        XCTAssertEqual(try writes(), [], "the new attempt wrote nothing to the devices")
        let after = try await order(failed.id)
        XCTAssertEqual(after.state, "failed")
        XCTAssertEqual(after.error, failed.error)
    }

    /// The same for a rollback that ended needing attention (the order's line on another phone): the
    /// next attempt of its job leaves the order as it was, the line's step in conflict.
    func testANewAttemptOfARollbackThatNeededAttentionWritesNothing() async throws {
        let id = try await rollbackNeedingAttention()
        let stopped = try await order(id)
        _ = try sim.control("calls?clear=1")
        let jobID = try XCTUnwrap(stopped.jobID)
        let lost = try await rescueEmulated(jobID)
        await assertEqual(try await jobEnded(jobID, after: lost), "failed")
        XCTAssertEqual(try writes(), [])
        let after = try await order(id)
        XCTAssertEqual(after.state, "needs_attention")
        XCTAssertEqual(after.error, stopped.error)
        await assertEqual(try await steps(id).first { $0.name == .line }?.state, "conflict")
    }

    // MARK: a rollback that starts again

    /// A rollback's worker dies after it stored every undo (the line's step in conflict: another phone
    /// carries it) and before it stored the order's end: the next attempt keeps that conflict and ends
    /// needing attention — not rolled back, which would free the number the line still holds.
    func testARollbackThatStartsAgainKeepsTheConflictsItFound() async throws {
        let id = try await rollbackNeedingAttention()
        let stopped = try await order(id)
        let jobID = try XCTUnwrap(stopped.jobID)
        // Where that worker died: every step stored, the order still rolling back (with the cause an
        // `order rollback` gives it: none).
        _ = try await sql("UPDATE orders SET state = 'rolling_back', error = NULL, finished_at = NULL WHERE id = \(id)")
        _ = try sim.control("calls?clear=1")
        let lost = try await rescueEmulated(jobID)
        await assertEqual(try await jobEnded(jobID, after: lost), "failed")
        let after = try await order(id)
        XCTAssertEqual(after.state, "needs_attention")
        XCTAssertEqual(after.error, stopped.error, "the same conflicts as the first attempt found")
        XCTAssertTrue(after.error?.contains("the line is on device 'SEP001122000003' on TestCCM now: not removed") == true, after.error ?? "")
        await assertEqual(try await steps(id).first { $0.name == .line }?.state, "conflict")
        XCTAssertEqual(try writes(), [])
        XCTAssertTrue(try state().contains { $0.hasPrefix("Line ") && $0.contains("pattern=4000 ") }, "the shared line stays")
    }

    // MARK: a mailbox there before the order

    /// A Unity Connection user with the order's alias exists before the order: the voicemail step
    /// stops on it, saying so, and the rollback leaves it — no DELETE of a mailbox the order did not
    /// make (it used to be adopted as the order's own, and deleted with its messages by the undo).
    func testAMailboxThereBeforeTheOrderIsNotTakenAndNotDeleted() async throws {
        try await prepare()
        XCTAssertEqual(try sim.cupiPost("/vmrest/users?templateAlias=voicemailusertemplate", json: ["Alias": "jdoe", "DtmfAccessId": "4000"]), 201)
        let mailbox = try XCTUnwrap(try state().first { $0.hasPrefix("UnityUser ") && $0.contains("Alias=jdoe ") })
        _ = try sim.control("calls?clear=1")
        try fault("fail=updateLine:1")
        let result = try harness.ucp(["order", "submit", "-f", try orderFile(), "--wait"])
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        let ended = try await order(try orderID(result))
        XCTAssertEqual(ended.state, "rolled_back", ended.error ?? "")
        XCTAssertTrue(ended.error?.contains("step voicemail: a mailbox with alias 'jdoe' already exists on unity; it is not this order's") == true,
                      ended.error ?? "")
        let writes = try writes()
        XCTAssertFalse(writes.contains { $0.hasPrefix("DELETE /vmrest/users") }, writes.joined(separator: "\n"))
        XCTAssertFalse(writes.contains { $0.hasPrefix("POST /vmrest/users") }, writes.joined(separator: "\n"))
        XCTAssertEqual(try state().filter { $0.hasPrefix("UnityUser ") && $0.contains("Alias=jdoe ") }, [mailbox], "the mailbox as it was")
        let endedSteps = try await steps(ended.id)
        let voicemail = try XCTUnwrap(endedSteps.first { $0.name == .voicemail })
        XCTAssertEqual(voicemail.state, "failed")
        XCTAssertNil(voicemail.createdUUID)
    }

    // MARK: an undo the device refuses

    /// The device refuses the phone's removal during a rollback: the order ends failed naming that
    /// undo (the step failed with why) and `--wait` returns; the next `order rollback` tries it again
    /// and the device ends as before the order.
    func testAFailedUndoEndsTheOrderFailedAndTheNextRollbackFinishes() async throws {
        try await prepare()
        let before = try state()
        try fault("fail=updateLine:1")
        let result = try harness.ucp(["order", "submit", "-f", try orderFile(onFailure: "stop"), "--wait"])
        let id = try orderID(result)
        await assertEqual(try await order(id).state, "failed")

        try fault("clear=1&fail=removePhone:1")
        let rollback = try harness.ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertEqual(rollback.status, 1, rollback.stdout + rollback.stderr)
        let failed = try await order(id)
        XCTAssertEqual(failed.state, "failed")
        XCTAssertTrue(failed.error?.hasPrefix("undo of step phone: ") == true && failed.error?.contains("Simulated failure") == true, failed.error ?? "")
        let failedSteps = try await steps(id)
        let phone = try XCTUnwrap(failedSteps.first { $0.name == .phone })
        XCTAssertEqual(phone.state, "failed")
        XCTAssertTrue(phone.error?.hasPrefix("undo failed: ") == true, phone.error ?? "")
        XCTAssertTrue(phone.undoFailed, "marked as a failed undo, not told by its text")
        XCTAssertTrue(rollback.stdout.contains("undo of step phone: "), rollback.stdout)
        XCTAssertTrue(try ucp(["order", "show", String(id)]).stdout.contains(" (undo failed) uuid "), "order show says so")
        let shown = try JSONSerialization.jsonObject(with: Data(try ucp(["order", "show", String(id), "--json"]).stdout.utf8)) as? [String: Any]
        let shownSteps = try XCTUnwrap(shown?["steps"] as? [[String: Any]])
        XCTAssertEqual(shownSteps.first { $0["name"] as? String == "phone" }?["undo_failed"] as? Bool, true, "--json says so")
        let others = shownSteps.filter { $0["name"] as? String != "phone" }
        XCTAssertTrue(!others.isEmpty && others.allSatisfy { $0["undo_failed"] as? Bool == false }, "\(others)")
        // The mark decides, not the text: with another message the next rollback still tries that undo again.
        _ = try await sql("UPDATE order_steps SET error = 'refused' WHERE order_id = \(id) AND name = 'phone'")

        try fault("clear=1")
        let again = try ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertTrue(again.stdout.hasSuffix("order \(id) rolled back\n"), again.stdout)
        let after = try state()
        XCTAssertTrue(after == before, "the device as before the order: \(Set(after).symmetricDifference(before).sorted())")
    }

    // MARK: an attempt that ended on no step's failure

    /// An attempt of the order's job ends on what is no step's failure (here its worker lost, as
    /// the rescue sees it): the order still reads running, and `order show` says its job waits for
    /// the next attempt and why the last one ended (it used to show only "running"). Maintenance
    /// mode holds that next attempt until the test lets it run; the order then succeeds.
    func testOrderShowSaysARunningOrderWaitsForItsJobsNextAttempt() async throws {
        try await prepare()
        try ucp(["maintenance", "on"])
        let id = try orderID(try ucp(["order", "submit", "-f", try orderFile()]))
        let submitted = try await order(id)
        let jobID = try XCTUnwrap(submitted.jobID)
        // Where its first attempt was lost: the order taken over and running, the job's lease lapsed.
        _ = try await sql("UPDATE orders SET state = 'running' WHERE id = \(id)")
        _ = try await sql("UPDATE jobs SET attempt = 1 WHERE id = \(jobID)")
        try await rescueEmulated(jobID)
        let shown = try ucp(["order", "show", String(id)]).stdout
        XCTAssertTrue(shown.contains(" — running\n"), shown)
        XCTAssertTrue(shown.contains("\n  waiting for a retry: attempt 1 of job \(jobID) ended (worker lost); attempt 2 of "), shown)

        try ucp(["maintenance", "off"])
        await assertEqual(try await ended(id).state, "succeeded")
        XCTAssertFalse(try ucp(["order", "show", String(id)]).stdout.contains("waiting for a retry"))
    }

    // MARK: a write that may have taken effect

    /// The mailbox's create is carried out but its answer lost, and so is every look-up of it after
    /// (the next tries' pre-checks): the step fails without the mailbox's ObjectId. The rollback
    /// looks the mailbox up by its alias and extension, as the step does (its look-up lost too, the
    /// order ends failed on that undo); the next rollback removes it and the device is as before
    /// the order. (It used to skip the step and end rolled back with the mailbox left.)
    func testAMailboxWhoseCreateAnswerWasLostIsRemovedByTheRollback() async throws {
        try await prepare()
        let before = try state()
        try fault("drop=cupiCreateUser:1:100")
        try fault("drop=cupiReadUser:2:100")
        let result = try harness.ucp(["order", "submit", "-f", try orderFile(), "--wait"])
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        let id = try orderID(result)
        let stopped = try await order(id)
        XCTAssertEqual(stopped.state, "failed", stopped.error ?? "")
        XCTAssertTrue(stopped.error?.hasPrefix("undo of step voicemail: ") == true, stopped.error ?? "")
        XCTAssertTrue(try state().contains { $0.hasPrefix("UnityUser ") && $0.contains("Alias=jdoe ") }, "the create took effect")

        try fault("clear=1")
        let again = try ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertTrue(again.stdout.hasSuffix("order \(id) rolled back\n"), again.stdout)
        let after = try state()
        XCTAssertTrue(after == before, "the device as before the order: \(Set(after).symmetricDifference(before).sorted())")
        await assertEqual(try await steps(id).first { $0.name == .voicemail }?.state, "undone")
    }

    /// An add answered with an empty `<return/>` (no uuid) is as one whose answer was lost: its
    /// object is found by the order's marker and recorded as made, so the rollback removes it. (The
    /// empty uuid used to be stored, and the undo sent a removal of uuid '' that left the line.)
    func testAnAddAnsweredWithoutItsUUIDIsFoundByItsMarker() async throws {
        try await prepare()
        let before = try state()
        try fault("empty=addLine:1")
        try fault("fail=updateLine:1")
        let result = try harness.ucp(["order", "submit", "-f", try orderFile(onFailure: "stop"), "--wait"])
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        let id = try orderID(result)
        await assertEqual(try await order(id).state, "failed")
        let stepsAfter = try await steps(id)
        let line = try XCTUnwrap(stepsAfter.first { $0.name == .line })
        let device = try XCTUnwrap(try state().first { $0.hasPrefix("Line ") && $0.contains("pattern=4000 ") })
        let uuid = try XCTUnwrap(line.createdUUID)
        XCTAssertFalse(uuid.isEmpty)
        XCTAssertTrue(device.hasPrefix("Line \(uuid) "), "the line's uuid as the device has it: \(device), step: \(uuid)")

        try fault("clear=1")
        let rollback = try ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertTrue(rollback.stdout.hasSuffix("order \(id) rolled back\n"), rollback.stdout)
        XCTAssertFalse(try writes().contains { $0.hasPrefix("removeLine uuid=''") || $0 == "removeLine uuid=" })
        let after = try state()
        XCTAssertTrue(after == before, "the device as before the order: \(Set(after).symmetricDifference(before).sorted())")
    }

    // MARK: a cancel order that needs attention

    /// A cancel order meets the add order's line on another phone: it needs attention, and is no dead
    /// end — a second cancel of the add order is refused (one open cancel order), the cancel order
    /// itself says what to do, and once the operator took the line off that phone `order retry`
    /// checks it again, removes it, and the add order ends canceled.
    func testACancelOrderThatNeedsAttentionGoesOnOnceTheDriftIsResolved() async throws {
        try await prepare()
        let before = try state()
        let id = try orderID(try ucp(["order", "submit", "-f", try orderFile(), "--wait"]))
        await assertEqual(try await order(id).state, "succeeded")
        try shareLine("4000", partition: "PT_Internal", onPhone: "SEP001122000003")

        let cancel = try harness.ucp(["order", "cancel", String(id), "--wait"])
        XCTAssertEqual(cancel.status, 1, cancel.stdout + cancel.stderr)
        let cancelID = try orderID(cancel)
        let stopped = try await order(cancelID)
        XCTAssertEqual(stopped.state, "needs_attention")
        XCTAssertTrue(stopped.error?.contains("step line (the line is on device 'SEP001122000003' on TestCCM now: not removed)") == true, stopped.error ?? "")
        await assertEqual(try await order(id).state, "succeeded")

        let second = try harness.ucp(["order", "cancel", String(id)])
        XCTAssertEqual(second.status, 64, second.stdout + second.stderr)
        XCTAssertTrue(second.stderr.contains("cancel order \(cancelID) is already open"), second.stderr)
        let itself = try harness.ucp(["order", "cancel", String(cancelID)])
        XCTAssertEqual(itself.status, 64, itself.stdout + itself.stderr)
        XCTAssertTrue(itself.stderr.contains("once the drift is resolved, `ucp order retry \(cancelID)` goes on removing what the add order made"),
                      itself.stderr)

        // The operator takes the line off the other phone; the cancel order goes on.
        try unshareLine("4000", partition: "PT_Internal", fromPhone: "SEP001122000003")
        let retried = try ucp(["order", "retry", String(cancelID), "--wait"])
        XCTAssertTrue(retried.stdout.contains("order \(cancelID) succeeded"), retried.stdout)
        await assertEqual(try await order(cancelID).state, "succeeded")
        await assertEqual(try await order(id).state, "canceled")
        await assertEqual(try await steps(cancelID).map(\.state), ["done", "done", "done", "done"])
        let after = try state()
        XCTAssertTrue(after == before, "the device as before the order: \(Set(after).symmetricDifference(before).sorted())")
    }

    // MARK: a user a later order adopted

    /// An add order created the user; a later order of the user adopted it and gave it its own phone
    /// and primary extension. Canceling the first order removes its phone, line and mailbox but not
    /// the user — that would take the later order's phone and number along — and needs attention.
    func testCancelingAnOrderLeavesTheUserItCreatedThatALaterOrderAdopted() async throws {
        try await prepare()
        let first = try orderID(try ucp(["order", "submit", "-f", try orderFile(), "--wait"]))
        let later = try orderID(try ucp(["order", "submit", "-f", try orderFile("later.yaml", phone: "SEP00AA00BB0002", voicemail: false), "--wait"]))
        await assertEqual(try await order(later).state, "succeeded")
        await assertEqual(try await steps(later).first { $0.name == .user }?.adopted, true)

        let cancel = try harness.ucp(["order", "cancel", String(first), "--wait"])
        XCTAssertEqual(cancel.status, 1, cancel.stdout + cancel.stderr)
        let stopped = try await order(try orderID(cancel))
        XCTAssertEqual(stopped.state, "needs_attention")
        XCTAssertTrue(stopped.error?.contains("user 'jdoe' on TestCCM holds what is not this order's now "
                                              + "(device 'SEP00AA00BB0002', primary extension 4001 in PT_Internal): not removed") == true,
                      stopped.error ?? "")
        let after = try state()
        let user = after.first { $0.hasPrefix("User ") && $0.contains("userid=jdoe ") }
        XCTAssertTrue(user?.contains("SEP00AA00BB0002") == true, "the user stays with the later order's phone: \(user ?? "gone")")
        XCTAssertTrue(after.contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0002 ") })
        XCTAssertFalse(after.contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001 ") }, "the first order's phone went")
        XCTAssertFalse(after.contains { $0.hasPrefix("Line ") && $0.contains("pattern=4000 ") }, "the first order's line went")
    }

    // MARK: fixtures

    /// An order stopped at its line's voicemail (`on_failure: stop`), its line then put on another
    /// phone, and `order rollback`: the rollback ends needing attention, the line's step in conflict.
    func rollbackNeedingAttention() async throws -> Int64 {
        try await prepare()
        try fault("fail=updateLine:1")
        let result = try harness.ucp(["order", "submit", "-f", try orderFile(onFailure: "stop"), "--wait"])
        let id = try orderID(result)
        await assertEqual(try await order(id).state, "failed")
        try fault("clear=1")
        try shareLine("4000", partition: "PT_Internal", onPhone: "SEP001122000003")
        let rollback = try harness.ucp(["order", "rollback", String(id), "--wait"])
        XCTAssertEqual(rollback.status, 1, rollback.stdout + rollback.stderr)
        let stopped = try await order(id)
        XCTAssertEqual(stopped.state, "needs_attention", stopped.error ?? "")
        await assertEqual(try await steps(id).first { $0.name == .line }?.state, "conflict")
        return id
    }

    /// The worker running job `jobID` lost, as the queue sees it: the job back to running with a
    /// lapsed lease, then the rescue — which queues it again for its next attempt. Returns the
    /// attempt that was lost.
    @discardableResult
    func rescueEmulated(_ jobID: Int64) async throws -> Int {
        let lost = try await sql("""
            UPDATE jobs SET state = 'running', finished_at = NULL, worker = coalesce(worker, 'lost-worker'),
                            lease_expires_at = now() - interval '1 second'
             WHERE id = \(jobID) RETURNING attempt
            """)[0].decode("attempt", as: Int32.self)
        let rescued = try await sql("SELECT state FROM ucp_rescue_expired('test-rescue')")
        XCTAssertEqual(try rescued.map { try $0.decode("state", as: String.self) }, ["queued"])
        return Int(lost)
    }

    /// The state job `jobID` ends in, once an attempt after `attempt` has ended.
    func jobEnded(_ jobID: Int64, after attempt: Int) async throws -> String {
        var state = ""
        let ended = try await eventually(timeout: 60) {
            let row = try await self.sql("SELECT state, attempt FROM jobs WHERE id = \(jobID)")[0]
            state = try row.decode("state", as: String.self)
            return try row.decode("attempt", as: Int32.self) > attempt && ["succeeded", "failed", "canceled"].contains(state)
        }
        XCTAssertTrue(ended, "job \(jobID) is \(state)")
        return state
    }
}

extension DeviceSimulatorProcess {
    /// POSTs `json` to a CUPI resource as an administrator would; returns the HTTP status.
    func cupiPost(_ path: String, json: [String: String]) throws -> Int {
        let connection = try HTTPClientConnection(HTTPConfiguration(caFile: certificatePath, username: user, password: password))
        let body = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        return try connection.perform(.post, url: baseURL + path, headers: ["Content-Type: application/json", "Accept: application/json"],
                                      body: Array(body)) { _ in true }
    }
}
