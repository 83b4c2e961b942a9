import AXL
import XCTest

final class AXLEnvelopeTests: XCTestCase {
    let version = AXLVersion.latest

    func testVersionsAndSOAPAction() {
        XCTAssertEqual(AXLVersion("12.5"), AXLVersion(major: 12, minor: 5))
        XCTAssertNil(AXLVersion("12"))
        XCTAssertNil(AXLVersion("12.x"))
        XCTAssertNil(AXLVersion("-1.5"))
        XCTAssertFalse(AXLVersion("13.0")!.isSupported)
        XCTAssertFalse(AXLVersion("9.1")!.isSupported)
        XCTAssertTrue(AXLVersion("10.0")!.isSupported)
        XCTAssertEqual(version.namespace, "http://www.cisco.com/AXL/API/12.5")
        XCTAssertEqual(AXLVersion(namespace: "http://www.cisco.com/AXL/API/11.5"), AXLVersion("11.5"))
        XCTAssertNil(AXLVersion(namespace: "urn:other"))
        XCTAssertEqual(version.soapAction("listPhone"), "\"CUCM:DB ver=12.5 listPhone\"")
        let parsed = AXLVersion.parseSOAPAction("\"CUCM:DB ver=11.5 getPhone\"")
        XCTAssertEqual(parsed?.version, AXLVersion("11.5"))
        XCTAssertEqual(parsed?.operation, "getPhone")
        XCTAssertEqual(AXLVersion.parseSOAPAction("CUCM:DB ver=12.5 listUser")?.operation, "listUser")
        XCTAssertNil(AXLVersion.parseSOAPAction("urn:something"))
    }

    func testListRequestShape() throws {
        let body = AXLEnvelope.listRequest(version, "listPhone", searchCriteria: [("name", "SEP%")],
                                           returnedTags: ["name", "model"], skip: 500, first: 250)
        let text = String(decoding: body, as: UTF8.self)
        XCTAssertTrue(text.contains("xmlns:ns=\"http://www.cisco.com/AXL/API/12.5\""))
        XCTAssertTrue(text.contains("<ns:listPhone><searchCriteria><name>SEP%</name></searchCriteria><returnedTags><name/><model/></returnedTags><skip>500</skip><first>250</first></ns:listPhone>"), text)
        // skip without first means nothing to AXL, so it is not sent.
        let unpaged = String(decoding: AXLEnvelope.listRequest(version, "listPhone", searchCriteria: [("name", "%")], returnedTags: [], skip: 5), as: UTF8.self)
        XCTAssertFalse(unpaged.contains("<skip>"))
        XCTAssertTrue(unpaged.contains("<returnedTags></returnedTags>"))
        // The events of the request: the operation element alone is qualified.
        let recorder = EventRecorder()
        try XMLEventReader.parse(body, handler: recorder)
        XCTAssertTrue(recorder.lines.contains("start listPhone {http://www.cisco.com/AXL/API/12.5}"))
        XCTAssertTrue(recorder.lines.contains("start searchCriteria"))
    }

    func testCatalogListRequestUsesFixedCriteria() {
        let vg224 = AXLCatalog.callProcessorInfrastructure.first { $0.inventoryType == "VG224" }!
        let text = String(decoding: AXLEnvelope.listRequest(version, vg224, skip: 0, first: 100), as: UTF8.self)
        XCTAssertTrue(text.contains("<ns:listGateway><searchCriteria><domainName>%</domainName><product>VG224</product></searchCriteria>"), text)
    }

    func testGetRequestWithCompoundKey() {
        let text = String(decoding: AXLEnvelope.getRequest(version, "getLine", keys: [("pattern", "4001"), ("routePartitionName", "PT_Internal")]), as: UTF8.self)
        XCTAssertTrue(text.contains("<ns:getLine><pattern>4001</pattern><routePartitionName>PT_Internal</routePartitionName></ns:getLine>"), text)
    }

