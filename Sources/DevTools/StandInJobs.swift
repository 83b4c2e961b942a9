import Foundation
import JobCatalog
import Queue
import Runtime

/// `noop`: an order that does nothing, or waits. It counts as an order, so maintenance mode holds it
/// back. Tests, the demo and the queue benchmark use it; a worker runs it only when started with the
/// hidden flag `--stand-in-jobs`.
public struct NoopOrder: JobParameters {
    public static let jobType = "noop"
    public static let kind = JobKind.order
    public static let maxAttempts = 5

    /// How long the job runs.
    public var seconds: Double?
    /// Write "noop started" to the job's log when it starts and "noop finished" with its success (in
    /// the statement that records it: tests and scripts/chaos.sh count completions with it).
    public var log: Bool?
    /// Fail with this message (retryable when `retryable` is true).
    public var fail: String?
    public var retryable: Bool?

    public init(seconds: Double? = nil, log: Bool? = nil, fail: String? = nil, retryable: Bool? = nil) {
        self.seconds = seconds
        self.log = log
        self.fail = fail
        self.retryable = retryable
    }

    @Sendable
    static func run(_ parameters: NoopOrder, _ context: JobContext) async throws {
        if parameters.log == true { try await context.log("noop started") }
        if let seconds = parameters.seconds, seconds > 0 {
            try await context.sleep(seconds: seconds)
        }
        if let message = parameters.fail {
            if parameters.retryable == true { throw RetryableJobError(message) }
            throw StandInFailure(description: message)
        }
        if parameters.log == true { try context.logOnSuccess("noop finished") }
    }
}

/// How a stand-in sync behaves: it reports progress for `seconds`, then succeeds, or fails with
/// `fail`; with `hang` it stops reporting after the first step and never ends by itself.
public struct StandInSyncBehaviour: Sendable, Equatable {
    public var seconds: Double = 5
    public var hang = false
    public var fail: String?

    public init(seconds: Double = 5, hang: Bool = false, fail: String? = nil) {
        self.seconds = seconds
        self.hang = hang
        self.fail = fail
    }

    static let stepSeconds = 0.25

    /// Parses `seconds:N`, `hang` and `fail:MESSAGE`, joined with commas (`seconds:0.1,fail:boom`).
    public init(parsing text: String) throws(InputError) {
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let (word, value) = part.firstIndex(of: ":").map { (part[..<$0], String(part[part.index(after: $0)...])) }
                ?? (part[...], nil as String?)
            switch (word, value) {
            case ("hang", nil): hang = true
            case ("seconds", let value?):
                guard let seconds = Double(value), (0...86400).contains(seconds) else {
                    throw InputError(field: "stand-in-sync", problem: "seconds must be from 0 to 86400 (got '\(value)')")
                }
                self.seconds = seconds
            case ("fail", let value?) where !value.isEmpty: fail = value
            default: throw InputError(field: "stand-in-sync", problem: "'\(part)' is not seconds:N, hang or fail:MESSAGE")
            }
        }
    }

    func run(_ context: JobContext) async throws {
        let steps = max(1, Int((seconds / Self.stepSeconds).rounded(.up)))
        let target = context.job.target ?? "?"
        try await context.progress(done: 0, total: Int64(steps), message: "reading \(target)")
        if hang {
            // Stuck: no more progress, no end. Only a stop (watchdog, operator, shutdown) ends it.
            while true { try await context.sleep(seconds: 1) }
        }
        for step in 1...steps {
            try await context.sleep(seconds: min(Self.stepSeconds, seconds))
            try await context.progress(done: Int64(step), total: Int64(steps), message: "step \(step) of \(steps)")
        }
        if let fail { throw StandInFailure(description: fail) }
    }
}

struct StandInFailure: Error, CustomStringConvertible { var description: String }

/// The job types and behaviours of tests and the demo, installed in a worker only by the hidden
/// flags `--stand-in-jobs` and `--stand-in-sync TARGET=BEHAVIOUR`: the `noop` order, and stand-in
/// syncs of named targets (`*`: every target not named) that take the place of the real sync for
/// those targets, so schedules and the watchdog can be tested with syncs that last, hang or fail.
public struct StandInJobs: Sendable {
    /// Behaviours by target; `*` matches every target not named.
    public var syncs: [String: StandInSyncBehaviour]

    public init(syncs: [String: StandInSyncBehaviour] = [:]) {
        self.syncs = syncs
    }

    public static let contracts: [any JobParameters.Type] = [NoopOrder.self]

    /// Parses the flag's values, each `TARGET=BEHAVIOUR`.
    public init(parsing specs: [String]) throws(InputError) {
        var syncs: [String: StandInSyncBehaviour] = [:]
        for spec in specs {
            guard let equals = spec.firstIndex(of: "="), equals != spec.startIndex else {
                throw InputError(field: "stand-in-sync", problem: "'\(spec)' is not TARGET=BEHAVIOUR")
            }
            syncs[String(spec[..<equals])] = try StandInSyncBehaviour(parsing: String(spec[spec.index(after: equals)...]))
        }
        self.init(syncs: syncs)
    }

    func behaviour(for target: String?) -> StandInSyncBehaviour? {
        target.flatMap { syncs[$0] } ?? syncs["*"]
    }

    public func install(in registry: inout JobRegistry) throws {
        try registry.register(NoopOrder.self, run: NoopOrder.run)
        guard !syncs.isEmpty else { return }
        for type in SyncType.allCases {
            try registry.intercept(type.jobType) { [self] context, realSync in
                guard let behaviour = behaviour(for: context.job.target) else { return try await realSync(context) }
                try await behaviour.run(context)
            }
        }
    }
}
