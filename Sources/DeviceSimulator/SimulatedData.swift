import AXL
import Foundation

/// Everything the simulated Unified CM and Unity Connection hold. `generate(users:)` makes the same
/// data for the same size every time: N users, each with a phone (SEP + MAC) carrying one line (a
/// unique DN in PT_Internal); every 10th user a device profile, every 5th a remote destination profile
/// with one remote destination, every 2nd a voicemail (CUPI) user whose DtmfAccessId is the DN; and a
/// fixed set of infrastructure objects for every type of the seed's Table 1 (a few to a few dozen each,
/// VG2xx/3xx gateways, a few analog phones).
final class SimulatedData: Sendable {
    let tables: [String: ObjectTable]
    let cupi: [String: CUPITable]
    /// `executeSQLQuery` tables: column names and rows.
    let sqlTables: [String: (columns: [String], rows: [[String]])]

    init(tables: [String: ObjectTable], cupi: [String: CUPITable], sqlTables: [String: (columns: [String], rows: [[String]])]) {
        self.tables = tables
        self.cupi = cupi
        self.sqlTables = sqlTables
    }

    /// The AXL types served: every catalog type read with `list*`, once per AXL name, its fields the
    /// union of what the catalog's entries ask (kept in schema order).
    static func servedTypes() -> [(type: AXLObjectType, fields: [String])] {
        var order: [String] = []
        var byName: [String: (type: AXLObjectType, fields: [String])] = [:]
        for type in AXLCatalog.callProcessorInfrastructure + AXLCatalog.callProcessorUser {
            guard case .axlList = type.source else { continue }
            if var known = byName[type.axlName] {
                for tag in type.returnedTags where !known.fields.contains(tag) { known.fields.append(tag) }
                byName[type.axlName] = known
            } else {
                order.append(type.axlName)
                byName[type.axlName] = (type, type.returnedTags)
            }
        }
        return order.map { byName[$0]! }
    }

    /// Where the get-only collections sit in each RX type (checked against AXLSoap.xsd 12.5).
    static let collections: [String: [(name: String, before: String?)]] = [
        "Phone": [("lines", "enableExtensionMobility"), ("services", "enableExtensionMobility")],
        "DeviceProfile": [("lines", "phoneTemplateName"), ("services", nil)],
        "RemoteDestinationProfile": [("lines", "userId")],
        "User": [("associatedDevices", "primaryExtension"), ("phoneProfiles", "defaultProfile")],
        // Read only, derived from the phones and profiles that carry the line (AXLService.devicesOnLine).
        "Line": [("associatedDevices", nil)],
    ]

    /// The IP phone services (`addIpPhoneServices`, XIpPhoneServices): none on a new cluster — the
    /// Extension Mobility login service is what an order adds once per call processor (the
    /// generated device profiles name "Extension Mobility", served at the EMAppServlet either way).
    /// Fields typed `axlapi:boolean` that an object may leave unset (answered as false).
    static let booleanFields: Set<String> = ["enableExtensionMobility", "enableMobility", "homeCluster", "imAndPresenceEnable",
                                             "isMobilePhone", "enableMobileConnect", "enterpriseSubscription",
                                             "enableUserToHostConferenceNow"]

    /// The user's Conference Now fields (RUser, AXLSoap.xsd 12.5): unset on every generated user.
    static let conferenceNowFields = ["enableUserToHostConferenceNow", "attendeesAccessCode"]

    static let ipPhoneServiceFields = ["serviceName", "asciiServiceName", "serviceDescription", "serviceUrl", "serviceCategory",
                                       "serviceType", "enterpriseSubscription"]

    /// The call forwards an order's voicemail step sets on a line, in the schema's place (after
    /// routePartitionName): kept as `forwardToVoiceMail` and `callingSearchSpaceName`.
    static let lineForwards = ["callForwardBusy", "callForwardBusyInt", "callForwardNoAnswer", "callForwardNoAnswerInt",
                               "callForwardNoCoverage", "callForwardNoCoverageInt", "callForwardOnFailure",
                               "callForwardNotRegistered", "callForwardNotRegisteredInt"]

