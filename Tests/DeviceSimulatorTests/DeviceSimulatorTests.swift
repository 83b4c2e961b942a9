import AXL
import Foundation
import Postgres
import Synchronization
import TestSupport
import XCTest

/// What `ucp devsim` answers: paging, keys, writes and the change feed, CUPI, credentials, versions,
/// and each fault flag.
final class DeviceSimulatorTests: XCTestCase {
    func testPagingIsDeterministicWithoutATotal() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 25)
        let pages = try Exchange.run(simulator, [0, 10, 20, 30].map { skip in
            Request.list("listUser", criteria: [("userid", "%")], tags: ["userid"], skip: skip, first: 10)
        })
        let userids = try pages.map { try ItemCollector.items($0, "user").map { $0.fields["userid"]! } }
        XCTAssertEqual(userids.map(\.count), [10, 10, 5, 0])
        XCTAssertEqual(userids.joined().sorted(), (0..<25).map { UserData.userid($0) })
        XCTAssertTrue(pages[3].text.contains("<return></return>"), pages[3].text)
        XCTAssertFalse(pages[0].text.contains("total"))
        // Same order again, and the same data from a second simulator of the same size.
        let again = try Exchange.one(simulator, .list("listUser", criteria: [("userid", "%")], tags: ["userid"], skip: 0, first: 10))
        XCTAssertEqual(again.body, pages[0].body)
        let twin = try DeviceSimulatorProcess.start(for: self, users: 25)
        let everything = Request.list("listPhone", criteria: [("name", "%")], tags: [])
        XCTAssertEqual(try Exchange.one(twin, everything).body, try Exchange.one(simulator, everything).body)

        // Wildcards, projection, fixed criteria, and at least one criterion required.
        let searches = try Exchange.run(simulator, [
            .list("listPhone", criteria: [("name", "SEP%")], tags: ["name"]),
            .list("listPhone", criteria: [("name", "%")], tags: ["name"]),
            .list("listGateway", criteria: [("domainName", "%"), ("product", "VG224")], tags: ["domainName", "product"]),
            .list("listLine", criteria: [("pattern", "100001%")], tags: ["pattern", "routePartitionName"]),
            .list("listPhone", criteria: [], tags: ["name"]),
        ])
        XCTAssertEqual(try ItemCollector.items(searches[0], "phone").count, 25)
        XCTAssertEqual(try ItemCollector.items(searches[1], "phone").count, 25 + 6, "with the analog phones")
        XCTAssertFalse(searches[0].text.contains("<description>"), "only the tags asked for")
        let gateways = try ItemCollector.items(searches[2], "gateway")
        XCTAssertEqual(gateways.count, 3)
        XCTAssertTrue(gateways.allSatisfy { $0.fields["product"] == "VG224" })
        XCTAssertEqual(try ItemCollector.items(searches[3], "line").map { $0.fields["pattern"]! }, ["1000010", "1000011", "1000012", "1000013", "1000014", "1000015", "1000016", "1000017", "1000018", "1000019"])
        XCTAssertEqual(searches[4].status, 500)
        XCTAssertNotNil(searches[4].fault)
    }

    func testWritesKeysAndTheChangeFeed() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 5, arguments: ["--change-page-size", "2"])
        let baseline = try Exchange.one(simulator, .axl("listChange"))
        let queueId = try XCTUnwrap(baseline.text.firstMatch(of: /<queueId>([^<]+)<\/queueId>/)?.1).description
        let answers = try Exchange.run(simulator, [
            .axl("addUser") { $0.raw("<user><firstName>New</firstName><lastName>Person</lastName><userid>newperson</userid><presenceGroupName>Standard Presence group</presenceGroupName></user>") },
            .axl("addUser") { $0.raw("<user><lastName>Again</lastName><userid>NEWPERSON</userid></user>") },
            .axl("updateUser") { $0.raw("<userid>newperson</userid><department>Research</department>") },
            .axl("updateLine") { $0.raw("<pattern>1000001</pattern><routePartitionName>PT_Internal</routePartitionName><description>Renamed</description>") },
            .get("getUser", [("userid", "NewPerson")]),
            .axl("removeUser") { $0.raw("<userid>newperson</userid>") },
            .get("getUser", [("userid", "newperson")]),
            .axl("updateUser") { $0.raw("<userid>nobody</userid><department>x</department>") },
            .axl("listChange") { $0.raw("<startChangeId queueId=\"\(queueId)\">1</startChangeId><objectList><object>User</object></objectList>") },
            .axl("listChange") { $0.raw("<startChangeId queueId=\"wrong\">1</startChangeId>") },
            .axl("listChange") { $0.raw("<startChangeId queueId=\"\(queueId)\">3</startChangeId><objectList><object>User</object></objectList>") },
        ])
        XCTAssertEqual(answers[0].status, 200)
        let uuid = try XCTUnwrap(answers[0].text.firstMatch(of: /<return>(\{[0-9A-F-]+\})<\/return>/)?.1).description
        XCTAssertEqual(answers[1].fault?.code, -239)
        XCTAssertTrue(answers[1].text.contains("soapenv:Client"))
        XCTAssertTrue(answers[2].text.contains(uuid))
        XCTAssertEqual(answers[3].status, 200)
        XCTAssertTrue(answers[4].text.contains("<department>Research</department>"), answers[4].text)
        XCTAssertTrue(answers[4].text.contains("uuid=\"\(uuid)\""))
        XCTAssertTrue(answers[5].text.contains(uuid))
        XCTAssertEqual(answers[6].fault, AXLFault(code: 5007, message: "Item not valid: The specified User was not found", operation: "getUser"))
        XCTAssertEqual(answers[7].fault?.code, 5007)
        // Two changes a page: the first page stops before the Line change, the second ends the feed.
        let changes = answers[8].text + answers[10].text
        XCTAssertEqual(answers[8].text.matches(of: /<change type="User"/).count, 2, answers[8].text)
        XCTAssertTrue(answers[8].text.contains("<lastChangeId>4</lastChangeId><nextStartChangeId>3</nextStartChangeId>"), answers[8].text)
        XCTAssertEqual(answers[10].text.matches(of: /<change type="User"/).count, 1, answers[10].text)
        XCTAssertTrue(answers[10].text.contains("<nextStartChangeId>5</nextStartChangeId>"), answers[10].text)
        XCTAssertTrue(changes.contains("<action>a</action>") && changes.contains("<action>u</action>") && changes.contains("<action>r</action>"))
        XCTAssertTrue(changes.contains("<changedTag name=\"department\">Research</changedTag>"))
        XCTAssertFalse(changes.contains("type=\"Line\""))
        XCTAssertEqual(answers[9].fault?.code, 5007)
        // A get by uuid takes any case, with or without braces.
        let phone = try Exchange.one(simulator, .get("getPhone", [("name", "SEP001122000001")]))
        let phoneUUID = try XCTUnwrap(try ItemCollector.items(phone, "phone").first?.uuid)
        let byUUID = try Exchange.one(simulator, .get("getPhone", [("uuid", String(phoneUUID.dropFirst().dropLast()).lowercased())]))
        XCTAssertEqual(byUUID.body, phone.body)
        // returnedTags on a get: the fields and collections named, nothing else.
        let projected = try Exchange.one(simulator, Request(headers: ["SOAPAction: " + AXLVersion.latest.soapAction("getPhone")],
            body: AXLEnvelope.getRequest(.latest, "getPhone", keys: [("name", "SEP001122000001")], returnedTags: ["name", "lines"])))
        XCTAssertTrue(projected.text.contains("<name>SEP001122000001</name><lines><line><index>1</index>"), projected.text)
        XCTAssertFalse(projected.text.contains("<description>"))
        let linesOnly = try Exchange.one(simulator, Request(headers: ["SOAPAction: " + AXLVersion.latest.soapAction("getDeviceProfile")],
            body: AXLEnvelope.getRequest(.latest, "getDeviceProfile", keys: [("name", "UDP_user000000")], returnedTags: ["lines"])))
        XCTAssertTrue(linesOnly.text.contains("<deviceProfile uuid="), linesOnly.text)
        XCTAssertTrue(linesOnly.text.contains("<lines>") && !linesOnly.text.contains("<services>") && !linesOnly.text.contains("<name>"), linesOnly.text)
    }

    /// Every add gets a uuid of its own, as Unified CM gives every add a new pkid: an object removed and
    /// added again under the same name is another object, and the old uuid names nothing — a late
    /// removal by it fails (5007) instead of removing the new object. A generated object re-added too.
    func testAnObjectAddedAgainGetsANewUUID() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 5)
        func uuid(_ answer: Answer) throws -> String {
            try XCTUnwrap(answer.text.firstMatch(of: /<return>(\{[0-9A-F-]+\})<\/return>/)?.1, answer.text).description
        }
        let add = Request.axl("addUser") { $0.raw("<user><lastName>Again</lastName><userid>again</userid></user>") }
        let first = try uuid(try Exchange.one(simulator, add))
        XCTAssertEqual(try Exchange.one(simulator, .axl("removeUser") { $0.element("userid", "again") }).status, 200)
        let second = try uuid(try Exchange.one(simulator, add))
        XCTAssertNotEqual(second, first, "a re-added user is another object")
        let stale = try Exchange.run(simulator, [
            .get("getUser", [("uuid", first)]),
            .axl("removeUser") { $0.element("uuid", first) },
            .get("getUser", [("userid", "again")]),
        ])
        XCTAssertEqual(stale[0].fault?.code, 5007)
        XCTAssertEqual(stale[1].fault?.code, 5007, "a removal by the old uuid leaves the new object alone")
        XCTAssertTrue(stale[2].text.contains("uuid=\"\(second)\""), stale[2].text)

        let generated = try XCTUnwrap(try ItemCollector.items(try Exchange.one(simulator, .get("getUser", [("userid", "user000001")])), "user").first?.uuid)
        XCTAssertEqual(try Exchange.one(simulator, .axl("removeUser") { $0.element("userid", "user000001") }).status, 200)
        let readded = try uuid(try Exchange.one(simulator, .axl("addUser") { $0.raw("<user><lastName>Back</lastName><userid>user000001</userid></user>") }))
        XCTAssertNotEqual(readded, generated)
    }

    /// Unified CM names a desk phone by its MAC address (SEP and 12 hexadecimal digits) and Jabber for
    /// desktop CSF and up to 12 letters or digits; another name is refused, and nothing is added.
    func testAPhoneNameMustFitItsProduct() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 1)
        func add(_ name: String, _ product: String) throws -> Answer {
            try Exchange.one(simulator, .axl("addPhone") {
                $0.raw("<phone><name>\(name)</name><product>\(product)</product><protocol>SIP</protocol><devicePoolName>Default</devicePoolName></phone>")
            })
        }
        let jabber = "Cisco Unified Client Services Framework"
        for (name, product) in [("CSFJDOE", "Cisco 8845"), ("SEP00AA00BB00ZZ", "Cisco 8845"), ("SEP00AA00BB0001", jabber), ("CSFJOHNDOESMITHX", jabber)] {
            let refused = try add(name, product)
            XCTAssertEqual(refused.fault?.code, 5003, "\(name) as a \(product)")
            XCTAssertTrue(refused.text.contains("is not formatted correctly for this device type"), refused.text)
            XCTAssertEqual(try Exchange.one(simulator, .get("getPhone", [("name", name)])).fault?.code, 5007, "\(name) was not added")
        }
        XCTAssertEqual(try add("SEP00AA00BB0001", "Cisco 8845").status, 200)
        XCTAssertEqual(try add("CSFJDOE", jabber).status, 200)
    }

    /// Removing an object leaves the others as they were: each found by name and by its uuid, listed
    /// in the order they were made, paged without a gap or a repeat, filtered lists alike; one added
    /// again comes last. Checked while removed objects leave holes, once the removals outnumber the
    /// objects left (the table closes its holes), and after that.
    func testRemovalsKeepLookupsOrderAndPaging() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 10)
        var uuids: [String: String] = [:]
        var gone: [String: String] = [:]
        func remove(_ userid: String) throws {
            XCTAssertEqual(try Exchange.one(simulator, .axl("removeUser") { $0.element("userid", userid) }).status, 200, userid)
            gone[userid] = uuids.removeValue(forKey: userid)
        }
        func add(_ userid: String) throws {
            XCTAssertEqual(try Exchange.one(simulator, .axl("addUser") { $0.raw("<user><lastName>Back</lastName><userid>\(userid)</userid></user>") }).status,
                           200, userid)
        }
        func assertUsers(_ expected: [String], line: UInt = #line) throws {
            let size = 3
            let pages = try Exchange.run(simulator, (0...expected.count / size).map { page in
                Request.list("listUser", criteria: [("userid", "%")], tags: ["userid"], skip: page * size, first: size)
            } + [Request.list("listUser", criteria: [("userid", "%")], tags: ["userid"]),
                 Request.list("listUser", criteria: [("userid", "user%")], tags: ["userid"], skip: 1, first: 100)])
            let listed = try pages.map { try ItemCollector.items($0, "user") }
            let all = listed[listed.count - 2]
            XCTAssertEqual(all.map { $0.fields["userid"]! }, expected, "list order", line: line)
            XCTAssertEqual(listed.dropLast(2).joined().map { $0.fields["userid"]! }, expected, "pages of \(size)", line: line)
            XCTAssertEqual(listed.last!.map { $0.fields["userid"]! }, Array(expected.dropFirst()), "filtered, from the second", line: line)
            for item in all {
                let userid = item.fields["userid"]!
                if let known = uuids[userid] { XCTAssertEqual(item.uuid, known, "\(userid) kept its uuid", line: line) }
                uuids[userid] = item.uuid
            }
            let gets = try Exchange.run(simulator, expected.flatMap { userid in
                [Request.get("getUser", [("userid", userid)]), Request.get("getUser", [("uuid", uuids[userid]!)])]
            } + gone.sorted { $0.key < $1.key }.flatMap { userid, uuid in
                [Request.get("getUser", [("uuid", uuid)])] + (expected.contains(userid) ? [] : [Request.get("getUser", [("userid", userid)])])
            })
            for (position, userid) in expected.enumerated() {
                for answer in gets[(2 * position)...(2 * position + 1)] {
                    let found = try ItemCollector.items(answer, "user").first
                    XCTAssertEqual(found?.fields["userid"], userid, answer.text, line: line)
                    XCTAssertEqual(found?.uuid, uuids[userid], line: line)
                }
            }
            for answer in gets.dropFirst(2 * expected.count) {
                XCTAssertEqual(answer.fault?.code, 5007, "a removed user, by its old uuid or its name: \(answer.text)", line: line)
            }
        }
        var expected = (0..<10).map { UserData.userid($0) }
        try assertUsers(expected)

        // Removed from the middle; an update by name reaches its object; added again: last.
        try remove("user000004")
        expected.removeAll { $0 == "user000004" }
        try assertUsers(expected)
        XCTAssertEqual(try Exchange.one(simulator, .axl("updateUser") { $0.raw("<userid>user000009</userid><department>Moved</department>") }).status, 200)
        XCTAssertTrue(try Exchange.one(simulator, .get("getUser", [("userid", "user000009")])).text.contains("<department>Moved</department>"))
        try add("user000004")
        expected.append("user000004")
        try assertUsers(expected)

        // Five removals leave five holes beside six users; the sixth makes them outnumber the users.
        for userid in ["user000000", "user000001", "user000002", "user000003"] {
            try remove(userid)
            expected.removeAll { $0 == userid }
        }
        try assertUsers(expected)
        try remove("user000006")
        expected.removeAll { $0 == "user000006" }
        try assertUsers(expected)
        XCTAssertEqual(expected, ["user000005", "user000007", "user000008", "user000009", "user000004"])
        try remove("user000007")
        try add("user000006")
        expected = ["user000005", "user000008", "user000009", "user000004", "user000006"]
        try assertUsers(expected)
    }

    /// A reference carries the uuid of the live object it names, also of one an AXL add made (a uuid
    /// of its own, not its name's hash), whatever the case of the name: in gets and lists, for fields
    /// and line partitions, after a rename; with nothing of that name, the uuid it carried before.
    func testReferencesCarryTheUUIDOfTheLiveObject() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 5)
        func added(_ answer: Answer) throws -> String {
            try XCTUnwrap(answer.text.firstMatch(of: /<return>(\{[0-9A-F-]+\})<\/return>/)?.1, answer.text).description
        }
        func uuid(_ get: Request, _ item: String) throws -> String {
            try XCTUnwrap(try ItemCollector.items(try Exchange.one(simulator, get), item).first?.uuid)
        }
        func reference(_ answer: Answer, _ element: String, _ name: String) throws -> String {
            let pattern = try Regex<(Substring, Substring)>("<\(element) uuid=\"([^\"]+)\">\(name)</\(element)>")
            return try XCTUnwrap(answer.text.firstMatch(of: pattern)?.1, "\(element) \(name) in \(answer.text)").description
        }
        let phone = Request.get("getPhone", [("name", "SEP00AA00BB00C1")])
        let phones = Request.list("listPhone", criteria: [("name", "SEP00AA00BB00C1")], tags: ["name", "ownerUserName"])

        // Generated objects: a phone names its owner by the owner's uuid.
        XCTAssertEqual(try reference(try Exchange.one(simulator, .get("getPhone", [("name", UserData.phoneName(1))])), "ownerUserName", "user000001"),
                       try uuid(.get("getUser", [("userid", "user000001")]), "user"))

        // Named before it exists: a uuid of no object; once added, the added user's.
        XCTAssertEqual(try Exchange.one(simulator, .axl("addPhone") { writer in
            writer.raw("<phone><name>SEP00AA00BB00C1</name><product>Cisco 8845</product><protocol>SIP</protocol><devicePoolName>Default</devicePoolName>")
            writer.raw("<ownerUserName>RefUser</ownerUserName><lines><line><index>1</index><dirn><pattern>4101</pattern>")
            writer.raw("<routePartitionName>PT_Later</routePartitionName></dirn></line></lines></phone>")
        }).status, 200)
        let unknown = try reference(try Exchange.one(simulator, phone), "ownerUserName", "RefUser")
        let user = try added(try Exchange.one(simulator, .axl("addUser") { $0.raw("<user><lastName>Ref</lastName><userid>refuser</userid></user>") }))
        XCTAssertNotEqual(user, unknown)
        XCTAssertEqual(try reference(try Exchange.one(simulator, phone), "ownerUserName", "RefUser"), user)
        XCTAssertEqual(try reference(try Exchange.one(simulator, phones), "ownerUserName", "RefUser"), user)

        // A line's partition, named before it exists, then given by renaming a generated partition.
        let unnamed = try reference(try Exchange.one(simulator, phone), "routePartitionName", "PT_Later")
        let park = try uuid(.get("getRoutePartition", [("name", "PT_Park")]), "routePartition")
        XCTAssertEqual(try Exchange.one(simulator, .axl("updateRoutePartition") { $0.raw("<name>PT_Park</name><newName>PT_Later</newName>") }).status, 200)
        XCTAssertNotEqual(park, unnamed)
        XCTAssertEqual(try reference(try Exchange.one(simulator, phone), "routePartitionName", "PT_Later"), park)

        // A destination's profile removed (its name's uuid again) and added anew (the new one's).
        let destination = Request.get("getRemoteDestination", [("destination", "+19190000002")])
        let generated = try reference(try Exchange.one(simulator, destination), "remoteDestinationProfileName", "RDP_user000002")
        XCTAssertEqual(generated, try uuid(.get("getRemoteDestinationProfile", [("name", "RDP_user000002")]), "remoteDestinationProfile"))
        XCTAssertEqual(try Exchange.one(simulator, .axl("removeRemoteDestinationProfile") { $0.element("name", "RDP_user000002") }).status, 200)
        XCTAssertEqual(try reference(try Exchange.one(simulator, destination), "remoteDestinationProfileName", "RDP_user000002"), generated)
        let profile = try added(try Exchange.one(simulator, .axl("addRemoteDestinationProfile") {
            $0.raw("<remoteDestinationProfile><name>RDP_user000002</name><product>Remote Destination Profile</product><class>Remote Destination Profile</class>")
            $0.raw("<protocol>Remote Destination</protocol><protocolSide>User</protocolSide><devicePoolName>Default</devicePoolName><userId>user000002</userId></remoteDestinationProfile>")
        }))
        XCTAssertNotEqual(profile, generated)
        XCTAssertEqual(try reference(try Exchange.one(simulator, destination), "remoteDestinationProfileName", "RDP_user000002"), profile)
        XCTAssertEqual(try Exchange.one(simulator, .axl("removeRemoteDestinationProfile") { $0.element("uuid", profile) }).status, 200)
        XCTAssertEqual(try reference(try Exchange.one(simulator, destination), "remoteDestinationProfileName", "RDP_user000002"), generated)
    }

    /// Removing a user clears it from the devices that name it as owner or login user — phones,
    /// device profiles, remote destination profiles and destinations, generated or added, whatever
    /// the case of the name — and nowhere else; each device cleared is an update in the change queue
    /// with the cleared fields as changed tags, after the user's removal. The answers stay valid.
    func testRemovingAUserClearsItFromItsDevices() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 12)
        func uuid(_ get: Request, _ item: String) throws -> String {
            try XCTUnwrap(try ItemCollector.items(try Exchange.one(simulator, get), item).first?.uuid, "\(item)")
        }
        func changes(after start: Int) throws -> [String] {
            let answer = try Exchange.one(simulator, .axl("listChange"))
            return answer.text.matches(of: /<change type="(\w+)" uuid="([^"]+)"><id>(\d+)<\/id><action>(\w)<\/action><doGet>(\w+)<\/doGet><changedTags>(.*?)<\/changedTags>/)
                .filter { Int($0.3)! > start }.map { "\($0.1) \($0.2) \($0.4) doGet=\($0.5) \($0.6)" }
        }
        let answers = try Exchange.run(simulator, [
            .axl("addPhone") { $0.raw("<phone><name>SEP00AA00BB00D1</name><product>Cisco 8845</product><protocol>SIP</protocol><ownerUserName>USER000002</ownerUserName></phone>") },
            .axl("addRemoteDestination") { $0.raw("<remoteDestination><name>Desk user000002</name><destination>+15550002</destination><ownerUserId>user000002</ownerUserId><remoteDestinationProfileName>RDP_user000002</remoteDestinationProfileName></remoteDestination>") },
            // Given to another user before the removal: left alone.
            .axl("updatePhone") { $0.raw("<name>\(UserData.phoneName(10))</name><ownerUserName>user000003</ownerUserName>") },
        ])
        XCTAssertEqual(answers.map(\.status), [200, 200, 200], answers.map(\.text).joined(separator: "\n"))
        let phones = [UserData.phoneName(2), "SEP00AA00BB00D1"]
        let devices = try [
            ("Phone", uuid(.get("getPhone", [("name", phones[0])]), "phone"), "ownerUserName"),
            ("Phone", uuid(.get("getPhone", [("name", phones[1])]), "phone"), "ownerUserName"),
            ("RemoteDestinationProfile", uuid(.get("getRemoteDestinationProfile", [("name", "RDP_user000002")]), "remoteDestinationProfile"), "userId"),
            ("RemoteDestination", uuid(.get("getRemoteDestination", [("destination", "+15550002")]), "remoteDestination"), "ownerUserId"),
        ]
        let user = try uuid(.get("getUser", [("userid", "user000002")]), "user")
        let start = try XCTUnwrap(Int(try Exchange.one(simulator, .axl("listChange")).text.firstMatch(of: /<lastChangeId>(\d+)</)?.1 ?? ""))

        XCTAssertEqual(try Exchange.one(simulator, .axl("removeUser") { $0.element("userid", "user000002") }).status, 200)
        XCTAssertEqual(try changes(after: start), ["User \(user) r doGet=false "] + devices.sorted { $0.0 < $1.0 }.map { type, uuid, field in
            "\(type) \(uuid) u doGet=false <changedTag name=\"\(field)\"></changedTag>"
        })
        let after = try Exchange.run(simulator, [
            .get("getPhone", [("name", phones[0])]), .get("getPhone", [("name", phones[1])]),
            .get("getRemoteDestinationProfile", [("name", "RDP_user000002")]), .get("getRemoteDestination", [("destination", "+15550002")]),
            .get("getPhone", [("name", UserData.phoneName(3))]), .get("getPhone", [("name", UserData.phoneName(10))]),
            .list("listPhone", criteria: [("name", "%")], tags: ["name", "ownerUserName"]), .axl("listChange"),
        ])
        XCTAssertEqual(after.map(\.status), Array(repeating: 200, count: after.count))
        for (answer, field) in zip(after, ["ownerUserName", "ownerUserName", "userId", "ownerUserId"]) {
            XCTAssertTrue(answer.text.contains("<\(field)/>"), "\(field) cleared: \(answer.text)")
        }
        XCTAssertTrue(after[4].text.contains(">user000003</ownerUserName>"), after[4].text)
        XCTAssertTrue(after[5].text.contains(">user000003</ownerUserName>"), after[5].text)
        XCTAssertFalse(after[6].text.lowercased().contains("user000002"), "no phone names the removed user")
        XCTAssertEqual(try AXLSchema.validate(zip(["getPhone", "getPhone-added", "getRemoteDestinationProfile", "getRemoteDestination",
                                                   "getPhone-other", "getPhone-given", "listPhone", "listChange"], after).map { (name: $0, body: $1.body) }), [])

        // The profile's login user, and a phone given to a user after the data was made.
        let profile = try uuid(.get("getDeviceProfile", [("name", "UDP_user000010")]), "deviceProfile")
        let phone = try uuid(.get("getPhone", [("name", UserData.phoneName(11))]), "phone")
        XCTAssertEqual(try Exchange.one(simulator, .axl("updatePhone") { $0.raw("<name>\(UserData.phoneName(11))</name><ownerUserName>user000010</ownerUserName>") }).status, 200)
        let removal = try XCTUnwrap(Int(try Exchange.one(simulator, .axl("listChange")).text.firstMatch(of: /<lastChangeId>(\d+)</)?.1 ?? ""))
        let removed = try uuid(.get("getUser", [("userid", "user000010")]), "user")
        XCTAssertEqual(try Exchange.one(simulator, .axl("removeUser") { $0.element("uuid", removed) }).status, 200)
        XCTAssertEqual(try changes(after: removal), [
            "User \(removed) r doGet=false ",
            "DeviceProfile \(profile) u doGet=false <changedTag name=\"loginUserId\"></changedTag>",
            "Phone \(phone) u doGet=false <changedTag name=\"ownerUserName\"></changedTag>",
        ])
        XCTAssertTrue(try Exchange.one(simulator, .get("getDeviceProfile", [("name", "UDP_user000010")])).text.contains("<loginUserId/>"))
    }

    /// CUPI's query `(column is|startswith value)` has no quoting: the value runs to the query's
    /// closing parenthesis, spaces and parentheses included; anything else is a 400.
    func testCUPIQueryValueRunsToTheClosingParenthesis() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 2)
        let create = "/vmrest/users?templateAlias=voicemailusertemplate"
        let answers = try Exchange.run(simulator, [
            .cupi(create, method: "POST", body: #"{"Alias":"ops (sales)","DtmfAccessId":"5001"}"#),
            .cupi(create, method: "POST", body: #"{"Alias":"ops","DtmfAccessId":"5002"}"#),
            .cupi("/vmrest/users?query=(alias%20is%20ops%20(sales))"),
            .cupi("/vmrest/users?query=%28Alias%20is%20OPS%29"),
            .cupi("/vmrest/users?query=(alias%20startswith%20ops)"),
            .cupi("/vmrest/users?query=(alias%20is%20ops%20(sales)%20)"),
            .cupi("/vmrest/users?query=alias%20is%20ops"),
            .cupi("/vmrest/users?query=(alias%20equals%20ops)"),
            .cupi("/vmrest/users?query=(nosuchcolumn%20is%20ops)"),
            .cupi("/vmrest/users?query=(alias%20is)"),
        ])
        XCTAssertEqual(answers.map(\.status), [201, 201, 200, 200, 200, 200, 400, 400, 400, 400], answers.map(\.text).joined(separator: "\n"))
        func aliases(_ answer: Answer) throws -> [String] {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
            let rows = (object["User"] as? [[String: Any]]) ?? (object["User"] as? [String: Any]).map { [$0] } ?? []
            return rows.compactMap { $0["Alias"] as? String }.sorted()
        }
        XCTAssertEqual(try aliases(answers[2]), ["ops (sales)"])
        XCTAssertEqual(try aliases(answers[3]), ["ops"], "compared without case")
        XCTAssertEqual(try aliases(answers[4]), ["ops", "ops (sales)"])
        XCTAssertEqual(try aliases(answers[5]), [], "a trailing space is part of the value")
    }

    func testCUPI() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 10)
        let answers = try Exchange.run(simulator, [
            .cupi("/vmrest/users?rowsPerPage=2&pageNumber=1"),
            .cupi("/vmrest/users?rowsPerPage=2&pageNumber=3"),
            .cupi("/vmrest/users?rowsPerPage=0"),
            .cupi("/vmrest/users?rowsPerPage=2&pageNumber=4"),
            .cupi("/vmrest/users?query=(alias%20is%20user000004)"),
            .cupi("/vmrest/coses", json: false),
            .cupi("/vmrest/users?sort=(alias%20desc)&rowsPerPage=1&pageNumber=1"),
            .cupi("/vmrest/users?templateAlias=voicemailusertemplate", method: "POST", body: "{\"Alias\":\"jdoe\",\"DtmfAccessId\":\"4001\"}"),
            .cupi("/vmrest/users?templateAlias=voicemailusertemplate", method: "POST", body: "{\"Alias\":\"nodigits\"}"),
        ])
        XCTAssertEqual(answers.map(\.status), [200, 200, 200, 200, 200, 200, 200, 201, 400])
        XCTAssertEqual((try json(answers[6])["User"] as? [String: Any])?["Alias"] as? String, "user000008")
        func json(_ answer: Answer) throws -> [String: Any] {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
        }
        XCTAssertEqual(try json(answers[0])["@total"] as? String, "5")
        XCTAssertEqual((try json(answers[0])["User"] as? [Any])?.count, 2)
        // Page 3 of 5 rows, 2 a page, holds one row: CUPI gives it as an object, not an array.
        let single = try XCTUnwrap(try json(answers[1])["User"] as? [String: Any])
        XCTAssertEqual(single["Alias"] as? String, "user000008")
        XCTAssertEqual(single["DtmfAccessId"] as? String, "1000008")
        XCTAssertEqual(try json(answers[2]).keys.sorted(), ["@total"])
        XCTAssertEqual(try json(answers[3]).keys.sorted(), ["@total"])
        XCTAssertEqual((try json(answers[4])["User"] as? [String: Any])?["Alias"] as? String, "user000004")
        XCTAssertTrue(answers[5].text.contains("<Coses total=\"5\"><Cos><URI>"), answers[5].text)
        XCTAssertTrue(answers[7].text.hasPrefix("/vmrest/users/"))
        let created = answers[7].text
        XCTAssertTrue(answers[8].text.contains("DtmfAccessId"))
        let after = try Exchange.run(simulator, [
            .cupi(created),
            .cupi(created, method: "PUT", body: "{\"DisplayName\":\"Jane Doe\"}"),
            .cupi(created, json: false),
            .cupi(created, method: "DELETE"),
            .cupi(created),
        ])
        XCTAssertEqual(after.map(\.status), [200, 204, 200, 204, 404])
        XCTAssertTrue(after[2].text.contains("<DisplayName>Jane Doe</DisplayName>"), after[2].text)
        XCTAssertTrue(after[4].text.contains("ErrorDetails") || after[4].text.contains("errors"))
        // Made again under the same alias: another user, with an ObjectId of its own.
        let again = try Exchange.one(simulator, .cupi("/vmrest/users?templateAlias=voicemailusertemplate", method: "POST",
                                                      body: "{\"Alias\":\"jdoe\",\"DtmfAccessId\":\"4001\"}"))
        XCTAssertEqual(again.status, 201)
        XCTAssertTrue(again.text.hasPrefix("/vmrest/users/") && again.text != created, "\(again.text) after \(created)")
        XCTAssertEqual(try Exchange.one(simulator, .cupi(created, method: "DELETE")).status, 404, "the old ObjectId names nothing")
    }

    func testCredentialsSessionCookieAndVersions() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 2)
        var anonymous = Request.axl("getCCMVersion")
        anonymous.authenticate = false
        let refused = try Exchange.one(simulator, anonymous)
        XCTAssertEqual(refused.status, 401)
        XCTAssertTrue(refused.text.contains("<html"))
        // A good login gets JSESSIONIDSSO; the cookie alone is then enough.
        let jar = simulator.directory + "/cookies"
        _ = try Exchange.run(simulator, [.axl("getCCMVersion")], extraCurlOptions: ["--cookie-jar", jar])
        let cookies = try String(contentsOfFile: jar, encoding: .utf8)
        XCTAssertTrue(cookies.contains("JSESSIONIDSSO"))
        let withCookie = try Exchange.run(simulator, [anonymous], extraCurlOptions: ["--cookie", jar])[0]
        XCTAssertEqual(withCookie.status, 200)
        XCTAssertTrue(withCookie.text.contains(SimulatedProductVersion.ccm))

        let versions = try Exchange.run(simulator, [
            .axl("getCCMVersion", version: AXLVersion("11.5")!),
            .axl("getCCMVersion", version: AXLVersion("10.0")!),
            .axl("getCCMVersion", version: AXLVersion("9.1")!),
            .axl("getCCMVersion", version: AXLVersion("12.5")!, soapAction: "\"CUCM:DB ver=11.5 getCCMVersion\""),
            .axl("getCCMVersion", soapAction: "\"CUCM:DB ver=12.5 listPhone\""),
        ])
        XCTAssertEqual(versions.map(\.status), [200, 200, 599, 599, 599])
        // A body sent chunked (libcurl streaming a body of unknown size) reads the same.
        var chunked = Request.get("getPhone", [("name", "SEP001122000001")])
        chunked.headers.append("Transfer-Encoding: chunked")
        let chunkedAnswer = try Exchange.one(simulator, chunked)
        XCTAssertEqual(chunkedAnswer.status, 200, chunkedAnswer.text)
        XCTAssertTrue(chunkedAnswer.text.contains("<name>SEP001122000001</name>"))
        XCTAssertTrue(versions[0].text.contains("http://www.cisco.com/AXL/API/11.5"))
        XCTAssertTrue(versions[2].text.hasPrefix("Incorrect axl version"), versions[2].text)

        let express = try DeviceSimulatorProcess.start(for: self, users: 1, arguments: ["--product", "express"])
        XCTAssertTrue(try Exchange.one(express, .axl("getCCMVersion")).text.contains(SimulatedProductVersion.express))
        XCTAssertTrue(try Exchange.one(express, .cupi("/vmrest/version/product")).text.contains("Unity Express"))
        let unity = try Exchange.one(simulator, .cupi("/vmrest/version/product")).text
        XCTAssertTrue(unity.contains("\"ProductName\":\"Cisco Unity Connection\"") && !unity.contains("Express"), unity)
    }

    func testFaultFlags() throws {
        let capture = NSTemporaryDirectory() + "ucp-devsim-capture-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: capture) }
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 12, arguments: [
            "--fault-type", "SipTrunk", "--malformed-op", "listRegion", "--max-rows", "10", "--capture-dir", capture,
        ])
        let answers = try Exchange.run(simulator, [
            .list("listSipTrunk", criteria: [("name", "%")], tags: ["name"]),
            .get("getSipTrunk", [("name", "SIP_TRUNK_01")]),
            .list("listRegion", criteria: [("name", "%")], tags: ["name"]),
            .list("listPhone", criteria: [("name", "%")], tags: ["name"], skip: 0, first: 11),
            .list("listPhone", criteria: [("name", "%")], tags: ["name"]),
            .list("listPhone", criteria: [("name", "%")], tags: ["name"], skip: 10, first: 10),
            .list("listPhone", criteria: [("name", "SEP%")], tags: ["name"], skip: 0, first: 10),
        ])
        XCTAssertEqual(answers[0].status, 500)
        XCTAssertEqual(answers[0].fault?.operation, "listSipTrunk")
        XCTAssertEqual(answers[1].fault?.operation, "getSipTrunk")
        XCTAssertEqual(answers[2].status, 200)
        XCTAssertThrowsError(try AXLFaultReader.fault(in: answers[2].body, operation: "listRegion")) { XCTAssertTrue($0 is XMLParseError) }
        XCTAssertEqual(answers[3].fault?.code, -1)
        XCTAssertEqual(answers[3].fault?.tooLarge?.totalRows, 12 + 6)
        XCTAssertEqual(answers[3].fault?.tooLarge?.suggestedRows, 10)
        XCTAssertEqual(answers[4].fault?.code, -1, "an unpaged list of 18 rows is too large too")
        XCTAssertEqual(try ItemCollector.items(answers[5], "phone").count, 8)
        XCTAssertEqual(try ItemCollector.items(answers[6], "phone").count, 10)
        let captured = try FileManager.default.contentsOfDirectory(atPath: capture).sorted()
        XCTAssertEqual(captured.count, 7)
        XCTAssertEqual(captured.first, "000001-listSipTrunk.xml")
        XCTAssertEqual(try AXLSchema.validate(directory: capture), [])

        let overloaded = try DeviceSimulatorProcess.start(for: self, users: 1, arguments: ["--rate-503", "0.5"])
        let statuses = try Exchange.run(overloaded, (0..<40).map { _ in .axl("getCCMVersion") }).map(\.status)
        XCTAssertEqual(Set(statuses), [200, 503])
        let closed = try DeviceSimulatorProcess.start(for: self, users: 1, arguments: ["--rate-503", "1"])
        XCTAssertEqual(try Exchange.run(closed, (0..<5).map { _ in .axl("getCCMVersion") }).map(\.status), [503, 503, 503, 503, 503])
        // CUPI is not throttled.
        XCTAssertEqual(try Exchange.one(closed, .cupi("/vmrest/coses")).status, 200)
    }

    func testHangAndLatency() throws {
        let hanging = try DeviceSimulatorProcess.start(for: self, users: 1, arguments: ["--hang-after", "2"])
        let answers = try Exchange.run(hanging, (0..<3).map { _ in .axl("getCCMVersion") }, timeout: 2)
        XCTAssertEqual(answers.map(\.status), [200, 200, 0])
        let slow = try DeviceSimulatorProcess.start(for: self, users: 1, arguments: ["--latency-ms", "400"])
        let started = Date()
        XCTAssertEqual(try Exchange.one(slow, .axl("getCCMVersion")).status, 200)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.4)
    }

    func testManyClientsAtOnce() throws {
        let simulator = try DeviceSimulatorProcess.start(for: self, users: 200)
        let clients = 16, perClient = 25
        let results = Mutex<[Int: [Answer]]>([:])
        DispatchQueue.concurrentPerform(iterations: clients) { client in
            let requests = (0..<perClient).map { index in
                Request.get("getPhone", [("name", UserData.phoneName((client * perClient + index) % 200))])
            }
            let answers = (try? Exchange.run(simulator, requests)) ?? []
            results.withLock { $0[client] = answers }
        }
        let all = results.withLock { $0 }
        XCTAssertEqual(all.count, clients)
        for client in 0..<clients {
            let answers = all[client] ?? []
            XCTAssertEqual(answers.map(\.status), Array(repeating: 200, count: perClient), "client \(client)")
            for (index, answer) in answers.enumerated() {
                let name = UserData.phoneName((client * perClient + index) % 200)
                XCTAssertEqual(try ItemCollector.items(answer, "phone").first?.fields["name"], name)
            }
        }
    }
}

/// The simulator's generated names, as tests expect them (kept beside the tests on purpose: a change
/// of the generator must show up here).
enum UserData {
    static func userid(_ index: Int) -> String { "user" + String(format: "%06d", index) }
    static func phoneName(_ index: Int) -> String { "SEP" + String(format: "%012lX", 0x0011_2200_0000 + index) }
}

enum SimulatedProductVersion {
    static let ccm = "12.5.1.11900(146)"
    static let express = "12.5.1.11900(146) Express"
}
