import Foundation
import Postgres
import Queue
import TestSupport
import XCTest

/// `ucp device add --kind ldap` and `ucp domain …` as operators type them: bad input is one line on
/// stderr, a non-zero exit, and nothing written.
final class DomainCommandTests: XCTestCase {
    func testDirectoriesAndDomainsThroughUCP() async throws {
        let database = try await TestServer.freshDatabase()
        let processes = try UCPProcesses(database: database)
        let keyFile = NSTemporaryDirectory() + "ucp-key-\(database.name)"
        defer { unlink(keyFile) }
        let generated = try processes.run(["secret-key", "generate", "--file", keyFile])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        let environment = ["UCP_SECRET_KEY_FILE": keyFile]
        let password = "pa55-\(UInt32.random(in: 0...UInt32.max))"
        let piped = ["/bin/sh", "-c", "printf '%s\\n' \"$PW\" | \"$0\" \"$@\"", PackagePaths.ucp]
        func addDirectory(_ arguments: [String]) throws -> CommandResult {
            try CommandResult.run(piped + ["device", "add", "--password-stdin"] + arguments,
                                  environment: processes.environment.merging(environment.merging(["PW": password]) { $1 }) { $1 })
        }

        let ad = try addDirectory(["--name", "Corp AD", "--kind", "ldap", "--server-type", "ad", "--address", "dc1.corp.example",
                                   "--backup-address", "dc2.corp.example", "--backup-port", "389",
                                   "--user", "CN=Administrator,OU=Sales,DC=ca,DC=com"])
        XCTAssertEqual(ad.status, 0, ad.stderr)
        XCTAssertEqual(ad.stdout, """
            device 'Corp AD' added (LDAP directory at ldap://dc1.corp.example:389)
            warning: directory 'Corp AD' sends its admin password in clear text (security ldap); switch with --security starttls or --security ldaps

            """)
        let openLDAP = try addDirectory(["--name", "OL", "--kind", "ldap", "--server-type", "openldap", "--security", "ldaps",
                                         "--address", "ldap.example.com", "--user", "cn=admin,dc=example,dc=com"])
        XCTAssertEqual(openLDAP.status, 0, openLDAP.stderr)
        XCTAssertEqual(openLDAP.stdout, "device 'OL' added (LDAP directory at ldaps://ldap.example.com:636)\n")

        let shownDevice = try processes.run(["device", "show", "OL", "--json"], environment: environment)
        XCTAssertEqual(shownDevice.status, 0, shownDevice.stderr)
        let device = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(shownDevice.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(device["kind"] as? String, "directory")
        XCTAssertEqual(device["kind_name"] as? String, "ldap")
        XCTAssertEqual(device["directory_type"] as? String, "openldap")
        XCTAssertEqual(device["ldap_security"] as? String, "ldaps")
        XCTAssertEqual(device["port"] as? Int, 636)
        XCTAssertEqual(device["url"] as? String, "ldaps://ldap.example.com:636")
        XCTAssertFalse(shownDevice.stdout.contains(password))
        let shownText = try processes.run(["device", "show", "Corp AD"], environment: environment)
        XCTAssertTrue(shownText.stdout.contains("server type      ad (Microsoft Active Directory)"), shownText.stdout)
        XCTAssertTrue(shownText.stdout.contains("backup url       ldap://dc2.corp.example:389"), shownText.stdout)
        XCTAssertTrue(shownText.stdout.contains("admin dn         CN=Administrator,OU=Sales,DC=ca,DC=com"), shownText.stdout)

        let added = try processes.run([
            "domain", "add", "--name", "Sales", "--directory", "Corp AD", "--search-base", "CN=Users,DC=Cisco,DC=com",
            "--stale-users", "delete-if-no-services", "--update", "do-not-update", "--sync-inactive-users",
            "--user-id-attribute", "userPrincipalName", "--phone-attribute", "ipPhone",
            "--where", "department = Sales*", "--where", "user-id in a)(b, c*d",
            "--service-area-filter", "London=(l=London)", "--service-area-mask", "London=+44XXXX", "--service-area-new-line", "London",
            "--user-role-filter", "Managers=(title=*Manager*)", "--write-back-attribute", "ipPhone", "--write-back-mask", "\\+1408XXXX",
            "--delete-guard-count", "50", "--delete-guard-percent", "5", "--sync-interval", "1d", "--sync-start", "2026-12-01T02:00:00Z",
            "--actor", "alice",
        ])
        XCTAssertEqual(added.status, 0, added.stderr)
        XCTAssertEqual(added.stdout, "domain 'Sales' added (directory 'Corp AD', Microsoft Active Directory)\n")
        let engineering = try processes.run(["domain", "add", "--name", "Engineering", "--directory", "OL",
                                             "--search-base", "ou=people,dc=example,dc=com", "--advanced-filter",
                                             "(&(departmentNumber=42) (mail=*))"])
        XCTAssertEqual(engineering.status, 0, engineering.stderr)

        let listed = try processes.run(["domain", "list", "--json"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let domains = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(domains.map { $0["name"] as? String }, ["Engineering", "Sales"])
        let sales = domains[1]
        XCTAssertEqual(sales["directory"] as? String, "Corp AD")
        XCTAssertEqual(sales["server_type"] as? String, "ad")
        XCTAssertEqual(sales["stale_user_action"] as? String, "delete_if_no_services")
        XCTAssertEqual(sales["update_policy"] as? String, "do_not_update")
        XCTAssertEqual(sales["sync_inactive_users"] as? Bool, true)
        XCTAssertEqual(sales["sync_interval"] as? String, "1d")
        XCTAssertEqual((sales["delete_guard"] as? [String: Int])?["count"], 50)
        XCTAssertEqual((sales["mapping"] as? [String: Any])?["user_id_attribute"] as? String, "userPrincipalName")
        XCTAssertEqual((sales["filter"] as? [String: Any])?["conditions"] as? [String], ["department = Sales*", "user-id in a)(b, c*d"])
        let areas = try XCTUnwrap(sales["service_area_filters"] as? [[String: Any]])
        XCTAssertEqual(areas.first?["mask"] as? String, "+44XXXX")
        XCTAssertEqual(areas.first?["assign_new_line"] as? Bool, true)
        let ldap = try XCTUnwrap(sales["ldap"] as? [String: Any])
        XCTAssertEqual(ldap["ldap_filter"] as? String,
                       "(&(objectClass=user)(!(objectClass=computer))(department=Sales*)(|(userPrincipalName=a\\29\\28b)(userPrincipalName=c\\2ad)))")
        XCTAssertEqual((ldap["attributes"] as? [String: Any])?["phone"] as? String, "ipPhone")
        XCTAssertEqual((domains[0]["ldap"] as? [String: Any])?["ldap_filter"] as? String,
                       "(&(objectClass=inetOrgPerson)(departmentNumber=42)(mail=*))")

        let shown = try processes.run(["domain", "show", "Sales"])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        for line in ["stale users        delete-if-no-services (Delete user if there are no services in Provisioning)",
                     "map user_id        userPrincipalName (chosen)", "map first_name     givenName",
                     "service area       London: (l=London), mask +44XXXX, new line from the extension block",
                     "delete guard       50 users or 5%", "sync interval      every day, from 2026-12-01 02:00:00 UTC"] {
            XCTAssertTrue(shown.stdout.contains(line + "\n"), "missing '\(line)' in:\n\(shown.stdout)")
        }
        let table = try processes.run(["domain", "list"])
        XCTAssertTrue(table.stdout.contains("Sales"), table.stdout)

        let before = try await rowCounts(database)
        let bad: [([String], String)] = [
            (["domain", "add", "--name", "X", "--directory", "OL", "--search-base", "ou=a,dc=x", "--search-base", "ou=b,dc=x"],
             "search_base: a domain has exactly one user search base (seed); give --search-base once and create another domain for another base"),
            (["domain", "add", "--name", "X", "--directory", "OL", "--search-base", "ou=a,dc=x;ou=b,dc=x"],
             "search_base: a domain has exactly one user search base (seed); create another domain for another base"),
            (["domain", "add", "--name", "X", "--directory", "OL", "--search-base", "ou=a,dc=x", "--service-area-filter", "SA=(l=x)",
              "--service-area-mask", "SA=12x4"], "mask: '12x4' has a lower-case 'x' (use upper-case X)"),
            (["domain", "edit", "Sales", "--write-back-mask", "1+1"], "write_back_mask: '1+1' has '+' at character 2 (+ and \\+ may only begin the mask)"),
            (["domain", "add", "--name", "X", "--directory", "OL", "--search-base", "ou=a,dc=x", "--advanced-filter", "(&(uid=a)(cn=b)"],
             "filter: expected ')' at the end"),
            (["domain", "edit", "Engineering", "--user-id-attribute", "sAMAccountName"],
             "user_id_attribute: sAMAccountName is not supported for OpenLDAP (choose uid, mail, employeeNumber or telephoneNumber)"),
            (["domain", "edit", "Engineering", "--sync-inactive-users"],
             "sync_inactive_users: only for Active Directory or ADAM/LDS directories (this directory is OpenLDAP)"),
            (["domain", "add", "--name", "X", "--directory", "Ghost", "--search-base", "ou=a,dc=x"],
             "directory: no device named 'Ghost' (add it with ucp device add --kind ldap)"),
            (["domain", "add", "--name", "X", "--where", "nosuch = 1"],
             "filter: 'nosuch' is not a query field (choose user-id, department, phone, title, first-name, last-name, manager-id, directory-uri, email, city, state, office, company, street, po-box, zip-code, country, fax-number or ip-phone-number)"),
            (["domain", "add", "--name", "X", "--all-users", "--advanced-filter", "(a=b)"],
             "filter: give one of --all-users, --where or --advanced-filter"),
            (["domain", "add", "--name", "X", "--mode", "sometimes"],
             "mode: must be authentication-only or authentication-and-synchronization (got 'sometimes')"),
            (["domain", "add", "--name", "Sales"], "name: a domain named 'Sales' already exists"),
            (["domain", "add", "--name", "X", "--sync-interval", "3x"], "sync_interval: unknown unit 'x' in '3x' (use h, d or w, or once)"),
            (["domain", "show", "Ghost"], "domain 'Ghost': no such domain"),
            (["domain", "edit", "Ghost", "--update", "all-fields"], "domain 'Ghost': no such domain"),
            (["domain", "remove", "Ghost"], "domain 'Ghost': no such domain"),
            (["device", "remove", "OL"], "device 'OL': cannot be removed while domain 'Engineering' refers to it"),
            (["device", "add", "--name", "Y", "--kind", "ldap", "--address", "h", "--user", "cn=a", "--password-file", keyFile],
             "server_type: required for a directory (--server-type ad|adam|openldap|oracle)"),
            (["device", "add", "--name", "Y", "--kind", "ldap", "--server-type", "novell", "--address", "h", "--user", "cn=a",
              "--password-file", keyFile],
             "server_type: must be ad (Active Directory), adam (ADAM / LDS), openldap or oracle (Oracle Directory) (got 'novell')"),
            (["device", "edit", "Corp AD", "--port", "636"],
             "port: 636 is an SSL port; use --security ldaps with it (plain LDAP and StartTLS use 389, Global Catalog 3268)"),
            (["device", "edit", "Corp AD", "--server-type", "openldap"],
             "server_type: cannot change while domain 'Sales' uses the directory (its field mapping and filters depend on the server type)"),
        ]
        for (arguments, expected) in bad {
            let result = try processes.run(arguments, environment: environment)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertEqual(result.stderr, "ucp: \(expected)\n", "\(arguments)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
        }
        await assertEqual(try await rowCounts(database), before, "bad input wrote nothing")

        let edited = try processes.run(["domain", "edit", "Engineering", "--all-users", "--stale-users", "delete-user",
                                        "--actor", "bob"])
        XCTAssertEqual(edited.status, 0, edited.stderr)
        XCTAssertEqual(edited.stdout, "domain 'Engineering' changed\n")
        let same = try processes.run(["domain", "edit", "Engineering", "--all-users"])
        XCTAssertEqual(same.stdout, "domain 'Engineering': nothing changed\n")
        let removed = try processes.run(["domain", "remove", "Engineering", "--actor", "carol"])
        XCTAssertEqual(removed.status, 0, removed.stderr)
        XCTAssertEqual(removed.stdout, "domain 'Engineering' removed\n")
        let freed = try processes.run(["device", "remove", "OL"], environment: environment)
        XCTAssertEqual(freed.status, 0, freed.stderr)

        let audit = try await database.store().auditList(since: nil, jobID: nil, limit: 100)
            .filter { $0.action.hasPrefix("domain.") }.sorted { $0.id < $1.id }
        XCTAssertEqual(audit.map(\.action), ["domain.added", "domain.added", "domain.changed", "domain.removed"])
        XCTAssertEqual(audit[2].message, "Domain 'Engineering' changed: stale_user_action, filter")
        XCTAssertEqual(audit[2].actor, "bob")
        XCTAssertEqual(audit[3].actor, "carol")
    }

    /// Rows in `domains` and `devices`, and lines in `audit_log`.
    func rowCounts(_ database: TestDatabase) async throws -> [Int] {
        let row = try await Connection(database.owner).query(Statement("", """
            SELECT (SELECT count(*) FROM domains) AS domains, (SELECT count(*) FROM devices) AS devices,
                   (SELECT count(*) FROM audit_log) AS audit
            """)).first!
        return [try row.decode("domains"), try row.decode("devices"), try row.decode("audit")]
    }
}
