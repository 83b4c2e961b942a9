import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime

/// The outcome of one domain synchronization.
public struct DomainSyncResult: Sendable {
    public var plan = DomainSyncPlan()
    public var usersCreated = 0
    public var usersUpdated = 0
    public var servicesAdded = 0
    public var servicesChanged = 0
    public var servicesRemoved = 0
    public var servicesUnplaced = 0
    /// The summary line, then (a dry run) the first detailed lines.
    public var report: [String] = []

    public var usersUnchanged: Int { max(0, plan.users - usersCreated - usersUpdated) }
    /// Identities read but not synchronized: a case-only clash, restricted, in another domain, not matched by the rules.
    public var usersSkipped: Int {
        plan.clashes + plan.restricted + plan.otherDomain + (plan.outcomes["excluded"] ?? 0)
    }
}

/// One domain synchronization (seed 004, "Overview of Domain Synchronization"): builds the
/// domain's user records and their services from what the infrastructure and user syncs of its
/// processors read into `device_objects`, by the domain's business rules. It touches no device.
///
/// Everything is set-based SQL on temporary tables of one session (`DomainSyncStore`): the
/// processors' accounts, mailboxes and devices are staged once and the identities decided; then
/// the users are merged batch by batch — each batch one transaction fenced on the job's attempt,
/// with progress and a cancellation check between batches — writing only what differs, so a
/// second run writes nothing. A dry run does it all and rolls the writes back.
public struct DomainSynchronization: Sendable {
    public let domain: String
    public let dryRun: Bool
    public let database: Connection
    public let reporter: any SyncReporter
    public let jobID: Int64?
    /// The job's attempt: every write is fenced on it. Nil outside a job.
    public let owner: QueueStore.Held?
    public let actor: String
    public let batchSize: Int

    public static let syncType = "domain"
    public static let defaultBatchSize = 5000
    /// How Unified CM's Extension Mobility service is recognized in a device profile's services:
    /// its URL (the EMAppServlet every cluster serves), compared without case.
    public static let extensionMobilityURL = "%/emapp/EMAppServlet%"
    /// The setting saying the Extension Mobility service is enterprise-subscribed (every device
    /// profile has it: each is Extension Mobility access).
    public static let extensionMobilityEnterpriseSetting = SettingsStore.extensionMobilityEnterprise
    /// The lines a dry run prints after its summary.
    static let dryRunLines = 200

    public init(domain: String, dryRun: Bool = false, database: Connection, reporter: any SyncReporter, jobID: Int64? = nil,
                owner: QueueStore.Held? = nil, actor: String = "domain-sync", batchSize: Int = DomainSynchronization.defaultBatchSize) {
        self.domain = domain
        self.dryRun = dryRun
        self.database = database
        self.reporter = reporter
        self.jobID = jobID
        self.owner = owner
        self.actor = actor
        self.batchSize = batchSize
    }

    private static func fence(_ session: Session, _ owner: QueueStore.Held?) throws {
        if let owner { try QueueStore.InTransaction(session).jobConfirmOwned(owner) }
    }

    /// Runs the sync and replaces the domain's detailed log (a dry run reports to the job's log only).
    public func run() async throws -> DomainSyncResult {
        let startedAt = Date()
        do {
            var result = try await synchronize()
            try await publish(&result, startedAt: startedAt, outcome: "succeeded")
            try await AutomaticMove.afterSync(domain: domain, syncType: Self.syncType, dryRun: dryRun, database: database, reporter: reporter,
                                              owner: owner, jobID: jobID, actor: actor)
            return result
        } catch {
            let canceled = error is CancellationError || error is JobCanceledError
            let line = "Domain synchronization of domain '\(domain)' \(canceled ? "was canceled" : "failed"): \(error)"
            try? await reporter.log(line)
            if !dryRun {
                let domain = domain, jobID = jobID, owner = owner
                try? await database.withSession { session in
                    try session.transaction { session in
                        try Self.fence(session, owner)
                        try UserSyncStore.InTransaction(session).syncLogReplace(
                            syncType: Self.syncType, target: domain, jobID: jobID, startedAt: startedAt,
                            outcome: canceled ? "canceled" : "failed", lines: [line])
                    }
                }
            }
            throw error
        }
    }

    /// What a run needs of a domain's settings: its business rules and the Extension Mobility setting.
    public struct Settings: Sendable {
        public let domain: String
        let rules: DomainRules
        let rule: String
        let lists: [DomainRule: [String]]
        let enterprise: Bool

