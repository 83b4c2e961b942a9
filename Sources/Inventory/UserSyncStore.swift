import Foundation
import Postgres

/// What one batch of directory entries did to `users`: how many it created and changed, and the
/// first IDs of each.
public struct UserBatchOutcome: Sendable {
    public var created: Int
    public var changed: Int
    public var createdSample: [String]
    public var changedSample: [String]
    /// Some user read was neither created nor changed (it existed already, perhaps in another domain).
    public var unwritten: Bool
}

/// A user read by an LDAP synchronization that awaits automatic provisioning, with what the domain's
/// provisioning filters said of its entry (staged with the batch it came in).
public struct ProvisioningAwaiting: Sendable, Equatable {
    public var userID: String
    /// Tells user records of one ID apart (`created_at` in microseconds; 0 for a user a dry run did not write).
    public var generation: Int64
    /// The position of the first service area rule whose filter matched the entry; nil: none.
    public var serviceAreaRule: Int?
    /// The roles whose role LDAP filter matched, in the domain's order.
    public var roles: [String]
    /// The telephone number read (the LDAP synchronized number).
    public var phone: String?
}

/// A user ID and a delete order (`user_delete_orders`): its id and state.
public struct UserDeleteOrderLine: Sendable, Equatable {
    public var id: Int64
    public var userID: String
    public var state: String
}

/// The inventory's side of a directory (LDAP) synchronization: its writes to `users`,
/// `user_delete_orders`, `ldap_sync_state` and `sync_logs`, and the staging tables of its session
/// (`UserSyncSQL`). The sync decides; these statements write.
public enum UserSyncStore {
    /// The columns a batch row carries after user_id, directory_dn, manager_dn and enabled, in COPY order.
    public static let batchFields = UserSyncSQL.fields

    /// The last two columns of a batch row: automatic provisioning's match of the entry (`roles` nil:
    /// provisioning is off; `serviceAreaRule` the position of the first matching service area rule).
    public static func batchProvisioningColumns(serviceAreaRule: Int?, roles: [String]?) -> [String?] {
        [serviceAreaRule.map(String.init), roles.flatMap { PostgresTextArray($0).postgresText }]
    }

    /// Which stale users `staleUserNames` counts.
    public enum StaleGroup: String, Sendable {
        /// Every stale user not already being deleted.
        case all
        case withServices = "with_services"
        case withoutServices = "without_services"
    }

    /// The operations of one synchronization, on the session it runs on: the staging tables are
    /// temporary tables of that session, so every call of one run goes through the same one. The
    /// caller holds the transactions (a batch, the finish, a dry run it rolls back); each method is
    /// one round trip unless it says otherwise.
    public struct InTransaction {
        let session: Session

        public init(_ session: Session) {
            self.session = session
        }

        // MARK: staging

        /// Creates the staging tables once per session and empties them (three statements in one
        /// round trip; run inside a transaction of its own: temporary tables need no durable commit).
        public func ldapStagingPrepare() throws {
            try session.execute(UserSyncSQL.stagingCreate)
        }

        /// Stages a batch (rows in `batchFields` order after user_id, directory_dn, manager_dn,
        /// enabled, then `batchProvisioningColumns`) and merges it into the domain's users: all fields, or (`updateExisting` false)
        /// new users only and stale ones active again. In a dry run the user writes are rolled back
        /// to a savepoint and only what was read is kept (stale users are judged on it). Runs inside
        /// the caller's transaction: four round trips, five in a dry run, one more when the batch
        /// repeats a user ID.
        public func userBatchMerge(domain: String, rows: [[String?]], updateExisting: Bool, dryRun: Bool,
                                   sampleSize: Int) throws -> UserBatchOutcome {
            // A batch lost in a crash is written again by the next sync: no need to wait for the disk.
            try session.execute("SET LOCAL synchronous_commit TO off; " + UserSyncSQL.batchClear)
            try session.copyIn(UserSyncSQL.batchCopy, rows: rows)
            try session.execute("SAVEPOINT user_writes")
            let written = try session.query(updateExisting ? UserSyncSQL.usersUpsert : UserSyncSQL.usersInsertOrReactivate,
                                            [domain, sampleSize])[0]
            if dryRun {
                // Keep what was read (stale users are judged on it), not what was written.
                try session.execute("ROLLBACK TO SAVEPOINT user_writes")
                try session.query(UserSyncSQL.seenRecord)
            }
            let recorded: Int64 = try written.decode("recorded")
            if recorded < rows.count { try session.query(UserSyncSQL.duplicatesRecord) }
            func sample(_ column: String) throws -> [String] {
                (try? JSONDecoder().decode([String].self, from: Data(try written.decode(column, as: String.self).utf8))) ?? []
            }
            let created = Int(try written.decode("created", as: Int64.self))
            let changed = Int(try written.decode("changed", as: Int64.self))
            return UserBatchOutcome(created: created, changed: changed,
                                    createdSample: try sample("created_sample"), changedSample: try sample("changed_sample"),
                                    unwritten: Int(try written.decode("writable", as: Int64.self)) > created + changed)
        }

