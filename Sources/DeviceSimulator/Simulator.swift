import AXL
import COpenSSL
import Foundation
import Synchronization

/// How `ucp devsim` runs: size of the data, credentials, and the faults it injects.
public struct SimulatorOptions: Sendable {
    public var listen = "127.0.0.1"
    public var port = 0
    public var plainHTTP = false
    public var certificateOutput: String?
    public var user = "admin"
    public var password = "devsim"
    public var users = 100
    /// False (`--not-home-cluster`): the users' home cluster is another (homeCluster false, IM and
    /// Presence off) — a cluster that is only the source of users, as the orders benchmark's is.
    public var homeCluster = true
    /// `--ldap-integrated`: getLdapSystem answers syncEnabled true (an LDAP-integrated Unified CM).
    public var ldapIntegrated = false
    /// `--cucm-version`: the version getCCMVersion answers instead of `SimulatedProduct.version`.
    public var cucmVersion: String?
    /// `--product express`: answers getCCMVersion as a Unified CM Express, and /vmrest/version/product as
    /// a Unity Express.
    public var express = false
    public var latencyMilliseconds = 0
    /// The fraction of AXL requests answered 503.
    public var rate503 = 0.0
    /// Every request on this AXL type (`Phone`, `SipTrunk`) answers a SOAP fault.
    public var faultType: String?
    /// After this many requests, nothing is answered any more (connections stay open).
    public var hangAfter: Int?
    /// This AXL operation answers broken XML.
    public var malformedOperation: String?
    /// List items carry an element the schema does not have.
    public var unknownElements = false
    /// A list whose page would pass this many rows answers the "Query request too large" fault.
    public var maxRows: Int?
    /// Every AXL request body is written here as NNNNNN-<operation>.xml.
    public var captureDirectory: String?
    /// Changes one listChange answer carries at most.
    public var changePageSize = 1000
    /// Changes the listChange cache keeps (Unified CM: 100,000); the oldest fall out.
    public var changeCacheSize = 100_000
    /// `--evict-quietly`: a start evicted from the cache is answered as a page from the oldest change
    /// kept (its firstChangeId newer than the start asked for), not with a fault — the documented
    /// "AXL will return an error" is not said to be the only answer (orders brief §C.2).
    public var evictQuietly = false
    /// `--empty-queue-unnumbered`: an empty change cache answers queueInfo with its queueId only (all
    /// of queueInfo's ids are optional in AXL 12.5; an empty cache has no oldest or newest change).
    public var emptyQueueUnnumbered = false

    public init() {}
}

/// The getCCMVersion answers, and how a client tells a Unified CM Express from a Unified CM.
public enum SimulatedProduct {
    public static let version = "12.5.1.11900(146)"
    public static let expressVersion = "12.5.1.11900(146) Express"
    /// `GET /vmrest/version/product`'s ProductVersion.
    public static let unityVersion = "12.5.1.11900-146"
    public static let unityExpressVersion = "12.5.1.11900-146 Unity Express"
}

/// `ucp devsim`: a Unified CM (AXL at /axl/) and a Unity Connection (CUPI at /vmrest/) in one process.
public final class DeviceSimulator: Sendable {
    public let options: SimulatorOptions
    let data: SimulatedData
    let changes: ChangeLog
    /// Faults, throttling and the call log of orders' tests and benchmarks (`/devsim/faults`, `/devsim/calls`).
    let orderFaults = OrderFaults()
    /// Held while a user is removed and cleared from its devices, and while a user is added: a
    /// re-added user with the same userid (and the devices then given it) is never cleared by the
    /// removal before it, as in Unified CM, where both are one database transaction.
    let userLifecycle = Mutex(())
    private let requestCount = Atomic<Int>(0)
    private let captureCount = Atomic<Int>(0)
    /// Device requests served (AXL and CUPI, the simulator's own controls aside), for tests that
    /// prove a job made none: `POST /devsim/requests`.
    private let axlRequests = Atomic<Int>(0)
    private let cupiRequests = Atomic<Int>(0)
    private let expectedAuthorization: String
    /// The session cookie value: one per process, so checking it takes no lock.
    private let session: String

    public init(options: SimulatorOptions) {
        self.options = options
        data = SimulatedData.generate(users: options.users, homeCluster: options.homeCluster)
        changes = ChangeLog(capacity: options.changeCacheSize, evictQuietly: options.evictQuietly)
        expectedAuthorization = "Basic " + Data("\(options.user):\(options.password)".utf8).base64EncodedString()
        session = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()
    }

