import AXL
import Directory
import Foundation
import Inventory
import JobCatalog
import LDAP
import Postgres
import Queue
import Runtime

/// What a sync reports to whoever runs it: the job's progress and detailed log, and its cancellation.
public protocol SyncReporter: Sendable {
    func progress(done: Int64, total: Int64?, message: String?) async throws
    func log(_ line: String) async throws
    func checkCancellation() throws
}

/// The outcome of one LDAP synchronization of a domain.
public struct LDAPSyncResult: Sendable {
    public var entriesRead = 0
    public var created = 0
    public var updated = 0
    public var reactivated = 0
    public var skippedOtherDomain = 0
    public var skippedNoUserID = 0
    /// Entries whose user ID holds a control character (no user ID an operator could type).
    public var skippedBadUserID = 0
    public var duplicates = 0
    public var stale = 0
    public var deleted = 0
    public var ordersQueued = 0
    /// Why the deletion guard held, when it did.
    public var guardMessage: String?
    /// The report, in the seed's words, as `ucp domain log NAME --kind ldap` prints it.
    public var report: [String] = []
    /// For a dry run: the first user IDs of each kind of change.
    public var createdSample: [String] = []
    public var updatedSample: [String] = []
    public var deletedSample: [String] = []
}

/// The deletion guard refused this run's deletions; the run did everything else.
public struct DeletionGuardHeld: Error, CustomStringConvertible {
    public let description: String
}

/// One LDAP synchronization of one domain (seed 004, "Synchronizing an LDAP Server with Provisioning").
///
/// The directory is read with a paged search, page by page; a few pages at a time are copied into
/// a temporary table and merged into `users` with set-based statements, so neither process holds the
/// directory in memory. After the last page, the domain's directory users that were not read are
/// stale, and the domain's stale-user action applies to them — unless the deletion guard holds.
/// A dry run does all of it inside transactions it rolls back.
public struct LDAPSynchronization: Sendable {
    public let settings: LDAPSyncSettings
    public let options: LDAPSyncOptions
    public let database: Connection
    public let reporter: any SyncReporter
    public let jobID: Int64?
    /// The job's attempt running the sync: every write it makes is fenced on it (a lost attempt's
    /// late batch rolls back). Nil outside a job.
    public let owner: QueueStore.Held?
    /// Who the audit lines name.
    public let actor: String
    /// The order engine automatic provisioning submits through (nil: it cannot, and says so).
    public let provisioningOrders: (any ProvisioningOrders)?
    /// How many users automatic move and automatic provisioning take at a time after the last page:
    /// the size a domain-wide move reads (tests set it small to cross chunk boundaries).
    var afterSyncChunkSize = MoveFilterStore.candidateChunkSize

    public init(settings: LDAPSyncSettings, options: LDAPSyncOptions = LDAPSyncOptions(), database: Connection,
                reporter: any SyncReporter, jobID: Int64? = nil, owner: QueueStore.Held? = nil,
                actor: String = "ldap-sync", provisioningOrders: (any ProvisioningOrders)? = nil) {
        self.provisioningOrders = provisioningOrders
        self.settings = settings
        self.options = options
        self.database = database
        self.reporter = reporter
        self.jobID = jobID
        self.owner = owner
        self.actor = actor
    }

    /// Confirms, inside a write transaction, that the sync's attempt still owns its job.
    static func fence(_ session: Session, _ owner: QueueStore.Held?) throws {
        if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
    }

    static let syncType = "ldap"

    /// Runs the sync and writes its detailed log (not for a dry run: that goes to the job's log only).
    /// Throws `DeletionGuardHeld` after everything but the deletions was applied.
    public func run() async throws -> LDAPSyncResult {
        let startedAt = Date()
        do {
            var result = try await synchronize(startedAt: startedAt)
            try await publish(&result, startedAt: startedAt, outcome: result.guardMessage == nil ? "succeeded" : "failed")
            if let guardMessage = result.guardMessage { throw DeletionGuardHeld(description: guardMessage) }
            try await AutomaticMove.afterSync(domain: settings.domain, syncType: Self.syncType, dryRun: options.dryRun, database: database,
                                              reporter: reporter, owner: owner, jobID: jobID, actor: actor, chunkSize: afterSyncChunkSize)
            // Reads what the filters said of each entry from the staging tables of `database`'s session.
            try await AutomaticProvisioning.afterSync(domain: settings.domain, rules: settings.provisioning, chunkSize: afterSyncChunkSize,
                                                      dryRun: options.dryRun, orders: provisioningOrders,
                                                      database: database, reporter: reporter, owner: owner, actor: actor)
            return result
        } catch let error as DeletionGuardHeld {
            throw error
        } catch {
            var failed = LDAPSyncResult()
            let canceled = error is CancellationError || error is JobCanceledError
            failed.report = ["LDAP synchronization of domain '\(settings.domain)' \(canceled ? "was canceled" : "failed"): \(error)"]
            try? await publish(&failed, startedAt: startedAt, outcome: canceled ? "canceled" : "failed")
            throw error
        }
    }

