import Foundation
import Postgres

/// What the domain synchronization decided before its batches.
public struct DomainSyncPlan: Sendable {
    /// The domain's processors (through its service areas): name, kind, and whether a device sync has run.
    public var processors: [(device: String, kind: String, synchronized: Bool)] = []
    public var accountsRead = 0
    public var mailboxesRead = 0
    /// Identities by outcome: sync, excluded, reserved, other_domain, clash.
    public var outcomes: [String: Int] = [:]
    public var clashes = 0
    public var restricted = 0
    public var otherDomain = 0
    public var batches = 0
    public var users = 0

    public var hasMessageProcessor: Bool { processors.contains { $0.kind == "message_processor" } }

    public init() {}
}

/// What one batch wrote (or, in a dry run, would write).
public struct DomainSyncBatchOutcome: Sendable {
    public var usersCreated = 0
    public var usersUpdated = 0
    public var servicesAdded = 0
    public var servicesChanged = 0
    public var servicesRemoved = 0
    public var servicesAdopted = 0
    public var servicesUnplaced = 0
}

/// The inventory's side of a domain synchronization (`DomainSyncSQL`): it stages the domain's
/// processors, accounts and devices, then merges users and `user_services` batch by batch with
/// set-based statements. The sync decides the order and the transactions; these statements write.
public enum DomainSyncStore {
    /// The operations of one run, on the session whose temporary tables hold its staging.
    public struct InTransaction {
        let session: Session

        public init(_ session: Session) {
            self.session = session
        }

        /// Creates the staging tables once per session and empties them. `incremental`: a run of a few
        /// users (change notification), which empties small tables with DELETE rather than TRUNCATE.
        public func domainSyncStagingPrepare(incremental: Bool = false) throws {
            guard incremental else { return try session.execute(DomainSyncSQL.stagingCreate) }
            try session.execute(DomainSyncSQL.stagingCreateOnly)
            let bytes = try session.query(DomainSyncSQL.stagingSize)[0].decode("bytes", as: Int64.self)
            try session.execute(bytes < DomainSyncSQL.stagingDeleteBelow ? DomainSyncSQL.stagingDelete : DomainSyncSQL.stagingTruncate)
        }

        /// Stages what the domain's processors hold and decides every identity by the rules; writes
        /// only temporary tables. `rule`: the required rule in effect (`sync_all_users`,
        /// `sync_existing_users` or `match`); the Match lists nil when off. `only`: the identities
        /// (lower case) an incremental run follows — the same rules and placement for those users
        /// alone; nil: every user of the domain.
        public func domainSyncCollect(domain: String, rule: String, departments: [String]?, locations: [String]?,
                                      devicePools: [String]?, allUnityUsers: Bool, primaryFromUnity: Bool,
                                      extensionMobilityURL: String, extensionMobilityEnterprise: Bool,
                                      batchSize: Int, only: [String]? = nil) throws -> DomainSyncPlan {
            var plan = DomainSyncPlan()
            let only = only.map { PostgresTextArray($0) }
            try session.query(DomainSyncSQL.areasCollect, [domain])
            plan.processors = try session.query(DomainSyncSQL.processors).map { row in
                (try row.decode("device"), try row.decode("kind"), try row.decode("synchronized"))
            }
            // An incremental run finds its users' accounts and devices by identity (an index), a whole run reads them all.
            plan.accountsRead = Int(try session.query(only == nil ? DomainSyncSQL.accountsCollect : DomainSyncSQL.accountsCollectOnly,
                                                      [only]).affectedRows)
            // The devices before the mailboxes: an incremental run stages the mailboxes of their numbers only.
            try session.query(only == nil ? DomainSyncSQL.carriersCollect : DomainSyncSQL.carriersCollectOnly,
                              [extensionMobilityURL, extensionMobilityEnterprise, only])
            if only == nil {
                try session.query(DomainSyncSQL.destinationsCollect, [only])
            } else {
                try session.query(DomainSyncSQL.destinationsCollectOnly)
            }
            plan.mailboxesRead = Int(try session.query(DomainSyncSQL.mailboxesCollect, [only]).affectedRows)
            try session.query(only == nil ? DomainSyncSQL.usersCollect : DomainSyncSQL.usersCollectOnly, [domain])
            if allUnityUsers { try session.query(DomainSyncSQL.unityUsersCollect, [domain, only]) }
            try session.query(DomainSyncSQL.userDevicesCollect)
            try session.query(DomainSyncSQL.clashesSkip)
            // Temporary tables have no statistics until analyzed: the joins below are planned on real sizes.
            try session.execute(DomainSyncSQL.stagingAnalyze)
            try session.query(DomainSyncSQL.carriersKeepOwned)
            try session.query(DomainSyncSQL.rulesApply, [rule, departments.map { PostgresTextArray($0) }, locations.map { PostgresTextArray($0) },
                                                         devicePools.map { PostgresTextArray($0) }, allUnityUsers])
            let prepared = try session.query(DomainSyncSQL.usersPrepare, [primaryFromUnity, max(1, batchSize)])[0]
            plan.batches = Int(try prepared.decode("batches", as: Int64.self))
            plan.users = Int(try prepared.decode("users", as: Int64.self))
            for row in try session.query(DomainSyncSQL.outcomeCounts) {
                plan.outcomes[try row.decode("outcome")] = Int(try row.decode("n", as: Int64.self))
            }
            let logged = try session.query(DomainSyncSQL.collectLog)[0]
            plan.clashes = Int(try logged.decode("clashes", as: Int64.self))
            plan.restricted = Int(try logged.decode("restricted", as: Int64.self))
            plan.otherDomain = Int(try logged.decode("elsewhere", as: Int64.self))
            return plan
        }

