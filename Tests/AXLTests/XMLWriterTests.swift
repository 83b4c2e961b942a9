import AXL
import XCTest

/// What XMLWriter writes is well-formed XML 1.0 whatever the value: the characters XML cannot carry
/// become U+FFFD, the ones it can (tab, LF, CR, any other Unicode) are kept.
final class XMLWriterTests: XCTestCase {
    func testCharactersXMLCannotCarryAreReplacedSoTheRequestStaysWellFormed() throws {
        let illegal = (0x00...0x1F).filter { ![0x09, 0x0A, 0x0D].contains($0) }.map { Character(Unicode.Scalar($0)!) }
            + ["\u{FFFE}", "\u{FFFF}"]
        for character in illegal {
            let value = "Sales\(character)Desk"
            XCTAssertEqual(xmlEscaped(value), "Sales\u{FFFD}Desk", "U+\(String(character.unicodeScalars.first!.value, radix: 16))")
            let request = AXLEnvelope.request(.latest, "updateUser") { writer in
                writer.element("userid", "jdoe")
                writer.element("department", value)
                writer.open("x", ["title": value])
                writer.close("x")
            }
            let recorder = EventRecorder()
            XCTAssertNoThrow(try XMLEventReader.parse(request, handler: recorder),
                             "U+\(String(character.unicodeScalars.first!.value, radix: 16)): \(String(decoding: request, as: UTF8.self))")
            XCTAssertTrue(recorder.lines.contains("end department 'Sales\u{FFFD}Desk'"), "\(recorder.lines)")
        }
        // Kept: tab, LF, CR, DEL and the C1 controls (legal in XML 1.0), other Unicode, and characters
        // that merely share a lead byte with U+FFFE (U+FFFD, U+FFBC, U+F000).
        let kept = "a\tb\nc\rd\u{7F}\u{85}é✓😀\u{FFFD}\u{FFBC}\u{F000}"
        XCTAssertEqual(xmlEscaped(kept), kept)
        XCTAssertEqual(xmlEscaped("\u{0}&\u{1F}<\u{FFFF}"), "\u{FFFD}&amp;\u{FFFD}&lt;\u{FFFD}")
        XCTAssertEqual(xmlEscaped("\u{FFFF}"), "\u{FFFD}", "at the end of the value")

        // `carriable` (a value kept as the device would be sent it) replaces exactly the same set.
        for character in illegal { XCTAssertEqual(XMLWriter.carriable("Sales\(character)Desk"), "Sales\u{FFFD}Desk") }
        XCTAssertEqual(XMLWriter.carriable(kept), kept)
        XCTAssertEqual(XMLWriter.carriable("\u{0}&\u{1F}<\u{FFFF}"), "\u{FFFD}&\u{FFFD}<\u{FFFD}", "nothing escaped")
    }

    /// The writer before it replaced them: its request is refused by the XML parser (as Unified CM
    /// refused it), so the replacement is what keeps it well-formed.
    func testARawControlCharacterIsNotWellFormed() {
        let request = Array("<?xml version=\"1.0\"?><a>Sales\u{1}Desk</a>".utf8)
        XCTAssertThrowsError(try XMLEventReader.parse(request, handler: EventRecorder()))
    }
}
