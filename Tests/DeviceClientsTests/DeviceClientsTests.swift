import AXL
import DeviceClients
import Foundation
import Postgres
import Secrets
import Synchronization
import TestSupport
import XCTest

/// The AXL and CUPI clients against `ucp devsim` over HTTPS.
final class DeviceClientsTests: XCTestCase {
    func simulator(users: Int, _ flags: [String] = []) throws -> DeviceSimulatorProcess {
        try DeviceSimulatorProcess.start(for: self, users: users, arguments: flags)
    }

    func endpoint(_ sim: DeviceSimulatorProcess, password: String? = nil, caFile: String?? = nil, concurrency: Int = 4) -> DeviceEndpoint {
        DeviceEndpoint(host: "127.0.0.1", port: sim.port, username: sim.user, password: Secret(password ?? sim.password),
                       caFile: caFile ?? sim.certificatePath, concurrency: concurrency)
    }

    func testAListPagesWithSkipFirstAndShrinksThePageWhenTheDeviceSaysTooLarge() async throws {
        let sim = try simulator(users: 120, ["--max-rows", "25"])
        let client = AXLClient(endpoint: endpoint(sim), version: .latest, options: .init(pageSize: 100))
        let user = AXLCatalog.callProcessorUser.first { $0.inventoryType == "User" }!
        var ids: [String] = []
        var pages = 0
        try await client.list(user) { page in
            ids += page.items.compactMap { $0.text("userid") }
            pages += 1
        }
        XCTAssertEqual(ids.count, 120)
        XCTAssertEqual(Set(ids).count, 120, "no row read twice")
        XCTAssertGreaterThanOrEqual(pages, 120 / 25, "pages of fewer than 25 rows after the fault")
        let version = try await client.ccmVersion()
        XCTAssertEqual(version, "12.5.1.11900(146)")
    }

    /// `ucp_device_calls_total`: every request counted by operation and outcome, each 503 as `throttled`
    /// (retried or not), as the metrics endpoint would serve it.
    func testDeviceCallsAreCountedWithTheThrottledOnes() async throws {
        func count(_ outcome: String) -> Int {
            Int(recordedSample("ucp_device_calls_total", ["protocol": "axl", "operation": "listUser", "outcome": outcome]))
        }
        let (okBefore, throttledBefore) = (count("ok"), count("throttled"))
        let sim = try simulator(users: 120, ["--rate-503", "0.5"])
        let client = AXLClient(endpoint: endpoint(sim, concurrency: 1), version: .latest,
                               options: .init(pageSize: 25, overloadAttempts: 50, backoffInitial: 0.001, backoffMaximum: 0.01))
        let user = AXLCatalog.callProcessorUser.first { $0.inventoryType == "User" }!
        var pages = 0
        try await client.list(user) { _ in pages += 1 }
        XCTAssertGreaterThan(client.retries, 0, "the simulator answered some requests 503")
        XCTAssertEqual(count("throttled") - throttledBefore, client.retries, "each 503 counted")
        XCTAssertEqual(pages, 5, "120 users in pages of 25")
        XCTAssertEqual(count("ok") - okBefore, pages, "each answered request counted once")
    }

    func testGetFollowUpsReturnThePhoneLines() async throws {
        let sim = try simulator(users: 3)
        let client = AXLClient(endpoint: endpoint(sim), version: .latest)
        let phone = AXLCatalog.callProcessorUser.first { $0.inventoryType == "Phone" }!
        var uuids: [String] = []
        try await client.list(phone) { page in uuids += page.items.compactMap(\.uuid) }
        let got = try await client.get(phone, uuid: uuids[0])
        XCTAssertEqual(got?.item["lines"]?.children("line").first?.child("dirn")?.child("pattern")?.text, "1000000")
        let missing = try await client.get(phone, uuid: "{00000000-0000-0000-0000-000000000000}")
        XCTAssertNil(missing, "a phone removed between list and get is skipped, not an error")
    }

    func testFaultsAreTypedWithTheirAXLCode() async throws {
        let sim = try simulator(users: 3, ["--fault-type", "SipTrunk"])
        let client = AXLClient(endpoint: endpoint(sim), version: .latest)
        let trunk = AXLCatalog.callProcessorInfrastructure.first { $0.inventoryType == "SIPTrunk" }!
        do {
            try await client.list(trunk) { _ in }
            XCTFail("expected a fault")
        } catch let fault as AXLFault {
            XCTAssertEqual(fault.operation, "listSipTrunk")
        }
    }