        /// Reads them; refused for a domain that does not exist or has no required rule on.
        public static func read(domain: String, database: Connection) async throws -> Settings {
            let domains = DomainStore(database)
            guard try await domains.domain(named: domain) != nil else {
                throw InputError(field: "domain", problem: "\(InputError.quoted(domain)) does not exist")
            }
            let rules = try await domains.domainRules(name: domain)
            guard let inEffect = rules.inEffect else { throw DomainRules.noRequiredRule(domain: domain) }
            let enterprise = try await SettingsStore(database).settingGet(DomainSynchronization.extensionMobilityEnterpriseSetting, as: Bool.self) ?? false
            return Settings(domain: domain, rules: rules, rule: inEffect.takesList ? "match" : inEffect.rawValue,
                            lists: Dictionary(uniqueKeysWithValues: rules.matchRules.map { ($0.rule, $0.values) }), enterprise: enterprise)
        }

        /// Stages the domain (of the identities `only`, lower case, when given) and decides its users by the rules.
        func collect(_ session: Session, batchSize: Int, only: [String]?) throws -> DomainSyncPlan {
            let store = DomainSyncStore.InTransaction(session)
            try store.domainSyncStagingPrepare(incremental: only != nil)
            return try store.domainSyncCollect(
                domain: domain, rule: rule, departments: lists[.matchDepartment], locations: lists[.matchLocation],
                devicePools: lists[.matchDevicePool], allUnityUsers: rules.isOn(.syncAllUnityUsers),
                primaryFromUnity: rules.isOn(.syncPrimaryUserFromUnity),
                extensionMobilityURL: DomainSynchronization.extensionMobilityURL, extensionMobilityEnterprise: enterprise,
                batchSize: batchSize, only: only)
        }
    }

    /// Adds what one batch wrote to the run's counts.
    static func add(_ outcome: DomainSyncBatchOutcome, to result: inout DomainSyncResult) {
        result.usersCreated += outcome.usersCreated
        result.usersUpdated += outcome.usersUpdated
        result.servicesAdded += outcome.servicesAdded
        result.servicesChanged += outcome.servicesChanged
        result.servicesRemoved += outcome.servicesRemoved + outcome.servicesAdopted
        result.servicesUnplaced += outcome.servicesUnplaced
    }

    /// The user records of the identities `userKeys` (lower case) follow what their processors hold
    /// now — the same statements, rules and placement as the whole domain's run, for these users only
    /// — in the caller's transaction (change notification applies a page of changes and moves its
    /// position in it). Returns the counts and the lines the run logged (at most `logLines`).
    public static func followUsers(_ session: Session, settings: Settings, userKeys: [String],
                                   logLines: Int = 200) throws -> (result: DomainSyncResult, lines: [String]) {
        var result = DomainSyncResult()
        guard !userKeys.isEmpty else { return (result, []) }
        result.plan = try settings.collect(session, batchSize: defaultBatchSize, only: userKeys)
        let store = DomainSyncStore.InTransaction(session)
        for batch in 0..<result.plan.batches {
            add(try store.domainSyncBatch(domain: settings.domain, batch: batch, hasMessageProcessor: result.plan.hasMessageProcessor,
                                          dryRun: false, incremental: true), to: &result)
        }
        result.servicesRemoved += try store.domainSyncLeftovers(domain: settings.domain, dryRun: false, only: userKeys)
        return (result, try store.domainSyncLogLines(limit: logLines).lines)
    }

