import AXL
import DeviceClients
import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime
import Sync

/// The directory search source (issue 15 item 10; seed 004 "Configuring Directory Search
/// Synchronization Source"): the LDAP server (default) or the call processor (UDS).
///
/// - `ucp settings set directory_source call_processor` is refused while any call processor is
///   LDAP-integrated (as the infrastructure synchronization last read it, AXL getLdapSystem); else it
///   is set, audited, and a `directory.sync` job queued in the same transaction.
/// - `directory.sync` copies each provisioned user (a user with services on a call processor, or a
///   succeeded add order) to every Unified CM of version 10 or later (its getCCMVersion) that lacks it:
///   one order of kind `directory` per user and call processor, run by `order.run` like every order.
///   Its step `uds_user` is addUser with homeCluster false — true on the user's home cluster: the call
///   processor of its first order, else the one its services are on — pre-checked by getUser (an end
///   user there is adopted and left alone), fenced, and undone by removing only a user it added (by
///   uuid). Only the add's own answer proves a user is the order's (`forwardDirectoryUser`): one a
///   duplicate answer or a try after a lost answer finds is adopted. On the home cluster a
///   second step `uds_home` (updateUser homeCluster true, before-image kept) makes it the home cluster
///   when the user was there already. What the user syncs read present (with homeCluster true on the
///   home cluster) and pairs a directory order already holds are not planned again. The users are
///   read, planned and queued a chunk at a time (`chunkSize`, by user ID), each chunk in a
///   transaction of its own: a retry after a crash queues only what the crashed attempt did not.
/// - A copy order that has not started when the source is switched back to LDAP, or when its user is
///   being deleted, ends canceled, nothing written (`cancelUnwantedCopy`); one that succeeds after its
///   user left its home cluster queues its own removal (`afterOrder`).
/// - While UDS is on, a succeeded add order queues `directory.sync` for its user: a follow-up job that
///   plans the user's directory orders (the add order's plan stays as it is).
/// - A delete or cancel order that removes the user from its home cluster queues `directory.sync`
///   with `leftHome`: one `directory` order per copy a directory order added elsewhere, its step
///   removeUser of that copy, only while it is the one added (its uuid), a user gone counting as removed;
///   a copy whose order adopted the user it found stays, named in the job's log.
public enum DirectorySource {
    /// The orders' kind.
    public static let kind = "directory"

    static func register(in registry: inout JobRegistry) throws {
        try registry.register(DirectorySync.self, run: run)
    }

    // MARK: the setting

    /// Sets the source (`ldap` or `call_processor`), refused while a call processor is LDAP-integrated
    /// for UDS; UDS queues `directory.sync` in the same transaction. Returns what the command prints.
    public static func set(_ text: String, connection: Connection, actor: String) async throws -> String {
        guard let source = DirectorySourceSetting(text: text) else {
            throw InputError(field: DirectorySourceStore.key, problem: "must be ldap or call_processor (got \(InputError.quoted(text)))")
        }
        return try await connection.transaction { session -> String in
            let store = DirectorySourceStore.InTransaction(session)
            try store.lock()
            if source == .callProcessor {
                let integrated = try store.ldapIntegratedProcessors()
                guard integrated.isEmpty else {
                    throw InputError(field: DirectorySourceStore.key, problem:
                        "call_processor (UDS) is refused while a call processor is LDAP-integrated (\(integrated.map { "'\($0)'" }.joined(separator: ", ")))")
                }
            }
            let before = try store.source()
            if before != source {
                try store.set(source, actor: actor, message: "Setting \(DirectorySourceStore.key) changed to \(source.rawValue) (\(source.title))")
            }
            guard source == .callProcessor else { return "\(DirectorySourceStore.key) set to ldap" }
            let copies = DirectorySync()
            let (jobID, _) = try QueueStore.InTransaction(session).jobEnqueue(
                try QueueStore.EnqueueParams(copies, target: "directory", dedupKey: copies.dedupKey, actor: actor))
            return "\(DirectorySourceStore.key) set to call_processor (UDS): job \(jobID) copies the provisioned users to every Unified CM of version 10 or later"
        }
    }

