import Foundation
import Directory
import Inventory
import Postgres
import Queue
import Runtime
import Secrets
import TestSupport
import XCTest

/// The device registry against a real PostgreSQL, a fresh database per test.
final class DeviceStoreTests: XCTestCase {
    let password = "s3cret-\(UInt32.random(in: 0...UInt32.max))"

    func makeStore(_ database: TestDatabase, key: SecretKey? = nil) throws -> DeviceStore {
        DeviceStore(Connection(database.app), secretBox: SecretBox(key: try key ?? SecretKey.random()))
    }

    /// Rows in `devices` and lines in `audit_log`.
    func counts(_ database: TestDatabase) async throws -> [Int] {
        let row = try await Connection(database.owner).query(Statement("", """
            SELECT (SELECT count(*) FROM devices) AS devices, (SELECT count(*) FROM audit_log) AS audit
            """)).first!
        return [try row.decode("devices"), try row.decode("audit")]
    }

    func deviceAudit(_ database: TestDatabase) async throws -> [AuditEntry] {
        try await database.store().auditList(since: nil, jobID: nil, limit: 1000)
            .filter { $0.action.hasPrefix("device.") }.sorted { $0.id < $1.id }
    }

    func cucm(_ name: String = "CUCM-1 pub@lab.example") -> DeviceDraft {
        DeviceDraft(name: name, kind: .callProcessor, version: "12.5", address: "cucm1.lab.example",
                    backupAddress: "10.0.0.2", backupPort: 8443, adminUser: "axladmin")
    }

    func testAddGetListUpdateRemove() async throws {
        let database = try await TestServer.freshDatabase()
        let store = try makeStore(database)
        let added = try await store.deviceAdd(cucm(), password: Secret(password), actor: "alice")
        XCTAssertEqual(added.name, "CUCM-1 pub@lab.example")
        XCTAssertEqual(added.kind, .callProcessor)
        XCTAssertEqual(added.port, 8443, "the kind's default port")
        XCTAssertEqual(added.axlVersion, "12.5", "the default AXL version")
        XCTAssertTrue(added.verifyTLS, "TLS verification is on by default")
        XCTAssertTrue(added.passwordSet)
        XCTAssertEqual(added.lastTestState, .never)
        XCTAssertNil(added.firstSyncedAt)
        try await store.deviceAdd(DeviceDraft(name: "unity_1", kind: .messageProcessor, address: "fd00::15",
                                              adminUser: "cupi", axlVersion: "11.5"),
                                  password: Secret(password), actor: "alice")

        let fetched = try await store.deviceGet(name: "unity_1")
        XCTAssertEqual(fetched?.kind, .messageProcessor)
        XCTAssertEqual(fetched?.port, 443)
        XCTAssertEqual(fetched?.address, "fd00::15")
        XCTAssertEqual(fetched?.axlVersion, "11.5")
        await assertNil(try await store.deviceGet(name: "nope"))
        await assertEqual(try await store.deviceList().map(\.name), ["CUCM-1 pub@lab.example", "unity_1"])

        let updated = try await store.deviceUpdate(name: "unity_1", actor: "bob") { draft in
            draft.address = "unity.lab.example"
            draft.port = 8443
            draft.axlVersion = "12.0"
        }
        XCTAssertEqual(updated.address, "unity.lab.example")
        XCTAssertEqual(updated.port, 8443)
        XCTAssertEqual(updated.axlVersion, "12.0")
        XCTAssertGreaterThan(updated.updatedAt, fetched!.updatedAt)
        await assertEqual(try await store.deviceGet(name: "unity_1"), updated)

        let before = try await counts(database)
        let unchanged = try await store.deviceUpdate(name: "unity_1", actor: "bob") { _ in }
        XCTAssertEqual(unchanged, updated)
        await assertEqual(try await counts(database), before, "an edit that changes nothing writes nothing")

        try await store.deviceRemove(name: "unity_1", actor: "carol")
        await assertNil(try await store.deviceGet(name: "unity_1"))
        await assertEqual(try await store.deviceList().map(\.name), ["CUCM-1 pub@lab.example"])

        let audit = try await deviceAudit(database)
        XCTAssertEqual(audit.map(\.action), ["device.added", "device.added", "device.changed", "device.removed"])
        XCTAssertEqual(audit.map(\.actor), ["alice", "alice", "bob", "carol"])
        XCTAssertEqual(audit.map { $0.target ?? "" }, ["CUCM-1 pub@lab.example", "unity_1", "unity_1", "unity_1"])
        XCTAssertEqual(audit[2].message, "Device 'unity_1' changed: address, port, axl_version")
        XCTAssertEqual(audit[3].message, "Device 'unity_1' removed")
        XCTAssertTrue(audit[0].message.hasPrefix("Device 'CUCM-1 pub@lab.example' added: Unified CM 12.5 at cucm1.lab.example:8443"),
                      audit[0].message)
    }