    func testWrongPasswordAndUntrustedCertificateAreClearErrors() async throws {
        let sim = try simulator(users: 1)
        let wrong = AXLClient(endpoint: endpoint(sim, password: "nope"), version: .latest)
        do {
            _ = try await wrong.ccmVersion()
            XCTFail("expected 401")
        } catch let error as DeviceClientError {
            XCTAssertEqual(error.kind, .authentication)
            XCTAssertEqual(error.description, "getCCMVersion: authentication failed (HTTP 401)")
        }
        let untrusted = AXLClient(endpoint: endpoint(sim, caFile: .some(nil)), version: .latest)
        do {
            _ = try await untrusted.ccmVersion()
            XCTFail("expected a TLS failure")
        } catch let error as DeviceClientError {
            XCTAssertEqual(error.kind, .transport)
            XCTAssertTrue(error.message.contains("TLS certificate not trusted"), error.message)
        }
        let cupi = CUPIClient(endpoint: endpoint(sim, password: "nope"))
        do {
            _ = try await cupi.count("users")
            XCTFail("expected 401")
        } catch let error as DeviceClientError {
            XCTAssertEqual(error.kind, .authentication)
        }
    }

    /// One voicemail user comes as an object, none as just {"@total":"0"}; both read as lists.
    /// The CUPI `operation` label names the resource, never an object's id nor a query: a deleted mailbox
    /// adds no series of its own (each would live, with its histogram, as long as the worker).
    func testCUPIMetricLabelsNameTheResourceNotTheObject() async throws {
        XCTAssertEqual(CUPIClient.metricOperation("DELETE", "users/0b1e7a4c-5d2f-4e8a-9c3b-7f6a5e4d3c2b"), "DELETE /vmrest/users/{id}")
        XCTAssertEqual(CUPIClient.metricOperation("GET", "users/0b1e7a4c/greetings"), "GET /vmrest/users/{id}/greetings")
        XCTAssertEqual(CUPIClient.metricOperation("POST", "users?templateAlias=voicemailusertemplate"), "POST /vmrest/users")
        XCTAssertEqual(CUPIClient.metricOperation("GET", "version/product"), "GET /vmrest/version/product")
        XCTAssertEqual(CUPIClient.metricOperation("GET", "users/jane.doe%40example.com"), "GET /vmrest/users/{id}", "an alias too")

        let sim = try simulator(users: 2)
        let client = CUPIClient(endpoint: endpoint(sim))
        var ids: [String] = []
        try await client.list("users", element: "User") { page in ids += page.items.compactMap(\.uuid) }
        let id = try XCTUnwrap(ids.first)
        func count(_ operation: String) -> Double {
            recordedSample("ucp_device_calls_total", ["protocol": "cupi", "operation": operation, "outcome": "ok"])
        }
        let before = count("DELETE /vmrest/users/{id}")
        _ = try await client.exchange(.delete, "users/\(id)")
        XCTAssertEqual(count("DELETE /vmrest/users/{id}") - before, 1, "the delete counted under the resource")
        XCTAssertEqual(count("DELETE /vmrest/users/\(id)"), 0, "no series of the object")
    }

    func testCUPIListsToleratesTheSingleObjectAndEmptyAnswers() async throws {
        for (users, expected) in [(1, 1), (0, 0), (7, 4)] {
            let sim = try simulator(users: users)
            let client = CUPIClient(endpoint: endpoint(sim), pageSize: 2)
            var aliases: [String] = []
            try await client.list("users", element: "User") { page in aliases += page.items.compactMap { $0.text("Alias") } }
            XCTAssertEqual(aliases.count, expected, "\(users) users")
            XCTAssertEqual(Set(aliases).count, expected)
            await assertEqual(try await client.count("users"), expected)
        }
    }

    /// A list goes on while its pages are full: a missing or zero `@total` does not end it after the
    /// first page; a short page, or the rows of a total the server gave, do.
    func testCUPIListPagingEndsOnAShortPageOrTheTotalGiven() {
        /// A page of `rows` users as CUPI answers it, with `@total` when given.
        func page(_ rows: Int, total: String?) -> CUPIClient.Page {
            var object: [String: Any] = ["User": (0..<rows).map { ["Alias": "user\($0)"] }]
            if let total { object["@total"] = total }
            return CUPIClient.page(from: object, element: "User")
        }
        XCTAssertFalse(page(2, total: nil).isLast(read: 2, pageSize: 2), "no total: a full page is not the last")
        XCTAssertFalse(page(2, total: "0").isLast(read: 2, pageSize: 2), "a zero total: a full page is not the last")
        XCTAssertFalse(page(2, total: "6").isLast(read: 4, pageSize: 2))
        XCTAssertTrue(page(2, total: "6").isLast(read: 6, pageSize: 2), "the total given is reached")
        XCTAssertTrue(page(1, total: nil).isLast(read: 3, pageSize: 2), "a short page ends it")
        XCTAssertTrue(page(0, total: nil).isLast(read: 4, pageSize: 2))
    }

