import AXL
import ArgumentParser
import DeviceClients
import Transport
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

/// `ucp bench axl-sync`: a user synchronization of `ucp devsim --users N` through a real worker,
/// against the raw limit measured in the same run: the same AXL list pages and get follow-ups
/// fetched with the same concurrency and nothing done with the answers.
struct BenchAXLSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "axl-sync",
        abstract: "Measure user synchronization against ucp devsim: objects/s, the worker's peak RSS, and the raw fetch limit.",
        discussion: """
            Starts a private PostgreSQL cluster on a free loopback port, 'ucp devsim --users N', registers it \
            as a Unified CM, fetches the user sync's AXL pages and gets raw (the limit), then runs the user \
            synchronization through one 'ucp worker' and reads its peak RSS (VmHWM). The last line is: \
            axl-sync: objects=<n> per_s=<x> raw_per_s=<y> ratio=<r> peak_rss_mb=<m>
            """)

    @Option(parsing: .unconditional, help: "Users the simulator generates (each with a phone and a line).")
    var users: Int = 50000
    @Option(parsing: .unconditional, help: "AXL requests in flight at once (the sync's per-device concurrency).")
    var concurrency: Int = DeviceSync.defaultConcurrency
    @Option(name: .customLong("page-size"), parsing: .unconditional, help: "Rows per AXL list page.")
    var pageSize: Int = DeviceSync.defaultPageSize

    func run() async throws {
        guard users >= 1, concurrency >= 1, pageSize >= 1 else { throw ValidationError("users, concurrency, page-size: must be at least 1") }
        try await BenchCleanup.withCluster { cluster, directory in
            try await measure(cluster: cluster, directory: directory)
        }
    }

    private func measure(cluster: LocalCluster, directory: String) async throws {
        emit("[bench] starting a private PostgreSQL cluster in \(directory)")
        let server = try await blocking { try cluster.start(settings: QueueBenchmark.serverSettings) }
        let context = BenchContext(server: server, directory: directory, statementStats: false)
        let database = try await context.freshDatabase()

        emit("[bench] starting ucp devsim --users \(users)")
        let simulator = try await BenchSimulator.start(users: users, directory: directory)
        let keyPath = directory + "/secret.key"
        let key = try SecretKey.generateFile(at: keyPath)
        let devices = DeviceStore(Connection(database.app), secretBox: SecretBox(key: key))
        try await devices.deviceAdd(simulator.draft(name: "bench-cucm"), password: Secret(simulator.password), actor: "bench")

        let endpoint = DeviceEndpoint(host: simulator.host, port: simulator.port, username: simulator.user,
                                      password: Secret(simulator.password), verifyTLS: simulator.caFile != nil,
                                      caFile: simulator.caFile, concurrency: concurrency)
        let raw = try await AXLRawFetch(endpoint: endpoint, pageSize: pageSize).measure()
        emit("[bench] raw: \(raw.objects) objects, \(raw.requests) requests, \(raw.bytes / 1_048_576) MB in \(QueueBenchmark.number(raw.seconds, 2)) s = \(QueueBenchmark.number(raw.perSecond, 1)) objects/s")

        let workers = try WorkerProcesses.start(count: 1, concurrency: 4, database: database, directory: directory,
                                                label: "axl",
                                                // Debug: the sync logs each type's time, shown next to the raw ones.
                                                environment: [SecretKey.environmentVariable: keyPath, "UCP_LOG_LEVEL": "debug"])
        let store = QueueStore(Connection(database.app))
        try await workers.waitUntilIdle(store)
        let payload = "{\"pageSize\":\(pageSize),\"concurrency\":\(concurrency)}"
        let id = try await store.jobEnqueue(.init(kind: .deviceSync, type: UserSync.jobType, target: "bench-cucm",
                                                  payload: payload, maxAttempts: 1, actor: "bench")).id
        var job: Job
        var lastShown = Date.distantPast
        while true {
            try workers.checkAlive()
            job = try await store.jobGet(id: id)!
            if job.state.isFinal { break }
            if Date().timeIntervalSince(lastShown) > 5 {
                emit("[bench] sync: \(Output.progressText(job.progress))")
                lastShown = Date()
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let peakKB = Self.peakRSSKilobytes(pid: workers.pids[0])
        let workerCPU = ProcessCPU.seconds(pid: workers.pids[0])
        try await workers.stop()
        let workerLog = (try? String(contentsOfFile: workers.logs[0], encoding: .utf8)) ?? ""
        for line in workerLog.split(separator: "\n") where line.contains(" objects in ") {
            emit("[bench] sync \(line)")
        }
        try simulator.stop()
        guard job.state == .succeeded, let started = job.startedAt, let finished = job.finishedAt else {
            throw BenchError("the user sync ended \(job.state.rawValue): \(job.error ?? "")")
        }
        let seconds = finished.timeIntervalSince(started)
        let objects = Int(job.progress.done)
        let perSecond = Double(objects) / seconds
        emit("[bench] worker CPU: \(QueueBenchmark.number(workerCPU, 2)) s (user + system, the whole worker process)")
        emit("[bench] sync: \(objects) objects in \(QueueBenchmark.number(seconds, 2)) s = \(QueueBenchmark.number(perSecond, 1)) objects/s; \(job.progress.message ?? "")")
        await context.close()
        let ratio = perSecond / raw.perSecond
        print("axl-sync: objects=\(objects) per_s=\(QueueBenchmark.number(perSecond, 1)) raw_per_s=\(QueueBenchmark.number(raw.perSecond, 1)) ratio=\(QueueBenchmark.number(ratio, 2)) peak_rss_mb=\(QueueBenchmark.number(Double(peakKB) / 1024, 1))")
    }

    /// VmHWM of a process: the peak of its resident set, in kB (0 when unreadable).
    static func peakRSSKilobytes(pid: pid_t) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "") ?? 0
        }
        return 0
    }
}