    private func synchronize() async throws -> DomainSyncResult {
        let domain = domain, dryRun = dryRun, owner = owner, batchSize = batchSize
        let settings = try await Settings.read(domain: domain, database: database)
        let rules = settings.rules

        try await reporter.progress(done: 0, total: nil, message: "reading the inventory of domain \(domain)")
        var result = DomainSyncResult()
        result.plan = try await database.withSession { session in
            try session.transaction { session in try settings.collect(session, batchSize: batchSize, only: nil) }
        }
        let plan = result.plan
        try await reporter.log("Domain synchronization of domain '\(domain)'\(dryRun ? " (dry run: nothing is changed)" : ""): rules \(rules.summary); "
            + "\(plan.processors.count) processors (\(plan.processors.map { "\($0.device)" }.joined(separator: ", "))), "
            + "\(plan.accountsRead) call processor users and \(plan.mailboxesRead) mailboxes read")
        for processor in plan.processors where !processor.synchronized {
            try await reporter.log("Processor '\(processor.device)' has not been synchronized yet: run its infrastructure and user synchronization first")
        }

        let hasMessageProcessor = plan.hasMessageProcessor
        for batch in 0..<plan.batches {
            try reporter.checkCancellation()
            let outcome = try await database.withSession { session in
                try session.transaction { session in
                    try Self.fence(session, owner)
                    return try DomainSyncStore.InTransaction(session).domainSyncBatch(
                        domain: domain, batch: batch, hasMessageProcessor: hasMessageProcessor, dryRun: dryRun)
                }
            }
            Self.add(outcome, to: &result)
            let done = min(plan.users, (batch + 1) * batchSize)
            try await reporter.progress(done: Int64(done), total: Int64(plan.users),
                                        message: "\(done) of \(plan.users) users: \(result.usersCreated) created, \(result.servicesAdded) services added")
        }
        try reporter.checkCancellation()
        result.servicesRemoved += try await database.withSession { session in
            try session.transaction { session in
                try Self.fence(session, owner)
                return try DomainSyncStore.InTransaction(session).domainSyncLeftovers(domain: domain, dryRun: dryRun)
            }
        }
        try await reporter.progress(done: Int64(plan.users), total: Int64(plan.users), message: summary(result))
        return result
    }

    /// The summary line (the first of the detailed log).
    func summary(_ result: DomainSyncResult) -> String {
        let verb = dryRun ? "would be " : ""
        let plan = result.plan
        let excluded = plan.outcomes["excluded"] ?? 0
        var text = dryRun ? "Dry run of the domain" : "Domain"
        text += " synchronization of domain '\(domain)': "
        text += "users \(result.usersCreated) \(verb)created, \(result.usersUpdated) \(verb)updated, \(result.usersUnchanged) unchanged, "
        text += "\(result.usersSkipped) skipped (\(plan.clashes) duplicate username, \(plan.restricted) restricted, "
        text += "\(plan.otherDomain) in another domain, \(excluded) not matched by the rules); "
        text += "services \(result.servicesAdded) \(verb)added, \(result.servicesChanged) \(verb)updated, "
        text += "\(result.servicesRemoved) \(verb)removed, \(result.servicesUnplaced) unplaced (no matching service area)"
        return text
    }

    /// The summary and the detailed lines: a real run replaces the domain's detailed log (and
    /// writes an audit line when it changed something); a dry run prints its first lines to the job's log.
    private func publish(_ result: inout DomainSyncResult, startedAt: Date, outcome: String) async throws {
        let line = summary(result)
        let domain = domain, jobID = jobID, owner = owner, actor = actor, dryRun = dryRun
        let changed = result.usersCreated + result.usersUpdated + result.servicesAdded + result.servicesChanged + result.servicesRemoved > 0
        let (lines, count) = try await database.withSession { session in
            try session.transaction { session in
                try Self.fence(session, owner)
                let store = DomainSyncStore.InTransaction(session)
                if !dryRun {
                    try store.domainSyncLogSave(syncType: Self.syncType, target: domain, jobID: jobID, startedAt: startedAt,
                                                outcome: outcome, head: [line])
                    if changed {
                        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "domain.synchronized", jobID: jobID,
                                                                          target: domain, message: line)
                    }
                }
                return try store.domainSyncLogLines(limit: Self.dryRunLines)
            }
        }
        result.report = [line]
        try await reporter.log(line)
        if dryRun {
            result.report += lines
            for line in lines { try await reporter.log(line) }
            if count > lines.count { try await reporter.log("… and \(count - lines.count) more lines") }
        } else {
            try await reporter.log("\(count) more lines in the detailed log: ucp domain log '\(domain)' --kind domain")
        }
    }
}

/// `sync.domain`: the domain synchronization of the job's target.
enum DomainSyncJob {
    @Sendable
    static func run(_ parameters: DomainSync, _ context: JobContext) async throws {
        guard let domain = context.job.target else { throw InputError(field: "domain", problem: "a domain sync needs a target domain") }
        try await context.database.withConnection { connection in
            _ = try await DomainSynchronization(
                domain: domain, dryRun: parameters.dryRun ?? false, database: connection, reporter: context, jobID: context.job.id,
                owner: .init(id: context.job.id, attempt: context.job.attempt), actor: context.job.submittedBy,
                batchSize: parameters.batchSize ?? DomainSynchronization.defaultBatchSize).run()
        }
    }
}
