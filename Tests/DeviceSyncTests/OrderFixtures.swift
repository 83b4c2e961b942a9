import Foundation
import Inventory
import Orders
import Postgres
import Queue
import TestSupport
import XCTest

/// The fixtures of the order tests (OrderTests, UserOrderTests): a real worker and PostgreSQL, and
/// `ucp devsim` as Unified CM "TestCCM" and Unity Connection "unity" with its requests captured.
class OrderTestCase: XCTestCase {
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
    /// (`users`, `block`: a larger simulator and block, for batches; `simulatorArguments`: more of
    /// `ucp devsim`'s, its faults.)
    func prepare(users: Int = 10, block: String = "4000-4009", simulatorArguments: [String] = []) async throws {
        sim = try DeviceSimulatorProcess.start(for: self, users: users, arguments: ["--capture-dir", capture] + simulatorArguments)
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
                 "--partition", "PT_Internal", "--dn-block", block, "--message-processor", "unity",
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

    /// `ucp order plan` and `ucp order submit` of the file at `path` both refused: exit 64 and one
    /// line on stderr starting with `expected`.
    func assertRefused(_ path: String, _ expected: String, _ what: String? = nil,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let what = what ?? expected
        for command in ["plan", "submit"] {
            let result = try harness.ucp(["order", command, "-f", path])
            XCTAssertEqual(result.status, 64, "\(what): \(result.stdout)\(result.stderr)", file: file, line: line)
            XCTAssertTrue(result.stderr.hasPrefix("ucp: " + expected), "\(what) (\(command)): \(result.stderr)", file: file, line: line)
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(what): one line: \(result.stderr)", file: file, line: line)
        }
    }

    func writes() throws -> [String] {
        try calls().filter { call in
            !(call.hasPrefix("get") || call.hasPrefix("list") || call.hasPrefix("GET ") || call.hasPrefix("executeSQL"))
        }
    }

    func state() throws -> [String] {
        try sim.control("state").split(separator: "\n").map(String.init)
    }

    /// Puts line `pattern` in `partition` on `phone` as its second line, out of band (a shared line).
    func shareLine(_ pattern: String, partition: String, onPhone phone: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try secondLine("addLines", pattern, partition: partition, phone: phone, file: file, line: line)
    }

    /// Takes that second line off `phone` again, out of band (the shared line undone).
    func unshareLine(_ pattern: String, partition: String, fromPhone phone: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try secondLine("removeLines", pattern, partition: partition, phone: phone, file: file, line: line)
    }

    /// An updatePhone that adds or removes (`list`) the phone's second line.
    private func secondLine(_ list: String, _ pattern: String, partition: String, phone: String, file: StaticString, line: UInt) throws {
        XCTAssertEqual(try sim.axl("updatePhone") { writer in
            writer.element("name", phone)
            writer.raw("<\(list)><line><index>2</index><dirn>")
            writer.element("pattern", pattern)
            writer.element("routePartitionName", partition)
            writer.raw("</dirn></line></\(list)>")
        }, 200, file: file, line: line)
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

    /// Waits until the order is in a state it does not leave by itself (or failed, or needs attention).
    func ended(_ id: Int64, within seconds: Double = 90) async throws -> Order {
        let deadline = Date().addingTimeInterval(seconds)
        while !Order.finalStates.union(["failed", "needs_attention"]).contains(try await order(id).state), Date() < deadline {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        return try await order(id)
    }

    /// A coordinator that hands a dead worker's job back within a second (rescue every 0.5 s). The
    /// device's change notification is turned off first: these tests are about orders, and a poll
    /// beside them is a second writer of the user's record (a poll that applied gets made before an
    /// order's last writes once emptied the record a delete order was then planned from; polls now
    /// fetch such objects again: ChangeNotificationTests.testAnObjectAnOrderWroteAfterThePollsGetIsFetchedAgain).
    func startRescuingCoordinator() throws {
        try ucp(["device", "cn", "TestCCM", "--disable"])
        _ = try harness.processes.start("coordinator", ["coordinator", "--name", "test-coordinator", "--rescue-interval", "0.5s"])
    }

    /// The crash harness: a coordinator that hands a dead worker's job back within a second, and
    /// workers with a 2 s lease. `kill(marker)` waits until the device has a call starting with
    /// `marker`, then kills the worker in the middle of it (SIGKILL) and starts a new one.
    struct CrashWorkers {
        let test: OrderTestCase
        var worker = 0

        init(_ test: OrderTestCase) throws {
            self.test = test
            test.harness.processes.kill("worker")
            try test.startRescuingCoordinator()
            try startWorker()
        }

        mutating func startWorker() throws {
            worker += 1
            _ = try test.harness.processes.start("worker\(worker)", ["worker", "--concurrency", "4", "--name", "crash-worker-\(worker)", "--lease", "2s"])
        }

        mutating func kill(whenTheDeviceHas marker: String, file: StaticString = #filePath, line: UInt = #line) async throws {
            let seen = Date().addingTimeInterval(60)
            while try !test.calls().contains(where: { $0.hasPrefix(marker) }), Date() < seen { try await Task.sleep(nanoseconds: 50_000_000) }
            XCTAssertTrue(try test.calls().contains { $0.hasPrefix(marker) }, "the device never got \(marker)", file: file, line: line)
            test.harness.processes.kill("worker\(worker)")
            try startWorker()
        }
    }

    /// Queues the delete request of `user` as a stale-user action would (the user marked deleting,
    /// the request, its planning job), without an LDAP sync.
    func queueDelete(_ user: String, action: String = "delete_user_and_services") async throws {
        _ = try await sql("UPDATE users SET state = 'deleting', stale_since = clock_timestamp() WHERE user_id = '\(user)'")
        let id: Int64 = try await sql("INSERT INTO user_delete_orders (domain, user_id, action) VALUES ('\(Self.domain)', '\(user)', '\(action)') RETURNING id")[0].decode("id")
        try ucp(["submit", "job", "order.delete_plan", "--payload", "{\"request\": \(id)}"])
    }

    /// The plan's writes as `order show --json` lists them, the uuid marker filled in.
    func plannedWrites(_ id: Int64) async throws -> [String] {
        try await steps(id).flatMap { step in step.calls.map(\.rendered) }.filter { !$0.hasPrefix("getUser") }
    }
}
