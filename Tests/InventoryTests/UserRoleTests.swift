import Directory
import Inventory
import XCTest

/// The pure rules of automatic provisioning (issue 15 item 9; seed 004): the line of the four cases
/// of the service area filter's check boxes, the phone's name, the union of roles.
final class UserRoleTests: XCTestCase {
    func testTheLineFollowsTheSeedsFourCases() throws {
        let mask = try PhoneMask(parsing: "54XX")
        // Neither box: the LDAP number, non-numeric characters removed; none: no line service.
        XCTAssertEqual(LineChoice.choose(ldapNumber: "+1 (408) 555-0112", mask: nil, assignNewLine: false), .number("14085550112"))
        XCTAssertEqual(LineChoice.choose(ldapNumber: nil, mask: nil, assignNewLine: false), .none("no LDAP synchronized number"))
        XCTAssertEqual(LineChoice.choose(ldapNumber: "n/a", mask: nil, assignNewLine: false), .none("no LDAP synchronized number"))
        // Assign only: the block, even with an LDAP number.
        XCTAssertEqual(LineChoice.choose(ldapNumber: "4085550112", mask: nil, assignNewLine: true), .fromBlock)
        XCTAssertEqual(LineChoice.choose(ldapNumber: nil, mask: nil, assignNewLine: true), .fromBlock)
        // Mask only: the masked number; none: no line service.
        XCTAssertEqual(LineChoice.choose(ldapNumber: "+1 (408) 555-0112", mask: mask, assignNewLine: false), .number("5412"))
        XCTAssertEqual(LineChoice.choose(ldapNumber: "", mask: mask, assignNewLine: false), .none("no LDAP synchronized number to apply the mask to"))
        // Both: the masked number; none: the block.
        XCTAssertEqual(LineChoice.choose(ldapNumber: "555.0112", mask: mask, assignNewLine: true), .number("5412"))
        XCTAssertEqual(LineChoice.choose(ldapNumber: nil, mask: mask, assignNewLine: true), .fromBlock)
    }

    func testThePhoneIsNamedAfterTheUserAsJabberNamesIt() {
        XCTAssertEqual(UserRole.phoneName(for: "jdoe"), "CSFJDOE")
        XCTAssertEqual(UserRole.phoneName(for: "user000001"), "CSFUSER000001")
        XCTAssertEqual(UserRole.phoneName(for: "abcdefghijkl"), "CSFABCDEFGHIJKL", "12 letters and digits fit whole")
        // Not whole: the first 7 and a digest of the user ID, so users alike at the start or apart only
        // by punctuation get names of their own; always a name Unified CM takes for Jabber.
        let names = ["j.doe", "JDoe.", "john.doe-smith@example.com", "alexander.hamilton1", "alexander.hamilton2", "李雷", "abcdefghijklm"]
            .map(UserRole.phoneName(for:))
        XCTAssertEqual(Set(names + ["CSFJDOE"]).count, names.count + 1, "\(names)")
        for name in names {
            XCTAssertNotNil(name.range(of: #"^CSF[A-Z0-9]{1,12}$"#, options: .regularExpression), name)
        }
        XCTAssertTrue(names[3].hasPrefix("CSFALEXAND") && names[3].count == 15, names[3])
        XCTAssertEqual(UserRole.phoneName(for: "j.doe"), names[0], "the same user ID, the same name")
    }

    func testRolesTogetherGiveEveryServiceOfEach() throws {
        let managers = UserRole(name: "Managers", phoneModel: "Cisco 8865", voicemail: true)
        let staff = UserRole(name: "Staff", phoneModel: "Cisco 8845", extensionMobility: true, imPresence: "SP_Jabber")
        let union = try XCTUnwrap(UserRole.union([managers, staff]))
        XCTAssertEqual(union.name, "Managers, Staff")
        XCTAssertEqual(union.phoneModel, "Cisco 8865", "the first role's phone")
        XCTAssertTrue(union.voicemail)
        XCTAssertTrue(union.extensionMobility)
        XCTAssertEqual(union.imPresence, "SP_Jabber")
        XCTAssertNil(UserRole.union([]))
    }
}
