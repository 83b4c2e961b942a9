import Foundation
import Inventory
import JobCatalog
import Orders
import Postgres
import Queue
import Runtime
import Secrets
import TestSupport
import XCTest

/// A domain's write-back and its domain and LDAP synchronizations refuse each other (seed 004); their
/// submissions check and queue under the domain's submission lock, so two submitted at the same moment
/// cannot both pass their checks. Each test holds one submission open on a connection of its own, its
/// job queued but not committed, until the other is seen waiting on a lock; the other is then refused.
final class SubmissionLockTests: XCTestCase {
    static let domain = "Cisco"

    /// A fresh database with directory "AD" and domain Cisco reading it (Sync All Users), written back to ipPhone.
    func prepared() async throws -> TestDatabase {
        let database = try await TestServer.freshDatabase()
        let connection = Connection(database.app)
        let directory = DeviceDraft(name: "AD", kind: .directory, address: "ldap.lab.example", port: nil, adminUser: "CN=Administrator,DC=ca,DC=com",
                                    directoryType: .activeDirectory, ldapSecurity: .ldap)
        try await DeviceStore(connection, secretBox: SecretBox(key: try SecretKey.random())).deviceAdd(directory, password: Secret("pw"), actor: "t")
        _ = try await DomainStore(connection).domainAdd(DomainDraft(name: Self.domain, directory: "AD", searchBase: "ou=people,dc=example,dc=com",
                                                                writeBackAttribute: "ipPhone"), actor: "t")
        // A required rule, so that nothing but the write-back refuses its domain synchronization.
        try await DomainStore(connection).domainRulesSet(name: Self.domain, DomainRules([.syncAllUsers: []]), actor: "t")
        return database
    }

    /// Call processor CUCM, message processor CUC: Cisco's area "HQ" uses both, domain Acme's area
    /// "Branch" (Acme before Cisco by name) uses CUCM, so a user synchronization of CUCM concerns both domains.
    func addProcessors(_ database: TestDatabase) async throws {
        let connection = Connection(database.app)
        _ = try await DomainStore(connection).domainAdd(DomainDraft(name: "Acme", directory: "AD", searchBase: "ou=people,dc=example,dc=com",
                                                                writeBackAttribute: "ipPhone"), actor: "t")
        try await Connection(database.owner).withSession { session in
            try session.execute("""
                INSERT INTO devices (name, kind, address, port, admin_user) VALUES
                    ('CUCM', 'call_processor', 'cucm.lab.example', 8443, 'axl'), ('CUC', 'message_processor', 'cuc.lab.example', 443, 'cupi');
                INSERT INTO service_areas (domain, name, call_processor, message_processor, device_pool) VALUES
                    ('Cisco', 'HQ', 'CUCM', 'CUC', 'DP'), ('Acme', 'Branch', 'CUCM', NULL, 'DP');
                """)
        }
    }

    /// Opens the first submission (queues `first`'s job under the domain's submission lock, or as
    /// `holding` holds it), then runs `second` on another connection, and commits the first only once
    /// the second waits on a lock (or, without the lock, has already queued its job of type
    /// `secondType`). Returns whether the second waited and what it did.
    func race(_ database: TestDatabase, first: QueueStore.EnqueueParams, secondType: String,
              holding: ((Connection, () async throws -> Bool) async throws -> Bool)? = nil,
              second: @escaping @Sendable (Connection) async throws -> Int64) async throws -> (waited: Bool, second: Result<Int64, any Error>) {
        let holder = Connection(database.app), submitter = Connection(database.app), observer = Connection(database.owner)
        let pid: Int64 = try await submitter.query(Statement("", "SELECT pg_backend_pid()::bigint AS pid")).first!.decode("pid")
        let watch = Statement("", """
            SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1::integer AND NOT granted) AS waiting,
                   EXISTS (SELECT 1 FROM jobs WHERE type = $2) AS queued
            """)
        var secondTask: Task<Int64, any Error>?
        let hold = holding ?? { connection, body in try await WriteBackRefusal.submitting(domain: Self.domain, connection: connection, body) }
        let waited = try await hold(holder) {
            _ = try await QueueStore(holder).jobEnqueue(first)
            secondTask = Task { try await second(submitter) }
            var waiting = false
            let settled = try await eventually(timeout: 30, interval: 0.02) {
                let row = try await observer.query(watch, [pid, secondType]).first!
                waiting = try row.decode("waiting")
                return try waiting || row.decode("queued")
            }
            XCTAssertTrue(settled, "the second submission neither waited nor queued its job")
            return waiting
        }
        do {
            return (waited, .success(try await secondTask!.value))
        } catch {
            return (waited, .failure(error))
        }
    }

    func refusal(_ result: Result<Int64, any Error>) -> String {
        switch result {
        case .success(let id): return "queued as job \(id)"
        case .failure(let error): return (error as? InputError)?.description ?? "\(error)"
        }
    }

