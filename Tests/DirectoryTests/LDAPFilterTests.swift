import Directory
import XCTest

final class LDAPFilterTests: XCTestCase {
    func testPlaceholder() {}
}
