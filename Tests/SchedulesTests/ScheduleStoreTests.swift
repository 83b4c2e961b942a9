import Foundation
import Inventory
import Postgres
import Queue
import Runtime
import Schedules
import ScheduleRules
import Secrets
import TestSupport
import XCTest

/// The schedule store against a real PostgreSQL, a fresh database per test.
final class ScheduleStoreTests: XCTestCase {
    let utc = TimeZone(identifier: "UTC")!

    /// Rows in `schedules` and lines in `audit_log`.
    func counts(_ database: TestDatabase) async throws -> [Int] {
        let row = try await Connection(database.owner).query(Statement("", """
            SELECT (SELECT count(*) FROM schedules) AS schedules, (SELECT count(*) FROM audit_log) AS audit
            """)).first!
        return [try row.decode("schedules"), try row.decode("audit")]
    }

    func scheduleAudit(_ database: TestDatabase) async throws -> [AuditEntry] {
        try await database.store().auditList(since: nil, jobID: nil, limit: 1000)
            .filter { $0.action.hasPrefix("schedule.") }.sorted { $0.id < $1.id }
    }

    /// What `ucp schedule add` does with its words: parse, build, store.
    @discardableResult
    func add(_ store: ScheduleStore, name: String, every: String? = nil, start: String? = nil, timeZone: String? = "UTC",
             builder: [String] = [], granular: String? = nil, parallel: Bool? = nil) async throws -> Schedule {
        let change = try ScheduleChange(every: every, start: start, timeZone: timeZone, builder: builder,
                                        granularText: granular, forceDomain: nil, parallel: parallel, abortOnFailure: nil)
        return try await store.scheduleAdd(change.definition(name: name), actor: "alice")
    }

    func testAddGetListUpdateDelete() async throws {
        let database = try await TestServer.freshDatabase()
        let store = ScheduleStore(Connection(database.app))
        let nightly = try await add(store, name: "Nightly full-sync_1", every: "1d", start: "2026-12-01 02:00",
                                    timeZone: "Europe/Berlin", builder: ["cp,mp", "pp"], parallel: true)
        XCTAssertEqual(nightly.name, "Nightly full-sync_1")
        XCTAssertEqual(nightly.definition.frequency, .every(1, .days))
        XCTAssertEqual(ScheduleStart.format(nightly.definition.start, timeZone: utc), "2026-12-01T01:00:00Z")
        XCTAssertEqual(nightly.definition.timeZone.identifier, "Europe/Berlin")
        XCTAssertEqual(nightly.definition.selection, .builder([.callProcessors, .messageProcessors, .presenceProcessors]))
        XCTAssertTrue(nightly.definition.parallel)
        XCTAssertFalse(nightly.definition.forceDomain)
        XCTAssertFalse(nightly.definition.abortOnFailure)
        XCTAssertNil(nightly.lastFiredAt)
        XCTAssertEqual(nightly.updatedBy, "alice")

        let text = "# weekly\ncp.all: both\nad.all:\n"
        let before = Date()
        try await add(store, name: "A weekly", every: "2w", granular: text)
        let weekly = try await store.scheduleGet(name: "A weekly")
        XCTAssertEqual(weekly?.definition.selection, .granular(text), "kept as typed, comments too")
        XCTAssertEqual(weekly?.definition.frequency, .every(2, .weeks))
        XCTAssertLessThan(abs(weekly!.definition.start.timeIntervalSince(before)), 5, "start defaults to now")
        await assertNil(try await store.scheduleGet(name: "nope"))
        await assertEqual(try await store.scheduleList().map(\.name), ["A weekly", "Nightly full-sync_1"])

        let updated = try await store.scheduleUpdate(name: "A weekly", actor: "bob") { definition in
            try ScheduleChange(every: "6h", start: nil, timeZone: nil, builder: ["all"], granularText: nil,
                               forceDomain: true, parallel: nil, abortOnFailure: true).apply(to: &definition)
        }
        XCTAssertEqual(updated.definition.frequency, .every(6, .hours))
        XCTAssertEqual(updated.definition.selection, .builder([.all]))
        XCTAssertTrue(updated.definition.forceDomain)
        XCTAssertTrue(updated.definition.abortOnFailure)
        XCTAssertFalse(updated.definition.parallel)
        XCTAssertEqual(updated.updatedBy, "bob")
        XCTAssertGreaterThan(updated.updatedAt, weekly!.updatedAt)
        await assertEqual(try await store.scheduleGet(name: "A weekly"), updated)

        let counted = try await counts(database)
        let unchanged = try await store.scheduleUpdate(name: "A weekly", actor: "bob") { _ in }
        XCTAssertEqual(unchanged, updated)
        await assertEqual(try await counts(database), counted, "an edit that changes nothing writes nothing")

        try await store.scheduleDelete(name: "A weekly", actor: "carol")
        await assertNil(try await store.scheduleGet(name: "A weekly"))
        await assertEqual(try await store.scheduleList().map(\.name), ["Nightly full-sync_1"])

        let audit = try await scheduleAudit(database)
        XCTAssertEqual(audit.map(\.action), ["schedule.added", "schedule.added", "schedule.changed", "schedule.deleted"])
        XCTAssertEqual(audit.map(\.target), ["Nightly full-sync_1", "A weekly", "A weekly", "A weekly"])
        XCTAssertEqual(audit.map(\.actor), ["alice", "alice", "bob", "carol"])
        XCTAssertEqual(audit[0].message, "Schedule 'Nightly full-sync_1' added: every day from 2026-12-01T02:00:00+01:00 (Europe/Berlin), builder: All Call Processors, All Message Processors, All IMPs; options: parallel")
        XCTAssertEqual(audit[2].message, "Schedule 'A weekly' changed: every, selection, force_domain, abort_on_failure")
        XCTAssertEqual(audit[3].message, "Schedule 'A weekly' deleted")
    }

