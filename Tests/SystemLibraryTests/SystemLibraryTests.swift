import CCurl
import CLDAP
import CLibPQ
import COpenSSL
import XCTest

/// The thin system-library targets link and answer: the later protocol modules stand on them.
final class SystemLibraryTests: XCTestCase {
    func testLibrariesLinkAndReportVersions() {
        XCTAssertGreaterThanOrEqual(PQlibVersion(), 150000)
        XCTAssertTrue(String(cString: curl_version()).hasPrefix("libcurl/"))
        XCTAssertTrue(String(cString: OpenSSL_version(OPENSSL_VERSION)).hasPrefix("OpenSSL 3"))
        var info = LDAPAPIInfo()
        info.ldapai_info_version = LDAP_API_INFO_VERSION
        XCTAssertEqual(ldap_get_option(nil, LDAP_OPT_API_INFO, &info), LDAP_OPT_SUCCESS)
        XCTAssertEqual(info.ldapai_protocol_version, 3)
    }
}