    private func synchronize(startedAt: Date) async throws -> LDAPSyncResult {
        var result = LDAPSyncResult()
        let domain = settings.domain
        var clock = PhaseClock()
        // lastCount: the deletion guard's baseline, the user count of the last accepted run (never a refused one).
        let (directoryUsersBefore, lastCount, lastSyncedAt) = try await database.withSession { session in
            try session.transaction { session in try UserSyncStore.InTransaction(session).ldapStagingPrepare() }
            let users = UserSyncStore.InTransaction(session)
            let state = try users.ldapSyncStateGet(domain: domain)
            return (try users.userDirectoryCount(domain: domain), state?.baselineUserCount, state?.lastSyncedAt)
        }
        clock.mark("staging")

        try await reporter.progress(done: 0, total: lastCount.map(Int64.init), message: "connecting to the directory")
        let directory = try await LDAPConnection.connect(settings.connection)
        try await reporter.log("LDAP synchronization of domain '\(domain)'\(options.dryRun ? " (dry run: nothing is changed)" : ""): "
            + "\(directory.endpoint.url), search base '\(settings.searchBase)', filter \(settings.filter)")
        clock.mark("connect")

        // Read page by page; write a batch of a few pages at a time.
        let search = LDAPSearch(base: settings.searchBase, scope: .subtree, filter: settings.filter,
                                attributes: settings.requestedAttributes, pageSize: settings.pageSize)
        var plan = RowPlan(settings)
        if settings.provisioning != nil { plan.matching = try await matchingRules(directory) }
        var batchLimit = min(options.batchSize, 500)
        var batch: [[String?]] = []
        batch.reserveCapacity(options.batchSize)
        var noUserIDSample: [String] = []
        var badUserIDSample: [String] = []
        var estimate = lastCount ?? 0
        // One batch is written while the next is read (two batches in memory at most).
        var writing = InFlight<UserBatchOutcome>()
        // Whether any entry names a manager, and whether any batch left a user it read unwritten
        // (existing already, perhaps in another domain): the statements after the last page skip
        // what cannot apply.
        var managersRead = false
        var unwrittenRead = false
        var lastProgress = Date.distantPast
        var waited = 0.0
        func collect(_ outcome: UserBatchOutcome?, waitingSince started: Date) {
            waited += Date().timeIntervalSince(started)
            guard let outcome else { return }
            record(outcome, into: &result)
            unwrittenRead = unwrittenRead || outcome.unwritten
        }
        do {
            // Reading ahead one batch's worth of pages keeps the reader busy while a batch is handed over.
            for try await page in directory.pages(search, readAhead: max(2, options.batchSize / max(1, settings.pageSize))) {
                try reporter.checkCancellation()
                result.entriesRead += page.entries.count
                for entry in page.entries {
                    switch row(entry, plan) {
                    case .row(let row):
                        managersRead = managersRead || row[2] != nil
                        batch.append(row)
                    case .noUserID:
                        result.skippedNoUserID += 1
                        if noUserIDSample.count < options.sampleSize { noUserIDSample.append(entry.dn) }
                    case .badUserID:
                        result.skippedBadUserID += 1
                        if badUserIDSample.count < options.sampleSize { badUserIDSample.append(entry.dn) }
                    }
                }
                if batch.count >= batchLimit {
                    // Small first batches start the writer early; later ones grow to the full size.
                    batchLimit = min(options.batchSize, batchLimit * 2)
                    let rows = batch
                    let started = Date()
                    collect(try await writing.start { try await write(rows) }, waitingSince: started)
                    batch.removeAll(keepingCapacity: true)
                }
                estimate = max(estimate, page.estimatedTotal, result.entriesRead)
                // Progress at most every second: each report is a database round trip.
                if Date().timeIntervalSince(lastProgress) >= 1 {
                    lastProgress = Date()
                    try await reporter.progress(done: Int64(result.entriesRead), total: Int64(estimate),
                                                message: "read \(result.entriesRead) entries, \(result.created) users created, \(result.updated) updated")
                }
            }
            let started = Date()
            collect(try await writing.finish(), waitingSince: started)
            if !batch.isEmpty {
                let outcome = try await write(batch)
                record(outcome, into: &result)
                unwrittenRead = unwrittenRead || outcome.unwritten
            }
        } catch {
            await writing.cancel()
            throw error
        }
        batch = []
        await directory.close()
        try reporter.checkCancellation()
        let readSeconds = Date().timeIntervalSince(startedAt)
        clock.mark("read")

        try await finish(&result, directoryUsersBefore: directoryUsersBefore, lastCount: lastCount,
                         lastSyncedAt: lastSyncedAt, noUserIDSample: noUserIDSample, badUserIDSample: badUserIDSample,
                         managersRead: managersRead, unwrittenRead: unwrittenRead)
        clock.mark("finish")
        SyncMetrics.objects(sync: "ldap", [("read", result.entriesRead), ("created", result.created),
                                           ("updated", result.updated), ("deleted", result.deleted)])
        try await reporter.progress(done: Int64(result.entriesRead), total: Int64(result.entriesRead),
                                    message: "\(result.created) created, \(result.updated) updated, \(result.deleted) deleted")
        clock.mark("progress")
        try await reporter.log(String(format: "Timing: %.2f s reading and writing (%.2f s of it waiting for the database), %.2f s for stale users and the report",
                                      readSeconds, waited, Date().timeIntervalSince(startedAt) - readSeconds) + "; " + clock.description)
        return result
    }

