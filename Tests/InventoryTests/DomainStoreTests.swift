import Directory
import Foundation
import Inventory
import Postgres
import Queue
import Runtime
import ScheduleRules
import Secrets
import TestSupport
import XCTest

/// Directories as devices and domains with their LDAP settings, against a real PostgreSQL.
final class DomainStoreTests: XCTestCase {
    let password = "s3cret-\(UInt32.random(in: 0...UInt32.max))"

    func devices(_ database: TestDatabase) throws -> DeviceStore {
        DeviceStore(Connection(database.app), secretBox: SecretBox(key: try SecretKey.random()))
    }

    /// Rows in `domains`, `devices` and lines in `audit_log`.
    func counts(_ database: TestDatabase) async throws -> [Int] {
        let row = try await Connection(database.owner).query(Statement("", """
            SELECT (SELECT count(*) FROM domains) AS domains, (SELECT count(*) FROM devices) AS devices,
                   (SELECT count(*) FROM audit_log) AS audit
            """)).first!
        return [try row.decode("domains"), try row.decode("devices"), try row.decode("audit")]
    }

    func directory(_ name: String, _ type: DirectoryServerType, security: LDAPSecurity = .ldap, port: Int? = nil) -> DeviceDraft {
        DeviceDraft(name: name, kind: .directory, address: "ldap.lab.example", port: port,
                    adminUser: "CN=Administrator,OU=Sales,DC=ca,DC=com", directoryType: type, ldapSecurity: security)
    }

    /// A fresh database with an AD directory "AD" and an OpenLDAP directory "OL".
    func prepared() async throws -> (TestDatabase, DomainStore) {
        let database = try await TestServer.freshDatabase()
        let devices = try devices(database)
        try await devices.deviceAdd(directory("AD", .activeDirectory), password: Secret(password), actor: "t")
        try await devices.deviceAdd(directory("OL", .openLDAP, security: .ldaps), password: Secret(password), actor: "t")
        return (database, DomainStore(Connection(database.app)))
    }

    func testDirectoriesAreDevicesWithServerTypeSecurityAndPorts() async throws {
        let database = try await TestServer.freshDatabase()
        let store = try devices(database)
        let plain = try await store.deviceAdd(directory("AD", .activeDirectory), password: Secret(password), actor: "alice")
        XCTAssertEqual(plain.kind, .directory)
        XCTAssertEqual(plain.kind.commandName, "ldap")
        XCTAssertEqual(plain.directoryType, .activeDirectory)
        XCTAssertEqual(plain.ldapSecurity, .ldap)
        XCTAssertEqual(plain.port, 389)
        XCTAssertEqual(plain.ldapURL, "ldap://ldap.lab.example:389")
        var secure = directory("OL", .openLDAP, security: .ldaps)
        secure.backupAddress = "fd00::9"
        secure.backupPort = 636
        let ldaps = try await store.deviceAdd(secure, password: Secret(password), actor: "alice")
        XCTAssertEqual(ldaps.port, 636)
        XCTAssertEqual(ldaps.ldapURL, "ldaps://ldap.lab.example:636")
        XCTAssertEqual(ldaps.ldapBackupURL, "ldaps://[fd00::9]:636")
        let catalog = try await store.deviceAdd(directory("GC", .activeDirectory, security: .startTLS, port: 3268),
                                                password: Secret(password), actor: "alice")
        XCTAssertEqual(catalog.ldapURL, "ldap://ldap.lab.example:3268")
        XCTAssertEqual(catalog.ldapSecurity, .startTLS)
        try await store.deviceAdd(directory("GCS", .adam, security: .ldaps, port: 3269), password: Secret(password), actor: "alice")
        await assertEqual(try await store.deviceGet(name: "GCS")?.directoryType, .adam)
        await assertEqual(try await store.devicePassword(name: "AD")?.revealed, password)

        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100)
            .filter { $0.action == "device.added" }.sorted { $0.id < $1.id }
        XCTAssertEqual(audit.first?.message,
                       "Device 'AD' added: LDAP directory (Microsoft Active Directory) at ldap://ldap.lab.example:389, admin DN 'CN=Administrator,OU=Sales,DC=ca,DC=com', TLS verification on")
        XCTAssertFalse(audit.contains { $0.message.contains(password) })

