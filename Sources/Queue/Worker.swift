import Foundation
import Logging
import Postgres
import Runtime
import ServiceLifecycle
import Synchronization

public struct WorkerConfiguration: Sendable {
    public var name: String
    /// How many jobs run at once.
    public var concurrency: Int = 10
    /// How long a claim holds a job without a heartbeat; heartbeats come every third of it.
    public var leaseSeconds: Double = 30
    /// How often to look for work when no notification came.
    public var pollIntervalSeconds: Double = 1
    /// On SIGTERM/SIGINT, how long running jobs may take to finish before they go back to the queue.
    public var gracePeriodSeconds: Double = 30

    public init(name: String) {
        self.name = name
    }

    public func validate() throws {
        guard (1...1000).contains(concurrency) else {
            throw InputError(field: "concurrency", problem: "must be a whole number from 1 to 1000 (got \(concurrency))")
        }
        try Names.validateProcessName(name)
        guard leaseSeconds >= 1 else { throw InputError(field: "lease", problem: "must be at least 1 second") }
        guard pollIntervalSeconds > 0 else { throw InputError(field: "poll interval", problem: "must be positive") }
        guard gracePeriodSeconds >= 0 else { throw InputError(field: "grace period", problem: "must not be negative") }
    }
}

/// The names of workers, coordinators and watchdogs.
public enum Names {
    /// PostgreSQL keeps 63 bytes of `application_name`; the coordinator matches a lost worker's
    /// sessions by the whole name (`Worker.sessionNamePrefix` + name), so a name must fit after it.
    public static let longestProcessName = 63 - Worker.sessionNamePrefix.utf8.count

    /// ASCII only: PostgreSQL replaces other characters of `application_name` with `?`.
    public static func isValidProcessName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= longestProcessName && name.unicodeScalars.allSatisfy(isProcessNameScalar)
    }

    static func isProcessNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", ".", "_", "-", "@", ":": return true
        default: return false
        }
    }

    /// The refusal of a process name that is not valid.
    public static func validateProcessName(_ name: String) throws(InputError) {
        guard isValidProcessName(name) else {
            throw InputError(field: "name", problem: "use 1 to \(longestProcessName) letters A-Z, a-z, digits, '.', '_', '-', '@' or ':' (got \(InputError.quoted(name)))")
        }
    }

    public static func defaultProcessName(role: String) -> String {
        defaultProcessName(role: role, host: ProcessInfo.processInfo.hostName, pid: Int(getpid()))
    }

    /// `role-host-pid` with the host's first label, always a valid name: characters a name may not
    /// hold become '-', and the label is shortened to fit.
    public static func defaultProcessName(role: String, host: String, pid: Int) -> String {
        let label = host.split(separator: ".").first.map(String.init) ?? ""
        var cleaned = String(String.UnicodeScalarView(label.unicodeScalars.map { isProcessNameScalar($0) ? $0 : "-" }))
        if cleaned.isEmpty { cleaned = "host" }
        let room = max(0, longestProcessName - "\(role)--\(pid)".utf8.count)
        return "\(role)-\(cleaned.prefix(room))-\(pid)"
    }
}

/// A worker: claims jobs in batches bounded by its free slots, runs their handlers (each a child
/// task of the worker's task group), renews leases, and records outcomes. Stateless: everything it
/// knows is in PostgreSQL, so `kill -9` loses nothing but time (the coordinator rescues its leases).
/// Leases, heartbeats, polls, retry delays and the grace period run on its clock; the times it
/// writes (a lease's end, a retry's) are the database's, or the test clock's (`sqlNow`).
public final class Worker: Service, Sendable {
    public let configuration: WorkerConfiguration
    private let database: ConnectionConfiguration
    /// Every session of a worker is named this plus the worker's name (`application_name`), so the
    /// coordinator can end the sessions of a worker that lost its jobs (`ucp_end_lost_worker_sessions`).
    public static let sessionNamePrefix = "ucp worker "
    private let registry: JobRegistry
    private let logger: Logger
    private let clock: any TimeSource
    private let wakeup: Wakeup
    private let finisherWakeup: Wakeup
    private let state = Mutex(State())
    private let handlerPool: ConnectionPool

    private struct Running {
        var job: Job
        var control: JobControl
    }

    private struct State {
        /// By attempt: a worker resumed after a pause may hold a lost attempt and, claimed again, the
        /// job's newer one.
        var running: [QueueStore.Held: Running] = [:]
        /// Succeeded orders and tasks waiting for the batched write; still leased by us.
        var succeeded: [QueueStore.Held] = []
        /// Their closing lines (`JobContext.logOnSuccess`), written with the success.
        var closingLines: [QueueStore.Held: String] = [:]
        /// Their types, for the metrics once the success is written.
        var succeededTypes: [QueueStore.Held: String] = [:]
        var stopping = false
    }