    /// Seconds spent in each phase of a run, for the timing line.
    struct PhaseClock: CustomStringConvertible {
        private var last = Date()
        private var phases: [(String, Double)] = []
        mutating func mark(_ phase: String) {
            let now = Date()
            phases.append((phase, now.timeIntervalSince(last)))
            last = now
        }
        var description: String { phases.map { String(format: "%@ %.3f s", $0.0, $0.1) }.joined(separator: ", ") }
    }

    /// Where each staging column's value is in an entry: the position of its attribute in the
    /// search's layout, worked out once per run.
    struct RowPlan {
        /// Staging column → attribute position: user_id, manager_dn, then `UserSyncStore.batchFields`.
        let columns: [Int?]
        let directoryURIColumn: Int
        let disabledPosition: Int?
        /// How the directory compares values, for automatic provisioning's filters.
        var matching = LDAPMatchingRules.caseIgnore

        init(_ settings: LDAPSyncSettings) {
            let layout = LDAPAttributeLayout(settings.requestedAttributes)
            func position(_ field: String) -> Int? {
                settings.mapping.first { $0.field == field }.flatMap { layout.position(of: $0.attribute) }
            }
            let fields = ["user_id", "manager_id"] + UserSyncStore.batchFields
            columns = fields.map(position)
            directoryURIColumn = fields.firstIndex(of: "directory_uri")!
            disabledPosition = settings.disabledFlag.flatMap { layout.position(of: $0.attribute) }
        }
    }

    /// What one entry becomes: a staging row, or why it is left out.
    enum EntryRow {
        /// user_id, directory_dn, manager_dn, enabled, fields…, then what automatic provisioning's
        /// filters say of it (staged for it to read after the last page).
        case row([String?])
        case noUserID
        /// The user ID holds a control character: no user an operator could name (manual users
        /// are refused with one), and one the device would be sent with U+FFFD in its place.
        case badUserID
    }