    func testBadInputStoresNothing() async throws {
        let database = try await TestServer.freshDatabase()
        let store = ScheduleStore(Connection(database.app))
        try await add(store, name: "Existing", builder: ["all"])
        let before = try await counts(database)

        typealias Attempt = () async throws -> Void
        let cases: [(String, Attempt, [String])] = [
            ("name", { try await self.add(store, name: "Nightly#1", builder: ["all"]) },
             ["name: 'Nightly#1' may hold only letters A–Z, a–z, digits, space, '_' and '-'"]),
            ("duplicate", { try await self.add(store, name: "Existing", builder: ["cp"]) },
             ["name: a schedule named 'Existing' already exists"]),
            ("unit", { try await self.add(store, name: "x", every: "6x", builder: ["all"]) },
             ["every: unknown unit 'x' in '6x' (use h, d or w, or once)"]),
            ("zero", { try await self.add(store, name: "x", every: "0h", builder: ["all"]) },
             ["every: '0h' — the interval must be a whole number of at least 1"]),
            ("negative", { try await self.add(store, name: "x", every: "-3d", builder: ["all"]) },
             ["every: '-3d' — the interval must be a whole number of at least 1"]),
            ("start", { try await self.add(store, name: "x", start: "23/11/2026 10:00", builder: ["all"]) },
             ["start: '23/11/2026 10:00' is not a date and time (use 2026-11-23T10:00:00Z or 2026-11-23 10:00)"]),
            ("zone", { try await self.add(store, name: "x", timeZone: "Mars/Base", builder: ["all"]) },
             ["time-zone: unknown time zone 'Mars/Base' (use an IANA name such as Europe/Berlin or UTC)"]),
            ("builder", { try await self.add(store, name: "x", builder: ["cp,xx"]) },
             ["builder: unknown choice 'xx' (use all, cp, mp, pp, ldap or domain)"]),
            ("both", { try await self.add(store, name: "x", builder: ["all"], granular: "cp.all: both") },
             [ScheduleChange.selectionTwice.description]),
            ("neither", { try await self.add(store, name: "x") }, [ScheduleChange.selectionMissing.description]),
            ("granular", { try await self.add(store, name: "x", granular: "cp.all: both\ncp.X infra\nxx.all: sub\npp.all:") },
             ["granular: line 2: missing ':' after the object",
              "granular: line 3: unknown class 'xx' (use cp, mp, pp, ad or domain)",
              "granular: line 4: pp needs a sync type (infra, sub or both)"]),
            ("empty granular", { try await self.add(store, name: "x", granular: "# nothing\n\n") },
             [GranularSyncError.noEntriesMessage]),
            ("edit to bad granular", {
                try await store.scheduleUpdate(name: "Existing", actor: "bob") { definition in
                    try ScheduleChange(every: "1w", start: nil, timeZone: nil, builder: [], granularText: "cp.all both",
                                       forceDomain: nil, parallel: nil, abortOnFailure: nil).apply(to: &definition)
                }
            }, ["granular: line 1: missing ':' after the object"]),
            // A line naming nothing that exists (the store's database has no device): refused with its number.
            ("unknown object", { try await self.add(store, name: "x", granular: "cp.all: infra\ncp.NoSuchDevice: infra\nmp.Ghost: sub") },
             ["granular: line 2: no call processor named 'NoSuchDevice' (add it first, or give --allow-unknown to store the line anyway)",
              "granular: line 3: no message processor named 'Ghost' (add it first, or give --allow-unknown to store the line anyway)"]),
            ("edit to unknown object", {
                try await store.scheduleUpdate(name: "Existing", actor: "bob") { definition in
                    definition.selection = .granular("cp.NoSuchDevice: infra")
                }
            }, ["granular: line 1: no call processor named 'NoSuchDevice' (add it first, or give --allow-unknown to store the line anyway)"]),
            ("edit unknown", { try await store.scheduleUpdate(name: "Ghost", actor: "bob") { $0.parallel = true } },
             ["schedule 'Ghost': no such schedule"]),
            ("delete unknown", { try await store.scheduleDelete(name: "Ghost", actor: "bob") },
             ["schedule 'Ghost': no such schedule"]),
        ]
        for (label, attempt, expected) in cases {
            do {
                try await attempt()
                XCTFail("\(label): accepted")
            } catch let error as InputError {
                XCTAssertEqual(error.lines, expected, label)
            } catch {
                XCTFail("\(label): \(error)")
            }
            await assertEqual(try await counts(database), before, "\(label): nothing stored")
        }
        let existing = try await store.scheduleGet(name: "Existing")
        XCTAssertEqual(existing?.definition.selection, .builder([.all]))
        XCTAssertEqual(existing?.definition.frequency, .once)
    }