    public init(configuration: WorkerConfiguration, database: ConnectionConfiguration, registry: JobRegistry,
                logger: Logger, clock: any TimeSource = SystemTimeSource()) {
        self.configuration = configuration
        self.database = database.named(Self.sessionNamePrefix + configuration.name)
        self.registry = registry
        self.clock = clock
        self.wakeup = Wakeup(clock: clock)
        self.finisherWakeup = Wakeup(clock: clock)
        var logger = logger
        logger[metadataKey: "worker"] = "\(configuration.name)"
        self.logger = logger
        self.handlerPool = ConnectionPool(self.database, maximum: max(2, min(configuration.concurrency, 16)))
    }

    public func run() async throws {
        try configuration.validate()
        let claimStore = QueueStore(Connection(database))
        let finishStore = QueueStore(Connection(database))
        let heartbeatStore = QueueStore(Connection(database))

        try await retrying("register") {
            try await claimStore.workerRegister(name: self.configuration.name, host: ProcessInfo.processInfo.hostName,
                                                pid: Int(getpid()), concurrency: self.configuration.concurrency)
        }
        logger.info("worker started", metadata: ["concurrency": "\(configuration.concurrency)"])

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.listen() }
                group.addTask { await self.heartbeatLoop(heartbeatStore) }
                group.addTask { await self.finisherLoop(finishStore) }
                // The jobs' own group: the drain ends it, and it returns once every handler returned.
                await withDiscardingTaskGroup { jobs in
                    await self.claimLoop(claimStore, finishStore, &jobs)
                    await self.drain(finishStore, &jobs)
                }
                self.state.withLock { $0.stopping = true }
                self.finisherWakeup.signal()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stop()
        }
        try? await claimStore.workerStopped(name: configuration.name)
        await handlerPool.closeAll()
        logger.info("worker stopped")
    }

    private var isStopping: Bool { state.withLock { $0.stopping } }

    /// Stops the worker as SIGTERM would: no more claims, running jobs get the grace period.
    public func stop() {
        state.withLock { $0.stopping = true }
        wakeup.signal()
    }

    // MARK: claiming

    private func claimLoop(_ store: QueueStore, _ finishStore: QueueStore, _ jobs: inout DiscardingTaskGroup) async {
        var backoff = Backoff()
        while !isStopping {
            let free = configuration.concurrency - state.withLock { $0.running.count }
            if free > 0 {
                do {
                    let sentAt = ContinuousClock.now
                    let claimed = try await store.jobClaim(worker: configuration.name, slots: free,
                                                           leaseSeconds: configuration.leaseSeconds, now: clock.sqlNow)
                    QueueMetrics.claimRoundTrip(sentAt.duration(to: .now))
                    claimed.forEach(QueueMetrics.claimLatency)
                    backoff.reset()
                    for job in claimed { start(job, leaseSentAt: sentAt, finishStore, in: &jobs) }
                    if claimed.count == free { continue }
                } catch {
                    logger.warning("claim failed: \(error)")
                    try? await backoff.wait()
                    continue
                }
            }
            await wakeup.wait(timeout: configuration.pollIntervalSeconds)
        }
    }

    private func held(_ job: Job) -> QueueStore.Held { .init(id: job.id, attempt: job.attempt) }

    private func start(_ job: Job, leaseSentAt: ContinuousClock.Instant, _ finishStore: QueueStore,
                       in jobs: inout DiscardingTaskGroup) {
        let control = JobControl(clock: clock, leaseSeconds: configuration.leaseSeconds, renewedAt: leaseSentAt)
        state.withLock { $0.running[held(job)] = Running(job: job, control: control) }
        jobs.addTask { await self.execute(job, control: control, finishStore) }
    }

    private func execute(_ job: Job, control: JobControl, _ finishStore: QueueStore) async {
        var logger = self.logger
        logger[metadataKey: "job.id"] = "\(job.id)"
        logger[metadataKey: "job.type"] = "\(job.type)"
        logger[metadataKey: "job.attempt"] = "\(job.attempt)"
        let held = QueueStore.Held(id: job.id, attempt: job.attempt)
        let context = JobContext(job: job, logger: logger, database: handlerPool, store: finishStore,
                                 control: control, leaseSeconds: configuration.leaseSeconds, clock: clock)
        var thrown: (any Error)?
        let handlerStarted = ContinuousClock.now
        do {
            let definition = try registry.definition(for: job.type)
            try await definition.run(context)
        } catch {
            thrown = error
        }
        QueueMetrics.jobDuration(type: job.type, handlerStarted.duration(to: .now))
        let ending = AttemptEnding.of(error: thrown, signal: control.signal, taskCanceled: Task.isCancelled,
                                      retryDelay: Self.retryDelay(attempt: job.attempt))
        if let outcome = ending.outcome {
            if outcome == .succeeded, !job.kind.isSync {
                let closingLine = control.closingLine
                state.withLock { state in
                    state.succeeded.append(held)
                    state.closingLines[held] = closingLine
                    state.succeededTypes[held] = job.type
                }
                finisherWakeup.signal()
            } else {
                await persist("finish job \(job.id)") {
                    let recorded = try await finishStore.jobEnd(held, outcome: outcome, error: ending.error,
                                                                retryDelaySeconds: ending.retryDelay, now: self.clock.sqlNow,
                                                                actor: self.configuration.name)
                    if let recorded { QueueMetrics.jobFinished(type: job.type, recorded: recorded) }
                }
            }
            if outcome != .succeeded {
                logger.info("job ended", metadata: ["outcome": "\(outcome.rawValue)", "error": "\(ending.error ?? "")"])
            }
        } else if control.signal == .lost {
            // Said by the worker that lost it: the job's own log is closed to this attempt.
            logger.warning("attempt \(job.attempt) of job \(job.id) lost its lease (rescued, stopped, or the worker was paused past it); its handler stopped without writing more",
                           metadata: ["job.target": "\(job.target ?? "-")", "error": "\(thrown.map { "\($0)" } ?? "none")"])
        }
        state.withLock { _ = $0.running.removeValue(forKey: held) }
        wakeup.signal()
    }

    /// Exponential backoff with jitter for retryable failures: about 1 s, 2 s, 4 s … up to 10 min.
    static func retryDelay(attempt: Int) -> Double {
        let ceiling = min(600, pow(2, Double(max(0, attempt - 1))))
        return Double.random(in: ceiling / 2 ... ceiling)
    }

    // MARK: finishing

    private func finisherLoop(_ store: QueueStore) async {
        var backoff = Backoff()
        while true {
            let (batch, closingLines) = state.withLock { state in
                let batch = Array(state.succeeded.prefix(2000))
                let inBatch = Set(batch)
                return (batch, state.closingLines.filter { held, _ in inBatch.contains(held) })
            }
            if batch.isEmpty {
                if isStopping && state.withLock({ $0.running.isEmpty }) { return }
                await finisherWakeup.wait(timeout: 0.5)
                continue
            }
            do {
                let written = try await store.jobSucceedMany(batch, closingLines: closingLines)
                backoff.reset()
                if written.count < batch.count {
                    // A try whose answer a crash or failover cut off may have been recorded all the same.
                    logger.warning("\(batch.count - written.count) finished jobs were no longer ours (rescued meanwhile, or recorded by a try whose answer was lost)")
                }
                let done = Set(batch)
                let types = state.withLock { state in
                    state.succeeded.removeAll { done.contains($0) }
                    var types: [QueueStore.Held: String] = [:]
                    for held in done {
                        state.closingLines[held] = nil
                        types[held] = state.succeededTypes.removeValue(forKey: held)
                    }
                    return types
                }
                var succeededByType: [String: Int] = [:]
                for held in batch where written.contains(held.id) { succeededByType[types[held] ?? "unknown", default: 0] += 1 }
                for (type, count) in succeededByType { QueueMetrics.jobsSucceeded(type: type, count: count) }
            } catch {
                logger.warning("recording finished jobs failed: \(error)")
                try? await backoff.wait()
            }
        }
    }

    /// Retries a write until it succeeds; a lost connection or a restarting server only delays it.
    /// Gives up on errors that another try cannot fix.
    private func persist(_ what: String, _ body: () async throws -> Void) async {
        var backoff = Backoff()
        let deadline = clock.now.addingTimeInterval(configuration.leaseSeconds * 2)
        while true {
            do {
                try await body()
                return
            } catch let error as PostgresError where error.isTransient && clock.now < deadline {
                logger.warning("\(what) failed, retrying: \(error)")
                try? await backoff.wait()
            } catch {
                logger.error("\(what) failed: \(error)")
                return
            }
        }
    }

    private func retrying(_ what: String, _ body: () async throws -> Void) async throws {
        var backoff = Backoff()
        while true {
            do {
                try await body()
                return
            } catch let error as PostgresError where error.kind == .connectionLost {
                if isStopping { throw error }
                logger.warning("\(what) failed, retrying: \(error)")
                try await backoff.wait()
            }
        }
    }

    // MARK: heartbeats and notifications

    private func heartbeatLoop(_ store: QueueStore) async {
        let interval = configuration.leaseSeconds / 3
        // After a failed heartbeat (the server went away, a failover) the next comes soon, not a third
        // of the lease later: the leases run out meanwhile, and the coordinator rescues what ran out.
        var backoff = Backoff(initial: 0.1, maximum: min(2, interval))
        var pause = interval
        while !Task.isCancelled {
            try? await clock.sleep(seconds: pause)
            if Task.isCancelled { return }
            let held = state.withLock { state in
                Array(state.running.keys) + state.succeeded
            }
            do {
                let sentAt = ContinuousClock.now
                let heartbeat = try await store.jobHeartbeat(worker: configuration.name, held: held,
                                                             leaseSeconds: configuration.leaseSeconds, now: clock.sqlNow)
                for item in held {
                    let control = state.withLock { $0.running[item]?.control }
                    guard let control else { continue }
                    // A busy job keeps its local lease as it was: renewing it here would let the
                    // handler trust a lease the database did not extend.
                    if heartbeat.busy.contains(item) { continue }
                    switch heartbeat.renewed[item] {
                    case nil:
                        control.set(.lost)
                        logger.warning("job \(item.id) attempt \(item.attempt) is no longer ours (rescued or stopped); letting it go")
                    case .canceling?:
                        control.leaseRenewed(sentAt: sentAt)
                        control.set(.cancel)
                    default:
                        control.leaseRenewed(sentAt: sentAt)
                    }
                }
                backoff.reset()
                // A busy job's lease is renewed at the next beat, soon: its transaction is usually short.
                pause = heartbeat.busy.isEmpty ? interval : min(interval, 1)
            } catch {
                logger.warning("heartbeat failed: \(error)")
                pause = backoff.nextDelay()
            }
        }
    }

    private func listen() async {
        let connection = Connection(database)
        var backoff = Backoff()
        // The server session LISTEN was issued on. A session the server closed while we were between
        // calls (a restart, a terminate) is replaced silently by the connection, without the LISTEN.
        var listeningSession: Int?
        // Notifications come from the primary only: now and then the session checks that its server
        // still takes writes, and is made again on the primary when it does not (after a failover
        // that left the old primary running, read-only).
        let probeInterval: Duration = .seconds(5)
        var probedAt = ContinuousClock.now
        while !Task.isCancelled && !isStopping {
            do {
                let listenedBefore = listeningSession
                let probe = listenedBefore != nil && probedAt.duration(to: .now) >= probeInterval
                let (session, notifications) = try await connection.withSession { session -> (Int, Int) in
                    if session.serverSessionNumber != listenedBefore {
                        try session.listen("ucp_jobs")
                    } else if probe, try !session.serverTakesWrites() {
                        throw PostgresError(kind: .connectionLost, sqlState: "25006",
                                            message: "the server no longer takes writes; listening on the primary instead")
                    }
                    return (session.serverSessionNumber, try session.waitForNotifications(timeout: 0.5).count)
                }
                if probe { probedAt = .now }
                if session != listenedBefore {
                    listeningSession = session
                    probedAt = .now
                    wakeup.signal() // we may have missed notifications while not listening
                }
                backoff.reset()
                if notifications > 0 { wakeup.signal() }
            } catch {
                listeningSession = nil
                logger.debug("listen connection failed: \(error)")
                try? await backoff.wait()
            }
        }
        await connection.close()
    }

    // MARK: stopping

    /// Lets running jobs finish within the grace period, then hands back the rest and cancels their
    /// handlers (the jobs' group then waits for them to return).
    private func drain(_ store: QueueStore, _ jobs: inout DiscardingTaskGroup) async {
        let deadline = clock.now.addingTimeInterval(configuration.gracePeriodSeconds)
        while clock.now < deadline, state.withLock({ !$0.running.isEmpty }) {
            await wakeup.wait(timeout: 0.1)
        }
        let left = state.withLock { state in state.running.values.map(\.job) }
        guard !left.isEmpty else { return }
        logger.info("grace period over; releasing \(left.count) job(s) back to the queue")
        await persist("release jobs") {
            _ = try await store.jobRelease(left.map { .init(id: $0.id, attempt: $0.attempt) },
                                           actor: self.configuration.name)
        }
        jobs.cancelAll()
    }
}
