import ArgumentParser
import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime
import Sync
import UCPCommands

/// `ucp demo`: the scheduling rules at work, with real processes on the real queue.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Watch an infrastructure sync hold back 100 orders, then devices synchronized from ucp devsim.",
        discussion: """
            Starts a coordinator and two workers, submits a stand-in infrastructure sync of demo-standin and right after it the \
            orders, and prints maintenance mode, the sync's progress and the orders by state every half second. Ends \
            with a summary and the audit trail. Then starts ucp devsim, registers it as a Unified CM and a Unity \
            Connection, tests both connections and runs their infrastructure and user synchronization with progress \
            on screen, then adds a service area and runs a domain synchronization (one user shown with its services), and runs a schedule. Exits 1 if an order started while the sync was queued or running, or a \
            job did not succeed.
            """)

    @Option(help: "How many no-op orders to submit (1 to 10000).")
    var orders: Int = 100

    @Option(help: "How long the stand-in infrastructure sync runs, in seconds (0 to 600).")
    var syncSeconds: Double = 4

    @OptionGroup var global: GlobalOptions

    /// The stand-in sync's device: the workers run a stand-in for its syncs (the real devices come later).
    static let device = "demo-standin"
    static let orderSeconds = 0.05

    func validate() throws {
        guard (1...10_000).contains(orders) else {
            throw ValidationError("orders: must be from 1 to 10000 (got \(orders))")
        }
        guard syncSeconds.isFinite, (0...600).contains(syncSeconds) else {
            throw ValidationError("sync-seconds: must be from 0 to 600 (got \(syncSeconds))")
        }
    }

    func run() async throws {
        let database = try await Database.open()
        let store = QueueStore(Connection(database))
        let logFolder = try DemoProcesses.makeLogFolder()
        let environment = try DemoDevices.prepare(logFolder: logFolder)
        let processes = DemoProcesses(logFolder: logFolder, environment: environment,
                                      standInSync: "\(Self.device)=seconds:\(syncSeconds)")
        print("Logs of the coordinator, the workers and the device simulator: \(processes.logFolder)/")
        let verdict: DemoVerdict
        let scheduleRunSucceeded: Bool
        let devicesSynchronized: Bool
        let changeArrived: Bool
        let directorySynchronized: Bool
        let domainSynchronized: Bool
        var viewerToken: String?
        let ordersWorked: Bool
        do {
            try await processes.start()
            try await waitForWorkers(store: store, processes: processes)
            viewerToken = try await DemoStatusPage.start(database: database, processes: processes)
            verdict = try await runScenario(store: store, processes: processes)
            devicesSynchronized = try await DemoDevices.run(port: try await processes.simulatorPort(), logFolder: logFolder,
                                                            environment: environment)
            domainSynchronized = devicesSynchronized ? try await DemoDomainSync.run(environment: environment) : false
            ordersWorked = domainSynchronized ? try await DemoOrders.run(logFolder: logFolder, environment: environment) : false
            if devicesSynchronized {
                changeArrived = try await DemoChangeNotification.run(database: database, port: try await processes.simulatorPort(),
                                                                     logFolder: logFolder, environment: environment)
            } else {
                changeArrived = false
            }
            scheduleRunSucceeded = try await DemoSchedule.run(database: database, logFolder: processes.logFolder,
                                                              environment: environment)
            directorySynchronized = try await DemoDirectory.run(logFolder: processes.logFolder, environment: environment)
        } catch {
            fflush(nil)  // what we printed comes before the error line on stderr
            await processes.stop()
            if let viewerToken { await DemoStatusPage.stop(database: database, token: viewerToken) }
            throw error
        }
        let statuses = await processes.stop()
        if let viewerToken { await DemoStatusPage.stop(database: database, token: viewerToken) }
        // The simulator ends on SIGTERM without a handler of its own; only the queue's processes must exit cleanly.
        let uncleanExits = statuses.filter { $0.status != 0 && $0.child.name != DemoProcesses.simulatorName }
        if uncleanExits.isEmpty {
            print("Stopped the coordinator, the workers and the device simulator.")
        } else {
            print("Stopped the coordinator and the workers; "
                  + uncleanExits.map { "\($0.child.name) exited with status \($0.status) (log: \($0.child.logPath))" }
                      .joined(separator: ", "))
        }
        print(verdict.line)
        print(devicesSynchronized ? "PASS: devsim registered as a Unified CM and a Unity Connection, tested, and synchronized (infrastructure, then user)."
                                  : "FAIL: the device simulator was not tested and synchronized.")
        print(domainSynchronized ? "PASS: a service area and a domain synchronization built the user records of \(DemoDomainSync.domainName) from the device syncs; \(DemoDomainSync.user) holds its phone, line, voicemail and IM and Presence."
                                 : "FAIL: the domain synchronization did not build the user records.")
        print(ordersWorked ? "PASS: an order provisioned \(DemoOrders.user) on demo-cucm (line, phone, association, voicemail, Extension Mobility, Conference Now, Single Number Reach, IM and Presence, reset) as a saga and a cancel order removed it; an order meeting a conflict was rolled back."
                           : "FAIL: the orders part did not provision, cancel and roll back as expected.")
        print(changeArrived ? "PASS: a change made on the simulator through AXL arrived in the inventory by change notification."
                            : "FAIL: the change made on the simulator did not arrive by change notification.")
        print(scheduleRunSucceeded ? "PASS: the schedule's run synchronized demo-cucm (infrastructure, then user)."
                                   : "FAIL: the schedule's run did not succeed.")
        print(directorySynchronized ? "PASS: slapd registered as an LDAP directory, tested, and its enabled users synchronized into \(DemoDirectory.domainName)."
                                    : "FAIL: the LDAP synchronization of the demo domain did not succeed.")
        if !verdict.passed || !devicesSynchronized || !domainSynchronized || !changeArrived || !ordersWorked || !scheduleRunSucceeded || !directorySynchronized { throw ExitCode(1) }
    }

    /// Submitting before both workers listen would make the run depend on who polls first.
    private func waitForWorkers(store: QueueStore, processes: DemoProcesses) async throws {
        let children = await processes.children
        print("Started " + children.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")
              + "; waiting for the workers to register…")
        let workers = await processes.workers
        let started = ContinuousClock.now
        while true {
            try await processes.checkRunning()
            // Matching the pid too: rows of an earlier demo's workers with the same names may still look alive.
            let live = try await store.workerListLive(withinSeconds: 10)
            let missing = workers.filter { worker in
                !live.contains { $0.name == worker.name && $0.pid == Int(worker.pid) }
            }
            if missing.isEmpty {
                print("Both workers are ready (after \(DemoReport.seconds(secondsSince(started)))).")
                return
            }
            if secondsSince(started) > 20 {
                throw DemoFailure("workers: \(missing.map(\.name).joined(separator: " and ")) did not register within 20 s; "
                                  + "see \(missing.map(\.logPath).joined(separator: " and "))")
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
    }

    private func runScenario(store: QueueStore, processes: DemoProcesses) async throws -> DemoVerdict {
        let actor = global.actorName
        let syncType = SyncType.infra.jobType
        let syncParams = QueueStore.EnqueueParams(InfrastructureSync.self, target: Self.device,
                                                  dedupKey: SyncType.infra.key(target: Self.device), actor: actor)
        let orderParams = try QueueStore.EnqueueParams(NoopOrder(seconds: Self.orderSeconds), target: Self.device, actor: actor)

        let auditSince = try await DatabaseClock.now(store.connection)
        let submitted = ContinuousClock.now
        let (syncID, created) = try await store.jobEnqueue(syncParams)
        guard created else {
            throw DemoFailure("sync: a synchronization of \(Self.device) is already queued (job \(syncID)); "
                              + "cancel it with 'ucp jobs cancel \(syncID)' and run the demo again")
        }
        _ = try await store.jobEnqueueMany(Array(repeating: orderParams, count: orders))
        let run = try await DemoRun.locate(syncID: syncID, orderCount: orders, device: Self.device, actor: actor,
                                           connection: store.connection)
        print("Submitted job \(syncID) (\(syncType) of \(Self.device) for \(String(format: "%g", syncSeconds)) s), then jobs "
              + "\(run.orderIDs.lowerBound)–\(run.orderIDs.upperBound) (\(orders) \(NoopOrder.jobType) orders of "
              + "\(String(format: "%g", Self.orderSeconds)) s each, in one COPY).")
        print("")

        try await follow(run, store: store, processes: processes, submitted: submitted)
        print("")
        return try await DemoReport.summarize(run, store: store, auditSince: auditSince)
    }

    /// Prints a status line every half second until the sync and every order have ended.
    private func follow(_ run: DemoRun, store: QueueStore, processes: DemoProcesses,
                        submitted: ContinuousClock.Instant) async throws {
        // Generous: the orders alone need orders × 0.05 s / 16 slots.
        let timeout = max(90, 60 + syncSeconds + Double(run.orderCount) * Self.orderSeconds / 4)
        let layout = DemoReport.StatusLayout(run: run)
        print(layout.header)
        var tick = 0
        while true {
            try await processes.checkRunning()
            let maintenance = try await store.maintenanceState()
            guard let sync = try await store.jobGet(id: run.syncID) else {
                throw DemoFailure("job \(run.syncID): the sync is no longer in the queue")
            }
            let counts = try await run.orderCounts(store.connection)
            print(layout.line(elapsed: secondsSince(submitted), maintenance: maintenance, sync: sync, orders: counts))
            fflush(nil)
            if sync.state.isFinal && counts.finished == run.orderCount { return }
            if secondsSince(submitted) > timeout {
                throw DemoFailure("timeout: after \(Int(timeout)) s the sync is \(sync.state.rawValue) and "
                                  + "\(run.orderCount - counts.finished) orders have not ended; see the logs in \(processes.logFolder)")
            }
            tick += 1
            try await Task.sleep(until: submitted + .milliseconds(500 * tick), clock: .continuous)
        }
    }
}

/// A failure of the demo itself, as one line for the operator.
struct DemoFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// The coordinator and the workers of the demo: child processes of ours, each appending to a log
/// file of its own. They inherit our environment, so they resolve the same database.
actor DemoProcesses {
    struct Child: Sendable {
        let name: String
        let pid: pid_t
        let logPath: String
    }

    static let coordinatorName = "demo-coordinator"
    static let workerNames = ["demo-worker-1", "demo-worker-2"]
    static let workerConcurrency = 8
    /// Longer than a worker's default grace period (30 s), so SIGKILL is only for one that hangs.
    static let stopTimeoutSeconds = 40.0

    static let simulatorName = "demo-devsim"
    static let simulatorUsers = 500

    nonisolated let logFolder: String
    /// Added to every child's environment (the secret key file the workers open device passwords with).
    nonisolated let environment: [String: String]
    private(set) var children: [Child] = []
    private var exitStatuses: [pid_t: Int32] = [:]

    /// The workers' stand-in sync (`--stand-in-sync`), e.g. `demo-standin=seconds:4`.
    nonisolated let standInSync: String

    init(logFolder: String, environment: [String: String] = [:], standInSync: String) {
        self.logFolder = logFolder
        self.environment = environment
        self.standInSync = standInSync
    }

    static func makeLogFolder() throws -> String {
        var template = Array((NSTemporaryDirectory() + "ucp-demo-XXXXXX").utf8CString)
        let folder: String? = template.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
            return String(cString: base)
        }
        guard let folder else {
            throw DemoFailure("logs: cannot create a folder in \(NSTemporaryDirectory()) (\(String(cString: strerror(errno))))")
        }
        return folder
    }

    var workers: [Child] { children.filter { Self.workerNames.contains($0.name) } }

    func start() throws {
        var roles = [(name: Self.coordinatorName,
                      arguments: ["coordinator", "--name", Self.coordinatorName, "--rescue-interval", "1s"])]
        for name in Self.workerNames {
            roles.append((name: name, arguments: ["worker", "--name", name, "--concurrency", String(Self.workerConcurrency),
                                                  "--stand-in-jobs", "--stand-in-sync", standInSync]))
        }
        roles.append((name: Self.simulatorName, arguments: [
            "devsim", "--port", "0", "--users", String(Self.simulatorUsers), "--user", DemoDevices.adminUser,
            "--password-file", DemoDevices.passwordFile(logFolder), "--cert-out", DemoDevices.certificateFile(logFolder)]))
        for role in roles { try spawn(name: role.name, arguments: role.arguments) }
    }

    /// Starts one more child of ours (`ucp ARGUMENTS…`), stopped with the others.
    @discardableResult
    func spawn(name: String, arguments: [String]) throws -> Child {
        let logPath = "\(logFolder)/\(name).log"
        let pid = try ChildProcess.spawn([ChildProcess.currentExecutable] + arguments, outputPath: logPath, environment: environment)
        let child = Child(name: name, pid: pid, logPath: logPath)
        children.append(child)
        return child
    }

    /// The simulator's port, once it printed its ready line.
    func simulatorPort(timeout: Double = 60) async throws -> Int {
        guard let simulator = children.first(where: { $0.name == Self.simulatorName }) else { throw DemoFailure("devsim: not started") }
        return try await waitForLine(of: simulator, after: "listening on https://127.0.0.1:", what: "devsim", timeout: timeout)
    }

    /// The port a child printed after `marker` in its log (its ready line).
    func waitForLine(of child: Child, after marker: String, what: String, timeout: Double = 60) async throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            try checkRunning()
            let log = (try? String(contentsOfFile: child.logPath, encoding: .utf8)) ?? ""
            if let range = log.range(of: marker), let port = Int(log[range.upperBound...].prefix { $0.isNumber }) {
                return port
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw DemoFailure("\(what): not listening after \(Int(timeout)) s (log: \(child.logPath))")
    }

    /// Throws if a child has exited: each should run until the demo stops it.
    func checkRunning() throws {
        for child in children where exitStatuses[child.pid] == nil {
            guard let status = ChildProcess.poll(child.pid) else { continue }
            exitStatuses[child.pid] = status
            throw DemoFailure("\(child.name) exited early with status \(status): \(Self.lastLine(of: child.logPath)) "
                              + "(log: \(child.logPath))")
        }
    }

    /// Stops every child still running with SIGTERM (a worker finishes or hands back its jobs), and
    /// with SIGKILL one that is still there after the timeout. Returns every child's exit status.
    @discardableResult
    func stop() async -> [(child: Child, status: Int32)] {
        let running = children.filter { exitStatuses[$0.pid] == nil }
        for child in running { kill(child.pid, SIGTERM) }
        let deadline = ContinuousClock.now + .seconds(Self.stopTimeoutSeconds)
        for child in running {
            while exitStatuses[child.pid] == nil {
                if let status = ChildProcess.poll(child.pid) {
                    exitStatuses[child.pid] = status
                } else if ContinuousClock.now >= deadline {
                    kill(child.pid, SIGKILL)
                    exitStatuses[child.pid] = ChildProcess.wait(child.pid)
                } else {
                    try? await Task.sleep(nanoseconds: 100_000_000)
                }
            }
        }
        return children.map { (child: $0, status: exitStatuses[$0.pid] ?? -1) }
    }

    private static func lastLine(of path: String) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let line = text.split(whereSeparator: \.isNewline).last.map(String.init) ?? "no output"
        return String(line.prefix(300))
    }
}