    /// A domain or LDAP synchronization submitted while a write-back of the domain is being submitted
    /// waits for it, then is refused: only the write-back is queued.
    func testASyncSubmittedBesideAWriteBackWaitsAndIsRefused() async throws {
        for kind in ["ldap", "domain"] {
            let database = try await prepared()
            let writeBack = QueueStore.EnqueueParams(WriteBackRun.self, target: Self.domain, dedupKey: WriteBackRun.dedupKey(domain: Self.domain),
                                                     actor: "t")
            let sync = try SyncSubmission(kind: kind, device: nil, domain: Self.domain, dryRun: false, allowDeletes: nil, priority: 0, actor: "t")
            let (waited, result) = try await race(database, first: writeBack, secondType: sync.type.jobType) { connection in
                try await sync.enqueue(connection).id
            }
            XCTAssertTrue(waited, "the \(kind) synchronization's submission did not wait for the write-back's")
            let refused = refusal(result)
            XCTAssertTrue(refused.contains("its \(kind == "ldap" ? "LDAP" : "domain") synchronization is disabled while its write back to LDAP (job "),
                          refused)
            let types = try await Connection(database.owner).query(Statement("", "SELECT type FROM jobs ORDER BY id"))
                .map { try $0.decode("type", as: String.self) }
            XCTAssertEqual(types, [WriteBackRun.jobType], kind)
        }
    }

    /// A write-back submitted while an LDAP synchronization of the domain is being submitted waits for
    /// it, then is refused: only the synchronization is queued.
    func testAWriteBackSubmittedBesideASyncWaitsAndIsRefused() async throws {
        let database = try await prepared()
        let sync = try SyncSubmission(kind: "ldap", device: nil, domain: Self.domain, dryRun: false, allowDeletes: nil, priority: 0, actor: "t")
        let (waited, result) = try await race(database, first: sync.params, secondType: WriteBackRun.jobType) { connection in
            try await WriteBackSubmission.enqueue(domain: Self.domain, actor: "t", connection: connection).id
        }
        XCTAssertTrue(waited, "the write-back's submission did not wait for the synchronization's")
        let refused = refusal(result)
        XCTAssertTrue(refused.contains("write back to LDAP is disabled while its LDAP synchronization (job "), refused)
        let types = try await Connection(database.owner).query(Statement("", "SELECT type FROM jobs ORDER BY id"))
            .map { try $0.decode("type", as: String.self) }
        XCTAssertEqual(types, [SyncType.ldap.jobType])
    }

    func jobs(_ database: TestDatabase) async throws -> [String] {
        try await Connection(database.owner).query(Statement("", "SELECT type, target FROM jobs ORDER BY id"))
            .map { "\(try $0.decode("type", as: String.self)) \(try $0.decode("target", as: String.self))" }
    }

    /// A user synchronization of a processor of the domain, submitted (by `submit sync` or `submit
    /// job`) while a write-back of the domain is being submitted, waits for it — it takes the submission
    /// lock of every domain using its device, Acme's before Cisco's — and is then queued: the seed keeps
    /// the write-back out of user synchronization, and the one sync slot starts it after the write-back.
    /// Before, it was queued at once beside the write-back's submission, which could not see it.
    func testAUserSyncSubmittedBesideAWriteBackWaitsThenQueues() async throws {
        for (device, form) in [("CUCM", "sync"), ("CUC", "sync"), ("CUCM", "job")] {
            let database = try await prepared()
            try await addProcessors(database)
            let writeBack = QueueStore.EnqueueParams(WriteBackRun.self, target: Self.domain, dedupKey: WriteBackRun.dedupKey(domain: Self.domain),
                                                     actor: "t")
            let (waited, result) = try await race(database, first: writeBack, secondType: SyncType.user.jobType) { connection in
                if form == "sync" {
                    let sync = try SyncSubmission(kind: "user", device: device, domain: nil, dryRun: false, allowDeletes: nil, priority: 0, actor: "t")
                    return try await sync.enqueue(connection).id
                }
                return try await JobSubmission(contract: UserSync.self, payload: "{}", target: device, priority: 0, runAt: nil, key: nil,
                                               actor: "t").enqueue(connection).id
            }
            XCTAssertTrue(waited, "the user synchronization of \(device) (submit \(form)) did not wait for the write-back's submission")
            XCTAssertEqual(refusal(result).hasPrefix("queued as job"), true, refusal(result))
            await assertEqual(try await jobs(database), ["\(WriteBackRun.jobType) \(Self.domain)", "\(SyncType.user.jobType) \(device)"])
        }
    }

    /// A write-back of either domain using CUCM, submitted while a user synchronization of CUCM is
    /// being submitted, waits for it and is refused: only the user synchronization is queued.
    func testAWriteBackSubmittedBesideAUserSyncWaitsAndIsRefused() async throws {
        for domain in ["Acme", Self.domain] {
            let database = try await prepared()
            try await addProcessors(database)
            let sync = try SyncSubmission(kind: "user", device: "CUCM", domain: nil, dryRun: false, allowDeletes: nil, priority: 0, actor: "t")
            let (waited, result) = try await race(database, first: sync.params, secondType: WriteBackRun.jobType, holding: { connection, body in
                try await SyncSubmission.submitting(.user, target: "CUCM", connection: connection) { refusal in
                    XCTAssertNil(refusal)
                    return try await body()
                }
            }) { connection in
                try await WriteBackSubmission.enqueue(domain: domain, actor: "t", connection: connection).id
            }
            XCTAssertTrue(waited, "the write-back of \(domain) did not wait for the user synchronization's submission")
            let refused = refusal(result)
            XCTAssertTrue(refused.contains("write back to LDAP is not performed during the user synchronization of its processor 'CUCM' (job "),
                          refused)
            await assertEqual(try await jobs(database), ["\(SyncType.user.jobType) CUCM"])
        }
    }
}
