import Foundation
import AXL
@testable import DeviceClients
import XCTest

final class DeviceItemTests: XCTestCase {
    /// A list answer read as a stream: items with their uuid and fields, unknown fields skipped and named.
    func testListAnswerIsReadItemByItemAndUnexpectedFieldsAreSkipped() throws {
        let answer = """
            <?xml version='1.0' encoding='UTF-8'?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>\
            <ns:listPhoneResponse xmlns:ns="http://www.cisco.com/AXL/API/12.5"><return>\
            <phone uuid="{A}"><name>SEP1</name><devicePoolName uuid="{D}">Default</devicePoolName><surprise><x>1</x></surprise></phone>\
            <phone uuid="{B}"><name>SEP2</name><devicePoolName/></phone>\
            </return></ns:listPhoneResponse></soapenv:Body></soapenv:Envelope>
            """
        var items: [DeviceItem] = []
        let reader = AXLItemReader(operation: "listPhone", itemElement: "phone", expected: ["name", "devicePoolName"]) { items.append($0) }
        let parser = XMLEventReader(handler: reader)
        for chunk in Array(answer.utf8).chunked(7) { try parser.feed(chunk) }
        try parser.finish()
        XCTAssertEqual(items.count, 2)
        XCTAssertEqual(items[0].uuid, "{A}")
        XCTAssertEqual(items[0].text("devicePoolName"), "Default")
        XCTAssertEqual(items[1].text("devicePoolName"), "")
        XCTAssertEqual(items[0].json, #"{"name":"SEP1","devicePoolName":"Default"}"#)
        XCTAssertEqual(reader.unexpected, ["surprise"])
        XCTAssertNil(reader.faults.fault)
    }

    /// A CUPI lookup keeps only the rows whose column is the value asked for (without case): a
    /// server that read the query otherwise cannot hand back another user.
    func testACUPILookupKeepsOnlyTheRowsOfItsValue() {
        let rows = [["Alias": "ops", "ObjectId": "1"], ["Alias": "OPS (Sales)", "ObjectId": "2"], ["ObjectId": "3"]].map(CUPIClient.item)
        XCTAssertEqual(CUPIClient.rows(rows, column: "Alias", is: "ops (sales)").map(\.uuid), ["2"])
        XCTAssertEqual(CUPIClient.rows(rows, column: "Alias", is: "Ops").map(\.uuid), ["1"])
        XCTAssertEqual(CUPIClient.rows(rows, column: "Alias", is: "ops (").map(\.uuid), [])
    }

    func testNestedAndRepeatedElementsBecomeObjectsAndArrays() throws {
        let answer = """
            <e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><ns:getPhoneResponse xmlns:ns="x"><return>\
            <phone uuid="{P}"><lines><line><index>1</index><dirn><pattern>4001</pattern><routePartitionName>PT</routePartitionName></dirn></line>\
            <line><index>2</index><dirn><pattern>4002</pattern><routePartitionName/></dirn></line></lines></phone>\
            </return></ns:getPhoneResponse></e:Body></e:Envelope>
            """
        var items: [DeviceItem] = []
        let reader = AXLItemReader(operation: "getPhone", itemElement: "phone", expected: ["lines"]) { items.append($0) }
        try XMLEventReader.parse(Array(answer.utf8), handler: reader)
        XCTAssertEqual(items.first?.json,
                       #"{"lines":{"line":[{"index":"1","dirn":{"pattern":"4001","routePartitionName":"PT"}},{"index":"2","dirn":{"pattern":"4002","routePartitionName":""}}]}}"#)
        XCTAssertEqual(items.first?["lines"]?.children("line").count, 2)
    }

    /// Only the answer of the operation asked counts: another operation's answer (a misrouted proxy) is
    /// not read as this list's items, nor as an empty list that would make a sync mark objects removed.
    func testTheAnswerOfAnotherOperationIsNotThisOnes() throws {
        let answer = """
            <e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><ns:listUserResponse xmlns:ns="x"><return>\
            <phone uuid="{P}"><name>SEP1</name></phone></return></ns:listUserResponse></e:Body></e:Envelope>
            """
        var items: [DeviceItem] = []
        let reader = AXLItemReader(operation: "listPhone", itemElement: "phone", expected: ["name"]) { items.append($0) }
        try XMLEventReader.parse(Array(answer.utf8), handler: reader)
        XCTAssertFalse(reader.sawResponse)
        XCTAssertEqual(items.count, 0)
        let own = AXLItemReader(operation: "listUser", itemElement: "phone", expected: ["name"]) { items.append($0) }
        try XMLEventReader.parse(Array(answer.utf8), handler: own)
        XCTAssertTrue(own.sawResponse)
        XCTAssertEqual(items.count, 1)
    }

    func testFaultIsRead() throws {
        let fault = AXLEnvelope.fault(AXLFault(code: 5007, message: "Item not valid", operation: "getUser"), version: .latest)
        let reader = AXLItemReader(operation: "getUser", itemElement: "user", expected: nil) { _ in XCTFail("no item") }
        try XMLEventReader.parse(fault, handler: reader)
        XCTAssertEqual(reader.faults.fault?.code, 5007)
    }

    func testJSONEscapesWhatItMust() throws {
        let text = "a\"b\\c\nd\u{1}é€😀"
        let item = DeviceItem(uuid: nil, fields: [("x", .text(text)), ("l", .text("1")), ("l", .text("2"))])
        let decoded = try JSONSerialization.jsonObject(with: Data(item.json.utf8)) as? [String: Any]
        XCTAssertEqual(decoded?["x"] as? String, text)
        XCTAssertEqual(decoded?["l"] as? [String], ["1", "2"])
    }

    func testKeysJoinTheirTags() {
        let item = DeviceItem(uuid: nil, fields: [("pattern", .text("4001")), ("routePartitionName", .text("PT"))])
        XCTAssertEqual(item.key(["pattern", "routePartitionName"]), "4001/PT")
        XCTAssertEqual(item.key(["name"]), "")
    }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