        /// Derives, logs and merges the services of one batch. In a dry run the writes to `users`
        /// and `user_services` are rolled back to a savepoint; the counts and log lines stay.
        /// `incremental`: a run of a few users (`domainSyncStagingPrepare(incremental:)` emptied the
        /// staging in this transaction), which empties the services between batches with DELETE.
        public func domainSyncBatch(domain: String, batch: Int, hasMessageProcessor: Bool, dryRun: Bool,
                                    incremental: Bool = false) throws -> DomainSyncBatchOutcome {
            var outcome = DomainSyncBatchOutcome()
            if !incremental {
                try session.execute(DomainSyncSQL.servicesClear)
            } else if batch > 0 {
                try session.execute(DomainSyncSQL.servicesDelete)
            }
            try session.query(DomainSyncSQL.linesDerive, [domain, batch])
            try session.query(DomainSyncSQL.devicesDerive, [domain, batch])
            try session.query(DomainSyncSQL.voicemailDerive, [domain, batch])
            // The batches are alike: the first one's statistics serve the rest (TRUNCATE keeps the
            // column statistics, and the planner reads the table's size itself).
            if batch == 0 { try session.execute(DomainSyncSQL.servicesAnalyze) }
            try session.query(DomainSyncSQL.batchLog, [domain, batch, hasMessageProcessor])
            if dryRun { try session.execute("SAVEPOINT domain_sync_writes") }
            let users = try session.query(DomainSyncSQL.usersUpsert, [domain, batch])[0]
            outcome.usersCreated = Int(try users.decode("created", as: Int64.self))
            outcome.usersUpdated = Int(try users.decode("updated", as: Int64.self))
            try session.query(DomainSyncSQL.servicesMarkUnchanged, [domain])
            let services = try session.query(DomainSyncSQL.servicesMerge, [domain, batch])[0]
            outcome.servicesAdded = Int(try services.decode("added", as: Int64.self))
            outcome.servicesChanged = Int(try services.decode("changed", as: Int64.self))
            outcome.servicesRemoved = Int(try services.decode("removed", as: Int64.self))
            outcome.servicesAdopted = Int(try services.decode("adopted", as: Int64.self))
            outcome.servicesUnplaced = Int(try services.decode("unplaced", as: Int64.self))
            if dryRun { try session.execute("ROLLBACK TO SAVEPOINT domain_sync_writes") }
            return outcome
        }