    func testEscaping() {
        XCTAssertEqual(xmlEscaped("a&b<c>d\"e'f ✓"), "a&amp;b&lt;c&gt;d&quot;e&apos;f ✓")
        XCTAssertEqual(xmlEscaped(""), "")
        var writer = XMLWriter()
        writer.open("x", ["uuid": "{A}", "q": "1\"2"])
        writer.escaped("R&D")
        writer.close("x")
        writer.element("dp", "Default", uuid: "{B}")
        let expected = "<x uuid=\"{A}\" q=\"1&quot;2\">R&amp;D</x><dp uuid=\"{B}\">Default</dp>"
        XCTAssertEqual(writer.string, expected)
        XCTAssertEqual(String(decoding: writer.take(), as: UTF8.self), expected)
        XCTAssertEqual(writer.count, 0)
    }

    func testStandardResponseParses() throws {
        let body = AXLEnvelope.standardResponse(version, "addPhone", returning: "{0A1B2C3D-0000-0000-0000-000000000001}")
        let recorder = EventRecorder()
        try XMLEventReader.parse(body, handler: recorder)
        XCTAssertTrue(recorder.lines.contains("start addPhoneResponse {http://www.cisco.com/AXL/API/12.5}"))
        XCTAssertTrue(recorder.lines.contains("end return '{0A1B2C3D-0000-0000-0000-000000000001}'"))
        XCTAssertNil(try AXLFaultReader.fault(in: body, operation: "addPhone"))
    }

    func testFaultRoundTrip() throws {
        let sent = AXLFault(code: 5007, message: "Item not valid: The specified User was not found <x&y>", operation: "getUser")
        let body = AXLEnvelope.fault(sent, version: version)
        XCTAssertTrue(String(decoding: body, as: UTF8.self).contains("<faultcode>soapenv:Server</faultcode>"))
        XCTAssertEqual(try AXLFaultReader.fault(in: body, operation: "other"), sent)
        let client = String(decoding: AXLEnvelope.fault(sent, version: version, client: true), as: UTF8.self)
        XCTAssertTrue(client.contains("<faultcode>soapenv:Client</faultcode>"))
    }

    func testFaultAsUnifiedCMWritesIt() throws {
        // Unqualified axlError, as Unified CM often sends it; and a fault with no axlError at all.
        let unqualified = """
            <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault>\
            <faultcode>soapenv:Client</faultcode><faultstring>Could not insert new row</faultstring><detail><axlError>\
            <axlcode>-239</axlcode><axlmessage>Could not insert new row - duplicate value</axlmessage><request>addUser</request>\
            </axlError></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>
            """
        XCTAssertEqual(try AXLFaultReader.fault(in: Array(unqualified.utf8), operation: "x"),
                       AXLFault(code: -239, message: "Could not insert new row - duplicate value", operation: "addUser"))
        let bare = """
            <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault>\
            <faultcode>soapenv:Server</faultcode><faultstring>Something broke</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>
            """
        XCTAssertEqual(try AXLFaultReader.fault(in: Array(bare.utf8), operation: "listPhone"),
                       AXLFault(code: 0, message: "Something broke", operation: "listPhone"))
    }

    func testTooLargeFault() {
        let fault = AXLFault.tooLarge(totalRows: 50000, suggestedRows: 4200, operation: "listPhone")
        XCTAssertEqual(fault.message, "Query request too large. Total rows matched: 50000 rows. Suggestive Row Fetch: less than 4200 rows")
        XCTAssertEqual(fault.tooLarge?.totalRows, 50000)
        XCTAssertEqual(fault.tooLarge?.suggestedRows, 4200)
        let suggested = AXLFault(code: -1, message: "Query request too large. Total rows matched: 10 rows. Suggested row fetch: less than 3 rows", operation: "listUser")
        XCTAssertEqual(suggested.tooLarge?.suggestedRows, 3)
        XCTAssertNil(AXLFault(code: 5007, message: "x", operation: "y").tooLarge)
    }
}
