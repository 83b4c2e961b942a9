import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime
import Schedules
import ScheduleRules
import Secrets
import TestSupport
import XCTest

/// A domain's own LDAP synchronization interval and start date, fired by the coordinator's duty like a
/// schedule: each due time once, a missed stretch once, never twice with two coordinators.
final class DomainSyncFiringTests: XCTestCase {
    let hour: TimeInterval = 3600

    func addDomains(_ connection: Connection, start: Date) async throws {
        let devices = DeviceStore(connection, secretBox: SecretBox(key: try SecretKey.random()))
        try await devices.deviceAdd(DeviceDraft(name: "Corp-AD", kind: .directory, address: "ldap.lab.example",
                                                adminUser: "CN=svc,DC=corp,DC=example", directoryType: .activeDirectory,
                                                ldapSecurity: .ldap),
                                    password: Secret("directory-pw"), actor: "test")
        let domains = DomainStore(connection)
        let base = "OU=Users,DC=corp,DC=example"
        try await domains.domainAdd(DomainDraft(name: "Every-6h", directory: "Corp-AD", searchBase: base,
                                                syncInterval: .every(6, .hours), syncStart: start), actor: "test")
        // Not fired: no interval; authentication only; no directory.
        try await domains.domainAdd(DomainDraft(name: "Manual", directory: "Corp-AD", searchBase: base), actor: "test")
        try await domains.domainAdd(DomainDraft(name: "Auth-only", directory: "Corp-AD", mode: .authenticationOnly, searchBase: base,
                                                syncInterval: .every(1, .hours), syncStart: start), actor: "test")
        try await domains.domainAdd(DomainDraft(name: "No-LDAP"), actor: "test")
    }

    func ldapJobs(_ database: TestDatabase) async throws -> [String] {
        try await Connection(database.owner).query(Statement("", """
            SELECT target FROM jobs WHERE type = 'sync.ldap' ORDER BY id
            """)).map { try $0.decode("target") }
    }

    /// Stands for a worker having run the queued syncs.
    func finishLDAPJobs(_ database: TestDatabase) async throws {
        _ = try await Connection(database.owner).query(Statement("", """
            UPDATE jobs SET state = 'succeeded', started_at = now(), finished_at = now() WHERE type = 'sync.ldap'
            """))
    }

    func testDueTimesFireOnceMissedOnesOnceAndNeverTwiceWithTwoFirers() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        try await addDomains(connection, start: start)
        let firing = DomainSyncFiring(connection)

        await assertEqual(try await firing.fireDue(now: start.addingTimeInterval(-60), actor: "c1"), [], "not due before its start")
        await assertEqual(try await firing.fireDue(now: start.addingTimeInterval(60), actor: "c1"), ["Every-6h"])
        await assertEqual(try await firing.fireDue(now: start.addingTimeInterval(120), actor: "c1"), [], "a due time fires once")
        await assertEqual(try await ldapJobs(database), ["Every-6h"])