        /// Services of the domain's users this run did not synchronize (of the identities `only`
        /// when given), and kept services whose object is gone: logged and removed (rolled back in a
        /// dry run). Returns how many.
        public func domainSyncLeftovers(domain: String, dryRun: Bool, only: [String]? = nil) throws -> Int {
            if let only, !dryRun {
                // A few users' leftovers: removed as they are found, then logged.
                let removed = Int(try session.query(DomainSyncSQL.userLeftoversRemove, [domain, PostgresTextArray(only)]).affectedRows)
                try session.query(DomainSyncSQL.leftoversLog)
                return removed
            }
            if let only {
                try session.query(DomainSyncSQL.userLeftoversCollect, [domain, PostgresTextArray(only)])
            } else {
                try session.query(DomainSyncSQL.leftoversCollect, [domain])
            }
            try session.query(DomainSyncSQL.leftoversLog)
            // The delete joins user_services by key: planned on the real (usually tiny) count.
            try session.execute(DomainSyncSQL.leftoversAnalyze)
            if dryRun { try session.execute("SAVEPOINT domain_sync_leftovers") }
            let removed = Int(try session.query(DomainSyncSQL.leftoversDelete, [domain])[0].decode("removed", as: Int64.self))
            if dryRun { try session.execute("ROLLBACK TO SAVEPOINT domain_sync_leftovers") }
            return removed
        }

        /// The identities (lower case) whose user records the objects `uuids` (lower case, no braces)
        /// of `device` touch, read after the objects were written (change notification).
        public func domainSyncAffectedUsers(device: String, uuids: [String]) throws -> [String] {
            guard !uuids.isEmpty else { return [] }
            return try session.query(DomainSyncSQL.affectedUsers, [device, PostgresTextArray(uuids)]).map { try $0.decode("user_key") }
        }

        /// The first `limit` lines the run logged, and how many there are.
        public func domainSyncLogLines(limit: Int) throws -> (lines: [String], count: Int) {
            let lines: [String] = try session.query(DomainSyncSQL.logLinesRead, [limit]).map { try $0.decode("line") }
            return (lines, Int(try session.query(DomainSyncSQL.logLinesCount)[0].decode("n", as: Int64.self)))
        }

        /// Replaces the domain's detailed log of kind `syncType`: `head` lines first, then every line
        /// the run collected.
        public func domainSyncLogSave(syncType: String, target: String, jobID: Int64?, startedAt: Date, outcome: String,
                                      head: [String]) throws {
            try UserSyncStore.InTransaction(session).syncLogReplace(syncType: syncType, target: target, jobID: jobID,
                                                                    startedAt: startedAt, outcome: outcome, lines: head)
            try session.query(DomainSyncSQL.logLinesSave, [syncType, target, head.count])
        }
    }
}

/// A service a user holds, as `ucp users show` prints it.
public struct UserService: Sendable, Equatable, Codable {
    public var serviceArea: String?
    public var type: String
    public var device: String
    public var objectType: String
    public var key: String
    /// What the sync derived (line number, profile, home cluster …), as a JSON object.
    public var detail: String
    public var updatedAt: Date
}

/// A phone no user holds.
public struct OrphanPhone: Sendable, Equatable, Codable {
    public var device: String
    public var name: String
    public var description: String
    public var devicePool: String
    /// The owner the phone names, when it names one no user record holds.
    public var owner: String
}

extension DomainStore {
    /// The domains that hold the users of call processor `device` (through their service areas).
    public func domainsOfCallProcessor(_ device: String) async throws -> [String] {
        try await connection.query(DomainSyncSQL.processorDomains, [device]).map { try $0.decode("domain") }
    }
}

extension UserStore {
    /// The services of a user, ordered by service area (unplaced last) and kind.
    public func userServices(userID: String) async throws -> [UserService] {
        try await connection.query(DomainSyncSQL.userServices, [userID]).map { row in
            UserService(serviceArea: try row.decodeIfPresent("service_area"), type: try row.decode("service_type"),
                        device: try row.decode("device"), objectType: try row.decode("object_type"), key: try row.decode("object_key"),
                        detail: try row.decode("detail"), updatedAt: try row.decode("updated_at"))
        }
    }

    /// How many services each user of a domain holds.
    public func userServiceCounts(domain: String) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await connection.query(DomainSyncSQL.serviceCounts, [domain]) {
            counts[try row.decode("user_id")] = Int(try row.decode("services", as: Int64.self))
        }
        return counts
    }

    /// Phones of the domain's call processors that no user holds.
    public func domainOrphanPhones(domain: String) async throws -> [OrphanPhone] {
        try await connection.query(DomainSyncSQL.orphanPhones, [domain]).map { row in
            OrphanPhone(device: try row.decode("device"), name: try row.decode("name"), description: try row.decode("description"),
                        devicePool: try row.decode("device_pool"), owner: try row.decode("owner"))
        }
    }
}
