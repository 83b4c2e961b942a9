import ArgumentParser
import DeviceClients
import Foundation
import Inventory
import JobCatalog
import Orders
import Postgres
import PostgresCluster
import Queue
import Runtime
import Secrets
import Sync

/// `ucp bench orders`: N subscriber add orders (user pushed to Unified CM, a line from the area's
/// block, a phone, the association, voicemail on for every one of them: the Unity user, the line's
/// voicemail profile and forwards, then the reset) through W real workers against `ucp devsim`;
/// orders/s, device calls/s and calls per order (devsim's request counters: reads included), order
/// latency p50/p99 (submitted → succeeded, server clock); and in the same run the raw limit: the
/// very calls the orders made (read back from their stored plans and images), sent by a bare client
/// — the project's AXL and CUPI clients, no queue, no saga, no database — with the same number of
/// orders in flight and the same per-device write bound, against a fresh simulator alike.
struct BenchOrdersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orders",
        abstract: "Measure orders against ucp devsim: orders/s, device calls/s and per order, latency, and the raw limit of the same calls.",
        discussion: """
            The last line is: orders: orders=<n> per_s=<x> calls_per_order=<c> calls_per_s=<y> raw_calls_per_s=<z> \
            ratio=<r> p50_ms=<p> p99_ms=<q> (targets: ratio >= 0.5, calls_per_order <= 12; <= 25 with --bundle full).
            """)

    @Option(parsing: .unconditional, help: "Subscriber add orders (each with voicemail).")
    var orders: Int = 1000
    @Option(parsing: .unconditional, help: "Worker processes.")
    var workers: Int = 4
    @Option(parsing: .unconditional, help: "Jobs each worker runs at once (orders in flight: workers × concurrency).")
    var concurrency: Int = 4
    @Option(name: .customLong("latency-ms"), parsing: .unconditional,
            help: "Milliseconds the simulator takes before it answers each request (0: as fast as it can).")
    var latencyMilliseconds: Int = 0
    @Option(name: .customLong("max-writes-in-flight"), parsing: .unconditional,
            help: "The devices' write bound (1 to 64; the default of a device is 2).")
    var maxWritesInFlight: Int = DeviceValidation.defaultMaxWritesInFlight
    @Option(name: .customLong("writes-per-second"), parsing: .unconditional,
            help: "The orders' simulator answers 503 to writes above this many a second (0: no limit); every order must still succeed.")
    var writesPerSecond: Int = 0
    @Option(parsing: .unconditional,
            help: "subscriber (user, line, phone, association, voicemail, reset) or full (also Extension Mobility, Conference Now, Single Number Reach, service profile and IM and Presence: every service of seed 000 the orders provision).")
    var bundle: String = "subscriber"
    @Flag(name: .customLong("statement-stats"),
          help: "Load pg_stat_statements and print the statements that took the most time during the run (diagnosis only: it costs time itself).")
    var statementStats = false

    static let domain = "bench-orders"
    static let area = "SA_Bench"
    /// The simulator the orders go to holds users user000000… of its own; the orders' users are
    /// the source simulator's from here on, which the order simulator does not have (addUser).
    static let orderSimulatorUsers = 10
    static let firstNumber = 200_000

    func validate() throws {
        guard (1...100_000).contains(orders) else { throw ValidationError("--orders: must be a whole number from 1 to 100000 (got \(orders))") }
        guard (1...32).contains(workers) else { throw ValidationError("--workers: must be a whole number from 1 to 32 (got \(workers))") }
        guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency: must be a whole number from 1 to 64 (got \(concurrency))") }
        guard (0...5000).contains(latencyMilliseconds) else { throw ValidationError("--latency-ms: must be from 0 to 5000 (got \(latencyMilliseconds))") }
        try DeviceValidation.maxWritesInFlight(maxWritesInFlight)
        guard writesPerSecond >= 0 else { throw ValidationError("--writes-per-second: must be 0 or more (got \(writesPerSecond))") }
        guard ["subscriber", "full"].contains(bundle) else { throw ValidationError("--bundle: must be subscriber or full (got '\(bundle)')") }
    }

    func run() async throws {
        try await BenchCleanup.withCluster { cluster, directory in
            try await measure(cluster: cluster, directory: directory)
        }
    }

    private func measure(cluster: LocalCluster, directory: String) async throws {
        emit("[bench] starting a private PostgreSQL cluster in \(directory)")
        var serverSettings = QueueBenchmark.serverSettings
        if statementStats {
            serverSettings["shared_preload_libraries"] = "'pg_stat_statements'"
            serverSettings["pg_stat_statements.track"] = "all"
        }
        let server = try await blocking { [serverSettings] in try cluster.start(settings: serverSettings) }
        let context = BenchContext(server: server, directory: directory, statementStats: statementStats)
        if statementStats {
            try await context.enableStatementStats()
            emit("[bench] warning: --statement-stats loads pg_stat_statements; its figures are for diagnosis, not comparison")
        }
        let database = try await context.freshDatabase()
        let simulatorArguments = latencyMilliseconds > 0 ? ["--latency-ms", String(latencyMilliseconds)] : []
        emit("[bench] starting two ucp devsim: the users' source (\(orders + Self.orderSimulatorUsers) users) and the orders' Unified CM and Unity Connection")
        // The source only brings the users in: it is not their home cluster (the full bundle makes the orders' one theirs).
        let source = try await BenchSimulator.start(users: orders + Self.orderSimulatorUsers, directory: directory, label: "devsim-source",
                                                    arguments: ["--not-home-cluster"])
        let target = try await BenchSimulator.start(users: Self.orderSimulatorUsers, directory: directory, label: "devsim-orders",
                                                    arguments: simulatorArguments)
        let keyPath = directory + "/secret.key"
        let key = try SecretKey.generateFile(at: keyPath)
        let app = Connection(database.app)
        let devices = DeviceStore(app, secretBox: SecretBox(key: key))
        try await devices.deviceAdd(source.draft(name: "source-cucm"), password: Secret(source.password), actor: "bench")
        var cucm = target.draft(name: "bench-cucm")
        cucm.maxWritesInFlight = maxWritesInFlight
        var unity = target.draft(name: "bench-unity", kind: .messageProcessor)
        unity.maxWritesInFlight = maxWritesInFlight
        try await devices.deviceAdd(cucm, password: Secret(target.password), actor: "bench")
        try await devices.deviceAdd(unity, password: Secret(target.password), actor: "bench")
        let environment = [SecretKey.environmentVariable: keyPath]
        let workers = try WorkerProcesses.start(count: self.workers, concurrency: concurrency, database: database, directory: directory,
                                                label: "orders", environment: environment)
        let store = QueueStore(app)
        try await workers.waitUntilIdle(store)

        emit("[bench] synchronizing: the source's users into domain '\(Self.domain)', the orders' devices' infrastructure…")
        for params in [QueueStore.EnqueueParams(InfrastructureSync.self, target: "source-cucm", actor: "bench"),
                       QueueStore.EnqueueParams(UserSync.self, target: "source-cucm", actor: "bench"),
                       QueueStore.EnqueueParams(InfrastructureSync.self, target: "bench-cucm", actor: "bench"),
                       QueueStore.EnqueueParams(UserSync.self, target: "bench-cucm", actor: "bench"),
                       QueueStore.EnqueueParams(DeviceTest.self, target: "bench-unity", actor: "bench"),
                       QueueStore.EnqueueParams(InfrastructureSync.self, target: "bench-unity", actor: "bench"),
                       QueueStore.EnqueueParams(UserSync.self, target: "bench-unity", actor: "bench")] {
            try await run(params, store: store, workers: workers)
        }
        try await DomainStore(app).domainAdd(DomainDraft(name: Self.domain), actor: "bench")
        try await DomainStore(app).domainRulesSet(name: Self.domain, DomainRules([.syncAllUsers: []]), actor: "bench")
        var sourceArea = ServiceAreaDraft(domain: Self.domain, name: "SA_Source", callProcessor: "source-cucm", devicePool: "DP_Site01")
        sourceArea.partitions = ["PT_Internal"]
        _ = try await ServiceAreaStore(app).serviceAreaAdd(sourceArea, actor: "bench")
        try await run(.init(DomainSync(), target: Self.domain, actor: "bench"), store: store, workers: workers)
        var area = ServiceAreaDraft(domain: Self.domain, name: Self.area, callProcessor: "bench-cucm", devicePool: "DP_Site01")
        area.location = "Hub_None"
        area.deviceCSS = "CSS_Internal"
        area.lineCSS = "CSS_Internal"
        area.partitions = ["PT_Internal"]
        area.dnBlocks = [DNBlock(partition: "PT_Internal", first: String(Self.firstNumber), last: String(Self.firstNumber + orders + 999))]
        area.messageProcessor = "bench-unity"
        area.voicemailProfile = "Default"
        area.unityTemplate = "voicemailusertemplate"
        _ = try await ServiceAreaStore(app).serviceAreaAdd(area, actor: "bench")

        // The run: orders submitted by as many submitters as orders run at once, while the workers run them.
        let full = bundle == "full"
        let requests = (0..<orders).map { index in
            var request = OrderRequest(domain: Self.domain, serviceArea: Self.area, user: String(format: "user%06d", Self.orderSimulatorUsers + index),
                                       phoneName: String(format: "SEPBE%010d", index), phoneModel: "Cisco 8845", voicemail: true, file: "bench")
            if full {
                request.extensionMobility = true
                request.conferenceNow = String(format: "%04d", 1000 + index % 9000)
                request.singleNumberReach = String(format: "+1555%07d", index)
                request.imPresence = "SP_Jabber"
            }
            return request
        }
        if writesPerSecond > 0 { emit("[bench] devsim: " + (try target.control("faults?writes-per-second=\(writesPerSecond)"))) }
        try await context.resetStatementStats()
        // Where the run's CPU goes: the cluster, the workers, the orders' simulator, and this process
        // (the submitters and the poll that waits for the end).
        let runCPU = ProcessCPU(groups: [("workers", workers.pids), ("devsim", [target.pid]), ("submitters", [getpid()])],
                                postmaster: ProcessCPU.postmaster(clusterDirectory: cluster.directory))
        let cpuBefore = runCPU.read()
        let before = try Self.requests(target)
        emit("[bench] \(orders) orders (bundle \(bundle): voicemail on for all\(full ? ", Extension Mobility, Conference Now, Single Number Reach, IM and Presence" : "")) through \(self.workers) workers × \(concurrency), writes bounded to \(maxWritesInFlight) per device")
        let submitters = min(orders, self.workers * concurrency)
        let ids = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for submitter in 0..<submitters {
                group.addTask {
                    let orders = OrderStore(Connection(database.app))
                    var ids: [Int64] = []
                    for index in stride(from: submitter, to: requests.count, by: submitters) {
                        ids.append(try await orders.submit(requests[index], key: nil, actor: "bench").order.id)
                    }
                    return ids
                }
            }
            var all: [Int64] = []
            for try await ids in group { all += ids }
            return all
        }
        let submitted = Date()
        let orderStore = OrderStore(app)
        var ended: [Order] = []
        while true {
            try workers.checkAlive()
            let open = try await Self.openOrders(orderStore)
            if open == 0 { break }
            if Date().timeIntervalSince(submitted) > 3600 { throw BenchError("\(open) orders still open after an hour") }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        for id in ids { if let order = try await orderStore.order(id: id) { ended.append(order) } }
        let after = try Self.requests(target)
        let cpuAfter = runCPU.read()
        for line in try await context.statementStatsReport(database, limit: 25, width: 160) { emit("[bench] run statements: " + line) }
        if writesPerSecond > 0 { emit("[bench] devsim: " + (try target.control("faults"))) }
        let failed = ended.filter { $0.state != "succeeded" }
        guard failed.isEmpty else {
            throw BenchError("\(failed.count) orders did not succeed, e.g. order \(failed[0].id) \(failed[0].state): \(failed[0].error ?? "")")
        }
        let first = ended.map(\.createdAt).min()!, last = ended.compactMap(\.finishedAt).max()!
        let seconds = last.timeIntervalSince(first)
        let calls = (after.axl - before.axl) + (after.cupi - before.cupi)
        let latencies = ended.compactMap { order in order.finishedAt.map { $0.timeIntervalSince(order.createdAt) * 1000 } }.sorted()
        let runs = ended.compactMap { order in order.startedAt.flatMap { start in order.finishedAt.map { $0.timeIntervalSince(start) * 1000 } } }.sorted()
        emit("[bench] orders: \(orders) succeeded in \(QueueBenchmark.number(seconds, 2)) s (first submitted → last succeeded) = \(QueueBenchmark.number(Double(orders) / seconds, 1)) orders/s")
        emit("[bench] device calls: \(calls) (AXL \(after.axl - before.axl), CUPI \(after.cupi - before.cupi); reads included) = \(QueueBenchmark.number(Double(calls) / Double(orders), 2)) per order, \(QueueBenchmark.number(Double(calls) / seconds, 1)) calls/s; \(after.mostWrites)")
        let runLabels = ["postgres", "workers", "submitters", "devsim"]
        emit("[bench] CPU per order, run: " + ProcessCPU.report(from: cpuBefore, to: cpuAfter, per: orders, order: runLabels))
        emit("[bench] latency submitted → succeeded: p50 \(QueueBenchmark.number(QueueBenchmark.quantile(latencies, 0.5), 1)) ms, p99 \(QueueBenchmark.number(QueueBenchmark.quantile(latencies, 0.99), 1)) ms; running → succeeded: p50 \(QueueBenchmark.number(QueueBenchmark.quantile(runs, 0.5), 1)) ms, p99 \(QueueBenchmark.number(QueueBenchmark.quantile(runs, 0.99), 1)) ms")

        // The raw limit: the same calls, read back from the orders' steps, against a fresh simulator alike.
        var replays: [[RawCall]] = []
        for order in ended { replays.append(Self.replay(try await orderStore.steps(orderID: order.id))) }
        try await workers.stop()
        try target.stop()
        let fresh = try await BenchSimulator.start(users: Self.orderSimulatorUsers, directory: directory, label: "devsim-raw",
                                                   arguments: simulatorArguments)
        let rawCPU = ProcessCPU(groups: [("devsim", [fresh.pid]), ("client", [getpid()])], postmaster: nil)
        let rawBefore = rawCPU.read()
        let raw = try await rawRun(replays, simulator: fresh)
        let rawAfter = rawCPU.read()
        try fresh.stop()
        try source.stop()
        await app.close()
        await context.close()
        let perSecond = Double(orders) / seconds, callsPerSecond = Double(calls) / seconds
        let rawPerSecond = Double(raw.calls) / raw.seconds
        emit("[bench] raw: \(raw.calls) calls (\(raw.writes) writes) of the \(orders) orders by a bare client, \(self.workers * concurrency) orders in flight, writes bounded alike, in \(QueueBenchmark.number(raw.seconds, 2)) s = \(QueueBenchmark.number(rawPerSecond, 1)) calls/s")
        emit("[bench] CPU per order, raw: " + ProcessCPU.report(from: rawBefore, to: rawAfter, per: orders, order: ["devsim", "client"]))
        // What the CPU says of the ratio: with the box busy in both runs, calls/s go as the inverse of
        // the CPU an order costs, so the raw's share of the run's CPU per order is the ratio the CPU allows.
        let runMilliseconds = ProcessCPU.total(from: cpuBefore, to: cpuAfter, per: orders, labels: runLabels)
        let rawMilliseconds = ProcessCPU.total(from: rawBefore, to: rawAfter, per: orders, labels: ["devsim", "client"])
        emit("[bench] CPU per order in all: run \(QueueBenchmark.number(runMilliseconds, 2)) ms, raw \(QueueBenchmark.number(rawMilliseconds, 2)) ms (raw / run = \(QueueBenchmark.number(rawMilliseconds / max(runMilliseconds, 0.001), 2)))")
        emit("[bench] targets: ratio >= 0.5, calls_per_order <= \(full ? 25 : 12)")
        print("orders: orders=\(orders) per_s=\(QueueBenchmark.number(perSecond, 1)) calls_per_order=\(QueueBenchmark.number(Double(calls) / Double(orders), 2)) calls_per_s=\(QueueBenchmark.number(callsPerSecond, 1)) raw_calls_per_s=\(QueueBenchmark.number(rawPerSecond, 1)) ratio=\(QueueBenchmark.number(callsPerSecond / rawPerSecond, 2)) p50_ms=\(QueueBenchmark.number(QueueBenchmark.quantile(latencies, 0.5), 1)) p99_ms=\(QueueBenchmark.number(QueueBenchmark.quantile(latencies, 0.99), 1))")
    }

    static func openOrders(_ store: OrderStore) async throws -> Int {
        var open = 0
        // One row per state is enough to know (the poll stays light on the database it measures).
        for state in ["submitted", "running", "rolling_back"] { open += try await store.list(state: state, limit: 1).count }
        return open
    }

    /// Runs one synchronization job to its end; it must succeed.
    func run(_ params: QueueStore.EnqueueParams, store: QueueStore, workers: WorkerProcesses) async throws {
        let id = try await store.jobEnqueue(params).id
        while true {
            try workers.checkAlive()
            let job = try await store.jobGet(id: id)!
            if job.state.isFinal {
                guard job.state == .succeeded else { throw BenchError("the \(job.type) job ended \(job.state.rawValue): \(job.error ?? "")") }
                return
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }

    /// The simulator's request counters and the most writes it had at once.
    static func requests(_ simulator: BenchSimulator) throws -> (axl: Int, cupi: Int, mostWrites: String) {
        let line = try simulator.control("requests")
        var fields: [String: String] = [:]
        for part in line.split(separator: " ") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { fields[pair[0]] = pair[1] }
        }
        guard let axl = fields["axl"].flatMap(Int.init), let cupi = fields["cupi"].flatMap(Int.init) else {
            throw BenchError("devsim requests: unexpected answer '\(line)'")
        }
        return (axl, cupi, "most writes at once: AXL \(fields["max_axl_writes_in_flight"] ?? "?"), CUPI \(fields["max_cupi_writes_in_flight"] ?? "?")")
    }

    // MARK: the raw limit

    /// One call of the bare client: a read (get with its returned tags) or a planned write.
    enum RawCall: Sendable {
        case get(operation: String, keys: [(String, String)], item: String, tags: [String])
        case write(PlannedCall)
    }

    /// The calls an order's saga made, step by step, as its stored plan and images say: the reads
    /// the saga makes before a write (the user looked up before it is added, the user's device list
    /// before it is extended, the line's voicemail fields before they change) and the writes, with
    /// the values written (the association as written whole, its after-image).
    static func replay(_ steps: [OrderStep]) -> [RawCall] {
        var calls: [RawCall] = []
        for step in steps {
            guard let call = step.calls.first else { continue }
            switch step.name {
            case .user:
                let userid = (call.values["user"]?.children ?? call.values).text("userid") ?? ""
                calls.append(.get(operation: "getUser", keys: [("userid", userid)], item: "user", tags: ["firstName", "lastName"]))
                if call.operation != "getUser" { calls.append(.write(call)) }
            case .associate:
                let userid = call.values.text("userid") ?? ""
                calls.append(.get(operation: "getUser", keys: [("userid", userid)], item: "user", tags: ["associatedDevices", "primaryExtension"]))
                if let after = step.afterImage { calls.append(.write(PlannedCall("updateUser", [CallField("userid", userid)] + after))) }
            case .lineVoicemail:
                let keys = [("pattern", call.values.text("pattern") ?? ""), ("routePartitionName", call.values.text("routePartitionName") ?? "")]
                calls.append(.get(operation: "getLine", keys: keys, item: "line", tags: call.values.dropFirst(2).map(\.name)))
                calls.append(.write(call))
            case .line, .phone, .voicemail, .reset:
                calls.append(.write(call))
            case .emService:
                // Read by name; added by the order that found none (the others adopt it).
                calls.append(.get(operation: "getIpPhoneServices", keys: [("serviceName", OrderPlanner.emServiceName)], item: "ipPhoneServices",
                                  tags: ["serviceDescription", "serviceUrl"]))
                if step.createdUUID != nil, !step.adopted { calls.append(.write(call)) }
            case .emPhone, .emUser:
                let key = call.values[0]
                let (operation, item) = step.name == .emPhone ? ("getPhone", "phone") : ("getUser", "user")
                calls.append(.get(operation: operation, keys: [(key.name, key.value.text ?? "")], item: item, tags: call.values.dropFirst().map(\.name)))
                if let after = step.afterImage, after != step.beforeImage { calls.append(.write(PlannedCall(call.operation, [key] + after))) }
            case .snrUser, .imPresence, .conferenceNow:
                calls.append(.get(operation: "getUser", keys: [("userid", call.values.text("userid") ?? "")], item: "user",
                                  tags: call.values.dropFirst().map(\.name)))
                if step.afterImage != step.beforeImage { calls.append(.write(call)) }
            case .emProfile, .snrProfile, .snrDestination:
                calls.append(.write(call))
            case .credentialPolicy, .movePhone, .moveLine:
                // Not in the benchmark's add orders (no credential policy, no move): their reads are not replayed.
                calls.append(.write(call))
            case .disassociate, .removeVoicemail, .removePhone, .removeLine, .removeUser, .removeRemoteDestination,
             .removeRemoteDestinationProfile, .removeDeviceProfile, .udsUser, .udsHome:
                // Delete and directory orders are not benchmarked.
                continue
            }
        }
        return calls
    }

    /// The replays with `workers × concurrency` in flight, writes bounded per device as the orders'
    /// are (in this process: one client), nothing stored.
    func rawRun(_ replays: [[RawCall]], simulator: BenchSimulator) async throws -> (calls: Int, writes: Int, seconds: Double) {
        let inFlight = workers * concurrency
        let endpoint = DeviceEndpoint(host: simulator.host, port: simulator.port, username: simulator.user, password: Secret(simulator.password),
                                      verifyTLS: true, caFile: simulator.caFile, concurrency: inFlight)
        let devices = OrderDevices(axl: AXLClient(endpoint: endpoint, version: .latest), cupi: CUPIClient(endpoint: endpoint),
                                   axlBound: DeviceWriteBound(device: "raw-cucm", limit: maxWritesInFlight),
                                   cupiBound: DeviceWriteBound(device: "raw-unity", limit: maxWritesInFlight))
        let gate = DeviceWriteGate()
        let calls = replays.reduce(0) { $0 + $1.count }
        let writes = replays.reduce(0) { $0 + $1.filter { if case .write = $0 { return true } else { return false } }.count }
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for replay in replays {
                if running >= inFlight {
                    try await group.next()
                    running -= 1
                }
                group.addTask {
                    for call in replay {
                        switch call {
                        case .get(let operation, let keys, let item, let tags):
                            _ = try await devices.get(operation, keys: keys, item: item, tags: tags)
                        case .write(let planned):
                            _ = try await gate.withLocalSlot(devices.bound(of: planned)) { try await devices.send(planned) }
                        }
                    }
                }
                running += 1
            }
            try await group.waitForAll()
        }
        return (calls, writes, (ContinuousClock.now - started).seconds)
    }
}
