import CoreMetrics
import Synchronization

/// The pages of one paged search, as an asynchronous sequence. A reader task asks the server for
/// page after page (each request needs the previous page's cookie) and holds at most `readAhead`
/// pages the caller has not taken yet; it waits while that many are waiting. Ending the iteration
/// early (break, error, cancellation) stops the reader, which tells the server to drop the search.
public struct LDAPPages: AsyncSequence, Sendable {
    public typealias Element = LDAPPage
    let connection: LDAPConnection
    let search: LDAPSearch
    let readAhead: Int

    public func makeAsyncIterator() -> Iterator {
        Iterator(reader: Reader(connection: connection, search: search, capacity: readAhead))
    }

    public struct Iterator: AsyncIteratorProtocol {
        let reader: Reader
        public mutating func next() async throws -> LDAPPage? { try await reader.take() }
    }

    /// The reading task and the pages it read; the last element is the end (nil) or the failure.
    final class Reader: Sendable {
        static let nextNumber = Atomic<Int>(0)
        private let buffer: PageBuffer
        private let task: Task<Void, Never>

        init(connection: LDAPConnection, search: LDAPSearch, capacity: Int) {
            let buffer = PageBuffer(capacity: capacity)
            self.buffer = buffer
            let reader = Reader.nextNumber.add(1, ordering: .relaxed).newValue
            task = Task {
                var cookie: [UInt8]?
                var pending: Int32?
                var index = 0
                do {
                    repeat {
                        let fetched = try await connection.page(search, cookie: cookie, pending: pending, index: index, reader: reader)
                        Counter(label: "ucp_ldap_pages_total").increment()
                        Counter(label: "ucp_ldap_entries_total").increment(by: fetched.page.entries.count)
                        cookie = search.pageSize > 0 ? fetched.cookie : nil
                        pending = fetched.next
                        index += 1
                        guard await buffer.put(fetched.page) else {
                            // The caller stopped: the server still holds the search if a cookie is left.
                            if cookie != nil { connection.abandon(reader: reader) }
                            return
                        }
                    } while cookie != nil
                    await buffer.finish(nil)
                } catch {
                    await buffer.finish(error)
                }
            }
        }

        deinit {
            task.cancel()
            let buffer = buffer
            Task { await buffer.close() }
        }

        func take() async throws -> LDAPPage? { try await buffer.take() }
    }
}

/// A bounded hand-over of pages from the reader task to the caller.
actor PageBuffer {
    private let capacity: Int
    private var pages: [LDAPPage] = []
    private var end: Result<Void, Error>?
    private var closed = false
    private var taker: CheckedContinuation<Void, Never>?
    private var putter: CheckedContinuation<Void, Never>?

    init(capacity: Int) { self.capacity = capacity }

    /// Adds a page, waiting while the buffer is full. False when the caller went away.
    func put(_ page: LDAPPage) async -> Bool {
        while pages.count >= capacity && !closed {
            await withCheckedContinuation { putter = $0 }
        }
        guard !closed else { return false }
        pages.append(page)
        wakeTaker()
        return true
    }

    func finish(_ error: Error?) {
        end = error.map { .failure($0) } ?? .success(())
        wakeTaker()
    }

    /// The caller is gone: wake the reader so it stops.
    func close() {
        closed = true
        pages.removeAll()
        putter?.resume()
        putter = nil
    }

    func take() async throws -> LDAPPage? {
        while pages.isEmpty && end == nil {
            await withCheckedContinuation { taker = $0 }
        }
        if !pages.isEmpty {
            let page = pages.removeFirst()
            putter?.resume()
            putter = nil
            return page
        }
        try end?.get()
        return nil
    }

    private func wakeTaker() {
        taker?.resume()
        taker = nil
    }
}