        let before = try await counts(database)
        let cases: [(DeviceDraft, String)] = [
            (DeviceDraft(name: "x", kind: .directory, address: "h", adminUser: "CN=a"),
             "server_type: required for a directory (--server-type ad|adam|openldap|oracle)"),
            (directory("x", .openLDAP, security: .ldap, port: 636),
             "port: 636 is an SSL port; use --security ldaps with it (plain LDAP and StartTLS use 389, Global Catalog 3268)"),
            (directory("x", .openLDAP, security: .startTLS, port: 3269),
             "port: 3269 is an SSL port; use --security ldaps with it (plain LDAP and StartTLS use 389, Global Catalog 3268)"),
            (directory("x", .openLDAP, security: .ldaps, port: 389), "port: 389 is a plain LDAP port; ldaps uses 636 (Global Catalog 3269)"),
            (DeviceDraft(name: "x", kind: .directory, address: "h", adminUser: "Administrator", directoryType: .activeDirectory),
             "admin_user: a directory's admin user is its admin distinguished name, e.g. CN=Administrator,OU=Sales,DC=ca,DC=com (got 'Administrator')"),
            (DeviceDraft(name: "x", kind: .callProcessor, address: "h", adminUser: "u", directoryType: .openLDAP),
             "server_type: only a directory (--kind ldap) has a server type"),
            (DeviceDraft(name: "x", kind: .callProcessor, address: "h", adminUser: "u", ldapSecurity: .ldaps),
             "security: only a directory (--kind ldap) has an LDAP security"),
        ]
        for (draft, expected) in cases {
            do {
                try await store.deviceAdd(draft, password: Secret(password), actor: "t")
                XCTFail("accepted: \(expected)")
            } catch let error as InputError {
                XCTAssertEqual(error.description, expected)
            }
        }
        await assertEqual(try await counts(database), before, "refused input wrote nothing")
    }

    func testAddReadEditRemoveWithAuditLines() async throws {
        let (database, store) = try await prepared()
        let draft = DomainDraft(
            name: "Sales", directory: "AD", staleUserAction: .deleteIfNoServices, searchBase: "CN=Users,DC=Cisco,DC=com",
            syncInactiveUsers: true, mapping: FieldMappingChoices(userID: "userprincipalname", phone: "ipPhone"),
            filter: .simple(SimpleQuery(conditions: [try QueryCondition(parsing: "department = Sales*"),
                                                     try QueryCondition(parsing: "user-id in a*(b), c\\d")])),
            serviceAreaFilters: [NamedLDAPFilter(name: "SA-London", filter: "(l=London)", mask: "+44XXXX", assignNewLine: true)],
            userRoleFilters: [NamedLDAPFilter(name: "Managers", filter: "(title=*Manager*)")],
            writeBackAttribute: "ipphone", writeBackMask: "\\+1408XXXX", deletionGuard: DeletionGuard(maximumCount: 50, maximumPercent: 5),
            syncInterval: .every(1, .days), syncStart: Date(timeIntervalSince1970: 1_800_000_000))
        let added = try await store.domainAdd(draft, actor: "alice")
        XCTAssertEqual(added.name, "Sales")
        XCTAssertEqual(added.serverType, .activeDirectory)
        XCTAssertEqual(added.mapping.userID, "userPrincipalName", "spelled as the seed does")
        XCTAssertEqual(added.writeBackAttribute, "ipPhone")
        let ldap = try XCTUnwrap(added.ldap)
        XCTAssertEqual(ldap.directory, "AD")
        XCTAssertEqual(ldap.searchBase, "CN=Users,DC=Cisco,DC=com")
        XCTAssertEqual(ldap.ldapFilter,
                       "(&(objectClass=user)(!(objectClass=computer))(department=Sales*)(|(userPrincipalName=a\\2a\\28b\\29)(userPrincipalName=c\\5cd)))")
        XCTAssertEqual(ldap.mapping.attribute(for: .userID), "userPrincipalName")
        XCTAssertEqual(ldap.mapping.attribute(for: .phone), "ipPhone")
        XCTAssertEqual(ldap.mapping.attribute(for: .middleName), "middleName", "AD's default")
        XCTAssertNil(ldap.mapping.attribute(for: .directoryURI))
        XCTAssertEqual(ldap.staleUserAction, .deleteIfNoServices)
        XCTAssertEqual(ldap.deletionGuard, DeletionGuard(maximumCount: 50, maximumPercent: 5))
        XCTAssertEqual(ldap.serviceArea(matching: ["L": ["london"], "title": ["Sales Manager"]])?.name, "SA-London")
        XCTAssertEqual(ldap.firstServiceAreaRuleIndex(matching: ["l": ["London"]]), 0)
        XCTAssertNil(ldap.serviceArea(matching: ["l": ["Paris"]]))
        XCTAssertEqual(ldap.serviceAreaRules.first?.mask?.apply(to: "+1 (408) 555-1234"), "+441234")
        XCTAssertEqual(ldap.userRoles(matching: ["title": ["Sales Manager"]]).map(\.name), ["Managers"])
        XCTAssertEqual(ldap.userRoles(matching: ["title": ["Engineer"]]).map(\.name), [])
        XCTAssertEqual(ldap.writeBackMask?.apply(to: "5551234"), "\\+14081234")
        XCTAssertEqual(ldap.readAttributes, [
            "userPrincipalName", "givenName", "middleName", "sn", "mail", "ipPhone", "manager", "department", "title",
            "homePhone", "mobile", "pager", "userAccountControl", "l",
        ], "the mapping, the disabled flag, then what the service area and user role filters test")

        let fetched = try await store.domain(named: "Sales")
        XCTAssertEqual(fetched, added)
        XCTAssertEqual(fetched?.syncInterval, .every(1, .days))
        XCTAssertEqual(fetched?.syncStart, Date(timeIntervalSince1970: 1_800_000_000))
        await assertNil(try await store.domain(named: "Nope"))

        try await store.domainAdd(DomainDraft(name: "Engineering", directory: "OL", searchBase: "ou=people,dc=example,dc=com"),
                                  actor: "alice")
        try await store.domainAdd(DomainDraft(name: "Local"), actor: "alice")
        let all = try await store.domainList()
        XCTAssertEqual(all.map(\.name), ["Engineering", "Local", "Sales"])
        XCTAssertNil(all[1].ldap, "a domain without a directory has nothing to synchronize")
        XCTAssertEqual(all[0].ldap?.ldapFilter, "(objectClass=inetOrgPerson)")
        XCTAssertEqual(all[0].ldap?.mapping.userID, "uid")
        XCTAssertEqual(all[0].ldap?.mapping.middleName, "initials")
        XCTAssertEqual(all[0].ldap?.mapping.attribute(for: .department), "departmentNumber")
        XCTAssertEqual(all[0].ldap?.deletionGuard, DeletionGuard(maximumCount: 500, maximumPercent: 10), "the defaults")

        let changed = try await store.domainUpdate(name: "Sales", actor: "bob") { draft in
            draft.syncInactiveUsers = false
            draft.filter = .advanced("(&(sAMAccountName=johndoe) (department=Cisco*)(mail=john@cisco.com))")
            draft.staleUserAction = .deleteUserAndServices
        }
        XCTAssertEqual(changed.ldap?.ldapFilter,
                       "(&(objectClass=user)(!(objectClass=computer))(!(userAccountControl:1.2.840.113556.1.4.803:=2))(sAMAccountName=johndoe)(department=Cisco*)(mail=john@cisco.com))")
        XCTAssertEqual(changed.ldap?.staleUserAction, .deleteUserAndServices)
        await assertEqual(try await store.domain(named: "Sales"), changed)

        let before = try await counts(database)
        let unchanged = try await store.domainUpdate(name: "Sales", actor: "bob") { _ in }
        XCTAssertEqual(unchanged, changed)
        await assertEqual(try await counts(database), before, "an edit that changes nothing writes nothing")

        try await store.domainRemove(name: "Engineering", actor: "carol")
        await assertNil(try await store.domain(named: "Engineering"))

        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100)
            .filter { $0.action.hasPrefix("domain.") }.sorted { $0.id < $1.id }
        XCTAssertEqual(audit.map(\.action), ["domain.added", "domain.added", "domain.added", "domain.changed", "domain.removed"])
        XCTAssertEqual(audit.map(\.actor), ["alice", "alice", "alice", "bob", "carol"])
        XCTAssertEqual(audit[3].message, "Domain 'Sales' changed: stale_user_action, sync_inactive_users (now off), filter")
        XCTAssertEqual(audit[4].message, "Domain 'Engineering' removed")
        XCTAssertTrue(audit[0].message.hasPrefix("Domain 'Sales' added: directory 'AD' (Microsoft Active Directory), search base 'CN=Users,DC=Cisco,DC=com'"),
                      audit[0].message)
        XCTAssertEqual(audit[2].message, "Domain 'Local' added: no directory source")
    }

    func testEachBadSettingIsRefusedWithOneLineAndWritesNothing() async throws {
        let (database, store) = try await prepared()
        try await store.domainAdd(DomainDraft(name: "Existing", directory: "OL", searchBase: "ou=people,dc=example,dc=com"), actor: "t")
        let nonDirectory = DeviceDraft(name: "CM", kind: .callProcessor, address: "cucm.lab.example", adminUser: "axl")
        try await devices(database).deviceAdd(nonDirectory, password: Secret(password), actor: "t")
        let before = try await counts(database)

        func draft(_ directory: String = "OL", _ change: (inout DomainDraft) throws -> Void) rethrows -> DomainDraft {
            var draft = DomainDraft(name: "New", directory: directory, searchBase: "ou=people,dc=example,dc=com")
            try change(&draft)
            return draft
        }
        let cases: [(DomainDraft, String)] = [
            (draft { $0.name = "bad#name" }, "name: 'bad#name' may hold only letters, digits, space, '_', '-', '.' and '@' (1 to 100 characters)"),
            (draft { $0.name = "Existing" }, "name: a domain named 'Existing' already exists"),
            (draft("Ghost") { _ in }, "directory: no device named 'Ghost' (add it with ucp device add --kind ldap)"),
            (draft("CM") { _ in }, "directory: device 'CM' is a Unified CM, not an LDAP directory (--kind ldap)"),
            (draft { $0.searchBase = nil }, "search_base: required with a directory source (one user search base, e.g. CN=Users,DC=example,DC=com)"),
            (draft { $0.searchBase = "ou=a,dc=example,dc=com;ou=b,dc=example,dc=com" },
             "search_base: a domain has exactly one user search base (seed); create another domain for another base"),
            (draft { $0.searchBase = "ou=a,dc=example,dc=com\nou=b,dc=example,dc=com" },
             "search_base: a domain has exactly one user search base (seed); create another domain for another base"),
            (draft { $0.searchBase = "people" }, "search_base: 'people' must be a distinguished name such as CN=Users,DC=example,DC=com"),
            (draft { $0.syncInactiveUsers = true },
             "sync_inactive_users: only for Active Directory or ADAM/LDS directories (this directory is OpenLDAP)"),
            (draft("AD") { $0.syncInactiveUsers = true; $0.mode = .authenticationOnly },
             "sync_inactive_users: applies only with mode authentication_and_synchronization"),
            (draft { $0.mapping.userID = "sAMAccountName" },
             "user_id_attribute: sAMAccountName is not supported for OpenLDAP (choose uid, mail, employeeNumber or telephoneNumber)"),
            (draft("AD") { $0.mapping.userID = "uid" },
             "user_id_attribute: uid is not supported for Microsoft Active Directory (choose sAMAccountName, mail, employeeNumber, telephoneNumber or userPrincipalName)"),
            (draft { $0.mapping.phone = "ipPhone" }, "phone_attribute: ipPhone is not supported for OpenLDAP (choose telephoneNumber)"),
            (draft { $0.mapping.middleName = "middleName" }, "middle_name_attribute: middleName is not supported for OpenLDAP (choose initials)"),
            (draft { $0.mapping.directoryURI = "msRTCSIP-PrimaryUserAddress" },
             "directory_uri_attribute: msRTCSIP-PrimaryUserAddress is not supported for OpenLDAP (choose mail or none)"),
            (draft { $0.mapping.userID = "cn" },
             "user_id_attribute: 'cn' is not a choice (choose sAMAccountName, uid, mail, employeeNumber, telephoneNumber or userPrincipalName)"),
            (draft { $0.filter = .advanced("(&(uid=a)(department=Sales)") }, "filter: expected ')' at the end"),
            (draft { $0.filter = .advanced("uid=jdoe") }, "filter: expected '(' at character 1"),
            (try draft { $0.filter = .simple(SimpleQuery(conditions: [try QueryCondition(parsing: "ip-phone-number = 4930")])) },
             "filter: ip-phone-number (ipPhone) is not supported for OpenLDAP"),
            (try draft { $0.filter = .simple(SimpleQuery(conditions: [try QueryCondition(parsing: "directory-uri = a@b")])) },
             "filter: directory-uri is mapped to none in this domain (set directory_uri_attribute first)"),
            (try draft { $0.filter = .simple(SimpleQuery(conditions: [try QueryCondition(parsing: "last-name = Sm\u{0}ith")])) },
             "where: may not contain the NUL character (U+0000)"),
            (draft { $0.filter = .advanced("(sn=Sm\u{0}ith)") }, "advanced_filter: may not contain the NUL character (U+0000)"),
            (draft { $0.serviceAreaFilters = [NamedLDAPFilter(name: "SA", filter: "(l=Paris)", mask: "12x34")] },
             "mask: '12x34' has a lower-case 'x' (use upper-case X)"),
            (draft { $0.serviceAreaFilters = [NamedLDAPFilter(name: "SA", filter: "(l=Paris)", mask: "12+34")] },
             "mask: '12+34' has '+' at character 3 (+ and \\+ may only begin the mask)"),
            (draft { $0.serviceAreaFilters = [NamedLDAPFilter(name: "SA", filter: "(l=Paris")] }, "service_area_filter: expected ')' at the end"),
            (draft { $0.serviceAreaFilters = [NamedLDAPFilter(name: "SA", filter: "(l=a)"), NamedLDAPFilter(name: "sa", filter: "(l=b)")] },
             "service_area_filter: service area 'sa' has two filters (one per service area)"),
            (draft { $0.userRoleFilters = [NamedLDAPFilter(name: "R", filter: "(title=*)", mask: "XX")] },
             "user_role_filter: a user role filter has no mask or line option (those are service area settings)"),
            (draft { $0.mode = .authenticationOnly; $0.userRoleFilters = [NamedLDAPFilter(name: "R", filter: "(title=*)")] },
             "user_role_filter: not available with mode authentication_only (seed: only with authentication_and_synchronization)"),
            (draft { $0.writeBackAttribute = "ipPhone" },
             "write_back_attribute: ipPhone is not supported for OpenLDAP (choose none, telephoneNumber or mobile)"),
            (draft { $0.writeBackMask = "XXXX" }, "write_back_mask: needs a write_back_attribute (ipPhone, telephoneNumber or mobile)"),
            (draft { $0.writeBackAttribute = "mobile"; $0.writeBackMask = "+" }, "write_back_mask: '+' has no digits or X after the prefix"),
            (draft { $0.deletionGuard.maximumPercent = 101 }, "delete_guard_percent: must be a whole number from 0 to 100 (got 101)"),
            (draft { $0.deletionGuard.maximumCount = -1 }, "delete_guard_count: must be a whole number from 0 to 10000000 (got -1)"),
            (draft { $0.syncInterval = .every(6, .hours) }, "sync_start: required with sync_interval (give both or neither)"),
            (DomainDraft(name: "New", searchBase: "dc=x"), "search_base: needs a directory source (--directory NAME)"),
        ]
        for (draft, expected) in cases {
            do {
                try await store.domainAdd(draft, actor: "t")
                XCTFail("accepted: \(expected)")
            } catch let error as InputError {
                XCTAssertEqual(error.description, expected)
                XCTAssertFalse(error.description.contains("\n"))
            }
        }
        // The same rules on edit.
        let editCases: [(@Sendable (inout DomainDraft) -> Void, String)] = [
            ({ $0.filter = .advanced("(|)") }, "filter: '|' needs at least one filter in parentheses at character 3"),
            ({ $0.mapping.phone = "ipPhone" }, "phone_attribute: ipPhone is not supported for OpenLDAP (choose telephoneNumber)"),
            ({ $0.syncInactiveUsers = true }, "sync_inactive_users: only for Active Directory or ADAM/LDS directories (this directory is OpenLDAP)"),
            ({ $0.searchBase = "ou=a,dc=x|ou=b,dc=x" }, "search_base: a domain has exactly one user search base (seed); create another domain for another base"),
            ({ $0.name = "Renamed" }, "name: a domain cannot be renamed (remove it and add it again)"),
            ({ $0.directory = "CM" }, "directory: device 'CM' is a Unified CM, not an LDAP directory (--kind ldap)"),
        ]
        for (change, expected) in editCases {
            do {
                try await store.domainUpdate(name: "Existing", actor: "t", change)
                XCTFail("accepted: \(expected)")
            } catch let error as InputError {
                XCTAssertEqual(error.description, expected)
            }
        }
        for operation in ["update", "remove"] {
            do {
                if operation == "update" {
                    try await store.domainUpdate(name: "Ghost", actor: "t") { $0.syncInactiveUsers = false }
                } else {
                    try await store.domainRemove(name: "Ghost", actor: "t")
                }
                XCTFail("accepted \(operation) of a missing domain")
            } catch let error as InputError {
                XCTAssertEqual(error.description, "domain 'Ghost': no such domain")
            }
        }
        await assertEqual(try await counts(database), before, "refused input wrote nothing")
        await assertEqual(try await store.domainList().map(\.name), ["Existing"])
    }

    func testADirectoryInUseCannotBeRemovedOrRetyped() async throws {
        let (database, store) = try await prepared()
        let devices = try devices(database)
        try await store.domainAdd(DomainDraft(name: "Sales", directory: "AD", searchBase: "CN=Users,DC=Cisco,DC=com"), actor: "t")
        let before = try await counts(database)
        do {
            try await devices.deviceRemove(name: "AD", actor: "t")
            XCTFail("a directory in use was removed")
        } catch let error as InputError {
            XCTAssertEqual(error.description, "device 'AD': cannot be removed while domain 'Sales' refers to it")
        }
        do {
            try await devices.deviceUpdate(name: "AD", actor: "t") { $0.directoryType = .openLDAP }
            XCTFail("the server type changed under a domain")
        } catch let error as InputError {
            XCTAssertEqual(error.description,
                           "server_type: cannot change while domain 'Sales' uses the directory (its field mapping and filters depend on the server type)")
        }
        do {
            try await devices.deviceUpdate(name: "AD", actor: "t") { $0.kind = .callProcessor; $0.directoryType = nil; $0.ldapSecurity = nil }
            XCTFail("the kind changed under a domain")
        } catch let error as InputError {
            XCTAssertTrue(error.description.hasPrefix("kind: cannot change while domain 'Sales' uses the directory"), error.description)
        }
        // The database refuses both too, for anything that bypasses the store.
        for sql in ["DELETE FROM devices WHERE name = 'AD'",
                    "UPDATE devices SET kind = 'call_processor', directory_type = NULL, ldap_security = NULL WHERE name = 'AD'"] {
            do {
                try await Connection(database.app).query(Statement("", sql))
                XCTFail("the database let it through: \(sql)")
            } catch let error as PostgresError {
                XCTAssertEqual(error.kind, .integrityViolation)
            }
        }
        await assertEqual(try await counts(database), before)
        // Other fields still change; once no domain uses it, it can go.
        await assertEqual(try await devices.deviceUpdate(name: "AD", actor: "t") { $0.port = 3268 }.port, 3268)
        try await store.domainUpdate(name: "Sales", actor: "t") { $0.directory = "OL"; $0.searchBase = "ou=people,dc=example,dc=com" }
        await assertEqual(try await store.domain(named: "Sales")?.serverType, .openLDAP)
        try await devices.deviceRemove(name: "AD", actor: "t")
    }

    func testDeletionGuardThresholds() {
        let defaults = DeletionGuard()
        XCTAssertEqual([defaults.maximumCount, defaults.maximumPercent], [500, 10])
        XCTAssertTrue(defaults.allows(deletions: 0, of: 0))
        XCTAssertTrue(defaults.allows(deletions: 100, of: 1000), "10% is within")
        XCTAssertFalse(defaults.allows(deletions: 101, of: 1000), "over 10%")
        XCTAssertTrue(defaults.allows(deletions: 500, of: 100_000))
        XCTAssertFalse(defaults.allows(deletions: 501, of: 100_000), "over 500 users")
        XCTAssertFalse(defaults.allows(deletions: 6, of: 10), "60% of a small domain")
        XCTAssertFalse(DeletionGuard(maximumCount: 0, maximumPercent: 100).allows(deletions: 1, of: 1))
    }

    func testADomainWithAQueuedSyncCannotBeRemoved() async throws {
        let (database, store) = try await prepared()
        try await store.domainAdd(DomainDraft(name: "Sales", directory: "AD", searchBase: "CN=Users,DC=Cisco,DC=com"), actor: "t")
        let job: Int64 = try await Connection(database.owner).query(Statement("", """
            INSERT INTO jobs (kind, type, target, payload) VALUES ('sync', 'sync.ldap', 'Sales', '{}') RETURNING id
            """)).first!.decode("id")
        do {
            try await store.domainRemove(name: "Sales", actor: "t")
            XCTFail("a domain with a queued sync was removed")
        } catch let error as InputError {
            XCTAssertEqual(error.description, "domain 'Sales': cannot be removed while its synchronization (job \(job), sync.ldap) is queued or running")
        }
        try await Connection(database.owner).query(Statement("", "UPDATE jobs SET state = 'canceled', finished_at = now() WHERE id = $1"), [job])
        try await store.domainRemove(name: "Sales", actor: "t")
        await assertNil(try await store.domain(named: "Sales"))
    }
}