    static func withOrderFields(_ axlName: String, _ fields: [String]) -> [String] {
        // What the conferencing step writes, last in RUser (after telephoneNumber, AXLSoap.xsd 12.5).
        // With the Extension Mobility step's default profile and the presence group addUser writes,
        // after phoneProfiles and before enableMobility.
        if axlName == "User" {
            return CredentialPolicies.withFields(inserted(contentsOf: ["defaultProfile", "presenceGroupName"], before: "enableMobility", in: fields))
                + conferenceNowFields
        }
        // What the Extension Mobility and Single Number Reach steps write, in the schema's places.
        if axlName == "Phone" { return inserted("enableExtensionMobility", before: "ownerUserName", in: fields) }
        if axlName == "RemoteDestinationProfile" { return inserted("description", before: "callingSearchSpaceName", in: fields) }
        if axlName == "RemoteDestination" { return inserted("ownerUserId", before: "remoteDestinationProfileName", in: fields) }
        guard axlName == "Line", let partition = fields.firstIndex(of: "routePartitionName") else { return fields }
        var fields = fields
        fields.insert(contentsOf: lineForwards, at: partition + 1)
        return fields
    }

    static func inserted(_ field: String, before: String, in fields: [String]) -> [String] {
        inserted(contentsOf: [field], before: before, in: fields)
    }

    static func inserted(contentsOf new: [String], before: String, in fields: [String]) -> [String] {
        var fields = fields
        fields.insert(contentsOf: new, at: fields.firstIndex(of: before) ?? fields.count)
        return fields
    }

    static func generate(users: Int, homeCluster: Bool = true) -> SimulatedData {
        var tables: [String: ObjectTable] = [:]
        tables["IpPhoneServices"] = ObjectTable(axlName: "IpPhoneServices", keyTags: ["serviceName"], fields: ipPhoneServiceFields, collections: [])
        for (type, fields) in servedTypes() {
            tables[type.axlName] = ObjectTable(type: type, fields: withOrderFields(type.axlName, fields), collections: collections[type.axlName] ?? [])
        }
        for (axlName, table) in tables {
            let count = InfrastructureData.count(axlName)
            guard count > 0 else { continue }
            var memo: [String: [String: String]] = [:]
            table.load((0..<count).map { index in
                table.object(InfrastructureData.values(axlName, index), memo: &memo)
            })
        }
        UserData.load(users: users, into: tables, homeCluster: homeCluster)
        let cupi = CUPIData.generate(users: users)
        let discard = (0..<InfrastructureData.digitDiscardInstructions.count).map { index -> [String] in
            let name = InfrastructureData.digitDiscardInstructions[index]
            return [SimulatedUUID.make("DigitDiscardInstruction", name).lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "{}")),
                    name, name == "NoDigits" ? "" : name, "NANP"]
        }
        return SimulatedData(tables: tables, cupi: cupi,
                             sqlTables: ["digitdiscardinstruction": (["pkid", "name", "clause", "dialplanname"], discard)])
    }
}

