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
}

/// The in-memory ring of changes Unified CM keeps for listChange: ids grow from 1, the oldest fall out
/// past the capacity, and a queue id that is new with every start of the process.
final class ChangeLog: Sendable {
    let queueId: String
    private let capacity: Int
    private let state = Mutex<(changes: [Change], nextId: Int)>(([], 1))

    init(capacity: Int) {
        self.capacity = capacity
        queueId = String(UInt64(Date().timeIntervalSince1970 * 1000)) + String(getpid())
    }

    func record(type: String, uuid: String, action: String, changedTags: [(name: String, value: String)] = []) {
        state.withLock { state in
            state.changes.append(Change(id: state.nextId, type: type, uuid: uuid, action: action, changedTags: changedTags))
            state.nextId += 1
            if state.changes.count > capacity { state.changes.removeFirst(state.changes.count - capacity) }
        }
    }

    struct Page {
        let firstChangeId: Int
        let lastChangeId: Int
        let nextStartChangeId: Int
        let changes: [Change]
        /// The start asked for has already fallen out of the ring.
        let lost: Bool
    }

    /// Changes from `start` (all kept, when nil), of the given types (any, when empty), at most `limit`.
    func page(from start: Int?, types: Set<String>, limit: Int) -> Page {
        state.withLock { state in
            let first = state.changes.first?.id ?? state.nextId
            let last = state.nextId - 1
            let from = start ?? first
            if from < first, start != nil, first > 1 {
                return Page(firstChangeId: first, lastChangeId: last, nextStartChangeId: from, changes: [], lost: true)
            }
            var picked: [Change] = []
            var next = max(from, first)
            for change in state.changes where change.id >= from {
                if picked.count == limit { break }
                next = change.id + 1
                if types.isEmpty || types.contains(change.type.lowercased()) { picked.append(change) }
            }
            if picked.count < limit { next = last + 1 }
            return Page(firstChangeId: first, lastChangeId: last, nextStartChangeId: next, changes: picked, lost: false)
        }
    }
}