    /// A write's answer that is not XML is the `malformed` error naming the operation (an order's
    /// step fails on it and rolls back), not a bare XML parse error.
    func testAnOrdersCallWithABrokenAnswerIsMalformedNamingTheOperation() async throws {
        let sim = try simulator(users: 1, ["--malformed-op", "addPhone"])
        let client = AXLClient(endpoint: endpoint(sim), version: .latest)
        do {
            _ = try await client.exchange("addPhone", resend: false) { writer in
                writer.open("phone")
                writer.element("name", "SEP00AA00BB0001")
                writer.close("phone")
            }
            XCTFail("expected a malformed answer")
        } catch let error as DeviceClientError {
            XCTAssertEqual(error.kind, .malformed)
            XCTAssertEqual(error.operation, "addPhone")
            XCTAssertTrue(error.message.hasPrefix("the answer is not valid XML"), error.message)
        }
    }

    /// An answer larger than the client's bound stops being read and is malformed, on each path:
    /// a streamed list page, an answer read whole (an order's call), a CUPI answer.
    func testAnAnswerOverTheBoundIsNotReadFurther() async throws {
        let sim = try simulator(users: 50)
        let small = AXLClient(endpoint: endpoint(sim), version: .latest, options: .init(pageSize: 50, maximumAnswerBytes: 2_000))
        let user = AXLCatalog.callProcessorUser.first { $0.inventoryType == "User" }!
        func assertTooLarge(_ what: String, _ operation: String, _ work: () async throws -> Void) async {
            do {
                try await work()
                XCTFail("\(what): expected the answer to be too large")
            } catch let error as DeviceClientError {
                XCTAssertEqual(error.kind, .malformed, what)
                XCTAssertEqual(error.operation, operation, what)
                XCTAssertEqual(error.message, "the answer is larger than 2000 bytes: not read further", what)
            } catch {
                XCTFail("\(what): \(error)")
            }
        }
        await assertTooLarge("streamed", "listUser") { try await small.list(user) { _ in } }
        await assertTooLarge("whole", "listUser") {
            _ = try await small.exchange("listUser") { writer in
                writer.open("searchCriteria")
                writer.element("userid", "%")
                writer.close("searchCriteria")
                writer.open("returnedTags")
                writer.empty("userid")
                writer.empty("firstName")
                writer.empty("lastName")
                writer.close("returnedTags")
            }
        }
        let cupi = CUPIClient(endpoint: endpoint(sim), maximumAnswerBytes: 2_000)
        await assertTooLarge("cupi", "GET /vmrest/users") { try await cupi.list("users", element: "User") { _ in } }
        // Under the bound, the same reads succeed.
        var read = 0
        try await AXLClient(endpoint: endpoint(sim), version: .latest, options: .init(pageSize: 50)).list(user) { read += $0.items.count }
        XCTAssertEqual(read, 50)
    }

    /// The back-off after HTTP 503 of an answer read whole asks about cancellation: a canceled job
    /// does not wait out a long delay.
    func testTheBackOffOfAnAnswerReadWholeStopsWhenCanceled() async throws {
        let sim = try simulator(users: 1, ["--rate-503", "1"])
        // Canceled once the device said 503 (the request then waits to be sent again).
        let made = Mutex<AXLClient?>(nil)
        let client = AXLClient(endpoint: endpoint(sim), version: .latest,
                               options: .init(overloadAttempts: 5, backoffInitial: 120, backoffMaximum: 120),
                               isCanceled: { (made.withLock { $0 }?.retries ?? 0) > 0 })
        made.withLock { $0 = client }
        let started = ContinuousClock.now
        do {
            _ = try await client.exchange("getCCMVersion") { _ in }
            XCTFail("expected cancellation")
        } catch let error as DeviceClientError {
            XCTAssertEqual(error.kind, .canceled)
        }
        XCTAssertLessThan(started.duration(to: .now), .seconds(60), "the 120 s back-off was not waited out")
    }
}