    /// The directory orders per call processor and state, as `ucp settings show` prints them:
    /// `OtherCCM: 11 succeeded, 1 rolled back`.
    /// What `ucp settings show` and `GET /api/v1/settings` show of the directory search source: the
    /// setting, the call processors that are LDAP-integrated (UDS is refused while any is), and the
    /// directory orders per call processor.
    public static func shown(connection: Connection) async throws -> [(String, Any)] {
        let store = DirectorySourceStore(connection)
        return [(DirectorySourceStore.key, try await store.source().rawValue),
                ("ldap_integrated", try await store.ldapIntegratedProcessors()),
                ("directory_orders", try await status(connection: connection))]
    }

    /// Whether `key` names the directory search source (set by `set`, not by the settings editor).
    public static func isSettingKey(_ key: String) -> Bool {
        key == DirectorySourceStore.key || key == "directory-source"
    }

    public static func status(connection: Connection) async throws -> [String] {
        var byProcessor: [(String, [String])] = []
        for row in try await connection.query(DirectorySQL.status) {
            let device: String = try row.decode("call_processor"), state: String = try row.decode("state")
            let count: Int64 = try row.decode("n")
            let text = "\(count) \(state.replacingOccurrences(of: "_", with: " "))"
            if let index = byProcessor.firstIndex(where: { $0.0 == device }) { byProcessor[index].1.append(text) } else { byProcessor.append((device, [text])) }
        }
        return byProcessor.map { "\($0.0): \($0.1.joined(separator: ", "))" }
    }

    // MARK: after an order

    /// What an order's end asks of the directory: a succeeded add (or push) order while UDS is on
    /// queues its user's copies; a succeeded delete order that removed the end user, or cancel order
    /// whose add order had added it, queues the removal of the copies the directory orders added; and
    /// so does a copy that succeeded after its user left its home cluster — the removal planned then
    /// could not see a copy still running, so the copy's own end asks for it (whichever of the two
    /// ends last sees the other: no copy is left behind).
    /// In the caller's transaction (the one that ended the order, where it can).
    static func afterOrder(_ order: Order, steps: [OrderStep], in session: Session) throws {
        guard order.state == "succeeded" || order.state == "canceled" else { return }
        let parameters: DirectorySync
        switch order.kind {
        case "add", "push":
            guard order.state == "succeeded", try DirectorySourceStore.InTransaction(session).source() == .callProcessor else { return }
            parameters = DirectorySync(user: order.userID)
        case "delete", "cancel":
            guard try leftHome(order, steps: steps, in: session),
                  try session.query(DirectorySQL.copiesExist, [order.userID, order.callProcessor]).first?.decode("found") == true else { return }
            parameters = DirectorySync(user: order.userID, leftHome: order.callProcessor)
        case kind:
            guard order.state == "succeeded", steps.contains(where: { $0.name == .udsUser && $0.createdUUID != nil }),
                  let home = requestField("home", of: order), home != order.callProcessor,
                  try userLeft(home: home, userID: order.userID, in: session) else { return }
            parameters = DirectorySync(user: order.userID, leftHome: home)
        default:
            return
        }
        try QueueStore.InTransaction(session).jobEnqueue(
            try QueueStore.EnqueueParams(parameters, target: "user \(order.userID)", dedupKey: parameters.dedupKey, actor: order.submittedBy))
    }

    /// Whether the user's latest order on its home cluster `home` (add, push, delete or cancel: one
    /// user's orders run one at a time) took it off there (`leftHome`).
    static func userLeft(home: String, userID: String, in session: Session) throws -> Bool {
        guard let latest = try session.query(DirectorySQL.latestHomeOrder, [userID, home]).first.map(Order.init(row:)),
              ["delete", "cancel"].contains(latest.kind) else { return false }
        return try leftHome(latest, steps: try OrderStore.steps(orderID: latest.id, in: session), in: session)
    }