/// The raw limit: the user sync's AXL requests (every list page, every get follow-up) with nothing
/// done to the answers but counting their bytes. First an untimed pass lists each type to learn its
/// size and the uuids the gets need; then the timed pass sends the same requests.
struct AXLRawFetch {
    let endpoint: DeviceEndpoint
    let pageSize: Int

    struct Result {
        var objects: Int
        var requests: Int
        var bytes: Int
        var seconds: Double
        var perSecond: Double { Double(objects) / seconds }
    }

    func measure() async throws -> Result {
        let client = AXLClient(endpoint: endpoint, version: .latest, options: .init(pageSize: pageSize))
        var plan: [(type: AXLObjectType, count: Int, uuids: [String])] = []
        for type in AXLCatalog.callProcessorUser {
            guard case .axlList = type.source else { continue }
            var count = 0
            var uuids: [String] = []
            try await client.list(type) { page in
                count += page.items.count
                if !type.getTags.isEmpty { uuids += page.items.compactMap(\.uuid) }
            }
            plan.append((type, count, uuids))
        }
        let started = ContinuousClock.now
        var objects = 0, requests = 0, bytes = 0
        for (type, count, uuids) in plan {
            let typeStarted = ContinuousClock.now
            defer { emit("[bench] raw \(type.inventoryType): \(count) objects, \(uuids.count) gets in \(QueueBenchmark.number((ContinuousClock.now - typeStarted).seconds, 2)) s") }
            // The sync asks for pages until one comes back short, so one more when the last is full.
            let pages = count / pageSize + 1
            for page in 0..<pages {
                bytes += try await client.fetchRaw(type.listOperation,
                                                   body: client.listRequest(type, skip: page * pageSize, first: pageSize))
                requests += 1
            }
            objects += count
            let fetched = try await withThrowingTaskGroup(of: Int.self) { group in
                var inFlight = 0
                var total = 0
                for uuid in uuids {
                    if inFlight >= endpoint.concurrency {
                        total += try await group.next() ?? 0
                        inFlight -= 1
                    }
                    let body = AXLEnvelope.getRequest(.latest, type.getOperation, keys: [("uuid", uuid)], returnedTags: type.getTags)
                    group.addTask { try await client.fetchRaw(type.getOperation, body: body) }
                    inFlight += 1
                }
                for try await received in group { total += received }
                return total
            }
            bytes += fetched
            requests += uuids.count
        }
        let seconds = (ContinuousClock.now - started).seconds
        return Result(objects: objects, requests: requests, bytes: bytes, seconds: seconds)
    }
}

/// `ucp devsim` as a child of the benchmark, on a free loopback port.
struct BenchSimulator {
    let pid: pid_t
    let host = "127.0.0.1"
    let port: Int
    let user = "axladmin"
    let password: String
    /// The certificate the simulator made (HTTPS), for TLS verification.
    let caFile: String?

    /// `label` names its files in `directory` (two simulators side by side); `arguments` go to `ucp devsim`.
    static func start(users: Int, directory: String, label: String = "devsim", arguments: [String] = []) async throws -> BenchSimulator {
        let port = try QueueBenchmark.freeLoopbackPort()
        let password = "bench-\(UInt32.random(in: 0...UInt32.max))"
        let passwordFile = directory + "/\(label).password"
        try Data((password + "\n").utf8).write(to: URL(fileURLWithPath: passwordFile))
        let certificate = directory + "/\(label)-cert.pem"
        let pid = try BenchCleanup.spawn(
            [ChildProcess.currentExecutable, "devsim", "--users", String(users), "--listen", "127.0.0.1", "--port", String(port),
             "--user", "axladmin", "--password-file", passwordFile, "--cert-out", certificate] + arguments,
            outputPath: directory + "/\(label).log")
        let simulator = BenchSimulator(pid: pid, port: port, password: password, caFile: certificate)
        let deadline = Date().addingTimeInterval(600)
        while !Self.accepts(port: port) {
            if let status = ChildProcess.poll(pid) {
                let log = (try? String(contentsOfFile: directory + "/\(label).log", encoding: .utf8)) ?? ""
                throw BenchError("ucp devsim exited (status \(status)): \(log.suffix(800))")
            }
            if Date() > deadline { throw BenchError("ucp devsim did not listen on port \(port) within 600 s") }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        return simulator
    }

    func draft(name: String, kind: DeviceKind = .callProcessor) -> DeviceDraft {
        DeviceDraft(name: name, kind: kind, version: "12.5", address: host, port: port, adminUser: user,
                    verifyTLS: caFile != nil, caFile: caFile)
    }

    /// One of the simulator's own controls (`requests`, `faults?…`): its one-line answer.
    func control(_ path: String) throws -> String {
        let connection = try HTTPClientConnection(HTTPConfiguration(caFile: caFile, username: user, password: password))
        var answer: [UInt8] = []
        let status = try connection.perform(.post, url: "https://\(host):\(port)/devsim/" + path, headers: [], body: []) { chunk in
            answer.append(contentsOf: chunk)
            return true
        }
        guard status == 200 else { throw BenchError("devsim control \(path): HTTP \(status)") }
        return String(decoding: answer, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() throws {
        kill(pid, SIGTERM)
        ChildProcess.wait(pid)
        BenchCleanup.shared.remove(pid)
    }

    static func accepts(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
