import Foundation
import Synchronization

/// One change of the Data Change Notification feed (`listChange`).
struct Change: Sendable {
    let id: Int
    let type: String
    let uuid: String
    /// `a` add, `u` update, `r` remove.
    let action: String
    let changedTags: [(name: String, value: String)]
    /// Only a get tells the new state: an addition, or an update of more than scalar tags (lines, members).
    let doGet: Bool
}

/// The in-memory ring of changes Unified CM keeps for listChange: ids grow from 1, the oldest fall out
/// past the capacity (Unified CM: 100,000), and a queue id that is new with every start of the
/// process and every reset (`POST /devsim/change-queue/reset`: the AXL service restarted), so that the
/// old one is answered with fault 5007.
final class ChangeLog: Sendable {
    private let capacity: Int
    /// A start evicted from the ring is answered from the oldest change kept rather than as lost.
    private let evictQuietly: Bool
    private let state: Mutex<(changes: [Change], nextId: Int, queueId: String, resets: Int)>
    /// Holds a listChange answer made from the queue until the test releases it (`/devsim/change-queue/hold`).
    let gate = AnswerGate()

    init(capacity: Int, evictQuietly: Bool = false) {
        self.capacity = max(1, capacity)
        self.evictQuietly = evictQuietly
        state = Mutex(([], 1, ChangeLog.newQueueId(0), 0))
    }

    private static func newQueueId(_ resets: Int) -> String {
        String(UInt64(Date().timeIntervalSince1970 * 1000)) + String(getpid()) + (resets == 0 ? "" : "r\(resets)")
    }

    var queueId: String { state.withLock { $0.queueId } }

    func record(type: String, uuid: String, action: String, changedTags: [(name: String, value: String)] = [], doGet: Bool? = nil) {
        state.withLock { state in
            let doGet = doGet ?? (action == "a" || (action == "u" && changedTags.isEmpty))
            state.changes.append(Change(id: state.nextId, type: type, uuid: uuid, action: action, changedTags: changedTags,
                                        doGet: action == "r" ? false : doGet))
            state.nextId += 1
            if state.changes.count > capacity { state.changes.removeFirst(state.changes.count - capacity) }
        }
    }

    /// As after a restart of the AXL service: a new queue id, an empty cache (ids go on growing).
    func reset() -> String {
        state.withLock { state in
            state.resets += 1
            state.queueId = ChangeLog.newQueueId(state.resets)
            state.changes.removeAll()
            return state.queueId
        }
    }

    struct Page {
        let firstChangeId: Int
        let lastChangeId: Int
        let nextStartChangeId: Int
        let changes: [Change]
        /// The start asked for has already fallen out of the ring.
        let lost: Bool
        let queueId: String
        /// The ring holds no change.
        var isEmpty: Bool { lastChangeId < firstChangeId }
    }

    /// Changes from `start` (all kept, when nil), of the given types (any, when empty), at most `limit`.
    /// Nil when `queueId` is given and is not the current one.
    func page(queueId asked: String?, from start: Int?, types: Set<String>, limit: Int) -> Page? {
        state.withLock { state in
            if let asked, asked != state.queueId { return nil }
            let first = state.changes.first?.id ?? state.nextId
            let last = state.nextId - 1
            let from = start ?? first
            if from < first, start != nil, first > 1, !evictQuietly {
                return Page(firstChangeId: first, lastChangeId: last, nextStartChangeId: from, changes: [], lost: true,
                            queueId: state.queueId)
            }
            var picked: [Change] = []
            var next = max(from, first)
            for change in state.changes where change.id >= from {
                if picked.count == limit { break }
                next = change.id + 1
                if types.isEmpty || types.contains(change.type.lowercased()) { picked.append(change) }
            }
            if picked.count < limit { next = last + 1 }
            return Page(firstChangeId: first, lastChangeId: last, nextStartChangeId: next, changes: picked, lost: false,
                        queueId: state.queueId)
        }
    }
}

/// One listChange answer held, once made, until released: a test's write then falls between the
/// client's listChange and its use of the answer, whatever the timing. A held answer waits a minute
/// at most (a test that forgot to release it).
final class AnswerGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var armed = false
    private var releases = 0
    private var waitingCount = 0

    func hold() {
        condition.lock()
        armed = true
        condition.unlock()
    }

    /// Answers held now.
    var waiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return waitingCount
    }

    /// Lets the held answers go; returns how many there were.
    func release() -> Int {
        condition.lock()
        defer { condition.unlock() }
        let released = waitingCount
        armed = false
        releases += 1
        condition.broadcast()
        return released
    }

    /// Waits here if a hold is armed (this answer takes it), until released.
    func pass() {
        condition.lock()
        defer { condition.unlock() }
        guard armed else { return }
        armed = false
        let release = releases
        waitingCount += 1
        let deadline = Date().addingTimeInterval(60)
        while releases == release, condition.wait(until: deadline) {}
        waitingCount -= 1
    }
}
