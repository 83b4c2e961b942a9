import Foundation
import Postgres

/// Bounds the writes of orders to one device in flight at once, over every worker process and host
/// (issue 14: "writes to one device are bounded, a per-device setting, default 2 in flight";
/// `devices.max_writes_in_flight`, migration 026).
///
/// A write holds one of the device's N slots right around the device call. A slot is a
/// PostgreSQL session-level advisory lock on (the device, the slot's number), taken on the order
/// job's own connection: PostgreSQL is the one place every worker meets, and a worker that dies
/// (kill -9, a lost host) loses its connection and with it the slot, so no lease has to expire and
/// no row has to be cleaned up. A free slot is taken without waiting; when all N are held the write
/// waits on one of them, blocked in the server (no polling delay), and goes as soon as it is freed.
/// (Should the job's connection be replaced in the middle of a write — a session the server closed
/// while idle — that write's slot is gone with the old session; the unlock then finds nothing.)
///
/// Inside one worker the orders first queue here for one of N local places (served in order), so
/// at most N of a worker's orders ask PostgreSQL for a device's slots at once.
public actor DeviceWriteGate {
    public static let shared = DeviceWriteGate()

    /// The bound a device has unless an operator set another one.
    public static var defaultLimit: Int { 2 }

    private var inFlight: [String: Int] = [:]
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    func enter(_ device: String, limit: Int) async {
        if inFlight[device, default: 0] < limit {
            inFlight[device, default: 0] += 1
            return
        }
        await withCheckedContinuation { waiters[device, default: []].append($0) }
    }

    func leave(_ device: String) {
        if var queue = waiters[device], !queue.isEmpty {
            let next = queue.removeFirst()
            waiters[device] = queue
            next.resume()  // the place passes to the next waiter
        } else {
            inFlight[device, default: 1] -= 1
        }
    }

    /// Runs `body` holding one of the device's write slots in this process only (no database: the
    /// benchmark's bare client, which keeps the same bound).
    public nonisolated func withLocalSlot<T: Sendable>(_ bound: DeviceWriteBound, _ body: () async throws -> T) async throws -> T {
        await enter(bound.device, limit: bound.limit)
        do {
            let value = try await body()
            await leave(bound.device)
            return value
        } catch {
            await leave(bound.device)
            throw error
        }
    }

    /// Runs `body` holding one of the device's write slots over every worker: a local place, then
    /// one of the device's advisory locks on `database` (the order job's connection).
    public nonisolated func withSlot<T: Sendable>(_ bound: DeviceWriteBound, database: Connection,
                                                  _ body: () async throws -> T) async throws -> T {
        try await withLocalSlot(bound) {
            let slot = try await Self.acquire(bound, database: database)
            do {
                let value = try await body()
                try await Self.release(bound, slot: slot, database: database)
                return value
            } catch {
                try? await Self.release(bound, slot: slot, database: database)
                throw error
            }
        }
    }

    /// Takes a free slot if there is one (one round trip), else waits for one (a different one per
    /// caller, so the waiters spread over the slots).
    static func acquire(_ bound: DeviceWriteBound, database: Connection) async throws -> Int {
        let device = bound.device, limit = bound.limit
        return try await database.withSession { session in
            // Every slot tried in one round trip: the first free one is taken (and only that one).
            if let row = try session.query(DeviceWriteSQL.slotTryAny, [device, Int32(limit)]).first {
                return Int(try row.decode("slot", as: Int32.self))
            }
            let slot = Int.random(in: 0..<limit)
            try session.query(DeviceWriteSQL.slotTake, [device, Int32(slot)])
            return slot
        }
    }

    static func release(_ bound: DeviceWriteBound, slot: Int, database: Connection) async throws {
        try await database.query(DeviceWriteSQL.slotRelease, [bound.device, Int32(slot)])
    }
}

/// One device's write bound: its name (the slots' key) and how many writes it takes at once.
public struct DeviceWriteBound: Sendable, Equatable {
    public var device: String
    public var limit: Int

    public init(device: String, limit: Int) {
        self.device = device
        self.limit = max(1, limit)
    }
}

/// The advisory locks of the device write slots: (hashtext of the device's name under a prefix of
/// their own, the slot's number). Session-level, so they outlive the statement and die with the
/// connection.
enum DeviceWriteSQL {
    /// The first key of device `device`'s slots (an SQL expression of a text parameter or column).
    static func slotKey(_ device: String) -> String { "hashtext('ucp.device.write:' || \(device))" }

    /// The first of slots 0 … $2 − 1 that is free, taken; no row when all are held. The slots are
    /// tried one by one in order and the scan stops at the first taken (LIMIT 1 above a plain
    /// function scan: no sort or other node reads further rows).
    static let slotTryAny = Statement("device_write_slot_try_any", """
        SELECT s AS slot FROM generate_series(0, $2::integer - 1) AS s
         WHERE pg_try_advisory_lock(\(slotKey("$1")), s) LIMIT 1
        """)
    static let slotTake = Statement("device_write_slot_take", """
        SELECT pg_advisory_lock(\(slotKey("$1")), $2::integer)
        """)
    static let slotRelease = Statement("device_write_slot_release", """
        SELECT pg_advisory_unlock(\(slotKey("$1")), $2::integer)
        """)
}

/// The write slot an order's saga holds after a write (OrderSaga.write): the slot is taken right
/// around the device call, as `DeviceWriteGate.withSlot` takes it, but its release waits for the
/// saga's next statement (`OrderSQL.sagaCommit` releases it in the same round trip) — or, when a
/// device call or a wait comes first, a release of its own. The worker's local place is left at once.
/// One saga at a time uses it (the saga and the cancel order's inner saga run in one task).
final class SagaSlots: @unchecked Sendable {
    struct Held {
        var bound: DeviceWriteBound
        var slot: Int
    }

    /// Held by the last write, released with the next statement.
    var pending: Held?

    init() {}
}
