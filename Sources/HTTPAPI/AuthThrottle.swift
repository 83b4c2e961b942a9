import Foundation
import Synchronization

/// Slows down a client that keeps failing to authenticate: after `freeFailures` failures in a row,
/// each further attempt must wait a delay that doubles per failure up to `maxDelay`; an attempt
/// inside the wait is refused (429 with Retry-After) without looking the token up, unless it presents
/// a secret that authenticated here before. A client is its address, and many callers share one (every
/// local caller is 127.0.0.1, every caller behind a NAT one address): a script retrying a revoked
/// token must not lock the others out, while a guesser (whose secrets never authenticated) still
/// waits. A trusted secret is still looked up; only the wait is skipped. A success forgets the client's
/// failures. The time is passed in, so the rule is tested without waiting.
public final class AuthThrottle: Sendable {
    public struct Rules: Sendable {
        public var freeFailures = 5
        public var baseDelay = 1.0
        public var maxDelay = 300.0
        /// Clients remembered at most; the longest quiet is forgotten first. As many trusted secrets.
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
    /// Digests of secrets that authenticated, with when they last did.
    let trusted = Mutex<[String: Date]>([:])

    public init(rules: Rules = Rules()) {
        self.rules = rules
    }

    /// Seconds `client` must still wait at `now` before its next attempt is looked at; nil: go ahead
    /// (always for a secret, by `digest`, that authenticated here before).
    public func retryAfter(client: String, digest: String? = nil, now: Date) -> Double? {
        if let digest, trusted.withLock({ $0[digest] != nil }) { return nil }
        return clients.withLock { clients in
            guard let entry = clients[client], entry.blockedUntil > now else { return nil }
            return entry.blockedUntil.timeIntervalSince(now)
        }
    }

    /// A failed attempt; `digest` (of the secret presented) is no longer trusted (a revoked token).
    public func recordFailure(client: String, digest: String? = nil, now: Date) {
        if let digest { _ = trusted.withLock { $0.removeValue(forKey: digest) } }
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

    /// The secret (by `digest`) authenticated: the client's failures are forgotten, and the secret
    /// passes every later wait.
    public func recordSuccess(client: String, digest: String, now: Date) {
        _ = clients.withLock { $0.removeValue(forKey: client) }
        trusted.withLock { trusted in
            trusted[digest] = now
            if trusted.count > rules.capacity, let oldest = trusted.min(by: { $0.value < $1.value })?.key {
                trusted[oldest] = nil
            }
        }
    }
}
