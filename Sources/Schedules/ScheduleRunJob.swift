import Foundation
import JobCatalog
import Postgres
import Queue
import ScheduleRules

struct ScheduleRunFailed: Error, CustomStringConvertible {
    var description: String
}

/// The `schedule.run` handler: expands the schedule's plan and runs its syncs in the seed's order
/// (infrastructure, then user per device, then LDAP, then domain), one at a time — or, with the parallel
/// option, all device syncs together as one sync group (`run:<id>`) — waiting for each. Abort on failure
/// stops the rest after the first failed sync; domain syncs are skipped after a failed device sync unless
/// force domain is on. Everything it decides goes to the run's log.
///
/// Restart-safe: when its worker dies and the job is rescued, the next attempt finds the syncs already
/// enqueued for the run (by `schedule_run_id`) and waits for those instead of enqueueing them again.
public enum ScheduleRunJob {
    static let pollSeconds = 0.2

    public static func register(in registry: inout JobRegistry) throws {
        try registry.register(RunSchedule.self, run: run)
    }

    @Sendable
    static func run(_ parameters: RunSchedule, _ context: JobContext) async throws {
        let connection = Connection(context.database.configuration)
        defer { Task { await connection.close() } }
        let runs = ScheduleRunStore(connection)
        let runID = parameters.run
        let owner = QueueStore.Held(id: context.job.id, attempt: context.job.attempt)
        guard let run = try await runs.runGet(id: runID), !run.state.isFinal else {
            try await context.log("schedule run \(runID) already ended; nothing to do")
            return
        }
        do {
            try await execute(parameters, context: context, connection: connection, attempt: context.job.attempt)
        } catch let error as JobLostError {
            throw error
        } catch let error as JobCanceledError {
            try await cancelSyncs(runID: runID, connection: connection, actor: context.job.submittedBy)
            try await runs.runLogAppend(id: runID, "canceled by an operator; the run's unfinished syncs were canceled", owner: owner)
            try await runs.runFinish(id: runID, state: .canceled, owner: owner)
            throw error
        } catch let error as ScheduleRunFailed {
            throw error
        } catch {
            let transient = (error as? PostgresError)?.isTransient == true || error is RetryableJobError
            if !transient && !Task.isCancelled {
                try? await runs.runLogAppend(id: runID, "run failed: \(error)", owner: owner)
                _ = try? await runs.runFinish(id: runID, state: .failed, owner: owner)
            }
            throw error
        }
    }

    static func cancelSyncs(runID: Int64, connection: Connection, actor: String) async throws {
        let store = QueueStore(connection)
        for sync in try await ScheduleRunStore(connection).runSyncs(id: runID) where !sync.state.isFinal {
            _ = try? await store.jobCancel(id: sync.id, actor: actor)
        }
    }