    private func row(_ entry: LDAPEntry, _ plan: RowPlan) -> EntryRow {
        func value(_ column: Int) -> String? {
            guard let position = plan.columns[column], var value = entry.first(at: position), !value.isEmpty else { return nil }
            if column == plan.directoryURIColumn, value.utf8.count > 4, value.prefix(4).lowercased() == "sip:" { value.removeFirst(4) }
            // What an order would write to the device, and what PostgreSQL (no U+0000) can store.
            return column == 0 ? value : XMLWriter.carriable(value)
        }
        guard let userID = value(0)?.trimmingCharacters(in: .whitespaces), !userID.isEmpty else { return .noUserID }
        guard !InputError.hasControlCharacters(userID) else { return .badUserID }
        let disabled = plan.disabledPosition.flatMap { entry.first(at: $0) }.map { settings.disabledFlag!.isDisabled($0) } ?? false
        var row: [String?] = [userID, entry.dn, value(1), disabled ? "f" : "t"]
        row.reserveCapacity(6 + UserSyncStore.batchFields.count)
        for column in 2..<plan.columns.count { row.append(value(column)) }
        // The number it reads is the row's phone field (the same attribute).
        let match = settings.provisioning?.stagedMatch(entry.attributes, rules: plan.matching)
        row += UserSyncStore.batchProvisioningColumns(serviceAreaRule: match?.serviceAreaRule, roles: match?.roles)
        return .row(row)
    }

    /// The directory's matching rules from its schema, so that automatic provisioning's filters select
    /// on the entries read what they would select on the server; case-insensitive matching, said in
    /// the log, when the schema cannot be read.
    private func matchingRules(_ directory: LDAPConnection) async throws -> LDAPMatchingRules {
        do {
            let types = try await directory.schemaAttributeTypes()
            if !types.isEmpty { return LDAPMatchingRules(attributeTypes: types) }
            try await reporter.log("The directory names no schema: the service area and user role LDAP filters compare values case-insensitively")
        } catch let error as LDAPError {
            try await reporter.log("The directory's schema could not be read (\(error)): the service area and user role LDAP filters compare values case-insensitively")
        }
        return .caseIgnore
    }

    /// Stages a batch and merges it into `users` in one transaction (the user writes rolled back in a dry run).
    private func write(_ rows: [[String?]]) async throws -> UserBatchOutcome {
        let domain = settings.domain
        let updateExisting = settings.updatePolicy == .allFields
        let dryRun = options.dryRun
        let sampleSize = options.sampleSize
        let owner = owner
        return try await database.withSession { session in
            try session.transaction { session in
                try Self.fence(session, owner)
                return try UserSyncStore.InTransaction(session).userBatchMerge(
                    domain: domain, rows: rows, updateExisting: updateExisting, dryRun: dryRun, sampleSize: sampleSize)
            }
        }
    }

    private func record(_ outcome: UserBatchOutcome, into result: inout LDAPSyncResult) {
        result.created += outcome.created
        if settings.updatePolicy == .allFields { result.updated += outcome.changed } else { result.reactivated += outcome.changed }
        result.createdSample += outcome.createdSample.prefix(max(0, options.sampleSize - result.createdSample.count))
        if settings.updatePolicy == .allFields {
            result.updatedSample += outcome.changedSample.prefix(max(0, options.sampleSize - result.updatedSample.count))
        }
    }