    /// The call processors where a directory order added the user (a copy), each with its home cluster
    /// (a delete order leaves a copy of its own call processor to the removal `afterOrder` queues).
    static func copies(of userID: String, in session: Session) throws -> [String: String] {
        Dictionary(try session.query(DirectorySQL.copiesOfUser, [userID]).map { (try $0.decode("call_processor"), try $0.decode("home")) },
                   uniquingKeysWith: { first, _ in first })
    }

    /// A text field of a directory order's request (`home`, `action`).
    static func requestField(_ name: String, of order: Order) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(order.request.utf8))) as? [String: Any])?[name] as? String
    }

    /// Whether the delete order removed the end user from its call processor (gone counts), or the cancel order removed the
    /// one its add order had added (an adopted user stays).
    static func leftHome(_ order: Order, steps: [OrderStep], in session: Session) throws -> Bool {
        if order.kind == "delete" { return steps.contains { $0.name == .removeUser && $0.state == "done" && $0.device == order.callProcessor } }
        guard let addID = order.cancels, steps.contains(where: { $0.name == .user && $0.state == "done" }) else { return false }
        return try OrderStore.steps(orderID: addID, in: session).contains { $0.name == .user && $0.createdUUID != nil }
    }

    // MARK: the job

    @Sendable
    static func run(_ parameters: DirectorySync, _ context: JobContext) async throws {
        let message = try await context.database.withConnection { connection -> String in
            if let user = parameters.user, let home = parameters.leftHome {
                return try await removeCopies(user: user, home: home, context: context, connection: connection)
            }
            guard try await DirectorySourceStore(connection).source() == .callProcessor else {
                return "The directory search source is the LDAP server: nothing to copy"
            }
            return try await copy(user: parameters.user, context: context, connection: connection)
        }
        try await context.log(message)
        try context.logOnSuccess(message)
    }

    /// The call processors of version 10 or later, as each answers getCCMVersion; the others are
    /// logged (older, or not answering) and get nothing.
    static func eligibleProcessors(context: JobContext, connection: Connection) async throws -> [String] {
        var eligible: [String] = []
        for (name, integrated) in try await DirectorySourceStore(connection).callProcessors() {
            guard integrated == false else {
                // Integrated: the source switches back to LDAP when a sync reads it. Never read: its first
                // infrastructure sync reads it and, UDS on, queues the copies then.
                try await context.log("Call processor '\(name)': LDAP integration \(integrated == true ? "on" : "not read yet (run its infrastructure synchronization)"): no copies there",
                                      level: .warning)
                continue
            }
            let version: String
            do {
                let device = try await DeviceConnections.open(name: name, connection: connection, concurrency: 1)
                version = try await device.axl(context: context).ccmVersion()
            } catch let error where !(error is CancellationError) {
                try await context.log("Call processor '\(name)': version not read (\(OrderSaga.reason(error))): no copies there", level: .warning)
                continue
            }
            guard let major = Int(version.prefix { $0.isNumber }), major >= 10 else {
                try await context.log("Call processor '\(name)' is version \(version), older than 10 (no UDS): no copies there")
                continue
            }
            eligible.append(name)
        }
        return eligible
    }

    /// How many provisioned users one transaction plans and queues: each chunk is read, planned and
    /// queued on its own, so memory and a transaction stay that size however many users there are.
    static let chunkSize = 500

    /// A provisioned user: `key` its user ID without case, `device` its home cluster.
    struct Provisioned {
        var key: String
        var userID: String
        var device: String
    }

    /// A copy planned: `key` its user's ID without case, `home` the user's home cluster.
    struct PlannedCopy {
        var key: String
        var user: User
        var device: String
        var steps: [PlannedStep]
        var home: String

        /// The order's submit key: one order per job, user and call processor.
        func submitKey(job: Int64) -> String { "directory:\(job):\(user.userID.lowercased()):\(device)" }
    }

    /// Plans and queues the copies of every provisioned user (or of `user` only), `chunkSize` users
    /// at a time, each chunk in a transaction of its own (fenced on the job's attempt). A retry after
    /// a crash finds what the earlier attempt queued (its submit keys taken): not queued again, and
    /// counted apart in the line it returns, so that the retry's count is not read as the job's.
    static func copy(user only: String?, context: JobContext, connection: Connection, chunkSize: Int = chunkSize) async throws -> String {
        let processors = try await eligibleProcessors(context: context, connection: connection)
        var provisioned = 0, queued = 0, queuedBefore = 0
        var after = ""
        while true {
            try context.checkCancellation()
            let (users, next) = try await provisionedChunk(after: after, user: only, size: chunkSize, connection: connection)
            provisioned += users.count
            let chunk = try await queueCopies(of: users, on: processors, context: context, connection: connection)
            queued += chunk.queued
            queuedBefore += chunk.queuedBefore
            guard let next else { break }
            after = next
        }
        let scope = only.map { "user '\($0)'" } ?? "\(provisioned) provisioned user(s)"
        let count = queuedBefore == 0 ? "\(queued) directory order(s) queued"
            : "\(queued) directory order(s) queued by this attempt (\(queuedBefore) queued before)"
        return "Directory search source UDS: \(count) for \(scope) on \(processors.count) Unified CM(s) of version 10 or later (\(processors.joined(separator: ", ")))"
    }

    /// The provisioned users after `after` (a user ID without case; "" for the first chunk), by user
    /// ID without case, each with its home cluster: the call processor of its first order, else the
    /// one its services are on. Two keysets, the services' and the orders', each read `size` users
    /// at most; the chunk ends where the first full read ends, as the database orders user IDs (the
    /// other read again up to there when it went further), so every user up to there is in both.
    /// `next`: where the next chunk starts, nil after the last.
    static func provisionedChunk(after: String, user only: String?, size: Int, connection: Connection) async throws
        -> (users: [Provisioned], next: String?) {
        let inventory = DirectorySourceStore(connection)
        var served = try await inventory.usersOnProcessors(after: after, through: nil, user: only, limit: size)
        var end = served.count == size ? served.last?.key : nil
        let ordered = try await connection.query(DirectorySQL.firstOrdersPage, [after, end, size, only]).map { row in
            Provisioned(key: try row.decode("key"), userID: try row.decode("user_id"), device: try row.decode("call_processor"))
        }
        if ordered.count == size, let last = ordered.last?.key, last != end {
            end = last
            served = try await inventory.usersOnProcessors(after: after, through: last, user: only, limit: size)
        }
        var users: [String: Provisioned] = [:]
        for user in served { users[user.key] = Provisioned(key: user.key, userID: user.userID, device: user.device) }
        for user in ordered { users[user.key] = user }
        return (users.keys.sorted().map { users[$0]! }, end)
    }

    /// Plans the copies of one chunk of provisioned users to `processors` and queues them in one
    /// transaction, fenced on the job's attempt, under the plan lock: the orders, their steps, jobs,
    /// job links and audit lines in one statement each (`insert`). Returns how many it queued, and
    /// how many of those planned an earlier attempt of the job had queued (their submit keys taken).
    static func queueCopies(of chunk: [Provisioned], on processors: [String], context: JobContext, connection: Connection) async throws
        -> (queued: Int, queuedBefore: Int) {
        guard !chunk.isEmpty, !processors.isEmpty else { return (0, 0) }
        let present = try await DirectorySourceStore(connection).usersPresent(keys: chunk.map(\.key))
        let found = try await UserStore(connection).usersGet(userIDs: chunk.map(\.userID))
        var orders: [PlannedCopy] = []
        for provisioned in chunk {
            for device in processors {
                let isHome = device == provisioned.device
                if let shown = present[device]?[provisioned.key], !isHome || shown == "true" { continue }
                // A user being deleted gets no copy: its delete order takes it off its home cluster.
                guard let user = found[provisioned.userID], user.state != "deleting" else { continue }
                orders.append(PlannedCopy(key: provisioned.key, user: user, device: device, steps: steps(user, device: device, home: isHome),
                                          home: provisioned.device))
            }
        }
        guard !orders.isEmpty else { return (0, 0) }
        let owner = context.held
        let actor = context.job.submittedBy
        return try await connection.transaction { session -> (queued: Int, queuedBefore: Int) in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            // One planner at a time: the pairs another job queued since this one read are not planned twice.
            try session.query(DirectorySQL.planLock)
            var held: Set<String> = []
            for row in try session.query(DirectorySQL.copiesHeld, [PostgresTextArray(chunk.map(\.key))]) {
                held.insert("\(try row.decode("key") as String)\t\(try row.decode("call_processor") as String)")
            }
            // A retry of this job: what its earlier attempt queued (held, or ended since).
            let taken = Set(try session.query(DirectorySQL.submitKeysTaken, [PostgresTextArray(orders.map { $0.submitKey(job: owner.id) })])
                .map { try $0.decode("submit_key") as String })
            var queueing: [OrderStore.NewOrder] = [], queuedBefore = 0
            for order in orders {
                let key = order.submitKey(job: owner.id)
                if taken.contains(key) {
                    queuedBefore += 1
                    continue
                }
                if held.contains("\(order.key)\t\(order.device)") { continue }
                queueing.append(newOrder(user: order.user.userID, domain: order.user.domain, area: order.user.serviceArea, device: order.device,
                                         action: "copy", home: order.home, key: key, steps: order.steps))
            }
            try insert(session, queueing, actor: actor)
            return (queueing.count, queuedBefore)
        }
    }

    /// The steps of a copy: addUser (homeCluster true on the home cluster, else false), and on the
    /// home cluster updateUser homeCluster true (for a user that was there already).
    static func steps(_ user: User, device: String, home: Bool) -> [PlannedStep] {
        var add = OrderPlanner.userSteps(user, onDevice: false, credentialPolicy: nil, device: device)[0]
        var fields = add.calls[0].values["user"]?.children ?? []
        fields.append(CallField("homeCluster", home ? "true" : "false"))  // after presenceGroupName (XUser, AXLSoap.xsd 12.5)
        add.calls = [PlannedCall("addUser", [CallField("user", .fields(fields))])]
        add.name = .udsUser
        guard home else { return [add] }
        return [add, PlannedStep(name: .udsHome, device: device, calls: [PlannedCall("updateUser", [
            CallField("userid", user.userID), CallField("homeCluster", "true"),
        ])])]
    }

    /// Plans the removal of the copies the directory orders added of `user` elsewhere than `home`;
    /// names in the job's log those whose order adopted the user it found (not proven its own: left).
    static func removeCopies(user: String, home: String, context: JobContext, connection: Connection) async throws -> String {
        let owner = QueueStore.Held(id: context.job.id, attempt: context.job.attempt)
        let actor = context.job.submittedBy
        for row in try await connection.query(DirectorySQL.copiesAdopted, [user, home]) {
            let device: String = try row.decode("call_processor"), orderID: Int64 = try row.decode("id")
            try await context.log("User '\(user)' left its home cluster '\(home)': its copy on '\(device)' stays — directory order \(orderID) "
                                  + "adopted the user it found there (not proven its own): remove it on '\(device)' by hand if it is the copy", level: .warning)
        }
        let queued = try await connection.transaction { session -> Int in
            try QueueStore.InTransaction(session).jobConfirmOwned(owner)
            // One planner at a time, reading under the lock: a copy another job's removal holds is left to it.
            try session.query(DirectorySQL.planLock)
            let copies = try session.query(DirectorySQL.copiesAdded, [user, home]).map { row in
                (device: try row.decode("call_processor") as String, uuid: try row.decode("created_uuid") as String,
                 domain: try row.decode("domain") as String, area: try row.decode("service_area") as String, userID: try row.decode("user_id") as String)
            }
            let keyed = copies.map { copy in (copy, key: "directory:\(owner.id):\(copy.userID.lowercased()):\(copy.device):remove") }
            // A retry of this job: what its earlier attempt queued.
            let taken = Set(try session.query(DirectorySQL.submitKeysTaken, [PostgresTextArray(keyed.map(\.key))])
                .map { try $0.decode("submit_key") as String })
            let queueing = keyed.filter { !taken.contains($0.key) }.map { copy, key in
                newOrder(user: copy.userID, domain: copy.domain, area: copy.area, device: copy.device, action: "remove", home: home, key: key,
                         steps: [PlannedStep(name: .removeUser, device: copy.device, calls: [PlannedCall("removeUser", [
                             CallField("userid", copy.userID), CallField("uuid", copy.uuid),
                         ])])])
            }
            try insert(session, queueing, actor: actor)
            return queueing.count
        }
        return "User '\(user)' left its home cluster '\(home)': \(queued) directory order(s) queued to remove the copies UDS added"
    }

    /// A directory order (`action` copy or remove) of `user` on `device`, its home cluster `home`.
    static func newOrder(user: String, domain: String, area: String?, device: String, action: String, home: String, key: String,
                         steps: [PlannedStep]) -> OrderStore.NewOrder {
        OrderStore.NewOrder(kind: kind, domain: domain, serviceArea: area ?? "", userID: user, callProcessor: device,
                            request: OrderStore.json(["kind": kind, "action": action, "user": user, "home": home]), submitKey: key, steps: steps)
    }

    /// Directory orders, their steps and their `order.run` jobs, with an audit line each: a fixed
    /// number of statements however many orders (a chunk of copies is thousands).
    static func insert(_ session: Session, _ orders: [OrderStore.NewOrder], actor: String) throws {
        let stored = try OrderStore.insertMany(session, orders, actor: actor)
        try QueueStore.InTransaction(session).auditAppendMany(zip(orders, stored).map { order, stored in
            QueueStore.AuditLine(actor: actor, action: "order.submitted", jobID: stored.jobID, target: "order \(stored.id)", message:
                "Order \(stored.id) submitted: directory \(order.steps.map(\.name.rawValue).joined(separator: ", ")) of '\(order.userID)' on '\(order.callProcessor)'")
        })
    }
}

