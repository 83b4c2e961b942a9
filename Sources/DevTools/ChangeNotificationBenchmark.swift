import AXL
import ArgumentParser
import DeviceClients
import Foundation
import Inventory
import JobCatalog
import Postgres
import PostgresCluster
import Queue
import Runtime
import Secrets
import Sync
import UCPCommands

/// `ucp bench change-notification`: C changes made through AXL in a burst on `ucp devsim --users N`
/// (mixed additions, updates and removals over distinct and repeated objects), followed by change
/// notification with the poll interval at 1 s through a real coordinator and worker: the lag from the
/// last change to the inventory and the user records (a domain holding the device's users, one service
/// area per site, Sync All Users) holding all of them, the changes applied per second, the gets made,
/// and in the same run the raw limit — the same listChange pages and gets with the same client and
/// concurrency, nothing done with the answers.
struct BenchChangeNotificationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "change-notification",
        abstract: "Measure change notification against ucp devsim: lag after a burst of changes, changes applied/s, gets, and the raw limit.",
        discussion: """
            The last line is: change-notification: changes=<c> applied_per_s=<x> raw_per_s=<y> ratio=<r> lag_s=<l> gets=<g> \
            (targets: ratio >= 0.5, lag_s <= interval + 2 s, gets <= the distinct objects changed, printed before it).
            """)

    @Option(parsing: .unconditional, help: "Users the simulator generates (each with a phone and a line).")
    var users: Int = 10_000
    @Option(parsing: .unconditional, help: "Changes made through AXL in the burst.")
    var changes: Int = 1000
    @Option(parsing: .unconditional, help: "AXL requests in flight at once, for the burst.")
    var concurrency: Int = 8
    @Flag(help: "Diagnostics: load pg_stat_statements and print the statements that took the most time during the polls.")
    var statementStats = false

    static let intervalSeconds = 1

    func run() async throws {
        guard users >= 10, changes >= 10, concurrency >= 1 else {
            throw ValidationError("users, changes: must be at least 10; concurrency at least 1")
        }
        try await BenchCleanup.withCluster { cluster, directory in
            try await measure(cluster: cluster, directory: directory)
        }
    }

    /// One change of the burst: the AXL operation and its body, and what the inventory must hold after it.
    struct PlannedChange {
        var operation: String
        var write: @Sendable (inout XMLWriter) -> Void
        var object: String
    }

    /// The burst: per ten changes, six updates of users' department (over half as many users: each
    /// changed about twice), two line descriptions (distinct lines), one user added, one removed.
    func plan() -> (changes: [PlannedChange], departments: [String: String], lines: [String: String], added: [String], removed: [String]) {
        var planned: [PlannedChange] = []
        var departments: [String: String] = [:], lines: [String: String] = [:]
        var added: [String] = [], removed: [String] = []
        let repeated = max(1, changes * 6 / 10 / 2)
        for number in 0..<changes {
            switch number % 10 {
            case 0..<6:
                let userid = "user" + String(format: "%06d", number % repeated)
                let value = "bench-\(number)"
                departments[userid] = value
                planned.append(PlannedChange(operation: "updateUser", write: { writer in
                    writer.element("userid", userid)
                    writer.element("department", value)
                }, object: "User/" + userid))
            case 6, 7:
                let pattern = String(1_000_000 + (users / 2 + number) % users)
                let value = "bench line \(number)"
                lines[pattern] = value
                planned.append(PlannedChange(operation: "updateLine", write: { writer in
                    writer.element("pattern", pattern)
                    writer.element("routePartitionName", "PT_Internal")
                    writer.element("description", value)
                }, object: "Line/" + pattern))
            case 8:
                let userid = "bench-added-\(number)"
                added.append(userid)
                planned.append(PlannedChange(operation: "addUser", write: { writer in
                    writer.open("user")
                    writer.element("lastName", "Added")
                    writer.element("userid", userid)
                    writer.close("user")
                }, object: "User/" + userid))
            default:
                let userid = "user" + String(format: "%06d", users - 1 - number / 10)
                removed.append(userid)
                planned.append(PlannedChange(operation: "removeUser", write: { writer in writer.element("userid", userid) },
                                             object: "User/" + userid))
            }
        }
        return (planned, departments, lines, added, removed)
    }

    private func measure(cluster: LocalCluster, directory: String) async throws {
        emit("[bench] starting a private PostgreSQL cluster in \(directory)")
        var serverSettings = QueueBenchmark.serverSettings
        if statementStats {
            serverSettings["shared_preload_libraries"] = "'pg_stat_statements'"
            serverSettings["pg_stat_statements.track"] = "all"
            serverSettings["pg_stat_statements.track_planning"] = "on"
        }
        let server = try await blocking { [serverSettings] in try cluster.start(settings: serverSettings) }
        let context = BenchContext(server: server, directory: directory, statementStats: statementStats)
        if statementStats { try await context.enableStatementStats() }
        let database = try await context.freshDatabase()
        emit("[bench] starting ucp devsim --users \(users)")
        let simulator = try await BenchSimulator.start(users: users, directory: directory)
        let keyPath = directory + "/secret.key"
        let key = try SecretKey.generateFile(at: keyPath)
        let devices = DeviceStore(Connection(database.app), secretBox: SecretBox(key: key))
        try await devices.deviceAdd(simulator.draft(name: "bench-cucm"), password: Secret(simulator.password), actor: "bench")
        let environment = [SecretKey.environmentVariable: keyPath]
        let workers = try WorkerProcesses.start(count: 1, concurrency: 4, database: database, directory: directory,
                                                label: "cn", environment: environment)
        let store = QueueStore(Connection(database.app))
        try await workers.waitUntilIdle(store)

        // The infrastructure and user synchronizations: the inventory to follow, and the baseline taken
        // before they read; then the domain's user records.
        emit("[bench] infrastructure and user synchronization of \(users) users…")
        for contract in [QueueStore.EnqueueParams(InfrastructureSync.self, target: "bench-cucm", actor: "bench"),
                         QueueStore.EnqueueParams(UserSync.self, target: "bench-cucm", actor: "bench")] {
            let synced = try await wait(store, job: try await store.jobEnqueue(contract).id, workers: workers)
            guard synced.state == .succeeded else { throw BenchError("the \(synced.type) job ended \(synced.state.rawValue): \(synced.error ?? "")") }
        }
        try await recordDomain(database: Connection(database.app))
        emit("[bench] domain synchronization of '\(Self.domain)'…")
        let records = try await wait(store, job: try await store.jobEnqueue(.init(DomainSync(), target: Self.domain, actor: "bench")).id,
                                     workers: workers)
        guard records.state == .succeeded else { throw BenchError("the domain sync ended \(records.state.rawValue): \(records.error ?? "")") }
        let cn = ChangeNotificationStore(Connection(database.app))
        try await cn.cnConfigure(device: "bench-cucm", enabled: true, intervalSeconds: Self.intervalSeconds, actor: "bench")
        guard let start = try await cn.cnState(device: "bench-cucm")?.position else { throw BenchError("no baseline after the sync") }

        // The coordinator polls every second from here on.
        let coordinatorLog = directory + "/coordinator.log"
        let coordinator = try BenchCleanup.spawn([ChildProcess.currentExecutable, "coordinator", "--name", "bench-coordinator"],
                                                 outputPath: coordinatorLog,
                                                 environment: ["DATABASE_URL": database.url, "UCP_LOG_LEVEL": "warning"].merging(environment) { $1 })
        defer {
            kill(coordinator, SIGTERM)
            ChildProcess.wait(coordinator)
            BenchCleanup.shared.remove(coordinator)
        }
        let endpoint = DeviceEndpoint(host: simulator.host, port: simulator.port, username: simulator.user,
                                      password: Secret(simulator.password), verifyTLS: true, caFile: simulator.caFile,
                                      concurrency: concurrency)
        let client = AXLClient(endpoint: endpoint, version: .latest)
        let planned = plan()
        let distinct = Set(planned.changes.map(\.object)).count
        emit("[bench] burst: \(changes) changes through AXL (\(distinct) distinct objects), \(concurrency) in flight")
        try await context.resetStatementStats()
        let burstStarted = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for change in planned.changes {
                if inFlight >= concurrency {
                    try await group.next()
                    inFlight -= 1
                }
                let body = AXLEnvelope.request(.latest, change.operation, body: change.write)
                group.addTask { _ = try await client.fetchRaw(change.operation, body: body) }
                inFlight += 1
            }
            try await group.waitForAll()
        }
        let lastChange = Date()
        emit("[bench] burst made in \(QueueBenchmark.number(lastChange.timeIntervalSince(burstStarted), 2)) s")

        // Reflected: the position past every change (it moves in the transaction that applied them).
        // The queue's last id, not baseline + C: a removed user's devices are changes of their own.
        let queue = try await client.listChange(start: (start.queueID, start.nextStartChangeID), objectList: AXLCatalog.changeNotificationObjects)
        let target = (queue.lastChangeID ?? start.nextStartChangeID + Int64(changes) - 1) + 1
        var reflected = Date()
        while true {
            try workers.checkAlive()
            if let position = try await cn.cnState(device: "bench-cucm")?.nextStartChangeID, position >= target {
                reflected = Date()
                break
            }
            if Date().timeIntervalSince(lastChange) > 600 { throw BenchError("the changes were not applied within 600 s") }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        let lag = reflected.timeIntervalSince(lastChange)
        // What the polls applied: the C changes made, and the device updates a user's removal makes.
        let queued = Int(target - start.nextStartChangeID)
        emit("[bench] change queue: \(queued) changes for the \(changes) made (a removed user's devices are updated too)")
        for line in try await context.statementStatsReport(database, limit: 30, width: 140) { emit("[bench] poll statements: " + line) }
        try await verify(planned, objects: DeviceObjectStore(Connection(database.app)))
        try await verifyRecords(planned, users: UserStore(Connection(database.app)))

        // What the polls did: their time applying, and their gets (from the log's outcome lines).
        let polls = try await store.jobList(state: .succeeded, type: ChangeNotificationPoll.jobType, limit: 10_000)
            .filter { $0.progress.done > 0 }
        let appliedSeconds = polls.compactMap { job in job.startedAt.flatMap { start in job.finishedAt.map { $0.timeIntervalSince(start) } } }
            .reduce(0, +)
        let log = try await cn.cnLogGet(device: "bench-cucm")
        let gets = (log?.lines ?? []).filter { $0.message.hasPrefix("Completed.") }.compactMap { line -> Int? in
            guard let match = line.message.firstMatch(of: /; (\d+) fetched/) else { return nil }
            return Int(match.1)
        }.reduce(0, +)
        for line in (log?.lines ?? []) where line.message.hasPrefix("Completed.") && !line.message.hasPrefix("Completed. 0 changes") {
            emit("[bench] poll: \(line.message)")
        }
        let appliedPerSecond = Double(queued) / max(appliedSeconds, 0.001)
        emit("[bench] polls: \(polls.count) applied the \(queued) changes in \(QueueBenchmark.number(appliedSeconds, 2)) s = \(QueueBenchmark.number(appliedPerSecond, 1)) changes/s, \(gets) gets")
        try await workers.stop()

        // The raw limit: the same listChange pages and the same gets, nothing done with the answers.
        let raw = try await rawFetch(client: AXLClient(endpoint: endpoint.with(concurrency: 4), version: .latest), start: start)
        emit("[bench] raw: \(raw.pages) listChange pages and \(raw.gets) gets in \(QueueBenchmark.number(raw.seconds, 3)) s = \(QueueBenchmark.number(Double(queued) / raw.seconds, 1)) changes/s")
        try simulator.stop()
        await context.close()
        let rawPerSecond = Double(queued) / raw.seconds
        emit("[bench] targets: ratio >= 0.5, lag_s <= \(Self.intervalSeconds + 2), gets <= \(distinct) (distinct objects changed)")
        print("change-notification: changes=\(changes) applied_per_s=\(QueueBenchmark.number(appliedPerSecond, 1)) raw_per_s=\(QueueBenchmark.number(rawPerSecond, 1)) ratio=\(QueueBenchmark.number(appliedPerSecond / rawPerSecond, 2)) lag_s=\(QueueBenchmark.number(lag, 2)) gets=\(gets)")
    }

    static let domain = "bench-domain"

    /// The domain holding the simulator's users: one service area per site (its device pool, the
    /// internal partition), the rule Sync All Users.
    func recordDomain(database: Connection) async throws {
        try await DomainStore(database).domainAdd(DomainDraft(name: Self.domain), actor: "bench")
        try await DomainStore(database).domainRulesSet(name: Self.domain, DomainRules([.syncAllUsers: []]), actor: "bench")
        for site in 1...10 {
            let name = "Site" + String(format: "%02d", site)
            var area = ServiceAreaDraft(domain: Self.domain, name: "SA_" + name, callProcessor: "bench-cucm", devicePool: "DP_" + name)
            area.partitions = ["PT_Internal"]
            _ = try await ServiceAreaStore(database).serviceAreaAdd(area, actor: "bench")
        }
    }

    /// Every change is in the user records: the last department of each user, the added users
    /// recorded, the removed ones holding no service.
    func verifyRecords(_ planned: (changes: [PlannedChange], departments: [String: String], lines: [String: String], added: [String], removed: [String]),
                       users: UserStore) async throws {
        let records = Dictionary(try await users.userList(domain: Self.domain).map { ($0.userID, $0) }, uniquingKeysWith: { first, _ in first })
        let services = try await users.userServiceCounts(domain: Self.domain)
        var wrong: [String] = []
        for (userid, department) in planned.departments where records[userid]?.fields["department"] != department {
            wrong.append("\(userid)'s record lacks department \(department)")
        }
        for userid in planned.added where records[userid] == nil { wrong.append("\(userid) has no record") }
        for userid in planned.removed where (services[userid] ?? 0) > 0 { wrong.append("\(userid) still holds services") }
        guard wrong.isEmpty else { throw BenchError("the user records miss \(wrong.count) changes: \(wrong.prefix(5).joined(separator: "; "))") }
        emit("[bench] verified: every change is in the user records")
    }

    func wait(_ store: QueueStore, job id: Int64, workers: WorkerProcesses) async throws -> Job {
        while true {
            try workers.checkAlive()
            let job = try await store.jobGet(id: id)!
            if job.state.isFinal { return job }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }

    /// Every change is in the inventory: the last department of each user, the line descriptions,
    /// the added users present and the removed ones marked removed.
    func verify(_ planned: (changes: [PlannedChange], departments: [String: String], lines: [String: String], added: [String], removed: [String]),
                objects: DeviceObjectStore) async throws {
        var present: [String: String] = [:]
        for object in try await objects.deviceObjectList(device: "bench-cucm", kind: .user, limit: 10_000_000)
            where object.type == "User" || object.type == "Line" {
            present["\(object.type)/\(object.key)"] = object.attributes
        }
        var wrong: [String] = []
        for (userid, department) in planned.departments where present["User/" + userid]?.contains("\"\(department)\"") != true {
            wrong.append("User/\(userid) lacks department \(department)")
        }
        for (pattern, description) in planned.lines where present["Line/\(pattern)/PT_Internal"]?.contains("\"\(description)\"") != true {
            wrong.append("Line/\(pattern) lacks description \(description)")
        }
        for userid in planned.added where present["User/" + userid] == nil { wrong.append("User/\(userid) was not added") }
        for userid in planned.removed where present["User/" + userid] != nil { wrong.append("User/\(userid) was not removed") }
        guard wrong.isEmpty else { throw BenchError("the inventory misses \(wrong.count) changes: \(wrong.prefix(5).joined(separator: "; "))") }
        emit("[bench] verified: every change is in the inventory")
    }

    /// The listChange pages from the baseline (read once untimed to learn their starts and what needs a
    /// get, as the poll decides: an object added, or updated beyond its changed tags), then the same
    /// requests timed with nothing done to the answers.
    func rawFetch(client: AXLClient, start: ChangePosition) async throws -> (pages: Int, gets: Int, seconds: Double) {
        var starts: [Int64] = []
        var position = start.nextStartChangeID
        var needsGet: [String: (type: String, fetch: Bool)] = [:]
        while true {
            let page = try await client.listChange(start: (start.queueID, position), objectList: AXLCatalog.changeNotificationObjects)
            starts.append(position)
            for change in page.changes.sorted(by: { $0.id < $1.id }) {
                let previous = needsGet[change.uuid]?.fetch ?? false
                needsGet[change.uuid] = (change.type, change.action != "r" && (previous || change.action == "a" || change.doGet))
            }
            guard page.isPaged, let next = page.nextStartChangeID, next > position else { break }
            position = next
        }
        let gets = needsGet.filter(\.value.fetch)
        let started = ContinuousClock.now
        for from in starts {
            let body = AXLEnvelope.request(.latest, "listChange") { writer in
                writer.open("startChangeId", ["queueId": start.queueID])
                writer.escaped(String(from))
                writer.close("startChangeId")
                writer.open("objectList")
                for object in AXLCatalog.changeNotificationObjects { writer.element("object", object) }
                writer.close("objectList")
            }
            _ = try await client.fetchRaw("listChange", body: body)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for (uuid, object) in gets {
                guard let target = AXLCatalog.changeTarget(object.type) else { continue }
                if inFlight >= client.endpoint.concurrency {
                    try await group.next()
                    inFlight -= 1
                }
                let body = AXLEnvelope.getRequest(.latest, target.fetch.getOperation, keys: [("uuid", uuid)], returnedTags: target.fetch.getTags)
                group.addTask { _ = try await client.fetchRaw(target.fetch.getOperation, body: body) }
                inFlight += 1
            }
            try await group.waitForAll()
        }
        return (starts.count, gets.count, (ContinuousClock.now - started).seconds)
    }
}

extension DeviceEndpoint {
    /// The same device with another number of requests in flight.
    func with(concurrency: Int) -> DeviceEndpoint {
        var copy = self
        copy.concurrency = concurrency
        return copy
    }
}