    /// The database refuses what the store would, for writes that bypass it.
    func testConstraintsBackstop() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let bad = [
            "INSERT INTO schedules (name, frequency, start_at, time_zone, selection_kind, builder_choices, updated_by) VALUES ('a#b', 'once', now(), 'UTC', 'builder', '{all}', 'x')",
            "INSERT INTO schedules (name, frequency, start_at, time_zone, selection_kind, builder_choices, updated_by) VALUES ('ab', '0h', now(), 'UTC', 'builder', '{all}', 'x')",
            "INSERT INTO schedules (name, frequency, start_at, time_zone, selection_kind, builder_choices, updated_by) VALUES ('ab', 'once', now(), 'UTC', 'builder', '{}', 'x')",
            "INSERT INTO schedules (name, frequency, start_at, time_zone, selection_kind, builder_choices, updated_by) VALUES ('ab', 'once', now(), 'UTC', 'builder', '{xx}', 'x')",
            "INSERT INTO schedules (name, frequency, start_at, time_zone, selection_kind, updated_by) VALUES ('ab', 'once', now(), 'UTC', 'granular', 'x')",
        ]
        for sql in bad {
            do {
                _ = try await connection.query(Statement("", sql))
                XCTFail("accepted: \(sql)")
            } catch is PostgresError {}
        }
        _ = try await connection.query(Statement("", "INSERT INTO schedules (name, frequency, start_at, time_zone, selection_kind, granular_text, updated_by) VALUES ('ok', '12h', now(), 'UTC', 'granular', 'cp.all: both', 'x')"))
        await assertEqual(try await ScheduleStore(connection).scheduleList().map(\.name), ["ok"])
    }

    func testPreviewOfMixedGranularText() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await SchedulingFixtures.addDevices(connection)
        let text = SchedulingFixtures.mixedText
        let definition = try ScheduleChange(every: nil, start: nil, timeZone: "UTC", builder: [], granularText: text,
                                            forceDomain: nil, parallel: nil, abortOnFailure: nil).definition(name: "Mixed")
        let catalog = try await InventoryCatalogSource(connection).catalog()
        XCTAssertEqual(catalog, InventoryCatalog(callProcessors: ["CUCM-A", "CUCM-B"], messageProcessors: ["Unity-1"],
                                                 presenceProcessors: ["IMP-1"]))
        let preview = SchedulePreview(definition, catalog: catalog)
        XCTAssertEqual(preview.errors, [])
        XCTAssertEqual(preview.lines, SchedulingFixtures.mixedPreview)

        // Bad lines are reported with their numbers; the good ones are still planned.
        var broken = definition
        broken.selection = .granular("cp.all: infra\ncp.CUCM-A: full\nmp.all sub")
        let brokenPreview = SchedulePreview(broken, catalog: catalog)
        XCTAssertEqual(brokenPreview.lines, ["1. infrastructure synchronization of call processor 'CUCM-A'",
                                             "2. infrastructure synchronization of call processor 'CUCM-B'"])
        XCTAssertEqual(brokenPreview.errors, ["granular: line 2: sync type 'full' is not one of infra, sub, both",
                                              "granular: line 3: missing ':' after the object"])

        // The builder expands against the same catalog.
        var builder = definition
        builder.selection = .builder([.messageProcessors, .domains])
        XCTAssertEqual(SchedulePreview(builder, catalog: catalog).lines, [
            "1. infrastructure synchronization of message processor 'Unity-1'",
            "2. user synchronization of message processor 'Unity-1'",
            "warning: no domains to synchronize",
        ])
    }
}

