import Foundation
import HTTPAPI
import Postgres
import Queue
import TestSupport
import XCTest

/// The status page renders what the queue holds — a running sync's progress bar, maintenance with its
/// reason, the queue, the audit — and escapes every value that came from outside.
final class StatusPageTests: XCTestCase {
    func testThePageShowsARunningSyncsProgressAndEscapesWhatItShows() async throws {
        let database = try await TestServer.freshDatabase()
        let store = database.store()
        let sync = try await store.jobEnqueue(.init(kind: .sync, type: "sync.infra", target: "cucm-<1>", actor: "test")).id
        let claimed = try await store.jobClaim(worker: "w1", slots: 1, leaseSeconds: 30)
        XCTAssertEqual(claimed.map(\.id), [sync])
        let held = QueueStore.Held(id: sync, attempt: 1)
        _ = try await store.jobProgress(held, done: 250, total: 1000, message: "phones & lines", leaseSeconds: 30)
        try await store.maintenanceSet(on: true, actor: "alice")
        try await store.auditAppend(actor: "bob <script>", action: "test", message: "said \"hi\" & left")

        let model = StatusPageModel(
            now: Date(timeIntervalSince1970: 1_800_000_000), status: try await store.statusSnapshot(),
            schedules: [.init(name: "nightly", enabled: true, nextRun: Date(timeIntervalSince1970: 1_800_003_600)),
                        .init(name: "off-hours", enabled: false, nextRun: nil)],
            recentOrders: [], audit: try await store.auditLatest(limit: 3))
        let html = StatusPage.page(model)

        XCTAssertTrue(html.contains("<progress data-job-id=\"\(sync)\" value=\"250\" max=\"1000\"></progress>"), html)
        XCTAssertTrue(html.contains("250/1000 (25%)"))
        XCTAssertTrue(html.contains("cucm-&lt;1&gt;"), "the target is escaped")
        XCTAssertTrue(html.contains("phones &amp; lines"))
        XCTAssertTrue(html.contains("<section id=\"maintenance\" class=\"on\">"))
        XCTAssertTrue(html.contains("bob &lt;script&gt;"))
        XCTAssertTrue(html.contains("said &quot;hi&quot; &amp; left"))
        XCTAssertFalse(html.contains("bob <script>"), "no value reaches the page unescaped")
        XCTAssertTrue(html.contains("<td>nightly</td><td>2027-01-15 09:00:00 UTC</td>"), html)
        XCTAssertTrue(html.contains("<td>off-hours</td><td>disabled</td>"))
        XCTAssertTrue(html.contains("<td>running</td><td>sync.infra</td><td>1</td>"), "the queue by state and type")
        XCTAssertTrue(html.contains("No order yet."))
        let newest = try XCTUnwrap(html.range(of: "<td>bob &lt;script&gt;</td>")).lowerBound
        let older = try XCTUnwrap(html.range(of: "<td>alice</td>"), "maintenance switched on is audited").lowerBound
        XCTAssertLessThan(newest, older, "the newest audit line comes first")
        // The page polls its own <main>; the fragment is that <main>'s content.
        XCTAssertTrue(html.contains("<main id=\"status\">\(StatusPage.fragment(model))</main>"))
        XCTAssertTrue(html.contains("fetch(\"\(StatusPage.fragmentPath)\""))
    }

    func testTheSignInPageEscapesItsProblem() {
        let html = StatusPage.signIn(problem: "token <unknown>")
        XCTAssertTrue(html.contains("<p class=\"problem\" role=\"alert\">token &lt;unknown&gt;</p>"))
        XCTAssertTrue(html.contains("type=\"password\""), "the token is not shown as it is typed")
        XCTAssertEqual(StatusPage.escape("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&#39;")
    }
}