    /// Binds, prints the ready line, and serves until the process ends.
    public func run(ready: (String) -> Void) throws -> Never {
        var tls: OpaquePointer?
        if !options.plainHTTP {
            var pem = [CChar](repeating: 0, count: 8192)
            guard let context = ucp_self_signed_server_context(&pem, pem.count) else {
                throw HTTPError(description: "devsim: could not make a TLS certificate")
            }
            tls = context
            if let path = options.certificateOutput {
                let text = String(decoding: pem.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                try text.write(toFile: path, atomically: true, encoding: .utf8)
            }
        }
        let server = try HTTPServer(address: options.listen, port: options.port, tls: tls) { [self] request, responder in
            try handle(request, responder)
        }
        let scheme = options.plainHTTP ? "http" : "https"
        ready("devsim: listening on \(scheme)://\(options.listen):\(server.port) (axl /axl/, cupi /vmrest/)")
        server.run()
    }

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let count = requestCount.add(1, ordering: .relaxed).newValue
        if let hangAfter = options.hangAfter, count > hangAfter {
            // Hold the connection open without a word, until the client gives up.
            while true { sleep(3600) }
        }
        if options.latencyMilliseconds > 0 {
            usleep(UInt32(options.latencyMilliseconds) * 1000)
        }
        guard authorized(request, responder) else {
            responder.keepAlive = false
            try responder.send(status: 401, reason: "Unauthorized", contentType: "text/html;charset=utf-8",
                               body: Array(unauthorizedPage.utf8), headers: [("WWW-Authenticate", "Basic realm=\"Cisco Unified Communications Manager\"")])
            return
        }
        if request.path == "/axl/" || request.path == "/axl" {
            guard request.method == "POST" else {
                return try responder.send(status: 405, reason: "Method Not Allowed", contentType: "text/plain", text: "AXL takes POST\n")
            }
            axlRequests.add(1, ordering: .relaxed)
            if options.rate503 > 0, DeviceSimulator.unit(count) < options.rate503 {
                return try responder.send(status: 503, reason: "Service Unavailable", contentType: "text/html", text: "<html><body>Service Unavailable</body></html>")
            }
            try AXLService(simulator: self).handle(request, responder)
        } else if request.path.hasPrefix("/devsim/") {
            try control(request, responder)
        } else if request.path.hasPrefix("/vmrest/") {
            cupiRequests.add(1, ordering: .relaxed)
            try CUPIService(simulator: self).handle(request, responder)
        } else {
            try responder.send(status: 404, reason: "Not Found", contentType: "text/html", text: "<html><body>Not Found</body></html>")
        }
    }

