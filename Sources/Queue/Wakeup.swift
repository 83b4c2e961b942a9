import Runtime
import Synchronization

/// A coalescing wake-up signal: `signal()` wakes the one waiter, or the next `wait` if none waits.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Counts waits, so that a timer only ends the wait it was started for.
        var generation = 0
        /// The timer of the current wait ran out before its waiter was in place.
        var expired = false
    }

    private let state = Mutex(State())
    private let clock: any TimeSource

    init(clock: any TimeSource) {
        self.clock = clock
    }

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns when signalled or after `timeout` seconds of the clock. The timer is a child task,
    /// canceled as soon as the signal comes; a canceled task returns at once.
    func wait(timeout: Double) async {
        let generation = state.withLock { state -> Int? in
            if state.pending {
                state.pending = false
                return nil
            }
            state.generation += 1
            state.expired = false
            return state.generation
        }
        guard let generation else { return }
        let clock = self.clock
        await withTaskGroup(of: Void.self) { timer in
            timer.addTask {
                try? await clock.sleep(seconds: timeout)
                self.expire(generation)
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.pending || state.expired {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
            timer.cancelAll()
        }
    }

    /// Ends the wait of `generation`, if it still waits, when its timer ran out (or was canceled).
    private func expire(_ generation: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.generation == generation else { return nil }
            guard let waiter = state.waiter else {
                state.expired = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
