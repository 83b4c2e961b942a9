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

    /// Recent orders: newest first, a cancel order named as the cancel of its add order, the state
    /// and the steps through out of all, every value escaped.
    func testThePageShowsRecentOrdersWithTheirStepsDone() async throws {
        let database = try await TestServer.freshDatabase()
        let owner = Connection(database.owner)
        try await owner.query(Statement("", "INSERT INTO domains (name) VALUES ('Sales')"))
        let add: Int64 = try await owner.query(Statement("", """
            INSERT INTO orders (kind, domain, service_area, user_id, call_processor, line, phone, state, error, submitted_by)
            VALUES ('add', 'Sales', 'London', 'j<doe>', 'cucm-lab', '4000', 'SEP001122334455', 'failed', 'step 2 line: refused & more', 'setup')
            RETURNING id
            """)).first!.decode("id")
        try await owner.query(Statement("", """
            INSERT INTO order_steps (order_id, position, name, device, call, state) VALUES
              ($1, 1, 'user', 'cucm-lab', '[{"operation": "addUser", "values": []}]', 'done'),
              ($1, 2, 'line', 'cucm-lab', '[{"operation": "addLine", "values": []}]', 'failed'),
              ($1, 3, 'phone', 'cucm-lab', '[{"operation": "addPhone", "values": []}]', 'pending')
            """), [add])
        let cancel: Int64 = try await owner.query(Statement("", """
            INSERT INTO orders (kind, domain, service_area, user_id, call_processor, state, cancels, submitted_by)
            VALUES ('cancel', 'Sales', 'London', 'j<doe>', 'cucm-lab', 'running', $1, 'setup') RETURNING id
            """), [add]).first!.decode("id")

        let html = StatusPage.render(try await StatusPage.Snapshot.read(Connection(database.app)), token: nil, database: "db")
        let addRow = "<tr class=\"order\" data-order-id=\"\(add)\" data-state=\"failed\" data-steps-done=\"1\" data-steps-total=\"3\">"
        let cancelRow = "<tr class=\"order\" data-order-id=\"\(cancel)\" data-state=\"running\" data-steps-done=\"0\" data-steps-total=\"0\">"
        XCTAssertTrue(html.contains(addRow), html)
        XCTAssertTrue(html.contains(cancelRow), html)
        XCTAssertLessThan(try XCTUnwrap(html.range(of: cancelRow)).lowerBound, try XCTUnwrap(html.range(of: addRow)).lowerBound, "newest first")
        XCTAssertTrue(html.contains("<td>j&lt;doe&gt;</td><td>add</td><td>failed — step 2 line: refused &amp; more</td><td>1/3</td>"), html)
        XCTAssertTrue(html.contains("<td>cancel of \(add)</td>"), html)
        XCTAssertFalse(html.contains("j<doe>"))
    }
}
