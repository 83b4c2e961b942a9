import Foundation
import Inventory
import JobCatalog
import LDAP
import Postgres
import Queue
import Runtime
import Sync

/// `ucp domain write-back D`: the seed's "Start Write Back to LDAP" of a whole domain, as a job
/// (`writeback.domain`, kind sync). Refused — one line — when the domain's attribute is "Do not
/// write to LDAP" (seed: the action "is disabled"), while a domain or LDAP synchronization of the
/// domain is queued or running, and while a user synchronization of one of the domain's processors
/// is queued or running or change notification of one is polling (seed: "You cannot perform the
/// write-back during Cisco Unified CM user synchronization and change notification").
public enum WriteBackSubmission {
    /// Checks, then queues the job, under the domain's submission lock (as its domain and LDAP
    /// synchronizations are); `created` is false when one was already queued.
    public static func enqueue(domain: String, actor: String, priority: Int = 0, connection: Connection) async throws -> (id: Int64, created: Bool) {
        try await WriteBackRefusal.submitting(domain: domain, connection: connection) {
            try await check(domain: domain, connection: connection, starting: false)
            let params = QueueStore.EnqueueParams(WriteBackRun.self, target: domain, priority: priority,
                                                  dedupKey: WriteBackRun.dedupKey(domain: domain), actor: actor)
            return try await QueueStore(connection).jobEnqueue(params)
        }
    }

    /// The refusals; `starting`: the job itself checks before it writes (its own job is then the
    /// write-back running, and syncs queued behind it wait for the one sync slot).
    static func check(domain name: String, connection: Connection, starting: Bool) async throws {
        guard let domain = try await DomainStore(connection).domain(named: name) else { throw DomainStore.noSuchDomain(name) }
        let field = "domain '\(name)'"
        guard domain.writeBackAttribute != nil else {
            throw InputError(field: field, problem: "its write-back attribute is Do not write to LDAP, so Start Write Back to LDAP is disabled "
                             + "(ucp domain edit \(name) --write-back-attribute ipPhone|telephoneNumber|mobile)")
        }
        guard domain.ldap != nil else {
            throw InputError(field: field, problem: "has no directory source to write back to (ucp domain edit \(name) --directory NAME --search-base DN)")
        }
        let queue = QueueStore(connection)
        if !starting, let sync = try await queue.jobUnfinished(types: WriteBackRefusal.syncTypes, targets: [name]).first {
            let title = SyncType(jobType: sync.type)?.title ?? sync.type
            throw InputError(field: field, problem: "write back to LDAP is disabled while its \(title) (job \(sync.id), \(sync.state.rawValue)) is queued or running")
        }
        let areas = try await ServiceAreaStore(connection).serviceAreaList(domain: name)
        let processors = Array(Set(areas.flatMap { [$0.settings.callProcessor] + ($0.settings.messageProcessor.map { [$0] } ?? []) })).sorted()
        let busy = try await queue.jobUnfinished(types: [SyncType.user.jobType], targets: processors, runningOnly: starting)
            + queue.jobUnfinished(types: [ChangeNotificationPoll.jobType], targets: processors, runningOnly: true)
        if let job = busy.first {
            let what = job.type == ChangeNotificationPoll.jobType ? "change notification" : "user synchronization"
            throw InputError(field: field, problem: "write back to LDAP is not performed during the \(what) of its processor "
                             + "'\(job.target ?? "?")' (job \(job.id), \(job.state.rawValue)); start it again once that has ended")
        }
    }
}

/// The handler of `writeback.domain`.
public enum WriteBackJob {
    public static func register(in registry: inout JobRegistry) throws {
        try registry.register(WriteBackRun.self, run: run)
    }

    /// The type of the domain's detailed log (`ucp domain log D --kind writeback`).
    public static let logType = "writeback"

    @Sendable
    static func run(_ parameters: WriteBackRun, _ context: JobContext) async throws {
        guard let domain = context.job.target else { throw InputError(field: "domain", problem: "a write back to LDAP needs a target domain") }
        try await context.database.withConnection { connection in
            try await WriteBackSubmission.check(domain: domain, connection: connection, starting: true)
            try await runDomain(domain, connection: connection, context: context)
        }
    }

    /// How many users one page holds: each page is read, written to the directory and its lines
    /// added to the detailed log before the next is read, so memory stays that size.
    static let pageSize = 500