extension OrderSaga {
    /// A copy's addUser (`uds_user`). An end user has no description to carry the order's marker, so
    /// only the add's own answer (its uuid) proves the user is the order's: a user the pre-check finds
    /// is adopted, and so is one a duplicate answer reveals — someone may have added it by hand meanwhile,
    /// whatever its names — even when this order's own earlier try may have added it (its answer lost):
    /// adopted, it is left alone by undo and by the removal when the user leaves its home cluster. A
    /// copy left behind is a directory entry an operator can remove; a user removed that someone added
    /// by hand is lost. (The add order's `user` takes it as its own when every field it wrote shows:
    /// its user is the subscriber itself, which a rollback must not leave behind.)
    mutating func forwardDirectoryUser(_ step: inout OrderStep) async throws {
        try await addEndUser(&step, ownIf: nil)
    }

    /// A copy order about to start that is no longer wanted: the directory search source is the LDAP
    /// server again (switched by an operator, or by a sync that found an LDAP-integrated call processor,
    /// since the copy was queued), or its user is being deleted or gone from the inventory. Ended
    /// canceled, its steps skipped, one line in its log — nothing written. Read right before the
    /// order's first device call; a copy that wrote already finishes (the switch leaves the copies
    /// where they are; a user's removal catches its copy in `afterOrder`), and so does one whose first
    /// write races the switch. Re-enabling UDS plans a canceled copy anew. Returns whether it ended the order.
    mutating func cancelUnwantedCopy() async throws -> Bool {
        guard order.kind == DirectorySource.kind, steps.contains(where: { $0.name == .udsUser }),
              steps.allSatisfy({ $0.state == "pending" }) else { return false }
        let reason: String, line: String
        if try await DirectorySourceStore(database).source() != .callProcessor {
            reason = "directory search source switched back to the LDAP server before the copy started"
            line = "the directory search source is the LDAP server again (switched since the copy was queued)"
        } else if let user = try await UserStore(database).userGet(userID: order.userID), user.state != "deleting" {
            return false
        } else {
            // Being deleted (or gone): its delete order takes it off its home cluster, and a copy made
            // now would only be removed again.
            reason = "user deleted before the copy started"
            line = "'\(order.userID)' is being deleted (or gone from the inventory)"
        }
        for var step in steps {
            step.state = "skipped"
            saveLater(step)
        }
        log("Order \(order.id) canceled: \(line); '\(order.userID)' not copied to \(order.callProcessor), nothing written")
        try await setState("canceled", error: reason)
        return true
    }

