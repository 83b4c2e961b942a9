import AXL
import Foundation
import Synchronization

/// What orders' tests and benchmarks need from the simulator, set at run time through its controls:
/// faults on chosen calls, write throttling, the log of the calls it answered, and its state.
///
/// - `POST /devsim/faults?fail=OPERATION:N` — the Nth call of OPERATION from now answers a fault
///   (AXL 5000, or CUPI 500) and changes nothing;
/// - `POST /devsim/faults?drop=OPERATION:N` — the Nth call is carried out (committed), then its
///   answer is dropped (the connection closes without a word);
/// - `POST /devsim/faults?empty=OPERATION:N` — the Nth call (an AXL add) is carried out, and answered
///   with an empty `<return/>`: no uuid;
/// - `fail`, `drop`, `stall`, `hold` and `empty` take `OPERATION:N:K` too: K calls from the Nth on
///   (the next ones after it, one after another) meet the fault;
/// - `POST /devsim/faults?stall=OPERATION:N` — the Nth call waits `pause-seconds` (default 3) before
///   it is carried out; `hold=OPERATION:N` — it is carried out, then its answer waits as long
///   (a client killed meanwhile: before or after the device acted);
/// - `POST /devsim/faults?busy=OPERATION:N` — the next N calls of OPERATION (AXL) answer the fault of
///   a busy Unified CM, -1 "Maximum AXL Memory Allocation Consumed…", and change nothing;
/// - `POST /devsim/faults?remove-after=OPERATION:N:KEY` — the Nth call is answered from the data as
///   it is, then, before a byte of the answer is sent, the object of OPERATION's type whose key
///   (userid, name; a Unity user's Alias) is KEY is removed, as a removal through the API would: a
///   device removing an object while a list pages over it (the next page starts one row later);
/// - `POST /devsim/faults?writes-per-second=N` — writes above N a second answer 503 (0: no limit);
/// - `POST /devsim/faults?write-ms=N` — every write takes N ms more (a slower device, so that two
///   clients' writes would overlap: what the per-device write bound's tests need);
/// - `POST /devsim/faults?clear=1` — no faults any more;
/// - `POST /devsim/calls` — the calls answered so far, one a line (`?clear=1` empties the log);
/// - `POST /devsim/state` — users, phones, lines and Unity users, one a line, sorted.
///
/// OPERATION is an AXL operation (`addPhone`) or a CUPI one: `cupiCreateUser`, `cupiDeleteUser`.
final class OrderFaults: Sendable {
    enum Action: Sendable {
        case fail, drop, stall, hold, empty
        /// Remove the object of this key (`remove-after`).
        case remove(key: String)
    }

    private struct State {
        /// Calls still to count before the fault, and how many calls meet it from there, per
        /// operation (lower-cased).
        var armed: [String: (action: Action, left: Int, times: Int)] = [:]
        /// Calls still to answer "busy", per operation (lower-cased).
        var busy: [String: Int] = [:]
        var writesPerSecond = 0
        var pauseSeconds = 3.0
        var throttled = 0
        var window: Int = 0
        var windowWrites = 0
        var calls: [String] = []
        var writeMilliseconds = 0
        /// Writes being carried out now, and the most at once so far, per service (axl, cupi).
        var writesInFlight: [String: Int] = [:]
        var mostWritesInFlight: [String: Int] = [:]
    }

    private let state = Mutex(State())

    /// The fault this call of `operation` meets, if any (counts the call).
    func take(_ operation: String) -> Action? {
        state.withLock { state in
            let key = operation.lowercased()
            guard var armed = state.armed[key] else { return nil }
            armed.left -= 1
            if armed.left <= 0 {
                armed.times -= 1
                state.armed[key] = armed.times > 0 ? armed : nil
                return armed.action
            }
            state.armed[key] = armed
            return nil
        }
    }

    /// Whether this call of `operation` is answered "busy" (counts it down).
    func takeBusy(_ operation: String) -> Bool {
        state.withLock { state in
            let key = operation.lowercased()
            guard let left = state.busy[key], left > 0 else { return false }
            state.busy[key] = left > 1 ? left - 1 : nil
            return true
        }
    }

    /// Whether a write now passes the writes-per-second limit (counted when it does).
    func admitWrite() -> Bool {
        state.withLock { state in
            guard state.writesPerSecond > 0 else { return true }
            let second = Int(Date().timeIntervalSince1970)
            if second != state.window {
                state.window = second
                state.windowWrites = 0
            }
            guard state.windowWrites < state.writesPerSecond else {
                state.throttled += 1
                return false
            }
            state.windowWrites += 1
            return true
        }
    }

    var pauseSeconds: Double { state.withLock { $0.pauseSeconds } }

    /// Carries out one write of `service` (axl or cupi), counted in flight from here (then the
    /// `write-ms` delay) until its answer starts — not until it is sent: a client that has its answer
    /// may send its next write before this thread returns — so `/devsim/requests` can tell the most
    /// writes a device had at once.
    func write<T>(_ service: String, _ responder: HTTPResponder, _ body: () throws -> T) rethrows -> T {
        let delay = state.withLock { state in
            state.writesInFlight[service, default: 0] += 1
            state.mostWritesInFlight[service] = max(state.mostWritesInFlight[service, default: 0], state.writesInFlight[service]!)
            return state.writeMilliseconds
        }
        responder.beforeAnswer = { [self] in state.withLock { $0.writesInFlight[service, default: 1] -= 1 } }
        defer { responder.answering() }
        if delay > 0 { usleep(UInt32(delay) * 1000) }
        return try body()
    }