        /// Users read from the directory that belong to another domain (left alone by the merges).
        public func ldapSeenOtherDomainMark(domain: String) throws {
            try session.query(UserSyncSQL.otherDomainMark, [domain])
        }

        /// Users read but left alone for `reason` (`other_domain`, `reserved`): how many, and their IDs.
        public func ldapSeenSkippedNames(reason: String) throws -> (count: Int, names: String) {
            try countAndNames(UserSyncSQL.skippedNames, [reason])
        }

        /// User IDs read from more than one directory entry: how many, and which.
        public func ldapDuplicateNames() throws -> (count: Int, names: String) {
            try countAndNames(UserSyncSQL.duplicateNames, [])
        }

        /// One page (at most `limit`, user IDs after `after`, in user ID order) of the users this run
        /// read that await automatic provisioning in `domain`, with what the filters said of each; a
        /// dry run adds the IDs not in the inventory. Reads the staging table: on the run's session.
        public func ldapProvisioningAwaiting(domain: String, dryRun: Bool, after: String?, limit: Int) throws -> [ProvisioningAwaiting] {
            try session.query(UserSyncSQL.provisioningAwaiting, [domain, dryRun, after, limit]).map { row in
                ProvisioningAwaiting(
                    userID: try row.decode("user_id"), generation: try row.decode("generation"),
                    serviceAreaRule: try row.decodeIfPresent("service_area_rule", as: Int.self),
                    roles: try JSONDecoder().decode([String].self, from: Data(try row.decode("roles_json", as: String.self).utf8)),
                    phone: try row.decodeIfPresent("phone"))
            }
        }

        // MARK: users

        /// The domain's users that came from its directory.
        public func userDirectoryCount(domain: String) throws -> Int {
            Int(try session.query(UserSyncSQL.directoryUserCount, [domain]).first!.decode("n", as: Int64.self))
        }

        /// Sets manager IDs from the managers' DNs read: every user (`allUsers`), or only the users
        /// the synchronization created that await their manager (see `UserSyncSQL.managersSet`).
        public func userManagersSet(domain: String, allUsers: Bool) throws {
            try session.query(UserSyncSQL.managersSet, [domain, allUsers])
        }

        /// Ends the wait of the domain's created users for their manager (after `userManagersSet`).
        public func userManagersPendingEnd(domain: String) throws {
            try session.query(UserSyncSQL.managersPendingEnd, [domain])
        }

        /// Clears the manager of users whose manager the directory no longer names (only when `allUsers`).
        public func userManagersClear(domain: String, allUsers: Bool) throws {
            try session.query(UserSyncSQL.managersClear, [domain, allUsers])
        }

        // MARK: stale users

        /// Collects the domain's directory users this run did not read (built-in administrators excluded).
        public func staleUserCollect(domain: String) throws {
            try session.query(UserSyncSQL.staleCollect, [domain])
        }

        public func staleUserNames(_ group: StaleGroup) throws -> (count: Int, names: String) {
            try countAndNames(UserSyncSQL.staleNames, [group.rawValue])
        }

