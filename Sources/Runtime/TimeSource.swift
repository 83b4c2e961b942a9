import Foundation
import Synchronization

/// Where a service reads the time and how it waits: the system clock in production, a
/// `ManualTimeSource` in tests, so that "stuck for an hour" takes no hour. (Not named `Clock`, so
/// that it never shadows Swift's own protocol in a file that imports this module.)
public protocol TimeSource: Sendable {
    /// The current time.
    var now: Date { get }
    /// The time a store call passes to its SQL (`coalesce($n::timestamptz, now())`): nil with the
    /// system clock, so that every host's statements keep using the database server's one clock;
    /// the test time with a test clock.
    var sqlNow: Date? { get }
    /// Suspends for `seconds` of this clock's time; throws `CancellationError` when the task is canceled.
    func sleep(seconds: Double) async throws
}

/// The system's clock: `Date()` and `Task.sleep`.
public struct SystemTimeSource: TimeSource {
    public init() {}

    public var now: Date { Date() }
    public var sqlNow: Date? { nil }

    public func sleep(seconds: Double) async throws {
        try await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1_000_000_000))
    }
}

/// A clock for tests: its time moves only when the test advances it, and a sleeper wakes once the
/// time reaches its deadline. Nothing waits on the wall clock, so a test of "an hour later" is
/// deterministic and takes milliseconds.
public final class ManualTimeSource: TimeSource {
    private struct Sleeper {
        var id: UInt64
        var deadline: Date
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct Watcher {
        var id: UInt64
        var count: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var now: Date
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
        /// Sleeps begun but not yet registered; a cancel that comes first is noted here.
        var starting: [UInt64: Bool] = [:]
        var watchers: [Watcher] = []

        mutating func takeID() -> UInt64 {
            nextID += 1
            return nextID
        }

        /// The watchers satisfied by the current number of sleepers, taken out.
        mutating func satisfiedWatchers() -> [Watcher] {
            let satisfied = watchers.filter { $0.count <= sleepers.count }
            watchers.removeAll { $0.count <= sleepers.count }
            return satisfied
        }
    }

    private let state: Mutex<State>

    public init(now: Date = Date()) {
        state = Mutex(State(now: now))
    }

    public var now: Date { state.withLock { $0.now } }
    public var sqlNow: Date? { now }

    /// How many tasks sleep on this clock now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    public func sleep(seconds: Double) async throws {
        try Task.checkCancellation()
        guard seconds > 0 else { return }
        let id = state.withLock { state -> UInt64 in
            let id = state.takeID()
            state.starting[id] = false
            return id
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (canceled, watchers) = state.withLock { state -> (Bool, [Watcher]) in
                    if state.starting.removeValue(forKey: id) == true { return (true, []) }
                    state.sleepers.append(Sleeper(id: id, deadline: state.now.addingTimeInterval(seconds),
                                                  continuation: continuation))
                    return (false, state.satisfiedWatchers())
                }
                if canceled { continuation.resume(throwing: CancellationError()) }
                for watcher in watchers { watcher.continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                if state.starting[id] != nil {
                    state.starting[id] = true
                    return nil
                }
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the time forward by `seconds` and wakes every sleeper whose deadline has come, earliest first.
    public func advance(by seconds: Double) {
        advance(to: now.addingTimeInterval(seconds))
    }

    /// Moves the time forward to `date` (never back) and wakes every sleeper whose deadline has come.
    public func advance(to date: Date) {
        let woken = state.withLock { state -> [Sleeper] in
            state.now = max(state.now, date)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }

    /// Returns once at least `count` tasks sleep on this clock: how a test knows that a service
    /// finished its round and waits for the next, without waiting on the wall clock.
    public func waitForSleepers(_ count: Int = 1) async {
        let id = state.withLock { $0.takeID() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.sleepers.count >= count || Task.isCancelled { return true }
                    state.watchers.append(Watcher(id: id, count: count, continuation: continuation))
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let watcher = state.withLock { state -> Watcher? in
                guard let index = state.watchers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.watchers.remove(at: index)
            }
            watcher?.continuation.resume()
        }
    }
}