    func testEachBadFieldIsRefusedWithItsMessageAndWritesNothing() async throws {
        let database = try await TestServer.freshDatabase()
        let store = try makeStore(database)
        try await store.deviceAdd(cucm("existing"), password: Secret(password), actor: "t")
        let before = try await counts(database)

        func draft(_ change: (inout DeviceDraft) -> Void) -> DeviceDraft {
            var draft = cucm("new-device")
            change(&draft)
            return draft
        }
        let axlRule = "axl_version: must be one of 10.0, 10.5, 11.0, 11.5, 12.0, 12.5"
        let nameRule = "may hold only letters, digits, space, '_', '-', '.' and '@' (1 to 100 characters)"
        let addressRule = "must be a host name or an IPv4 or IPv6 address (no spaces, slashes, scheme or port)"
        let cases: [(DeviceDraft, String, String)] = [
            (draft { $0.name = "cucm#1" }, "", "name: 'cucm#1' \(nameRule)"),
            (draft { $0.name = "" }, "", "name: '' \(nameRule)"),
            (draft { $0.name = "   " }, "", "name: '   ' must not be only spaces (at least one letter, digit, '_', '-', '.' or '@')"),
            (draft { $0.name = " " }, "", "name: ' ' must not be only spaces (at least one letter, digit, '_', '-', '.' or '@')"),
            (draft { $0.name = "new\nline" }, "", "name: 'new\\nline' \(nameRule)"),
            (draft { $0.name = "tab\there\u{7}" }, "", "name: 'tab\\there\\u{7}' \(nameRule)"),
            (draft { $0.name = String(repeating: "a", count: 101) }, "", "name: '\(String(repeating: "a", count: 101))' \(nameRule)"),
            (draft { $0.name = "existing" }, "", "name: a device named 'existing' already exists"),
            (draft { $0.version = "twelve" }, "", "version: 'twelve' must be a release number such as 12.5 or 12.5.1.11900-146"),
            (draft { $0.address = "cucm 1.example" }, "", "address: 'cucm 1.example' \(addressRule)"),
            (draft { $0.address = "https://cucm1" }, "", "address: 'https://cucm1' \(addressRule)"),
            (draft { $0.address = "10.0.0.1/24" }, "", "address: '10.0.0.1/24' \(addressRule)"),
            (draft { $0.address = "300.1.1.1" }, "", "address: '300.1.1.1' \(addressRule)"),
            (draft { $0.address = "" }, "", "address: '' \(addressRule)"),
            (draft { $0.port = 0 }, "", "port: must be a whole number from 1 to 65535 (got 0)"),
            (draft { $0.port = 65536 }, "", "port: must be a whole number from 1 to 65535 (got 65536)"),
            (draft { $0.backupPort = nil }, "", "backup_port: required with backup_address (give both or neither)"),
            (draft { $0.backupAddress = nil }, "", "backup_address: required with backup_port (give both or neither)"),
            (draft { $0.backupAddress = "bad/host" }, "", "backup_address: 'bad/host' \(addressRule)"),
            (draft { $0.backupPort = 70000 }, "", "backup_port: must be a whole number from 1 to 65535 (got 70000)"),
            (draft { $0.adminUser = "" }, "", "admin_user: must not be empty (1 to 128 characters, no control characters)"),
            (draft { $0.axlVersion = "9.1" }, "", "\(axlRule) (got '9.1')"),
            (draft { $0.axlVersion = "12.5.1" }, "", "\(axlRule) (got '12.5.1')"),
            (draft { $0.caFile = "/nonexistent/ca.pem" }, "",
             "ca_file: cannot read '/nonexistent/ca.pem' (it must be a readable PEM file)"),
            (draft { _ in }, "EMPTY", "password: must not be empty"),
            (draft { _ in }, "two\nlines", "password: must be one line"),
        ]
        for (draft, badPassword, expected) in cases {
            let secret = Secret(badPassword == "EMPTY" ? "" : (badPassword.isEmpty ? password : badPassword))
            do {
                try await store.deviceAdd(draft, password: secret, actor: "t")
                XCTFail("accepted: \(expected)")
            } catch let error as InputError {
                XCTAssertEqual(error.description, expected)
                XCTAssertFalse(error.description.contains(password))
            }
        }
        // The same rules on edit, for an existing device.
        let editCases: [(@Sendable (inout DeviceDraft) -> Void, String)] = [
            ({ $0.port = -1 }, "port: must be a whole number from 1 to 65535 (got -1)"),
            ({ $0.address = "a..b" }, "address: 'a..b' \(addressRule)"),
            ({ $0.backupAddress = nil }, "backup_address: required with backup_port (give both or neither)"),
            ({ $0.axlVersion = "13.0" }, "\(axlRule) (got '13.0')"),
            ({ $0.adminUser = " " }, "admin_user: must not be empty (1 to 128 characters, no control characters)"),
            ({ $0.name = "renamed" }, "name: a device cannot be renamed (remove it and add it again)"),
        ]
        for (change, expected) in editCases {
            do {
                try await store.deviceUpdate(name: "existing", actor: "t", change)
                XCTFail("accepted: \(expected)")
            } catch let error as InputError {
                XCTAssertEqual(error.description, expected)
            }
        }
        for (operation, expected) in [("update", "device 'ghost': no such device"), ("remove", "device 'ghost': no such device")] {
            do {
                if operation == "update" {
                    try await store.deviceUpdate(name: "ghost", actor: "t") { $0.port = 1 }
                } else {
                    try await store.deviceRemove(name: "ghost", actor: "t")
                }
                XCTFail("accepted \(operation) of a missing device")
            } catch let error as InputError {
                XCTAssertEqual(error.description, expected)
            }
        }
        await assertEqual(try await counts(database), before, "refused input wrote nothing")
        await assertEqual(try await store.deviceList().map(\.name), ["existing"])
    }