    /// After the last page: managers, the report of skipped users, the stale-user action under the
    /// deletion guard, and — when the guard did not hold — the count the next run's guard compares with.
    private func finish(_ result: inout LDAPSyncResult, directoryUsersBefore: Int, lastCount: Int?, lastSyncedAt: Date?,
                        noUserIDSample: [String], badUserIDSample: [String], managersRead: Bool, unwrittenRead: Bool) async throws {
        let settings = settings, options = options, jobID = jobID, actor = actor
        let read = result.entriesRead - result.skippedNoUserID - result.skippedBadUserID
        let snapshot = result
        let outcome: LDAPSyncResult = try await database.withSession { session in
            try session.transaction { session in
                try Self.fence(session, owner)
                var result = snapshot
                let domain = settings.domain
                let users = UserSyncStore.InTransaction(session)
                // A dry run does everything, then rolls it back (audit lines included).
                if options.dryRun { try session.execute("SAVEPOINT dry_run") }
                if managersRead {
                    try users.userManagersSet(domain: domain, allUsers: settings.updatePolicy == .allFields)
                }
                // Also when no entry named a manager: users an earlier, failed attempt created wait no longer.
                try users.userManagersPendingEnd(domain: domain)
                try users.userManagersClear(domain: domain, allUsers: settings.updatePolicy == .allFields)
                var report: [String] = []

                // Every user read was created or changed, so none is in another domain.
                if unwrittenRead { try users.ldapSeenOtherDomainMark(domain: domain) }
                let (otherCount, otherNames) = try users.ldapSeenSkippedNames(reason: "other_domain")
                result.skippedOtherDomain = otherCount
                if otherCount > 0 {
                    report.append("The following users were not created because they are already present in another Domain: \(otherNames)")
                }
                let (duplicateCount, duplicateNames) = try users.ldapDuplicateNames()
                result.duplicates = duplicateCount
                if duplicateCount > 0 {
                    report.append("The following users were read from more than one directory entry; only the first entry was used: \(duplicateNames)")
                }
                if result.skippedNoUserID > 0 {
                    report.append("\(result.skippedNoUserID) directory entries have no \(settings.userIDAttribute) (the user ID attribute) and were not synchronized, e.g.: "
                                  + noUserIDSample.joined(separator: "; "))
                }
                if result.skippedBadUserID > 0 {
                    report.append("\(result.skippedBadUserID) directory entries have a control character in their \(settings.userIDAttribute) (the user ID attribute) and were not synchronized, e.g.: "
                                  + badUserIDSample.joined(separator: "; "))
                }

                // Stale users and the action.
                // A domain without directory users before this run has none that it did not read.
                if directoryUsersBefore > 0 { try users.staleUserCollect(domain: domain) }
                let (staleCount, staleNames) = try users.staleUserNames(.all)
                result.stale = staleCount
                let action = settings.staleUserAction
                var doomed = 0
                switch action {
                case .doNotChange: doomed = 0
                case .deleteIfNoServices: doomed = try users.staleUserNames(.withoutServices).count
                case .deleteUser, .deleteUserKeepServices, .deleteUserAndServices: doomed = staleCount
                }
                let guardMessage = Self.deletionGuard(doomed: doomed, read: read, directoryUsersBefore: directoryUsersBefore,
                                                      lastCount: lastCount, settings: settings, allowDeletes: options.allowDeletes)
                if staleCount > 0 && action == .doNotChange {
                    report.append("The following users were not deleted because the delete option was not set: \(staleNames)")
                } else if let guardMessage {
                    report.append(guardMessage)
                    report.append("The following users were not deleted because the deletion guard held: \(staleNames)")
                    result.guardMessage = guardMessage
                    try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "ldap_sync.deletion_guard", jobID: jobID, target: domain, message: guardMessage)
                } else if doomed > 0 {
                    switch action {
                    case .doNotChange:
                        break
                    case .deleteIfNoServices, .deleteUser:
                        let (with, withNames) = try users.staleUserNames(.withServices)
                        let (count, deletedNames) = try users.staleUserDelete(domain: domain, withServices: action == .deleteUser)
                        result.deleted = count
                        result.deletedSample = Array(deletedNames.components(separatedBy: ", ").prefix(options.sampleSize))
                        report.append("The following users were deleted: \(deletedNames)")
                        if action == .deleteIfNoServices && with > 0 {
                            report.append("The following users were not deleted because they have services: \(withNames)")
                        }
                    case .deleteUserKeepServices, .deleteUserAndServices:
                        let orders = try users.staleUserOrder(domain: domain, action: action.rawValue, jobID: jobID)
                        // Each becomes a real order of the engine (Sources/Orders/DeleteOrders.swift), run by the
                        // workers: their planning jobs copied in at once (thousands of stale users are one COPY).
                        _ = try QueueStore.InTransaction(session).jobEnqueueMany(orders.map { order in
                            try QueueStore.EnqueueParams(OrderDeletePlan(request: order.id), target: "user \(order.userID)", actor: actor)
                        })
                        result.ordersQueued = orders.count
                        result.deletedSample = orders.prefix(options.sampleSize).map(\.userID)
                        report.append("Delete orders were queued for the following users (they run as orders; until then they are pending): UserId, OrderId, Status")
                        for order in orders {
                            report.append("\(order.userID), \(order.id), \(order.state)")
                        }
                    }
                }
                try users.staleUserMark()

                // Delete orders of earlier syncs that ended since: the seed's success and failure lines.
                let finished = try users.userDeleteOrdersFinished(domain: domain, since: lastSyncedAt)
                let lines = finished.map { order in (order.state, "\(order.userID), \(order.id), \(order.state)") }
                let succeeded = lines.filter { $0.0 == "succeeded" }.map(\.1)
                let failed = lines.filter { $0.0 == "failed" }.map(\.1)
                if !failed.isEmpty {
                    report.append("Deletion of User and associated services failed for the following users: UserId, OrderId, Status")
                    report += failed
                }
                if !succeeded.isEmpty {
                    report.append("The following user and associated services were deleted successfully: UserId, OrderId, Status")
                    report += succeeded
                }

                if options.dryRun {
                    try session.execute("ROLLBACK TO SAVEPOINT dry_run")
                } else {
                    // A refused run never becomes the baseline: run again without a flag, it is refused again.
                    try users.ldapSyncStateSave(domain: domain, userCount: read, jobID: jobID, accepted: result.guardMessage == nil)
                    let summary = "LDAP synchronization of domain '\(domain)': \(result.created) users created, \(result.updated) updated, "
                        + "\(result.deleted) deleted, \(result.ordersQueued) delete orders queued, \(result.stale) stale"
                    if result.created + result.updated + result.deleted + result.ordersQueued > 0 {
                        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "users.synchronized", jobID: jobID, target: domain, message: summary)
                    }
                }
                result.report = report
                return result
            }
        }
        result = outcome
        result.report.insert(summaryLine(result), at: 0)
        if options.dryRun { result.report.insert(contentsOf: dryRunLines(result), at: 1) }
    }

    /// Nil when the deletions may go ahead; otherwise the reason they do not.
    static func deletionGuard(doomed: Int, read: Int, directoryUsersBefore: Int, lastCount: Int?,
                              settings: LDAPSyncSettings, allowDeletes: Int?) -> String? {
        guard doomed > 0 else { return nil }
        if let allowDeletes, doomed <= allowDeletes { return nil }
        // One clause per reason: "returned no user" says all that "far fewer" would.
        var reasons: [String] = []
        if read == 0 {
            reasons.append("the directory returned no user")
        } else if let lastCount, lastCount > 0, read * 2 < lastCount {
            reasons.append("the directory returned \(read) users, far fewer than the \(lastCount) of the last accepted synchronization")
        }
        let limits = settings.deletionGuard
        if !limits.allows(deletions: doomed, of: directoryUsersBefore) {
            reasons.append("more than the domain's limit of \(limits.maximumCount) users or \(limits.maximumPercent)%")
        }
        guard !reasons.isEmpty else { return nil }
        let share = String(format: "%.0f", Double(doomed) * 100 / Double(max(directoryUsersBefore, 1)))
        var message = "Deletion guard: this synchronization would delete \(doomed) of the domain's \(directoryUsersBefore) directory users (\(share)%); "
            + reasons.joined(separator: "; ") + ". No user was deleted."
        if let allowDeletes { message += " (--allow-deletes \(allowDeletes) is fewer.)" }
        message += " To allow it for one run: ucp submit sync ldap --domain '\(settings.domain)' --allow-deletes \(doomed)"
        return message
    }

    private func summaryLine(_ result: LDAPSyncResult) -> String {
        var text = "\(options.dryRun ? "Dry run of the " : "")LDAP synchronization of domain '\(settings.domain)': \(result.entriesRead) entries read; "
        let verb = options.dryRun ? "would be " : ""
        text += "\(result.created) users \(verb)created, \(result.updated) \(verb)updated"
        if settings.updatePolicy == .doNotUpdate { text += " (update policy: do not update; \(result.reactivated) no longer stale)" }
        text += ", \(result.deleted) \(verb)deleted, \(result.ordersQueued) delete orders \(verb)queued, \(result.stale) stale"
        text += ", \(result.skippedOtherDomain) in another domain"
        return text
    }

    private func dryRunLines(_ result: LDAPSyncResult) -> [String] {
        func line(_ title: String, _ count: Int, _ sample: [String]) -> String {
            "Would \(title) \(count)" + (sample.isEmpty ? "" : ", first: " + sample.joined(separator: ", "))
        }
        return [line("create", result.created, result.createdSample), line("update", result.updated, result.updatedSample),
                line("delete", result.deleted + result.ordersQueued, result.deletedSample)]
    }

    /// The report goes to the job's log; a real run also replaces the domain's detailed LDAP log.
    private func publish(_ result: inout LDAPSyncResult, startedAt: Date, outcome: String) async throws {
        for line in result.report { try await reporter.log(line) }
        guard !options.dryRun else { return }
        let domain = settings.domain, jobID = jobID, lines = result.report
        try await database.withSession { session in
            try session.transaction { session in
                try Self.fence(session, owner)
                try UserSyncStore.InTransaction(session).syncLogReplace(
                    syncType: Self.syncType, target: domain, jobID: jobID, startedAt: startedAt, outcome: outcome, lines: lines)
            }
        }
    }
}