    /// Records a directory order's success (nothing goes to the inventory: the next user sync reads the copy).
    mutating func finishDirectory() async throws {
        unsavedState = ("succeeded", nil)
        log("Order \(order.id) succeeded")
        try await commit()
    }
}

/// The statements of the directory orders (on `orders` and `order_steps`).
enum DirectorySQL {
    /// A page of the users with a succeeded add or push order since they were last deleted (a user
    /// deleted and added again elsewhere has its home there), by user ID without case in the
    /// database's order: after $1 ('' for the first page), up to $2 (null: no bound), at most $3 of
    /// them; $4: one user only (without case), or null. Each with the call processor of its first
    /// such order, and its `key` (the user ID without case).
    static let firstOrdersPage = Statement("directory_first_orders_page", """
        SELECT DISTINCT ON (lower(o.user_id)) lower(o.user_id) AS key, o.user_id, o.call_processor FROM orders o
         WHERE o.kind IN ('add', 'push') AND o.state = 'succeeded' AND \(notDeletedSince)
           AND lower(o.user_id) > $1 AND ($2::text IS NULL OR lower(o.user_id) <= $2)
           AND ($4::text IS NULL OR lower(o.user_id) = lower($4))
         ORDER BY lower(o.user_id), o.id
         LIMIT $3
        """)
    /// The add or push order `o`'s user was not deleted since by a delete order.
    static let notDeletedSince = """
        NOT EXISTS (SELECT 1 FROM orders d WHERE d.kind = 'delete' AND d.state = 'succeeded'
                                                 AND lower(d.user_id) = lower(o.user_id) AND d.id > o.id)
        """
    static let planLock = Statement("directory_plan_lock", "SELECT pg_advisory_xact_lock(hashtext('ucp.directory_plan'))")
    /// The (user, call processor) pairs a copy order holds (open, or succeeded and not removed by a
    /// later removal order), of the user IDs without case $1; `key`: the user ID without case.
    static let copiesHeld = Statement("directory_copies_held", """
        SELECT DISTINCT lower(o.user_id) AS key, o.call_processor FROM orders o
         WHERE o.kind = 'directory' AND o.request->>'action' = 'copy' AND o.state NOT IN ('rolled_back', 'canceled')
           AND lower(o.user_id) = ANY($1::text[]) AND \(notRemoved)
        """)
    /// Which of the submit keys $1 an order has already (a retry of the job that queued it).
    static let submitKeysTaken = Statement("directory_submit_keys_taken", """
        SELECT o.submit_key FROM orders o WHERE o.submit_key = ANY($1::text[])
        """)
    /// The copy order `o`'s user was not removed since by a removal order.
    static let notRemoved = """
        NOT EXISTS (SELECT 1 FROM orders r
                     WHERE r.kind = 'directory' AND r.request->>'action' = 'remove' AND r.state = 'succeeded'
                       AND lower(r.user_id) = lower(o.user_id) AND r.call_processor = o.call_processor AND r.id > o.id)
        """
    /// The users directory orders added elsewhere than $2 (the home cluster left) for user $1, with
    /// their uuid; not those an open removal order is removing.
    static let copiesAdded = Statement("directory_copies_added", """
        SELECT o.user_id, o.call_processor, o.domain, o.service_area, s.created_uuid FROM orders o
          JOIN order_steps s ON s.order_id = o.id AND s.name = 'uds_user' AND s.created_uuid IS NOT NULL
         WHERE o.kind = 'directory' AND o.request->>'action' = 'copy' AND o.state = 'succeeded'
           AND lower(o.user_id) = lower($1) AND o.call_processor <> $2 AND o.request->>'home' = $2 AND \(notRemoved)
           AND NOT EXISTS (SELECT 1 FROM orders r
                            WHERE r.kind = 'directory' AND r.request->>'action' = 'remove' AND r.state IN ('submitted', 'running', 'rolling_back')
                              AND lower(r.user_id) = lower(o.user_id) AND r.call_processor = o.call_processor AND r.id > o.id)
         ORDER BY o.call_processor
        """)
    /// The call processors where a directory order added user $1 (its copies not removed since), each
    /// with the home cluster it was copied from.
    static let copiesOfUser = Statement("directory_copies_of_user", """
        SELECT DISTINCT o.call_processor, o.request->>'home' AS home FROM orders o
          JOIN order_steps s ON s.order_id = o.id AND s.name = 'uds_user' AND s.created_uuid IS NOT NULL
         WHERE o.kind = 'directory' AND o.request->>'action' = 'copy' AND o.state = 'succeeded'
           AND lower(o.user_id) = lower($1) AND o.call_processor <> o.request->>'home' AND \(notRemoved)
        """)
    /// The user's ($1) latest succeeded add, push, delete or cancel order on call processor $2.
    static let latestHomeOrder = Statement("directory_latest_home_order", """
        SELECT \(OrderSQL.columns) FROM orders o
         WHERE lower(o.user_id) = lower($1) AND o.call_processor = $2 AND o.state = 'succeeded'
           AND o.kind IN ('add', 'push', 'delete', 'cancel')
         ORDER BY o.id DESC LIMIT 1
        """)
    /// The copies of user $1 elsewhere than $2 (the home cluster left) whose order adopted the user it
    /// found: not proven the order's, so never removed.
    static let copiesAdopted = Statement("directory_copies_adopted", """
        SELECT o.id, o.call_processor FROM orders o
          JOIN order_steps s ON s.order_id = o.id AND s.name = 'uds_user' AND s.adopted
         WHERE o.kind = 'directory' AND o.request->>'action' = 'copy' AND o.state = 'succeeded'
           AND lower(o.user_id) = lower($1) AND o.call_processor <> $2 AND o.request->>'home' = $2 AND \(notRemoved)
         ORDER BY o.call_processor
        """)
    static let status = Statement("directory_status", """
        SELECT o.call_processor, o.state, count(*)::bigint AS n FROM orders o WHERE o.kind = 'directory'
         GROUP BY o.call_processor, o.state ORDER BY o.call_processor, o.state
        """)
    static let copiesExist = Statement("directory_copies_exist", """
        SELECT EXISTS (SELECT 1 FROM orders o WHERE o.kind = 'directory' AND o.request->>'action' = 'copy' AND o.state = 'succeeded'
                        AND lower(o.user_id) = lower($1) AND o.request->>'home' = $2 AND o.call_processor <> $2 AND \(notRemoved)) AS found
        """)
}
