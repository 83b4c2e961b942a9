import AXL
import Foundation
import TestSupport
import XCTest

/// Every kind of devsim answer is valid against Cisco's AXLSoap.xsd 12.5.
final class DeviceSimulatorSchemaTests: XCTestCase {
    /// The served AXL types: each catalog list type once (VG gateways are listGateway).
    static var listedTypes: [AXLObjectType] {
        var seen = Set<String>()
        return (AXLCatalog.callProcessorInfrastructure + AXLCatalog.callProcessorUser).filter { type in
            guard case .axlList = type.source else { return false }
            return seen.insert(type.axlName).inserted
        }
    }

    func testEveryKindOfAnswerIsValidAgainstTheSchema() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 30)
        var named: [(name: String, body: [UInt8])] = []

        // list: the catalog's request of every type, and one with empty returnedTags (every tag).
        let types = Self.listedTypes
        let lists = try Exchange.run(simulator, types.map { type in
            Request(headers: ["SOAPAction: " + AXLVersion.latest.soapAction(type.listOperation)],
                    body: AXLEnvelope.listRequest(.latest, type, skip: 0, first: 1000))
        } + [Request.list("listPhone", criteria: [("name", "%")], tags: [])])
        for (type, answer) in zip(types, lists) {
            XCTAssertEqual(answer.status, 200, "\(type.listOperation): \(answer.text.prefix(300))")
            XCTAssertFalse(try ItemCollector.items(answer, type.itemElement).isEmpty, "\(type.listOperation) lists nothing")
            named.append((type.listOperation, answer.body))
        }
        named.append(("listPhone-all-tags", lists.last!.body))

        // get: the first object of every type, by uuid.
        let gets = try Exchange.run(simulator, zip(types, lists).map { type, answer in
            let uuid = (try? ItemCollector.items(answer, type.itemElement).first?.uuid) ?? nil
            return Request.get(type.getOperation, [("uuid", uuid ?? "{00000000-0000-0000-0000-000000000000}")])
        })
        for (type, answer) in zip(types, gets) {
            XCTAssertEqual(answer.status, 200, "\(type.getOperation): \(answer.text.prefix(300))")
            named.append((type.getOperation, answer.body))
        }

        // The collections only a get has, by name and by compound key.
        let collections = try Exchange.run(simulator, [
            Request.get("getPhone", [("name", "SEP001122000000")]),
            Request.get("getDeviceProfile", [("name", "UDP_user000000")]),
            Request.get("getRemoteDestinationProfile", [("name", "RDP_user000002")]),
            Request.get("getUser", [("userid", "user000002")]),
            Request.get("getLine", [("pattern", "1000003"), ("routePartitionName", "PT_Internal")]),
        ])
        for answer in collections { XCTAssertEqual(answer.status, 200, answer.text) }
        XCTAssertTrue(collections[0].text.contains("<lines><line><index>1</index><dirn><pattern>1000000</pattern>"), collections[0].text)
        XCTAssertTrue(collections[1].text.contains("<services><service>"), collections[1].text)
        XCTAssertTrue(collections[2].text.contains("<lines><line>"), collections[2].text)
        XCTAssertTrue(collections[3].text.contains("<associatedDevices><device>SEP001122000002</device><device>RDP_user000002</device></associatedDevices>"), collections[3].text)
        // A line's read-only associatedDevices: the devices carrying it (last in RLine).
        XCTAssertTrue(collections[4].text.contains("<associatedDevices><device>SEP001122000003</device>"), collections[4].text)
        named += zip(["getPhone-lines", "getDeviceProfile-services", "getRemoteDestinationProfile-lines", "getUser-devices", "getLine-key"],
                     collections.map(\.body)).map { ($0, $1) }

        // add, update, remove (StandardResponse), a fault, getCCMVersion, listChange, executeSQLQuery, getLdapSystem.
        let writes = try Exchange.run(simulator, [
            Request.axl("addPhone") { writer in
                writer.raw("<phone><name>SEP0A0B0C0D0E0F</name><description>added</description><product>Cisco 8845</product><class>Phone</class>")
                writer.raw("<protocol>SIP</protocol><protocolSide>User</protocolSide><devicePoolName>Default</devicePoolName>")
                writer.raw("<lines><line><index>1</index><dirn><pattern>4001</pattern><routePartitionName>PT_Internal</routePartitionName></dirn></line></lines></phone>")
            },
            Request.axl("updatePhone") { $0.raw("<name>SEP0A0B0C0D0E0F</name><description>changed</description>") },
            Request.axl("removePhone") { $0.raw("<name>SEP0A0B0C0D0E0F</name>") },
            Request.get("getPhone", [("name", "SEP0A0B0C0D0E0F")]),
            Request.axl("getCCMVersion"),
            Request.axl("listChange"),
            Request.axl("executeSQLQuery") { $0.element("sql", "select name, clause from digitdiscardinstruction") },
            Request.axl("executeSQLQuery") { $0.element("sql", "select skip 2 first 3 * from enduser") },
            Request.axl("getLdapSystem"),
        ])
        XCTAssertEqual(writes.map(\.status), [200, 200, 200, 500, 200, 200, 200, 200, 200], writes.map(\.text).joined(separator: "\n"))
        XCTAssertTrue(writes[8].text.contains("<ldapSystem><syncEnabled>false</syncEnabled>"), writes[8].text)
        XCTAssertEqual(writes[3].fault?.code, 5007)
        XCTAssertTrue(writes[5].text.contains("action>a</action>") && writes[5].text.contains("<changedTag name=\"description\">changed</changedTag>"), writes[5].text)
        XCTAssertTrue(writes[6].text.contains("<row><name>PreDot</name><clause>PreDot</clause></row>"), writes[6].text)
        XCTAssertEqual(try ItemCollector.items(writes[7], "row").count, 3)
        named += zip(["addPhone", "updatePhone", "removePhone", "fault", "getCCMVersion", "listChange", "executeSQLQuery", "executeSQLQuery-enduser",
                      "getLdapSystem"],
                     writes.map(\.body)).map { ($0, $1) }

        // A user's device profiles and default profile (the Extension Mobility step's updateUser), read
        // whole and by returnedTags without defaultProfile (the list still before enableMobility).
        let profiles = try Exchange.run(simulator, [
            Request.axl("updateUser") { writer in
                writer.raw("<userid>user000002</userid><phoneProfiles><profileName>UDP_user000000</profileName></phoneProfiles>")
                writer.raw("<defaultProfile>UDP_user000000</defaultProfile>")
            },
            Request.get("getUser", [("userid", "user000002")]),
            Request.axl("getUser") { $0.raw("<userid>user000002</userid><returnedTags><phoneProfiles/><enableMobility/></returnedTags>") },
        ])
        XCTAssertEqual(profiles.map(\.status), [200, 200, 200], profiles.map(\.text).joined(separator: "\n"))
        XCTAssertTrue(profiles[1].text.contains("<phoneProfiles><profileName>UDP_user000000</profileName></phoneProfiles><defaultProfile>UDP_user000000</defaultProfile>"
                                                + "<presenceGroupName>Standard Presence group</presenceGroupName>"), profiles[1].text)
        XCTAssertTrue(profiles[2].text.contains("</phoneProfiles><enableMobility>"), profiles[2].text)
        named += zip(["updateUser-profiles", "getUser-profiles", "getUser-profiles-tags"], profiles.map(\.body)).map { ($0, $1) }

        let problems = try AXLSchema.validate(named)
        XCTAssertEqual(problems, [], problems.prefix(20).joined(separator: "\n"))
    }

    /// Older versions: the answers name the version's namespace and are valid against its schema; the
    /// types a version does not have (10.x lacks ConferenceNow, ElinGroup, IVR, LicensedUser) answer a fault.
    func testOlderVersionsAnswerByTheirSchema() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 5)
        for text in ["10.0", "11.5"] {
            let version = try XCTUnwrap(AXLVersion(text))
            let types = Self.listedTypes
            let answers = try Exchange.run(simulator, types.map { type in
                Request(headers: ["SOAPAction: " + version.soapAction(type.listOperation)], body: AXLEnvelope.listRequest(version, type))
            })
            var named: [(name: String, body: [UInt8])] = []
            for (type, answer) in zip(types, answers) {
                if version < AXLVersion("11.0")!, ["ConferenceNow", "ElinGroup", "InteractiveVoiceResponse", "LicensedUser"].contains(type.axlName) {
                    XCTAssertEqual(answer.fault?.operation, type.listOperation, "\(text) \(type.listOperation)")
                } else {
                    XCTAssertEqual(answer.status, 200, "\(text) \(type.listOperation)")
                    XCTAssertTrue(answer.text.contains(version.namespace))
                    named.append((type.listOperation, answer.body))
                }
            }
            let problems = try AXLSchema.validate(named, version: text)
            XCTAssertEqual(problems, [], problems.prefix(10).joined(separator: "\n"))
        }
    }

    /// The shared request writer: the catalog's list request of every type (VG gateways included), and
    /// a get by a compound key, are valid against AXLSoap.xsd 12.5.
    func testCatalogRequestsAreValidAgainstTheSchema() throws {
        let types = (AXLCatalog.callProcessorInfrastructure + AXLCatalog.callProcessorUser).filter {
            if case .axlList = $0.source { return true } else { return false }
        }
        var named = types.map { ($0.listOperation, AXLEnvelope.listRequest(.latest, $0, skip: 200, first: 100)) }
        named.append(("getLine", AXLEnvelope.getRequest(.latest, "getLine", keys: [("pattern", "4001"), ("routePartitionName", "PT_Internal")])))
        named.append(("getCCMVersion", AXLEnvelope.request(.latest, "getCCMVersion") { _ in }))
        let problems = try AXLSchema.validate(named.map { (name: $0.0, body: $0.1) })
        XCTAssertEqual(problems, [], problems.prefix(10).joined(separator: "\n"))
    }

    /// The validation can fail: an answer with an element the schema lacks is refused.
    func testUnknownElementsAreInvalid() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 3, arguments: ["--unknown-elements"])
        let answer = try Exchange.one(simulator, .list("listPhone", criteria: [("name", "%")], tags: ["name"]))
        XCTAssertTrue(answer.text.contains("<devsimUnknownElement>"))
        let problems = try AXLSchema.validate([("listPhone", answer.body)])
        XCTAssertTrue(problems.contains { $0.contains("devsimUnknownElement") }, problems.joined(separator: "\n"))
    }
}