enum SchedulingFixtures {
    /// Two call processors, a message processor and a presence processor, added out of name order.
    static func addDevices(_ connection: Connection) async throws {
        let devices = DeviceStore(connection, secretBox: SecretBox(key: try SecretKey.random()))
        for (name, kind) in [("CUCM-B", DeviceKind.callProcessor), ("Unity-1", .messageProcessor),
                             ("IMP-1", .presenceProcessor), ("CUCM-A", .callProcessor)] {
            try await devices.deviceAdd(DeviceDraft(name: name, kind: kind, address: "\(name.lowercased()).lab.example",
                                                    adminUser: "admin"),
                                        password: Secret("pw-\(name)"), actor: "test")
        }
    }

    static let mixedText = """
        # nightly, mixed
        domain.Test-Dom:
        pp.all: both
        cp.CUCM-B: infra
        mp.all: sub
        cp.all: both
        ad.all:
        cp.Ghost: infra
        cp.cucm-a: sub

        """

    /// The plan of `mixedText`: infrastructure (call, then presence processors; the order the text names
    /// them), then user syncs, and every line that matches nothing as a warning with its number.
    static let mixedPreview = [
        "1. infrastructure synchronization of call processor 'CUCM-B'",
        "2. infrastructure synchronization of call processor 'CUCM-A'",
        "3. infrastructure synchronization of presence processor 'IMP-1'",
        "4. user synchronization of call processor 'CUCM-A'",
        "5. user synchronization of call processor 'CUCM-B'",
        "6. user synchronization of message processor 'Unity-1'",
        "warning: line 2: no domain named 'Test-Dom'",
        "warning: line 7: no LDAP directories to synchronize",
        "warning: line 8: no call processor named 'Ghost'",
        "warning: line 9: no call processor named 'cucm-a' (did you mean 'CUCM-A'?)",
    ]
}
