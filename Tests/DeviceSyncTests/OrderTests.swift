import Foundation
import Inventory
import Orders
import Postgres
import Queue
import TestSupport
import XCTest

/// Orders (issue 14) through a real worker, PostgreSQL and `ucp devsim` (Unified CM "TestCCM" and
/// Unity Connection "unity"): plan, submit, the saga's steps, lost answers, failures, drift,
/// maintenance mode and bad order files.
final class OrderTests: XCTestCase {
    var harness: SyncHarness!
    var sim: DeviceSimulatorProcess!
    var capture: String!
    var folder: String!

    static let domain = "Cisco"
    static let area = "SA_Orders"

    override func setUp() async throws {
        harness = try await SyncHarness()
        try harness.startWorker()
        capture = NSTemporaryDirectory() + "ucp-order-capture-\(harness.database.name)"
        folder = NSTemporaryDirectory() + "ucp-orders-\(harness.database.name)"
        try FileManager.default.createDirectory(atPath: capture, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        harness?.stop()
        for path in [capture, folder].compactMap({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }

    // MARK: fixtures

    @discardableResult
    func ucp(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        let result = try harness.ucp(arguments)
        XCTAssertEqual(result.status, 0, "ucp \(arguments.joined(separator: " ")): \(result.stdout)\(result.stderr)", file: file, line: line)
        return result
    }

    func sql(_ text: String) async throws -> Rows {
        try await Connection(harness.database.owner).query(Statement("", text))
    }

    /// A simulator of 10 users, registered and synchronized; domain Cisco with its users (sync all
    /// users) and the service area SA_Orders: DP_Site01, PT_Internal, block 4000-4009, voicemail on unity.
    func prepare() async throws {
        sim = try DeviceSimulatorProcess.start(for: self, users: 10, arguments: ["--capture-dir", capture])
        try await harness.register("TestCCM", kind: .callProcessor, simulator: sim)
        try await harness.register("unity", kind: .messageProcessor, simulator: sim)
        try ucp(["device", "test", "unity", "--wait"])
        for (kind, device) in [(DeviceSyncKind.infra, "TestCCM"), (.user, "TestCCM"), (.infra, "unity"), (.user, "unity")] {
            let (result, _) = try await harness.sync(kind, device)
            XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        }
        try ucp(["domain", "add", "--name", Self.domain])
        try ucp(["domain", "edit", Self.domain, "--rule", "sync-all-users"])
        try ucp(["service-area", "add", "--domain", Self.domain, "--name", "SA_Site01", "--call-processor", "TestCCM",
                 "--device-pool", "DP_Site01", "--partition", "PT_Internal", "--message-processor", "unity"])
        try ucp(["submit", "sync", "domain", "--domain", Self.domain, "--wait"])
        try ucp(["service-area", "add", "--domain", Self.domain, "--name", Self.area, "--call-processor", "TestCCM",
                 "--device-pool", "DP_Site01", "--location", "Hub_None", "--device-css", "CSS_Internal", "--line-css", "CSS_Internal",
                 "--partition", "PT_Internal", "--dn-block", "4000-4009", "--message-processor", "unity",
                 "--voicemail-profile", "Default", "--unity-template", "voicemailusertemplate"])
        // A user only the inventory has (made by hand): the order pushes it to Unified CM.
        _ = try await sql("INSERT INTO users (user_id, domain, source, first_name, last_name, email) VALUES ('jdoe', 'Cisco', 'manual', 'John', 'Doe', 'jdoe@example.com')")
        _ = try sim.control("calls?clear=1")
    }

    func orderFile(_ name: String = "order.yaml", user: String = "jdoe", phone: String = "SEP00AA00BB0001", line: String? = nil,
                   voicemail: Bool = true, onFailure: String? = nil, extra: String = "") throws -> String {
        var text = """
            # an add order
            domain: \(Self.domain)
            service_area: \(Self.area)
            user: \(user)
            phone:
              name: \(phone)
              model: Cisco 8845
            voicemail: \(voicemail ? "yes" : "no")

            """
        if let line { text += "line: \"\(line)\"\n" }
        if let onFailure { text += "on_failure: \(onFailure)\n" }
        text += extra
        let path = folder + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func calls() throws -> [String] {
        try sim.control("calls").split(separator: "\n").map(String.init)
    }

    func writes() throws -> [String] {
        try calls().filter { call in
            !(call.hasPrefix("get") || call.hasPrefix("list") || call.hasPrefix("GET ") || call.hasPrefix("executeSQL"))
        }
    }

    func state() throws -> [String] {
        try sim.control("state").split(separator: "\n").map(String.init)
    }

    func fault(_ query: String) throws {
        _ = try sim.control("faults?" + query)
    }

    func orderID(_ result: CommandResult) throws -> Int64 {
        guard let text = result.stdout.split(separator: " ").dropFirst().first, let id = Int64(text) else {
            throw TestFailure("no order id in: \(result.stdout)\(result.stderr)")
        }
        return id
    }

    func order(_ id: Int64) async throws -> Order {
        guard let order = try await OrderStore(Connection(harness.database.app)).order(id: id) else { throw TestFailure("no order \(id)") }
        return order
    }

    func steps(_ id: Int64) async throws -> [OrderStep] {
        try await OrderStore(Connection(harness.database.app)).steps(orderID: id)
    }

    /// The plan's writes as `order show --json` lists them, the uuid marker filled in.
    func plannedWrites(_ id: Int64) async throws -> [String] {
        try await steps(id).flatMap { step in step.calls.map(\.rendered) }.filter { !$0.hasPrefix("getUser") }
    }

    // MARK: tests

    /// A full order for a user only the inventory had: the plan names every call with the area's
    /// defaults; execution makes exactly the plan's writes (the association read-extend-written),
    /// every request valid against AXLSoap.xsd 12.5, at most 12 device calls; the user record then
    /// shows the phone, line and voicemail placed in the area without a sync.
    func testFullOrderSucceedsAndTheDeviceSawExactlyThePlan() async throws {
        try await prepare()
        let file = try orderFile()
        let plan = try ucp(["order", "plan", "-f", file])
        XCTAssertTrue(plan.stdout.contains("addUser user{firstName=John lastName=Doe userid=jdoe mailid=jdoe@example.com presenceGroupName='Standard Presence group'}"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("addLine line{pattern=4000 description='ucp:order=new John Doe' usage=Device routePartitionName=PT_Internal"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("devicePoolName=DP_Site01"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("POST /vmrest/users?templateAlias=voicemailusertemplate Alias=jdoe DtmfAccessId=4000"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("doDeviceReset deviceName=SEP00AA00BB0001"), plan.stdout)
        XCTAssertEqual(try calls().filter { !$0.hasPrefix("GET /vmrest/version") }, [], "plan makes no device call")

        let submitted = try ucp(["order", "submit", "-f", file, "--wait"])
        let id = try orderID(submitted)
        XCTAssertTrue(submitted.stdout.contains("order \(id) succeeded"), submitted.stdout)
        let first = try await order(id)
        XCTAssertEqual(first.state, "succeeded")
        XCTAssertEqual(first.line, "4000")

        let planned = try await plannedWrites(id)
        XCTAssertEqual(try writes(), planned, "the device's writes are the plan's")
        let made = try calls()
        XCTAssertLessThanOrEqual(made.count, 12, "device calls of one order: \(made)")
        XCTAssertEqual(try AXLSchema.validate(directory: capture), [], "every request valid against AXLSoap.xsd 12.5")

        let after = try state()
        XCTAssertTrue(after.contains { $0.hasPrefix("Phone ") && $0.contains("name=SEP00AA00BB0001") && $0.contains("ownerUserName=jdoe") && $0.contains("lines=1:4000/PT_Internal") }, after.joined(separator: "\n"))
        XCTAssertTrue(after.contains { $0.hasPrefix("User ") && $0.contains("userid=jdoe") && $0.contains("names=SEP00AA00BB0001") && $0.contains("primaryExtension=4000\u{1}PT_Internal") })
        XCTAssertTrue(after.contains { $0.hasPrefix("Line ") && $0.contains("pattern=4000") && $0.contains("callForwardBusy=true\u{1}CSS_Internal") && $0.contains("voiceMailProfileName=Default") })
        XCTAssertTrue(after.contains { $0.hasPrefix("UnityUser ") && $0.contains("Alias=jdoe") && $0.contains("DtmfAccessId=4000") })

        let services = try await sql("SELECT service_type || ' ' || object_key || ' ' || service_area AS s FROM user_services WHERE user_id = 'jdoe' ORDER BY 1")
            .map { try $0.decode("s", as: String.self) }
        XCTAssertEqual(services, ["line 4000/PT_Internal SA_Orders", "phone SEP00AA00BB0001 SA_Orders", "voicemail jdoe SA_Orders"])
        let show = try ucp(["order", "show", String(id)])
        XCTAssertTrue(show.stdout.contains("7. reset"), show.stdout)

        // The next order takes the next number; its user was synchronized, so it is adopted.
        let second = try ucp(["order", "submit", "-f", try orderFile("second.yaml", user: "user000001", phone: "SEP00AA00BB0002"), "--wait"])
        let secondOrder = try await order(try orderID(second))
        XCTAssertEqual(secondOrder.line, "4001")
        XCTAssertEqual(secondOrder.state, "succeeded")
        let secondSteps = try await steps(secondOrder.id)
        XCTAssertEqual(secondSteps.first?.adopted, true)
        let user = try state().first { $0.hasPrefix("User ") && $0.contains("userid=user000001") } ?? ""
        XCTAssertTrue(user.contains("names=SEP001122000001,SEP00AA00BB0002"), "the device list was read, extended and written whole: \(user)")
    }
}
