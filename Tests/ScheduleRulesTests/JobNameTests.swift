import Runtime
import XCTest
import ScheduleRules

final class JobNameTests: XCTestCase {
    func testGoodNames() throws {
        for text in ["Nightly sync", "a", "Job_1-B", "ALL domains 2", String(repeating: "x", count: 100)] {
            XCTAssertEqual(try JobName(text).value, text)
        }
    }

    func testBadNames() {
        let cases: [(String, String)] = [
            ("", "name: the job name is empty (use 1 to 100 letters, digits, spaces, '_' or '-')"),
            (String(repeating: "x", count: 101), "name: the job name is 101 characters long (at most 100)"),
            ("nightly.sync", "name: 'nightly.sync' may hold only letters A–Z, a–z, digits, space, '_' and '-'"),
            ("Müller", "name: 'Müller' may hold only letters A–Z, a–z, digits, space, '_' and '-'"),
            ("a/b", "name: 'a/b' may hold only letters A–Z, a–z, digits, space, '_' and '-'"),
            ("job@site", "name: 'job@site' may hold only letters A–Z, a–z, digits, space, '_' and '-'"),
            // Control characters are echoed escaped, so the message stays one line.
            ("tab\there", "name: 'tab\\there' may hold only letters A–Z, a–z, digits, space, '_' and '-'"),
            ("new\nline", "name: 'new\\nline' may hold only letters A–Z, a–z, digits, space, '_' and '-'"),
            ("bell\u{7}", "name: 'bell\\u{7}' may hold only letters A–Z, a–z, digits, space, '_' and '-'"),
            (" ", "name: ' ' may not begin or end with a space"),
            (" lead", "name: ' lead' may not begin or end with a space"),
            ("trail ", "name: 'trail ' may not begin or end with a space"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try JobName(text), text) { error in
                XCTAssertEqual((error as? InputError)?.description, message)
            }
        }
    }

    func testCodableAsAPlainString() throws {
        let encoded = try JSONEncoder().encode(try JobName("Nightly sync"))
        XCTAssertEqual(String(decoding: encoded, as: UTF8.self), #""Nightly sync""#)
        XCTAssertEqual(try JSONDecoder().decode(JobName.self, from: encoded).value, "Nightly sync")
        XCTAssertThrowsError(try JSONDecoder().decode(JobName.self, from: Data(#""a.b""#.utf8)))
    }
}
