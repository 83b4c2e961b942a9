import AXL
import XCTest

/// Records every event as a line, for comparing.
final class EventRecorder: XMLEventHandler {
    var lines: [String] = []

    func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) {
        let attributeText = attributes.map { " \($0.name)=\($0.value)" }.joined()
        lines.append("start \(name)\(namespace.map { " {\($0)}" } ?? "")\(attributeText)")
    }

    func endElement(_ name: String, text: String) {
        lines.append("end \(name) '\(text)'")
    }
}

final class XMLEventReaderTests: XCTestCase {
    func testEventsWithNamespacesAttributesAndEntities() throws {
        let document = """
            <?xml version="1.0"?><a:root xmlns:a="urn:x"><item uuid="{1}" other='q&amp;r'>AT&amp;T &lt;1&gt;</item>\
            <empty/><![CDATA[ignored?]]></a:root>
            """
        let recorder = EventRecorder()
        try XMLEventReader.parse(Array(document.utf8), handler: recorder)
        XCTAssertEqual(recorder.lines, [
            "start root {urn:x}",
            "start item uuid={1} other=q&r",
            "end item 'AT&T <1>'",
            "start empty",
            "end empty ''",
            "end root 'ignored?'",
        ])
    }

    func testChunksSplitAnywhereGiveTheSameEvents() throws {
        let document = Array("<r><name>caf\u{e9} \u{2713}</name><x a=\"1\">two</x></r>".utf8)
        let whole = EventRecorder()
        try XMLEventReader.parse(document, handler: whole)
        for size in 1...7 {
            let recorder = EventRecorder()
            let reader = XMLEventReader(handler: recorder)
            var offset = 0
            while offset < document.count {
                let end = min(offset + size, document.count)
                try reader.feed(Array(document[offset..<end]))
                offset = end
            }
            try reader.finish()
            XCTAssertEqual(recorder.lines, whole.lines, "chunk size \(size)")
        }
        XCTAssertEqual(whole.lines[1], "start name")
        XCTAssertEqual(whole.lines[2], "end name 'caf\u{e9} \u{2713}'")
    }

    func testMalformedXMLGivesLineAndMessage() throws {
        let recorder = EventRecorder()
        XCTAssertThrowsError(try XMLEventReader.parse(Array("<r>\n<a>\n</b></r>".utf8), handler: recorder)) { error in
            guard let error = error as? XMLParseError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.line, 3)
            XCTAssertTrue(error.message.contains("mismatch"), error.message)
            XCTAssertTrue(error.description.hasPrefix("malformed XML at line 3: "))
        }
    }

    /// An input whose encoding fails to convert is refused with an error, and libxml2 prints nothing to
    /// standard error (where it would break the one-object-per-line logs of the workers).
    func testAnUndecodableInputIsRefusedWithoutWritingToStandardError() throws {
        var pipeEnds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&pipeEnds), 0)
        let savedStandardError = dup(STDERR_FILENO)
        dup2(pipeEnds[1], STDERR_FILENO)
        var refused = false
        do {
            try XMLEventReader.parse([0, 0, 0, 0x3C, 0x61, 0x3E, 0xFF, 0xFE, 0, 0], handler: EventRecorder())
        } catch {
            refused = true
        }
        dup2(savedStandardError, STDERR_FILENO)
        close(savedStandardError)
        close(pipeEnds[1])
        var printed: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(pipeEnds[0], &buffer, buffer.count)
            if count <= 0 { break }
            printed += buffer[0..<count]
        }
        close(pipeEnds[0])
        XCTAssertTrue(refused, "the input cannot be decoded")
        XCTAssertEqual(String(decoding: printed, as: UTF8.self), "", "nothing on standard error")
    }

    func testTruncatedDocumentFailsAtFinish() throws {
        let reader = XMLEventReader(handler: EventRecorder())
        try reader.feed("<r><a>text")
        XCTAssertThrowsError(try reader.finish()) { XCTAssertTrue($0 is XMLParseError) }
    }

    func testAHandlerErrorStopsTheParse() throws {
        struct Enough: Error {}
        final class Stopper: XMLEventHandler {
            var seen = 0
            func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) throws {
                seen += 1
                if seen == 2 { throw Enough() }
            }
            func endElement(_ name: String, text: String) {}
        }
        let stopper = Stopper()
        XCTAssertThrowsError(try XMLEventReader.parse(Array("<r><a/><b/><c/></r>".utf8), handler: stopper)) {
            XCTAssertTrue($0 is Enough)
        }
        XCTAssertEqual(stopper.seen, 2)
    }

    func testResetReadsTheNextDocument() throws {
        let recorder = EventRecorder()
        let reader = XMLEventReader(handler: recorder)
        try reader.feed("<a>one</a>")
        try reader.finish()
        reader.reset()
        try reader.feed("<b x=\"1\">two</b>")
        try reader.finish()
        XCTAssertEqual(recorder.lines, ["start a", "end a 'one'", "start b x=1", "end b 'two'"])
        // After a malformed document, too.
        reader.reset()
        XCTAssertThrowsError(try reader.feed("<c></d>"))
        reader.reset()
        try reader.feed("<e/>")
        try reader.finish()
        XCTAssertEqual(recorder.lines.suffix(2), ["start e", "end e ''"])
    }

    func testManyItemsStreamed() throws {
        final class Counter: XMLEventHandler {
            var items = 0
            var lastName = ""
            func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) {
                if name == "phone" { items += 1 }
            }
            func endElement(_ name: String, text: String) {
                if name == "name" { lastName = text }
            }
        }
        let counter = Counter()
        let reader = XMLEventReader(handler: counter)
        try reader.feed("<return>")
        for index in 0..<20_000 {
            try reader.feed("<phone uuid=\"{\(index)}\"><name>SEP\(index)</name></phone>")
        }
        try reader.feed("</return>")
        try reader.finish()
        XCTAssertEqual(counter.items, 20_000)
        XCTAssertEqual(counter.lastName, "SEP19999")
    }

    /// A big answer read whole (a 40 MB page of 300,000 phones, `parse` of one array) is parsed:
    /// it goes to libxml2 in slices, so its bound on input not yet parsed is never met.
    func testABigDocumentGivenWholeIsParsed() throws {
        final class Counter: XMLEventHandler {
            var phones = 0
            func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) {
                if name == "phone" { phones += 1 }
            }
            func endElement(_ name: String, text: String) {}
        }
        var document = Array("<return>".utf8)
        for index in 0..<300_000 {
            document += Array("<phone uuid=\"{\(index)}\"><name>SEP\(index)</name><description>a phone of some user</description></phone>".utf8)
        }
        document += Array("</return>".utf8)
        XCTAssertGreaterThan(document.count, 20_000_000)
        let counter = Counter()
        try XMLEventReader.parse(document, handler: counter)
        XCTAssertEqual(counter.phones, 300_000)
    }

    /// libxml2's bounds stay on (no XML_PARSE_HUGE): one attribute value over 10 MB is refused as
    /// malformed instead of being built.
    func testAnAttributeOverTenMegabytesIsRefused() throws {
        let document = Array("<return><name a=\"".utf8) + Array(repeating: UInt8(ascii: "x"), count: 11_000_000) + Array("\">t</name></return>".utf8)
        XCTAssertThrowsError(try XMLEventReader.parse(document, handler: EventRecorder())) { XCTAssertTrue($0 is XMLParseError, "\($0)") }
    }
}
