import Directory
import Runtime
import XCTest

/// Masks for LDAP-synchronized numbers, by the seed's rules and examples.
final class PhoneMaskTests: XCTestCase {
    func testTheSeedsExamplesAndRulesAreAccepted() throws {
        // Seed: "It can be a combination of numerals and character X (for example, 12XXX, +XX234, XX231XXX)";
        // "It can start with +, \+, X, or numerals (0-9)".
        for text in ["12XXX", "+XX234", "XX231XXX", "\\+1408XXXXXXX", "+1408XXXXXXX", "X", "0", "9725550000", "XXXX"] {
            XCTAssertEqual(try PhoneMask(parsing: text).text, text)
        }
    }

    func testBadMasksAreRefusedWithOneLine() {
        let bad: [(String, String)] = [
            ("", "mask: is empty (digits and X, optionally starting with + or \\+)"),
            ("12x34", "mask: '12x34' has a lower-case 'x' (use upper-case X)"),
            ("1+2", "mask: '1+2' has '+' at character 2 (+ and \\+ may only begin the mask)"),
            ("12\\+3", "mask: '12\\+3' has '\\+' at character 3 (+ and \\+ may only begin the mask)"),
            ("++1", "mask: '++1' has '+' at character 2 (+ and \\+ may only begin the mask)"),
            ("+\\+1", "mask: '+\\+1' has '\\+' at character 2 (+ and \\+ may only begin the mask)"),
            ("XX+", "mask: 'XX+' has '+' at character 3 (+ and \\+ may only begin the mask)"),
            ("+", "mask: '+' has no digits or X after the prefix"),
            ("\\+", "mask: '\\+' has no digits or X after the prefix"),
            ("12-34", "mask: '12-34' has '-' (allowed: digits 0-9, X, and + or \\+ at the beginning)"),
            ("\\5", "mask: '\\5' has '\\' (allowed: digits 0-9, X, and + or \\+ at the beginning)"),
            // Found by fuzzing: the echoed mask cut the one-line refusal.
            ("1\n2\u{13}", "mask: '1\\n2\\u{13}' has '\\n' (allowed: digits 0-9, X, and + or \\+ at the beginning)"),
            (" 123", "mask: ' 123' has ' ' (allowed: digits 0-9, X, and + or \\+ at the beginning)"),
            ("12*", "mask: '12*' has '*' (allowed: digits 0-9, X, and + or \\+ at the beginning)"),
            (String(repeating: "X", count: 49), "mask: '\(String(repeating: "X", count: 49))' is longer than 48 characters"),
        ]
        for (text, expected) in bad {
            XCTAssertThrowsError(try PhoneMask(parsing: text), text) { error in
                XCTAssertEqual((error as? InputError)?.description, expected, text)
            }
        }
        XCTAssertThrowsError(try PhoneMask(parsing: "1x", field: "write_back_mask")) { error in
            XCTAssertEqual((error as? InputError)?.field, "write_back_mask")
        }
    }

    /// Seed: the mask is applied "after removing the non-numeric characters", laid over the digits from the right.
    func testApplyingStripsNonDigitsThenMasks() throws {
        let cases: [(mask: String, number: String, result: String?)] = [
            ("12XXX", "(408) 555-1234", "12234"),
            ("12XXX", "+1 (408) 555-1234", "12234"),
            ("+XX234", "+44 20 7946 0958", "+60234"),
            ("XX231XXX", "1234", "231234"),
            ("\\+1408XXXXXXX", "555-123-4567", "\\+14081234567"),
            ("+1408XXXXXXX", "555.123.4567", "+14081234567"),
            ("XXXX", "ext. 12", "12"),
            ("XXXX", "4085551234", "1234"),
            ("8XXXX", "x4930", "84930"),
            ("0", "12", "0"),
            ("XXXX", "n/a", nil),
            ("XXXX", "", nil),
        ]
        for (mask, number, result) in cases {
            XCTAssertEqual(try PhoneMask(parsing: mask).apply(to: number), result, "\(mask) on \(number)")
        }
    }
}