/// The users and their devices, N of each kind.
enum UserData {
    static let firstNames = ["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Klara", "Liam",
                             "Mia", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sven", "Tara", "Uwe", "Vera", "Will", "Yara", "Zoe"]
    static let lastNames = ["Adams", "Baker", "Clark", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Kowalski",
                            "Lopez", "Moreau", "Nakamura", "Olsen", "Petrov", "Quintero", "Rossi", "Schmidt", "Tanaka", "Ueda",
                            "Varga", "Weber", "Xu", "Young"]
    static let departments = ["Sales", "Engineering", "Finance", "Support", "Marketing", "Operations", "Legal", "HR"]

    static func userid(_ index: Int) -> String { "user" + padded(index, 6) }
    static func directoryNumber(_ index: Int) -> String { String(1_000_000 + index) }
    static func phoneName(_ index: Int) -> String {
        let mac = String(0x0011_2200_0000 + index, radix: 16, uppercase: true)
        return "SEP" + String(repeating: "0", count: max(0, 12 - mac.count)) + mac
    }
    static func firstName(_ index: Int) -> String { firstNames[index % firstNames.count] }
    static func lastName(_ index: Int) -> String { lastNames[(index / firstNames.count) % lastNames.count] }
    static func site(_ index: Int) -> Int { index % InfrastructureData.sites + 1 }
    static func hasDeviceProfile(_ index: Int) -> Bool { index % 10 == 0 }
    static func hasRemoteDestination(_ index: Int) -> Bool { index % 5 == 2 }
    static func hasVoicemail(_ index: Int) -> Bool { index % 2 == 0 }

    static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    static func load(users count: Int, into tables: [String: ObjectTable], homeCluster: Bool = true) {
        let user = tables["User"]!, licensed = tables["LicensedUser"]!, phone = tables["Phone"]!, line = tables["Line"]!
        let profile = tables["DeviceProfile"]!, rdp = tables["RemoteDestinationProfile"]!, destination = tables["RemoteDestination"]!
        var users: [SimulatedObject] = [], licenses: [SimulatedObject] = [], phones: [SimulatedObject] = [], lines: [SimulatedObject] = []
        var profiles: [SimulatedObject] = [], rdps: [SimulatedObject] = [], destinations: [SimulatedObject] = []
        var memo: [String: [String: String]] = [:]
        func object(_ table: ObjectTable, _ values: [String: String], lines: [LineAppearance] = [], names: [String] = []) -> SimulatedObject {
            table.object(values, lines: lines, names: names, memo: &memo)
        }
        users.reserveCapacity(count); licenses.reserveCapacity(count); phones.reserveCapacity(count); lines.reserveCapacity(count)
        for index in 0..<count {
            let id = userid(index), dn = directoryNumber(index), first = firstName(index), last = lastName(index)
            let site = InfrastructureData.siteName(self.site(index))
            let appearance = [LineAppearance(index: 1, pattern: dn, partition: "PT_Internal")]
            var devices = [phoneName(index)]
            if hasDeviceProfile(index) {
                profiles.append(object(profile, [
                    "name": "UDP_" + id, "description": "\(first) \(last) EM profile", "product": "Cisco 8845", "protocol": "SIP",
                    "phoneTemplateName": "Standard 8845 SIP", "loginUserId": id,
                ], lines: appearance, names: ["Extension Mobility"]))
            }
            if hasRemoteDestination(index) {
                let rdpName = "RDP_" + id
                devices.append(rdpName)
                rdps.append(object(rdp, [
                    "name": rdpName, "callingSearchSpaceName": "CSS_Internal", "devicePoolName": "DP_" + site, "userId": id,
                ], lines: appearance))
                destinations.append(object(destination, [
                    "name": "Mobile " + id, "destination": "+1919" + padded(index, 7), "remoteDestinationProfileName": rdpName,
                    "isMobilePhone": "true", "enableMobileConnect": "true",
                ]))
            }
            users.append(object(user, [
                "firstName": first, "lastName": last, "userid": id, "mailid": id + "@example.com",
                "department": departments[index % departments.count], "primaryExtension": dn + "\u{1}PT_Internal", "presenceGroupName": "Standard Presence group",
                "enableMobility": hasRemoteDestination(index) ? "true" : "false", "status": "1", "homeCluster": homeCluster ? "true" : "false",
                "imAndPresenceEnable": homeCluster && index % 3 == 0 ? "true" : "false", "serviceProfile": index % 4 == 0 ? "SP_Jabber" : "SP_Default",
                "telephoneNumber": "+1408555" + padded(index % 10000, 4),
                "passwordCredentials": CredentialPolicies.defaultName, "pinCredentials": CredentialPolicies.defaultName,
                "enableUserToHostConferenceNow": "false",
            ], names: devices))
            licenses.append(object(licensed, [
                "userId": id, "firstName": first, "lastName": last, "snrEnabled": hasRemoteDestination(index) ? "true" : "false",
                "deviceCount": String(devices.count), "licenseType": index % 7 == 0 ? "CUWL Standard" : "Enhanced",
            ]))
            phones.append(object(phone, [
                "name": phoneName(index), "description": "\(first) \(last) desk phone", "product": "Cisco 8845", "model": "Cisco 8845",
                "protocol": "SIP", "callingSearchSpaceName": "CSS_Internal", "devicePoolName": "DP_" + site,
                "locationName": "LOC_" + site, "ownerUserName": id,
            ], lines: appearance))
            lines.append(object(line, [
                "pattern": dn, "description": "\(first) \(last)", "usage": "Device", "routePartitionName": "PT_Internal",
                "alertingName": "\(first) \(last)", "shareLineAppearanceCssName": "CSS_Internal", "voiceMailProfileName": "Default",
            ]))
        }
        // Analog ports on VG gateways: phones without lines, skipped by a sync unless analog support is on.
        for index in 0..<InfrastructureData.analogPhones {
            let product = index % 2 == 0 ? "Cisco VGC Phone" : "Analog Phone"
            let mac = String(0xA0B0_C000_0000 + index, radix: 16, uppercase: true)
            phones.append(object(phone, [
                "name": "AN" + mac + "000", "description": "Analog port \(index + 1)", "product": product, "model": product,
                "protocol": "SCCP", "callingSearchSpaceName": "CSS_Internal", "devicePoolName": "DP_Site01", "locationName": "LOC_Site01",
            ]))
        }
        user.load(users); licensed.load(licenses); phone.load(phones); line.load(lines)
        profile.load(profiles); rdp.load(rdps); destination.load(destinations)
    }
}
