import DirectoryFixtures
import Foundation
import LDAP
import Secrets
import TestSupport
import XCTest

final class LDAPClientTests: XCTestCase {
    nonisolated(unsafe) static var server: SlapdServer?
    static let userCount = 1_234

    override class func setUp() {
        super.setUp()
        server = try? SlapdServer(users: (1...userCount).map(DirectoryFixture.user), tls: true)
    }

    override class func tearDown() {
        server?.destroy()
        super.tearDown()
    }

    var server: SlapdServer {
        get throws { try XCTUnwrap(Self.server, "slapd did not start") }
    }

    func configuration(_ endpoint: LDAPEndpoint? = nil, dn: String = DirectoryFixture.syncDN,
                       password: String = DirectoryFixture.password) throws -> LDAPConfiguration {
        LDAPConfiguration(primary: try endpoint ?? XCTUnwrap(LDAPEndpoint(url: server.url)), bindDN: dn,
                          password: Secret(password), networkTimeout: 3, operationTimeout: 10)
    }

    func testPagedSearchReadsEveryEntryPastTheServerSizeLimit() async throws {
        let connection = try await LDAPConnection.connect(try configuration())
        var count = 0
        var pages = 0
        var largestPage = 0
        var seen = Set<String>()
        for try await page in connection.pages(LDAPSearch(base: DirectoryFixture.peopleBase, filter: "(objectClass=inetOrgPerson)",
                                                          attributes: ["uid", "cn"], pageSize: 500)) {
            XCTAssertEqual(page.index, pages)
            pages += 1
            largestPage = max(largestPage, page.entries.count)
            count += page.entries.count
            for entry in page.entries { seen.insert(try XCTUnwrap(entry.first("uid"))) }
        }
        XCTAssertEqual(count, Self.userCount)
        XCTAssertEqual(seen.count, Self.userCount)
        XCTAssertEqual(pages, 3)
        XCTAssertEqual(largestPage, 500)
    }

    func testUnpagedSearchStopsAtTheSizeLimit() async throws {
        let connection = try await LDAPConnection.connect(try configuration())
        do {
            for try await _ in connection.pages(LDAPSearch(base: DirectoryFixture.peopleBase, attributes: ["uid"], pageSize: 0)) {}
            XCTFail("an unpaged search of more than 500 entries must fail")
        } catch let error as LDAPError {
            XCTAssertEqual(error.code, 4, "\(error)") // sizeLimitExceeded
        }
    }

    func testEscapedAndNonASCIIEntriesRoundTrip() async throws {
        let connection = try await LDAPConnection.connect(try configuration())
        for index in [7, 11, 13, 22] {
            let user = DirectoryFixture.user(index)
            let entry = try await connection.read(DirectoryFixture.dn(of: user), attributes: ["cn", "department", "givenName"])
            XCTAssertEqual(entry?.first("cn"), user.cn)
            XCTAssertEqual(entry?.first("department"), user.department)
            XCTAssertEqual(entry?.first("givenname"), user.givenName)
        }
        let missing = try await connection.read("cn=nobody,\(DirectoryFixture.peopleBase)")
        XCTAssertNil(missing)
    }

    func testWrongPasswordIsInvalidCredentialsAndNotRetriedOnTheBackup() async throws {
        var configuration = try configuration(password: "wrong")
        configuration.backup = try XCTUnwrap(LDAPEndpoint(url: server.url))
        do {
            _ = try await LDAPConnection.connect(configuration)
            XCTFail("bind must fail")
        } catch let error as LDAPError {
            XCTAssertEqual(error.code, LDAPError.invalidCredentials)
            XCTAssertFalse(error.description.contains("wrong"), "the password must not be in the message")
        }
    }

    func testBackupServerIsUsedWhenThePrimaryDoesNotAnswer() async throws {
        var configuration = try configuration(LDAPEndpoint(host: "127.0.0.1", port: try freeLoopbackPort()))
        configuration.backup = try XCTUnwrap(LDAPEndpoint(url: server.url))
        let connection = try await LDAPConnection.connect(configuration)
        XCTAssertEqual(connection.endpoint.url, try server.url)
        configuration.backup = nil
        do {
            _ = try await LDAPConnection.connect(configuration)
            XCTFail("no server answers")
        } catch let error as LDAPError {
            XCTAssertTrue(error.serverUnreachable, "\(error)")
        }
    }