    /// `max_axl_writes_in_flight=N max_cupi_writes_in_flight=M` (`?clear=1` on /devsim/requests starts them again).
    func mostWritesInFlight(clear: Bool) -> String {
        state.withLock { state in
            let line = "max_axl_writes_in_flight=\(state.mostWritesInFlight["axl", default: 0]) max_cupi_writes_in_flight=\(state.mostWritesInFlight["cupi", default: 0])"
            if clear { state.mostWritesInFlight = [:] }
            return line
        }
    }

    func record(_ call: String) {
        state.withLock { $0.calls.append(call) }
    }

    /// Applies a `/devsim/faults` request; returns the answer's line, or nil when the query is wrong.
    func configure(_ query: [String: String]) -> String? {
        state.withLock { state in
            if query["clear"] != nil {
                state.armed = [:]
                state.busy = [:]
                state.writesPerSecond = 0
                state.writeMilliseconds = 0
            }
            if let text = query["write-ms"] {
                guard let milliseconds = Int(text), (0...10_000).contains(milliseconds) else { return nil }
                state.writeMilliseconds = milliseconds
            }
            if let text = query["pause-seconds"] {
                guard let seconds = Double(text), (0...60).contains(seconds) else { return nil }
                state.pauseSeconds = seconds
            }
            for (name, action) in [("fail", Action.fail), ("drop", Action.drop), ("stall", Action.stall), ("hold", Action.hold), ("empty", Action.empty)] {
                guard let spec = query[name] else { continue }
                let parts = spec.split(separator: ":").map(String.init)
                guard parts.count == 2 || parts.count == 3, let count = Int(parts[1]), count >= 1,
                      let times = parts.count == 3 ? Int(parts[2]) : 1, times >= 1 else { return nil }
                state.armed[parts[0].lowercased()] = (action, count, times)
            }
            if let spec = query["busy"] {
                let parts = spec.split(separator: ":").map(String.init)
                guard parts.count == 2, let count = Int(parts[1]), count >= 1 else { return nil }
                state.busy[parts[0].lowercased()] = count
            }
            if let spec = query["remove-after"] {
                let parts = spec.split(separator: ":", maxSplits: 2).map(String.init)
                guard parts.count == 3, let count = Int(parts[1]), count >= 1, !parts[2].isEmpty else { return nil }
                state.armed[parts[0].lowercased()] = (.remove(key: parts[2]), count, 1)
            }
            if let text = query["writes-per-second"] {
                guard let limit = Int(text), limit >= 0 else { return nil }
                state.writesPerSecond = limit
            }
            return "faults: \(state.armed.count + state.busy.count) armed, writes per second \(state.writesPerSecond == 0 ? "unlimited" : String(state.writesPerSecond)), \(state.throttled) writes answered 503\n"
        }
    }

    func calls(clear: Bool) -> [String] {
        state.withLock { state in
            let calls = state.calls
            if clear { state.calls = [] }
            return calls
        }
    }

    static let writeVerbs = ["add", "update", "remove", "do", "apply", "reset", "restart"]

    static func isWrite(_ operation: String) -> Bool {
        writeVerbs.contains { operation.hasPrefix($0) } && !operation.hasPrefix("executeSQL")
    }

    /// `name=value name{child=value …}`: how orders render a call's values (Sources/Orders).
    static func rendered(_ nodes: [RequestNode]) -> String {
        nodes.map { node in
            if node.children.isEmpty {
                let text = node.text
                return "\(node.name)=\(text.contains(" ") || text.isEmpty ? "'\(text)'" : text)"
            }
            return "\(node.name){\(rendered(node.children))}"
        }.joined(separator: " ")
    }

    static func rendered(_ fields: [(String, String)]) -> String {
        fields.map { "\($0.0)=\($0.1.contains(" ") || $0.1.isEmpty ? "'\($0.1)'" : $0.1)" }.joined(separator: " ")
    }
}

/// A dropped answer: the request was carried out; the server closes the connection instead of answering.
struct DroppedAnswer: Error {}

extension DeviceSimulator {
    /// The simulator's state that orders change, one line an object, sorted (for tests: equal before and after).
    func orderState() -> [String] {
        var lines: [String] = []
        for type in ["User", "Phone", "Line", "DeviceProfile", "RemoteDestinationProfile", "RemoteDestination", "IpPhoneServices"] {
            guard let table = data.tables[type] else { continue }
            for object in table.snapshot().objects {
                var text = "\(type) \(object.uuid) " + zip(table.fields, object.values).map { "\($0)=\($1)" }.joined(separator: " ")
                if !object.lines.isEmpty { text += " lines=" + object.lines.map { line in
                    "\(line.index):\(line.pattern)/\(line.partition)" + (line.e164Mask.isEmpty ? "" : "[\(line.e164Mask)]")
                }.joined(separator: ",") }
                if !object.names.isEmpty { text += " names=" + object.names.joined(separator: ",") }
                for (collection, names) in object.lists.sorted(by: { $0.key < $1.key }) where !names.isEmpty {
                    text += " \(collection)=" + names.joined(separator: ",")
                }
                lines.append(text)
            }
        }
        if let users = data.cupi["users"] {
            for row in users.snapshot() { lines.append("UnityUser " + zip(users.fields, row).map { "\($0)=\($1)" }.joined(separator: " ")) }
        }
        return lines.sorted()
    }
}
