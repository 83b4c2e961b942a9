import Foundation
import Synchronization

/// Slows down a client that keeps failing to authenticate: after `freeFailures` failures in a row,
/// each further attempt must wait a delay that doubles per failure up to `maxDelay`; an attempt
/// inside the wait is refused (429 with Retry-After) without looking at the token. A success forgets
/// the client. The time is passed in, so the rule is tested without waiting.
public final class AuthThrottle: Sendable {
    public struct Rules: Sendable {
        public var freeFailures = 5
        public var baseDelay = 1.0
        public var maxDelay = 300.0
        /// Clients remembered at most; the longest quiet is forgotten first.
        public var capacity = 10_000

        public init() {}
    }

    struct Client {
        var failures: Int
        var lastFailure: Date
        var blockedUntil: Date
    }

    let rules: Rules
    let clients = Mutex<[String: Client]>([:])

    public init(rules: Rules = Rules()) {
        self.rules = rules
    }

    /// Seconds `client` must still wait at `now` before its next attempt is looked at; nil: go ahead.
    public func retryAfter(client: String, now: Date) -> Double? {
        clients.withLock { clients in
            guard let entry = clients[client], entry.blockedUntil > now else { return nil }
            return entry.blockedUntil.timeIntervalSince(now)
        }
    }

    public func recordFailure(client: String, now: Date) {
        clients.withLock { clients in
            var entry = clients[client] ?? Client(failures: 0, lastFailure: now, blockedUntil: now)
            // A client that stayed quiet for the longest delay starts afresh.
            if now.timeIntervalSince(entry.lastFailure) > rules.maxDelay { entry.failures = 0 }
            entry.failures += 1
            entry.lastFailure = now
            let over = entry.failures - rules.freeFailures
            if over > 0 {
                let delay = min(rules.maxDelay, rules.baseDelay * pow(2, Double(min(over - 1, 30))))
                entry.blockedUntil = now.addingTimeInterval(delay)
            }
            clients[client] = entry
            if clients.count > rules.capacity,
               let quietest = clients.min(by: { $0.value.lastFailure < $1.value.lastFailure })?.key {
                clients[quietest] = nil
            }
        }
    }

    public func recordSuccess(client: String) {
        _ = clients.withLock { $0.removeValue(forKey: client) }
    }
}