    func testKindCannotChangeAfterTheFirstSynchronization() async throws {
        let database = try await TestServer.freshDatabase()
        let store = try makeStore(database)
        try await store.deviceAdd(cucm("cm"), password: Secret(password), actor: "t")
        // Before any sync the kind may change.
        let changed = try await store.deviceUpdate(name: "cm", actor: "t") { $0.kind = .presenceProcessor }
        XCTAssertEqual(changed.kind, .presenceProcessor)
        try await store.deviceUpdate(name: "cm", actor: "t") { $0.kind = .callProcessor }

        let synced = try await store.deviceMarkSynchronized(name: "cm")
        XCTAssertNotNil(synced.firstSyncedAt)
        let again = try await store.deviceMarkSynchronized(name: "cm")
        XCTAssertEqual(again.firstSyncedAt, synced.firstSyncedAt, "the first sync time stays")
        let before = try await counts(database)
        do {
            try await store.deviceUpdate(name: "cm", actor: "t") { $0.kind = .messageProcessor; $0.port = 9443 }
            XCTFail("the kind changed after the first sync")
        } catch let error as InputError {
            XCTAssertEqual(error.description, "kind: cannot change after the device's first synchronization (seed)")
        }
        // The database refuses it too, for anything that bypasses the store.
        do {
            try await Connection(database.app).query(Statement("", "UPDATE devices SET kind = 'message_processor' WHERE name = 'cm'"))
            XCTFail("the trigger let the kind change")
        } catch let error as PostgresError {
            XCTAssertEqual(error.message, "kind: cannot change after the device's first synchronization (seed)")
        }
        await assertEqual(try await counts(database), before)
        await assertEqual(try await store.deviceGet(name: "cm")?.kind, .callProcessor)
        await assertEqual(try await store.deviceGet(name: "cm")?.port, 8443)
        // Other fields still change.
        await assertEqual(try await store.deviceUpdate(name: "cm", actor: "t") { $0.port = 9443 }.port, 9443)
    }