    func testLDAPSVerifiesTheCertificateAgainstTheCAFile() async throws {
        let slapd = try server.slapd
        let endpoint = try XCTUnwrap(LDAPEndpoint(url: try XCTUnwrap(slapd.ldapsURL)))
        XCTAssertTrue(endpoint.useSSL)
        var configuration = try configuration(endpoint)
        configuration.caFile = slapd.caFile
        _ = try await LDAPConnection.connect(configuration)

        configuration.caFile = nil // the system's CAs do not know the test CA
        do {
            _ = try await LDAPConnection.connect(configuration)
            XCTFail("an unknown CA must be refused")
        } catch let error as LDAPError {
            XCTAssertEqual(error.code, -1, "\(error)")
        }
        configuration.verifyTLS = false
        _ = try await LDAPConnection.connect(configuration)
    }

    func testStartTLS() async throws {
        var configuration = try configuration()
        configuration.startTLS = true
        configuration.caFile = try server.slapd.caFile
        let connection = try await LDAPConnection.connect(configuration)
        let entry = try await connection.read(DirectoryFixture.dn(of: DirectoryFixture.user(1)), attributes: ["uid"])
        XCTAssertEqual(entry?.first("uid"), "user000001")
        configuration.caFile = nil
        do {
            _ = try await LDAPConnection.connect(configuration)
            XCTFail("StartTLS with an unknown CA must be refused")
        } catch is LDAPError {}
    }

    func testModifyReplacesOneAttribute() async throws {
        let connection = try await LDAPConnection.connect(try configuration())
        let dn = DirectoryFixture.dn(of: DirectoryFixture.user(3))
        try await connection.modifyReplace(dn, attribute: "ipPhone", values: ["+4940105"])
        let entry = try await connection.read(dn, attributes: ["ipPhone"])
        XCTAssertEqual(entry?["ipphone"], ["+4940105"])
        do {
            try await connection.modifyReplace("cn=nobody,\(DirectoryFixture.peopleBase)", attribute: "ipPhone", values: ["1"])
            XCTFail("modify of a missing entry must fail")
        } catch let error as LDAPError {
            XCTAssertEqual(error.code, LDAPError.noSuchObject)
        }
    }

    func testMalformedFilterIsAFilterError() async throws {
        let connection = try await LDAPConnection.connect(try configuration())
        do {
            for try await _ in connection.pages(LDAPSearch(base: DirectoryFixture.peopleBase, filter: "(uid=a")) {}
            XCTFail("a malformed filter must fail")
        } catch let error as LDAPError {
            XCTAssertEqual(error.code, LDAPError.filterError, "\(error)")
        }
    }

    func testConnectionTestBindsAndReadsTheSearchBase() async throws {
        let good = await LDAPConnectionTest.testConnection(try configuration(), searchBase: DirectoryFixture.peopleBase)
        XCTAssertTrue(good.succeeded, good.message)
        let missingBase = await LDAPConnectionTest.testConnection(try configuration(), searchBase: "ou=Nowhere,dc=example,dc=com")
        XCTAssertFalse(missingBase.succeeded)
        XCTAssertTrue(missingBase.message.contains("does not exist"), missingBase.message)
        let badPassword = await LDAPConnectionTest.testConnection(try configuration(password: "nope"), searchBase: nil)
        XCTAssertFalse(badPassword.succeeded)
        XCTAssertTrue(badPassword.message.contains("49"), badPassword.message)
    }

    func testStoppingEarlyLeavesTheConnectionUsable() async throws {
        let connection = try await LDAPConnection.connect(try configuration())
        for try await page in connection.pages(LDAPSearch(base: DirectoryFixture.peopleBase, attributes: ["uid"], pageSize: 100)) {
            XCTAssertEqual(page.entries.count, 100)
            break
        }
        var count = 0
        for try await page in connection.pages(LDAPSearch(base: DirectoryFixture.peopleBase, filter: "(uid=user00000*)",
                                                          attributes: ["uid"], pageSize: 4)) {
            count += page.entries.count
        }
        XCTAssertEqual(count, 9)
    }
}