    /// Writes every directory user's primary number, page by page (keyset on the user ID without
    /// case); per-user lines and the summary go to the domain's detailed log — replaced at the start
    /// (outcome `running`), each page's lines added when it is written, the outcome set with the
    /// summary at the end, each write fenced on the job's attempt — progress and the summary to the job's.
    /// A log an attempt left `running` (its worker killed, or the job lost) shows how the job ended
    /// once it no longer runs (`ucp domain log`, DomainLogCommand.outcome).
    static func runDomain(_ domain: String, connection: Connection, context: JobContext, pageSize: Int = pageSize) async throws {
        let startedAt = Date()
        let target = try await WriteBackTarget.load(domain: domain, connection: connection)
        let store = UserStore(connection)
        let total = try await store.writeBackUserCount(domain: domain)
        let attribute = target.attribute ?? "none"
        let setting = attribute + (target.mask.map { ", mask \($0)" } ?? "")
        let started = "Write back to LDAP of domain '\(domain)' started: \(total) directory users, attribute \(setting)"
        try await context.log(started)
        let owner = context.held, jobID = context.job.id
        try await connection.transaction { session in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            try UserSyncStore.InTransaction(session).syncLogReplace(syncType: logType, target: domain, jobID: jobID,
                                                                    startedAt: startedAt, outcome: "running", lines: [started])
        }
        // Adds `lines` to the detailed log and, with `outcome`, ends it; not by an attempt that lost the job (the fence refuses it).
        func save(_ lines: [String], outcome: String? = nil) async throws {
            try await connection.transaction { session in
                try QueueStore.InTransaction(session).jobConfirmOwned(owner)
                let log = UserSyncStore.InTransaction(session)
                try log.syncLogAppend(syncType: logType, target: domain, lines: lines)
                if let outcome { try log.syncLogFinish(syncType: logType, target: domain, jobID: jobID, outcome: outcome) }
            }
        }

        let ldap: LDAPConnection
        do {
            ldap = try await target.connect()
        } catch {
            let outcome = WriteBackTarget.failure(error, attribute: target.attribute, value: nil, entryDN: nil, connecting: true)
            let line = "Completed. Nothing written: \(outcome.message)"
            try await save([line], outcome: "failed")
            throw DeviceJobFailure(line)
        }
        var counts: [WriteBackOutcomeKind: Int] = [:]
        var done = 0
        var lines: [String] = []  // the page's, added to the log once the page is written
        do {
            var after = ""
            while true {
                let page = try await store.writeBackUsers(domain: domain, after: after, limit: pageSize)
                for user in page {
                    // Before every write (a local check): a canceled or lost attempt writes nothing more, so
                    // no write-back goes on beside the user or LDAP synchronization started after it.
                    try context.checkCancellation()
                    if done % 100 == 0 {
                        try await context.progress(done: Int64(done), total: Int64(total), message: "\(done) of \(total) users")
                    }
                    let outcome = await target.write(entryDN: user.entryDN, number: user.number, on: ldap)
                    counts[outcome.kind, default: 0] += 1
                    done += 1
                    lines.append("\(user.userID): \(outcome.message)")
                    if outcome.kind != .written && outcome.kind != .noPrimaryNumber && counts[outcome.kind] == 1 {
                        try await context.log("\(user.userID): \(outcome.message)")
                    }
                }
                try await save(lines)
                lines = []
                guard page.count == pageSize, let last = page.last else { break }
                after = last.userID
            }
        } catch {
            await ldap.close()
            let canceled = error is JobCanceledError || error is CancellationError
            lines.append("Stopped after \(done) of \(total) users: \(canceled ? "canceled" : "\(error)")")
            // The detailed log of what was written; not by an attempt that lost the job (the fence refuses it).
            try? await save(lines, outcome: canceled ? "canceled" : "failed")
            throw error
        }
        await ldap.close()
        let written = counts[.written] ?? 0, unnumbered = counts[.noPrimaryNumber] ?? 0
        let failed = done - written - unnumbered
        let summary = "Completed. \(done) directory users: \(written) written (\(setting)), "
            + "\(unnumbered) without a primary directory number, \(failed) not written"
        try await save([summary], outcome: failed == 0 ? "succeeded" : "failed")
        try await context.progress(done: Int64(done), total: Int64(done), message: summary)
        try await context.log(summary)
        try await context.log("The detailed log: ucp domain log '\(domain)' --kind \(logType)")
        if failed > 0 { throw DeviceJobFailure(summary) }
    }
}