    /// The simulator's own controls, for tests and benchmarks (POST, same credentials):
    /// `/devsim/change-queue/reset` gives the change queue a new id and empties it, as a restart of the
    /// AXL service does (the old id is then answered with fault 5007); `/devsim/change-queue/burst?count=N`
    /// makes N changes at once: updates of users' department, round robin; `/devsim/change-queue/hold`
    /// makes the next listChange answer wait, once made from the queue, until
    /// `/devsim/change-queue/release` (at most a minute; `/devsim/change-queue/held` says how many
    /// wait): what a client does between its listChange and the answer's use; `/devsim/requests` counts
    /// the device requests served so far and the most writes carried out at once
    /// (`axl=N cupi=M max_axl_writes_in_flight=K max_cupi_writes_in_flight=L`; `?clear=1` starts the
    /// latter two again). Each answers one line.
    func control(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        guard request.method == "POST" else {
            return try responder.send(status: 405, reason: "Method Not Allowed", contentType: "text/plain", text: "devsim controls take POST\n")
        }
        switch request.path {
        case "/devsim/change-queue/reset":
            let queueId = changes.reset()
            try responder.send(status: 200, reason: "OK", contentType: "text/plain", text: "change queue reset: queue id \(queueId)\n")
        case "/devsim/faults":
            guard let line = orderFaults.configure(request.query) else {
                return try responder.send(status: 400, reason: "Bad Request", contentType: "text/plain",
                                          text: "faults: fail=OPERATION:N, drop=OPERATION:N, stall=OPERATION:N, hold=OPERATION:N, remove-after=OPERATION:N:KEY, pause-seconds=N, writes-per-second=N, write-ms=N or clear=1\n")
            }
            try responder.send(status: 200, reason: "OK", contentType: "text/plain", text: line)
        case "/devsim/calls":
            let calls = orderFaults.calls(clear: request.query["clear"] != nil)
            try responder.send(status: 200, reason: "OK", contentType: "text/plain", text: calls.map { $0 + "\n" }.joined())
        case "/devsim/state":
            try responder.send(status: 200, reason: "OK", contentType: "text/plain", text: orderState().map { $0 + "\n" }.joined())
        case "/devsim/change-queue/hold":
            changes.gate.hold()
            try responder.send(status: 200, reason: "OK", contentType: "text/plain", text: "change queue: the next answer is held\n")
        case "/devsim/change-queue/held":
            try responder.send(status: 200, reason: "OK", contentType: "text/plain", text: "held: \(changes.gate.waiting)\n")
        case "/devsim/change-queue/release":
            let released = changes.gate.release()
            try responder.send(status: 200, reason: "OK", contentType: "text/plain", text: "released: \(released)\n")
        case "/devsim/change-queue/burst":
            guard let count = request.query["count"].flatMap({ Int($0) }), count >= 0 else {
                return try responder.send(status: 400, reason: "Bad Request", contentType: "text/plain", text: "count: must be 0 or more\n")
            }
            let made = burst(count)
            try responder.send(status: 200, reason: "OK", contentType: "text/plain", text: "burst: \(made) changes\n")
        case "/devsim/requests":
            let counts = "axl=\(axlRequests.load(ordering: .relaxed)) cupi=\(cupiRequests.load(ordering: .relaxed)) "
                + orderFaults.mostWritesInFlight(clear: request.query["clear"] != nil)
            try responder.send(status: 200, reason: "OK", contentType: "text/plain", text: counts + "\n")
        default:
            try responder.send(status: 404, reason: "Not Found", contentType: "text/plain", text: "no such control\n")
        }
    }

    /// N updates of users' department (round robin over the users), each recorded as a change with its
    /// changed tag, as an update through AXL would be.
    func burst(_ count: Int) -> Int {
        guard let table = data.tables["User"], let field = table.fieldIndex["department"] else { return 0 }
        // By key, not position: a removal meanwhile leaves an empty slot, a compaction moves them all.
        let keys = table.snapshot().objects.map { table.key(of: $0.values) }
        guard !keys.isEmpty else { return 0 }
        var memo: [String: [String: String]] = [:]
        for number in 0..<count {
            let value = "burst-\(number)"
            guard let updated = table.update(at: { state in state.byKey[keys[number % keys.count]] }, { old in
                var row = old.values
                row[field] = value
                return table.object(row: row, uuid: old.uuid, lines: old.lines, names: old.names, lists: old.lists, memo: &memo)
            }) else { continue }
            changes.record(type: table.axlName, uuid: updated.uuid, action: "u", changedTags: [(name: "department", value: value)])
        }
        return count
    }

    /// Basic credentials or the session cookie; a good Basic login gets the cookie.
    private func authorized(_ request: HTTPRequest, _ responder: HTTPResponder) -> Bool {
        if let cookie = request.header("cookie"), cookie.contains("JSESSIONIDSSO=" + session) {
            return true
        }
        guard request.header("authorization") == expectedAuthorization else { return false }
        responder.extraHeaders.append(("Set-Cookie", "JSESSIONIDSSO=\(session); Path=/; Secure; HttpOnly"))
        return true
    }

    /// Writes a captured AXL request (for the client's schema test).
    func capture(_ body: [UInt8], operation: String) {
        guard let directory = options.captureDirectory else { return }
        let number = captureCount.add(1, ordering: .relaxed).newValue
        let name = String(format: "%@/%06d-%@.xml", directory, number, operation)
        _ = FileManager.default.createFile(atPath: name, contents: Data(body))
    }

    /// A fraction in [0, 1) from the request number: the same run answers 503 to the same requests.
    static func unit(_ count: Int) -> Double {
        var x = UInt64(truncatingIfNeeded: count) &+ 0x9E37_79B9_7F4A_7C15
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        x ^= x >> 31
        return Double(x >> 11) / Double(1 << 53)
    }

    private let unauthorizedPage = """
        <!doctype html><html lang="en"><head><title>HTTP Status 401 – Unauthorized</title></head>\
        <body><h1>HTTP Status 401 – Unauthorized</h1></body></html>
        """
}