        // The first sync ran meanwhile; a coordinator down for 3 due times fires once when it is back.
        try await finishLDAPJobs(database)
        await assertEqual(try await firing.fireDue(now: start.addingTimeInterval(18 * hour + 60), actor: "c1"), ["Every-6h"])
        await assertEqual(try await ldapJobs(database), ["Every-6h", "Every-6h"])
        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100)
            .filter { $0.action == "domain.ldap_sync_fired" }.sorted { $0.id < $1.id }
        XCTAssertEqual(audit.count, 2)
        XCTAssertTrue(audit.last?.message.contains("2 earlier due time(s) missed while no coordinator ran: fired once") == true,
                      audit.last?.message ?? "")

        // Two coordinators firing the same due time at once: one sync, one audit line.
        try await finishLDAPJobs(database)
        let second = DomainSyncFiring(Connection(database.app))
        let sameDueTime = start.addingTimeInterval(24 * hour + 60)
        async let a = firing.fireDue(now: sameDueTime, actor: "c1")
        async let b = second.fireDue(now: sameDueTime, actor: "c2")
        let (firedByA, firedByB) = try await (a, b)
        XCTAssertEqual(firedByA.count + firedByB.count, 1, "\(firedByA) \(firedByB)")
        await assertEqual(try await ldapJobs(database).count, 3)

        // A due time that finds the domain's sync still queued adds none, and says so.
        await assertEqual(try await firing.fireDue(now: start.addingTimeInterval(30 * hour + 60), actor: "c1"), ["Every-6h"])
        await assertEqual(try await ldapJobs(database).count, 3)
        let last = try await database.store().auditList(since: nil, jobID: nil, limit: 100)
            .filter { $0.action == "domain.ldap_sync_fired" }.max { $0.id < $1.id }
        XCTAssertTrue(last?.message.hasSuffix("one is already queued, none added") == true, last?.message ?? "")

        // The coordinator's duty fires by its clock.
        try await finishLDAPJobs(database)
        let duty = DomainSyncFiringDuty()
        try await duty.runOnce(database.store(), actor: "c1", clock: ManualTimeSource(now: start.addingTimeInterval(36 * hour - 60)))
        await assertEqual(try await ldapJobs(database).count, 3, "not due before start + 36 h")
        try await duty.runOnce(database.store(), actor: "c1", clock: ManualTimeSource(now: start.addingTimeInterval(36 * hour + 60)))
        await assertEqual(try await ldapJobs(database).count, 4)
    }

    /// A due time that finds a write back to LDAP of the domain queued or running queues no LDAP
    /// synchronization (seed: it is disabled meanwhile; `ucp submit sync ldap` is refused the same way):
    /// the audit trail says why, and the next due time fires again. It used to queue one behind the write-back.
    func testADueTimeDuringAWriteBackIsRefusedWithTheReason() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        try await addDomains(connection, start: start)
        let writeBack = try await database.store().jobEnqueue(.init(WriteBackRun.self, target: "Every-6h",
                                                                    dedupKey: WriteBackRun.dedupKey(domain: "Every-6h"), actor: "test")).id
        let firing = DomainSyncFiring(connection)

        await assertEqual(try await firing.fireDue(now: start.addingTimeInterval(60), actor: "c1"), ["Every-6h"])
        await assertEqual(try await ldapJobs(database), [], "no LDAP synchronization queued beside the write-back")
        let refused = try await database.store().auditList(since: nil, jobID: nil, limit: 100, action: "domain.ldap_sync_refused")
        XCTAssertEqual(refused.map(\.message), [
            "LDAP synchronization of domain 'Every-6h' due at \(PostgresTimestamp.format(start)) (every 6h): refused: domain 'Every-6h': "
                + "its LDAP synchronization is disabled while its write back to LDAP (job \(writeBack), queued) is queued or running; "
                + "the next due time fires it again",
        ])
        await assertEqual(try await firing.fireDue(now: start.addingTimeInterval(120), actor: "c1"), [], "the due time was used")

        // Once the write-back has ended, the next due time queues the sync.
        _ = try await Connection(database.owner).query(Statement("", """
            UPDATE jobs SET state = 'succeeded', started_at = now(), finished_at = now() WHERE id = $1
            """), [writeBack])
        await assertEqual(try await firing.fireDue(now: start.addingTimeInterval(6 * hour + 60), actor: "c1"), ["Every-6h"])
        await assertEqual(try await ldapJobs(database), ["Every-6h"])
    }

    /// The duty judges a domain's due time by the database's clock, not its host's (a day behind here).
    func testFiringDutyJudgesByTheDatabaseClockNotTheHosts() async throws {
        let database = try await TestServer.freshDatabase()
        try await addDomains(Connection(database.app), start: Date().addingTimeInterval(-60))
        try await DomainSyncFiringDuty().runOnce(database.store(), actor: "c1", clock: HostClockADayBehind())
        await assertEqual(try await ldapJobs(database), ["Every-6h"])
    }

    func testCoordinatorProcessFiresADueDomain() async throws {
        let database = try await TestServer.freshDatabase()
        try await addDomains(Connection(database.app), start: Date().addingTimeInterval(-60))
        let processes = try UCPProcesses(database: database)
        defer { processes.stopAll() }
        try processes.start("c1", ["coordinator", "--name", "c1", "--schedule-interval", "0.2s"])
        let fired = try await eventually(timeout: 20) { try await self.ldapJobs(database) == ["Every-6h"] }
        XCTAssertTrue(fired)
    }

    /// `ad.<directory>` in a schedule means the LDAP synchronization of each domain that synchronizes
    /// users from that directory (authentication-only domains and domains without LDAP are not).
    func testAnLDAPDirectoryInASchedulePlansItsDomainsLDAPSyncs() async throws {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        try await addDomains(connection, start: Date())
        let catalog = try await InventoryCatalogSource(connection).catalog()
        XCTAssertEqual(catalog.ldapDirectories, ["Corp-AD"])
        XCTAssertEqual(catalog.ldapDomainsByDirectory, ["Corp-AD": ["Every-6h", "Manual"]])
        let plan = SyncPlan(granular: try GranularSync(parsing: "ad.all:\ndomain.No-LDAP:"), catalog: catalog)
        XCTAssertEqual(plan.previewLines, [
            "1. LDAP synchronization of domain 'Every-6h' from LDAP directory 'Corp-AD'",
            "2. LDAP synchronization of domain 'Manual' from LDAP directory 'Corp-AD'",
            "3. domain synchronization of domain 'No-LDAP'",
        ])
    }
}
