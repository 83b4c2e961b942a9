@testable import APIServer
import XCTest

/// The shared answers of `ucp serve`: fresh ones served as they are, stale ones served while one read
/// renews them, none (or forgotten) waited for — with reads held open by the test, not by the clock.
final class SnapshotCacheTests: XCTestCase {
    /// Counts the reads; each read waits until the test opens it.
    actor Reads {
        private(set) var started = 0
        private var open = false
        private var waiting: [CheckedContinuation<Void, Never>] = []

        func read() async -> Int {
            started += 1
            let number = started
            if !open { await withCheckedContinuation { waiting.append($0) } }
            return number
        }

        func release() {
            open = true
            waiting.forEach { $0.resume() }
            waiting = []
        }
    }

    func testFreshAnswersAreShared() async throws {
        let cache = SnapshotCache<Int>(lifetime: .seconds(3600))
        let reads = Reads()
        await reads.release()
        let first = try await cache.value("status") { await reads.read() }
        let second = try await cache.value("status") { await reads.read() }
        XCTAssertEqual([first, second], [1, 1])
        let other = try await cache.value("jobs|50") { await reads.read() }
        XCTAssertEqual(other, 2, "each key has its own answer")
    }

    func testAStaleAnswerIsServedWhileOneReadRenewsIt() async throws {
        let cache = SnapshotCache<Int>(lifetime: .zero, staleness: .seconds(3600))
        let reads = Reads()
        await reads.release()
        let answer1 = try await cache.value { await reads.read() }
        XCTAssertEqual(answer1, 1, "none yet: the request waits for the read")

        let held = Reads()
        // Stale now: answered at once with the old value, while one read (held open) renews it.
        for _ in 1...3 {
            let answer = try await cache.value { await held.read() }
            XCTAssertEqual(answer, 1)
        }
        let renewing = await held.started
        XCTAssertEqual(renewing, 1, "one read renews the answer, however many requests come")
        await held.release()
        var renewed = 1
        for _ in 1...1000 where renewed == 1 {
            renewed = try await cache.value { await held.read() }
            await Task.yield()
        }
        XCTAssertGreaterThan(renewed, 1, "the renewed answer is served once read")
    }

    func testForgottenOrTooOldAnswersAreWaitedFor() async throws {
        let cache = SnapshotCache<Int>(lifetime: .zero, staleness: .zero)
        let reads = Reads()
        await reads.release()
        let answer3 = try await cache.value { await reads.read() }
        XCTAssertEqual(answer3, 1)
        let answer4 = try await cache.value { await reads.read() }
        XCTAssertEqual(answer4, 2, "older than the staleness allowed: read again")

        let tokens = SnapshotCache<Int>(lifetime: .seconds(3600))
        let answer5 = try await tokens.value("digest") { await reads.read() }
        XCTAssertEqual(answer5, 3)
        await tokens.removeAll()
        let answer6 = try await tokens.value("digest") { await reads.read() }
        XCTAssertEqual(answer6, 4, "a revocation forgets every answer")
    }
}