    func testPasswordIsStoredSealedAndNeverAudited() async throws {
        let database = try await TestServer.freshDatabase()
        let key = try SecretKey.random()
        let store = try makeStore(database, key: key)
        try await store.deviceAdd(cucm("cm"), password: Secret(password), actor: "t")

        let rowText: String = try await Connection(database.owner).query(
            Statement("", "SELECT d::text AS row FROM devices d WHERE name = 'cm'")).first!.decode("row")
        XCTAssertFalse(rowText.contains(password), "the plaintext is not in the row")
        let sealed: String = try await Connection(database.owner).query(
            Statement("", "SELECT sealed_password FROM devices WHERE name = 'cm'")).first!.decode("sealed_password")
        XCTAssertTrue(sealed.hasPrefix("v1:"))
        XCTAssertEqual(try SecretBox(key: key).open(sealed), password, "opened back with the key")
        await assertEqual(try await store.devicePassword(name: "cm")?.revealed, password)
        do {
            _ = try await makeStore(database).devicePassword(name: "cm")
            XCTFail("another key opened the password")
        } catch is SecretsError {}

        let newPassword = "n3w-\(UInt32.random(in: 0...UInt32.max))"
        try await store.deviceUpdate(name: "cm", password: Secret(newPassword), actor: "t") { _ in }
        await assertEqual(try await store.devicePassword(name: "cm")?.revealed, newPassword)
        let resealed: String = try await Connection(database.owner).query(
            Statement("", "SELECT sealed_password FROM devices WHERE name = 'cm'")).first!.decode("sealed_password")
        XCTAssertNotEqual(resealed, sealed)
        XCTAssertFalse(resealed.contains(newPassword))
        // An edit without a password keeps the stored one.
        try await store.deviceUpdate(name: "cm", actor: "t") { $0.port = 8444 }
        await assertEqual(try await store.devicePassword(name: "cm")?.revealed, newPassword)

        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 1000)
        XCTAssertEqual(audit.filter { $0.action == "device.changed" }.map(\.message).sorted(),
                       ["Device 'cm' changed: password", "Device 'cm' changed: port"])
        for entry in audit {
            XCTAssertFalse(entry.message.contains(password), entry.message)
            XCTAssertFalse(entry.message.contains(newPassword), entry.message)
            XCTAssertFalse(entry.message.contains(sealed), entry.message)
        }
        // Without a key, nothing with a password is written.
        let before = try await counts(database)
        do {
            try await DeviceStore(Connection(database.app)).deviceAdd(cucm("nokey"), password: Secret(password), actor: "t")
            XCTFail("a password was stored without a key")
        } catch let error as InputError {
            XCTAssertEqual(error.description, DeviceStore.noKey.description)
            XCTAssertTrue(error.description.contains("ucp secret-key generate --file"))
        }
        await assertEqual(try await counts(database), before)
    }

    func testTurningTLSVerificationOffIsItsOwnAuditLine() async throws {
        let database = try await TestServer.freshDatabase()
        let store = try makeStore(database)
        var insecure = cucm("lab")
        insecure.verifyTLS = false
        try await store.deviceAdd(insecure, password: Secret(password), actor: "alice")
        try await store.deviceAdd(cucm("prod"), password: Secret(password), actor: "alice")
        var audit = try await deviceAudit(database)
        XCTAssertEqual(audit.map(\.action), ["device.added", "device.tls_verification_off", "device.added"])
        XCTAssertEqual(audit[1].message, "TLS certificate verification turned off for device 'lab'")
        XCTAssertEqual(audit[1].target, "lab")

        try await store.deviceUpdate(name: "prod", actor: "bob") { $0.verifyTLS = false }
        try await store.deviceUpdate(name: "prod", actor: "bob") { $0.verifyTLS = true }
        audit = try await deviceAudit(database)
        XCTAssertEqual(Array(audit.dropFirst(3).map(\.action)),
                       ["device.changed", "device.tls_verification_off", "device.changed"])
        XCTAssertEqual(audit[4].message, "TLS certificate verification turned off for device 'prod'")
        XCTAssertEqual(audit[4].actor, "bob")
        XCTAssertEqual(audit[5].message, "Device 'prod' changed: verify_tls (now on)")
        await assertEqual(try await store.deviceGet(name: "lab")?.verifyTLS, false)
    }

    /// A directory on plain ldap:// (the default) binds with its admin password in clear text: its own
    /// audit line when added so or switched to it, none for StartTLS or ldaps, none for other kinds.
    func testAClearTextDirectoryBindIsItsOwnAuditLine() async throws {
        let database = try await TestServer.freshDatabase()
        let store = try makeStore(database)
        func directory(_ name: String, _ security: LDAPSecurity?) -> DeviceDraft {
            DeviceDraft(name: name, kind: .directory, address: "ldap.lab.example", adminUser: "CN=Administrator,DC=lab,DC=com",
                        directoryType: .openLDAP, ldapSecurity: security)
        }
        try await store.deviceAdd(directory("plain", nil), password: Secret(password), actor: "alice")
        try await store.deviceAdd(directory("tls", .startTLS), password: Secret(password), actor: "alice")
        try await store.deviceAdd(cucm("cucm"), password: Secret(password), actor: "alice")
        var audit = try await deviceAudit(database)
        XCTAssertEqual(audit.map(\.action), ["device.added", "device.clear_text_bind", "device.added", "device.added"])
        XCTAssertEqual(audit[1].message, "Directory 'plain' binds in clear text (security ldap): its admin password crosses the network unencrypted")
        XCTAssertEqual(audit[1].target, "plain")
        XCTAssertEqual(audit[1].actor, "alice")
        XCTAssertFalse(audit.contains { $0.message.contains(password) })

        try await store.deviceUpdate(name: "tls", actor: "bob") { $0.ldapSecurity = .ldap }
        try await store.deviceUpdate(name: "tls", actor: "bob") { $0.address = "ldap2.lab.example" }
        try await store.deviceUpdate(name: "plain", actor: "bob") { $0.ldapSecurity = .ldaps; $0.port = 636 }
        audit = try await deviceAudit(database)
        XCTAssertEqual(Array(audit.dropFirst(4).map(\.action)),
                       ["device.changed", "device.clear_text_bind", "device.changed", "device.changed"])
        XCTAssertEqual(audit[5].message, "Directory 'tls' binds in clear text (security ldap): its admin password crosses the network unencrypted")
        XCTAssertEqual(audit[5].actor, "bob")

        XCTAssertEqual(DeviceExposure.taken(before: nil, after: directory("x", nil)), [.clearTextBind])
        var both = directory("x", .ldap)
        both.verifyTLS = false
        XCTAssertEqual(DeviceExposure.taken(before: nil, after: both), [.tlsVerificationOff, .clearTextBind])
        XCTAssertEqual(DeviceExposure.taken(before: directory("x", .ldap), after: both), [.tlsVerificationOff])
        XCTAssertEqual(DeviceExposure.taken(before: nil, after: directory("x", .ldaps)), [])
        XCTAssertEqual(DeviceExposure.clearTextBind.warning(device: "x"),
                       "warning: directory 'x' sends its admin password in clear text (security ldap); switch with --security starttls or --security ldaps")
    }

    func testCAFileIsAcceptedWhenReadable() async throws {
        let database = try await TestServer.freshDatabase()
        let store = try makeStore(database)
        let path = NSTemporaryDirectory() + "ucp-ca-\(database.name).pem"
        try "-----BEGIN CERTIFICATE-----\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        var draft = cucm("withca")
        draft.caFile = path
        await assertEqual(try await store.deviceAdd(draft, password: Secret(password), actor: "t").caFile, path)
        do {
            try await store.deviceUpdate(name: "withca", actor: "t") { $0.caFile = NSTemporaryDirectory() }
            XCTFail("a directory was accepted as CA file")
        } catch let error as InputError {
            XCTAssertTrue(error.description.hasPrefix("ca_file: cannot read"), error.description)
        }
    }
}
