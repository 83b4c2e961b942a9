import Foundation
@testable import APIServer
import HTTPAPI
import Postgres
import Queue
import TestSupport
import XCTest

/// The status page renders what the queue holds — a running sync's progress bar, maintenance with its
/// reason, the queue, the audit — and escapes every value that came from outside.
final class StatusPageRenderTests: XCTestCase {
    func testThePageShowsARunningSyncsProgressAndEscapesWhatItShows() async throws {
        let database = try await TestServer.freshDatabase()
        let store = database.store()
        let sync = try await store.jobEnqueue(.init(kind: .sync, type: "sync.infra", target: "cucm-<1>", actor: "test")).id
        let claimed = try await store.jobClaim(worker: "w1", slots: 1, leaseSeconds: 30)
        XCTAssertEqual(claimed.map(\.id), [sync])
        _ = try await store.jobProgress(.init(id: sync, attempt: 1), done: 250, total: 1000, message: "phones & lines", leaseSeconds: 30)
        try await store.maintenanceSet(on: true, actor: "alice")
        try await store.auditAppend(actor: "bob <script>", action: "test", message: "said \"hi\" & left")

        let snapshot = try await StatusPage.Snapshot.read(Connection(database.app))
        let html = StatusPage.render(snapshot, token: nil, database: "db <x>")

        XCTAssertTrue(html.contains("<tr class=\"sync\" data-job-id=\"\(sync)\" data-target=\"cucm-&lt;1&gt;\" data-done=\"250\" data-total=\"1000\">"), html)
        XCTAssertTrue(html.contains("<progress max=\"1000\" value=\"250\">25%</progress>"))
        XCTAssertTrue(html.contains("250/1000 (25%) phones &amp; lines"))
        XCTAssertTrue(html.contains("<p id=\"maintenance\" data-active=\"true\">"))
        XCTAssertTrue(html.contains("<td>bob &lt;script&gt;</td>"))
        XCTAssertTrue(html.contains("said &quot;hi&quot; &amp; left"))
        XCTAssertTrue(html.contains("db &lt;x&gt;"))
        XCTAssertFalse(html.contains("bob <script>"), "no value reaches the page unescaped")
        XCTAssertTrue(html.contains("<tr><td>running</td><td>sync.infra</td><td>1</td></tr>"), "the queue by state and type")
    }
}