        /// Deletes the stale users (`withServices`: also those with services); returns how many and which.
        public func staleUserDelete(domain: String, withServices: Bool) throws -> (count: Int, names: String) {
            try countAndNames(UserSyncSQL.staleDelete, [domain, withServices])
        }

        /// Queues one delete order per stale user (`action`: the domain's stale-user action) and
        /// marks the users as being deleted; returns the orders by user ID.
        public func staleUserOrder(domain: String, action: String, jobID: Int64?) throws -> [UserDeleteOrderLine] {
            try session.query(UserSyncSQL.staleOrder, [domain, action, jobID]).map(UserDeleteOrderLine.init(row:))
        }

        /// Whatever stale user is left (kept by the action or the guard) is marked stale.
        public func staleUserMark() throws {
            try session.query(UserSyncSQL.staleMark, [])
        }

        /// Delete orders of the domain that ended since `since` (the previous synchronization).
        public func userDeleteOrdersFinished(domain: String, since: Date?) throws -> [UserDeleteOrderLine] {
            try session.query(UserSyncSQL.ordersFinished, [domain, since]).map(UserDeleteOrderLine.init(row:))
        }

        // MARK: sync state and log

        /// The deletion guard's baseline — the user count of the domain's last accepted synchronization
        /// (nil before one) — and when the last real run ended, accepted or refused; nil before the first.
        public func ldapSyncStateGet(domain: String) throws -> (baselineUserCount: Int?, lastSyncedAt: Date?)? {
            guard let row = try session.query(UserSyncSQL.syncStateGet, [domain]).first else { return nil }
            return (try row.decodeIfPresent("baseline_user_count", as: Int.self), try row.decode("last_synced_at", as: Date.self))
        }

        /// Records a real (not dry) run. `accepted`: it applied its deletions or had none to apply, so
        /// `userCount` becomes the baseline; a run the deletion guard refused leaves the baseline alone.
        public func ldapSyncStateSave(domain: String, userCount: Int, jobID: Int64?, accepted: Bool) throws {
            try session.query(UserSyncSQL.syncStateSave, [domain, userCount, jobID, accepted])
        }

        /// Replaces the detailed log of the latest sync of `syncType` for `target` (three statements).
        public func syncLogReplace(syncType: String, target: String, jobID: Int64?, startedAt: Date, outcome: String,
                                   lines: [String]) throws {
            try session.query(UserSyncSQL.syncLogDelete, [syncType, target])
            try session.query(UserSyncSQL.syncLogInsert, [syncType, target, jobID, startedAt, outcome])
            try session.query(UserSyncSQL.syncLogLinesInsert, [syncType, target, PostgresTextArray(lines)])
        }

        /// Adds lines at the end of the detailed log of `syncType` for `target`, a log written as its
        /// job goes, page by page (begun by `syncLogReplace`; the write-back's ended by
        /// `syncLogFinish`); nothing when there is no such log. Every writer of such lines — the
        /// write-back, automatic move, automatic provisioning — calls it in a transaction it fenced
        /// on its job's attempt first (`QueueStore.InTransaction.jobConfirmOwned`), so a lost
        /// attempt adds nothing.
        public func syncLogAppend(syncType: String, target: String, lines: [String]) throws {
            guard !lines.isEmpty else { return }
            try session.query(UserSyncSQL.syncLogLinesAppend, [syncType, target, PostgresTextArray(lines)])
        }

        /// Records the outcome and end of the log `jobID` began.
        public func syncLogFinish(syncType: String, target: String, jobID: Int64?, outcome: String) throws {
            try session.query(UserSyncSQL.syncLogFinish, [syncType, target, jobID, outcome])
        }

        /// A statement's `n` and `names` columns.
        private func countAndNames(_ statement: Statement, _ parameters: [any PostgresEncodable]) throws -> (count: Int, names: String) {
            guard let row = try session.query(statement, parameters).first else { return (0, "") }
            return (Int(try row.decode("n", as: Int64.self)), try row.decode("names"))
        }
    }
}

extension UserDeleteOrderLine {
    init(row: Row) throws {
        id = try row.decode("id")
        userID = try row.decode("user_id")
        state = try row.decode("state")
    }
}