    private static func execute(_ parameters: RunSchedule, context: JobContext, connection: Connection,
                                attempt: Int) async throws {
        let runs = ScheduleRunStore(connection)
        let queue = QueueStore(connection)
        let runID = parameters.run
        let name = parameters.schedule
        let owner = QueueStore.Held(id: context.job.id, attempt: attempt)
        func log(_ message: String) async throws { try await runs.runLogAppend(id: runID, message, owner: owner) }

        let resumed = !(try await runs.runSyncs(id: runID)).isEmpty || attempt > 1
        guard try await runs.runStart(id: runID, owner: owner) else { return }
        guard let schedule = try await ScheduleStore(connection).scheduleGet(name: name) else {
            try await log("schedule '\(name)' no longer exists: nothing run")
            try await runs.runFinish(id: runID, state: .failed, owner: owner)
            throw ScheduleRunFailed(description: "schedule '\(name)' no longer exists")
        }
        let definition = schedule.definition
        let catalog = try await InventoryCatalogSource(connection).catalog()
        let plan = SyncPlan(selection: definition.syncSelection, catalog: catalog)
        if resumed {
            try await log("resumed (attempt \(attempt)): syncs already enqueued for this run are not enqueued again")
        } else {
            let options = definition.optionNames
            try await log("plan: \(plan.syncs.count) sync(s)" + (options.isEmpty ? "" : "; options: \(options.joined(separator: ", "))"))
            for warning in plan.warnings { try await log("warning: \(warning)") }
        }

        let total = Int64(plan.syncs.count)
        var skipped = 0
        var deviceFailed = false
        var failed: [String] = []
        var aborted = false

        /// The run's syncs by key, refreshed from the database.
        func current() async throws -> [String: ScheduleRunSync] {
            var byKey: [String: ScheduleRunSync] = [:]
            for sync in try await runs.runSyncs(id: runID) where byKey[sync.key] == nil || !sync.state.isFinal {
                byKey[sync.key] = sync
            }
            return byKey
        }
        func key(_ sync: PlannedSync) -> String { sync.kind.key(target: sync.target) }
        /// Queues those of `planned` the run has not queued yet; returns those refused (the run's log
        /// and the audit trail say why), which count as failed and skipped: they never run.
        func ensure(_ planned: [PlannedSync], group: String?) async throws -> [PlannedSync] {
            let existing = try await current()
            let done = Int64(existing.values.filter { $0.state.isFinal }.count + skipped)
            try await context.progress(done: min(done, total), total: total, message: "\(done) of \(total) synchronization(s) done")
            var refused: [PlannedSync] = []
            for sync in planned where existing[key(sync)] == nil {
                let params = QueueStore.EnqueueParams(sync.kind.contract, target: sync.target, actor: "schedule:\(name)", syncGroup: group,
                                                      scheduleRunID: runID)
                if try await runs.runEnqueueSync(id: runID, schedule: name, sync, params,
                                                 logLine: "enqueued \(sync)" + (group.map { " (parallel group \($0))" } ?? ""),
                                                 owner: owner) != nil {
                    refused.append(sync)
                    skipped += 1
                    failed.append(sync.description)
                }
            }
            return refused
        }
        /// Waits until every one of `planned` has ended; with `abortOnFirstFailure`, the first failure
        /// cancels the others. Returns the final syncs by key.
        func wait(_ planned: [PlannedSync], abortOnFirstFailure: Bool) async throws -> [String: ScheduleRunSync] {
            var canceledOthers = false
            while true {
                let syncs = try await current()
                let done = Int64(syncs.values.filter { $0.state.isFinal }.count + skipped)
                // Every poll: progress also learns straight from the job row whether an operator canceled
                // the run (before a sync canceled with it could count as a failure).
                try await context.progress(done: min(done, total), total: total, message: "\(done) of \(total) synchronization(s) done")
                let mine = planned.compactMap { syncs[key($0)] }
                if abortOnFirstFailure && !canceledOthers && mine.contains(where: { $0.state == .failed }) {
                    canceledOthers = true
                    for sync in mine where !sync.state.isFinal { _ = try? await queue.jobCancel(id: sync.id, actor: "schedule:\(name)") }
                }
                if mine.count == planned.count && mine.allSatisfy({ $0.state.isFinal }) { return syncs }
                try await context.sleep(seconds: pollSeconds)
            }
        }
        /// Logs how a sync ended; true when it did not succeed.
        func record(_ sync: PlannedSync, _ result: ScheduleRunSync?) async throws -> Bool {
            let state = result?.state ?? .failed
            var line = "\(sync): \(state.rawValue)"
            if let error = result?.error, state != .succeeded { line += " (\(error))" }
            try await log(line)
            return state != .succeeded
        }
        func skip(_ sync: PlannedSync, because reason: String) async throws {
            skipped += 1
            try await log("skipped \(sync): \(reason)")
        }

        let deviceSyncs = plan.syncs.filter { $0.kind == .infra || $0.kind == .user }
        let otherSyncs = plan.syncs.filter { $0.kind == .ldap || $0.kind == .domain }
        if definition.parallel && !deviceSyncs.isEmpty {
            let group = "run:\(runID)"
            let refused = try await ensure(deviceSyncs, group: group)
            if !refused.isEmpty {
                deviceFailed = true
                aborted = definition.abortOnFailure
            }
            let queued = deviceSyncs.filter { !refused.contains($0) }
            let results = try await wait(queued, abortOnFirstFailure: definition.abortOnFailure)
            for sync in queued where try await record(sync, results[key(sync)]) {
                failed.append(sync.description)
                deviceFailed = true
                aborted = definition.abortOnFailure
            }
        } else {
            for sync in deviceSyncs {
                if aborted { try await skip(sync, because: "abort on failure: an earlier synchronization failed"); continue }
                guard try await ensure([sync], group: nil).isEmpty else {
                    deviceFailed = true
                    aborted = definition.abortOnFailure
                    continue
                }
                if try await record(sync, try await wait([sync], abortOnFirstFailure: false)[key(sync)]) {
                    failed.append(sync.description)
                    deviceFailed = true
                    aborted = definition.abortOnFailure
                }
            }
        }
        for sync in otherSyncs {
            if aborted { try await skip(sync, because: "abort on failure: an earlier synchronization failed"); continue }
            if sync.kind == .domain && deviceFailed && !definition.forceDomain {
                try await skip(sync, because: "a device synchronization failed and force domain synchronization is off")
                continue
            }
            // Refused before it is queued, as `ucp submit` refuses it (forced or not): a write back to LDAP
            // of the domain queued or running (seed: the synchronizations are disabled meanwhile), no required rule.
            guard try await ensure([sync], group: nil).isEmpty else {
                aborted = definition.abortOnFailure
                continue
            }
            if try await record(sync, try await wait([sync], abortOnFirstFailure: false)[key(sync)]) {
                failed.append(sync.description)
                aborted = definition.abortOnFailure
            }
        }
        try await context.progress(done: total, total: total, message: "\(total) of \(total) synchronization(s) done")

        let ran = plan.syncs.count - skipped
        if failed.isEmpty {
            try await log("run succeeded: \(ran) sync(s) ran, \(skipped) skipped")
            try await runs.runFinish(id: runID, state: .succeeded, owner: owner)
        } else {
            try await log("run failed: \(ran) sync(s) ran, \(failed.count) failed, \(skipped) skipped")
            try await runs.runFinish(id: runID, state: .failed, owner: owner)
            throw ScheduleRunFailed(description: "\(failed.count) synchronization(s) failed: \(failed.joined(separator: "; "))")
        }
    }
}
