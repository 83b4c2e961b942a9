import AXL
import Synchronization

/// One CUPI collection (`/vmrest/users`, `/vmrest/usertemplates`, `/vmrest/coses`): rows of string fields
/// (ObjectId first), in a fixed order, readable from a snapshot like the AXL tables.
final class CUPITable: Sendable {
    /// The list element (`Users`) and the row element (`User`).
    let listElement: String
    let element: String
    let fields: [String]
    /// The field a POST names a row by (Alias, or DisplayName for a class of service): unique.
    let keyField: String
    private let rows = Mutex<[[String]]>([])
    /// How many rows POSTs made (each one's ObjectId is drawn from it).
    private let creations = Mutex(0)

    init(listElement: String, element: String, fields: [String], keyField: String) {
        self.listElement = listElement
        self.element = element
        self.fields = fields
        self.keyField = keyField
    }

    func snapshot() -> [[String]] { rows.withLock { $0 } }

    func load(_ new: [[String]]) { rows.withLock { $0.append(contentsOf: new) } }

    func row(_ values: [String: String]) -> [String] { fields.map { values[$0] ?? "" } }

    func value(_ row: [String], _ field: String) -> String? {
        fields.firstIndex(of: field).map { row[$0] }
    }

    /// Adds a row under an ObjectId of its own, returned; nil when its key is taken. Unity Connection
    /// gives every creation a new id, as Unified CM every add (`ObjectTable.add`): a user deleted and
    /// made again under its alias is another user. The id is drawn from the key and the table's count
    /// of creations, so the same calls give the same ids in every run.
    func add(_ values: [String: String]) -> String? {
        let key = fields.firstIndex(of: keyField)!
        var row = row(values)
        return rows.withLock { rows -> String? in
            guard !rows.contains(where: { $0[key].lowercased() == row[key].lowercased() }) else { return nil }
            let count = creations.withLock { count -> Int in
                count += 1
                return count
            }
            row[0] = CUPIData.objectId(element.lowercased(), row[key] + "\u{2}add " + String(count))
            rows.append(row)
            return row[0]
        }
    }

    func update(objectId: String, _ values: [String: String]) -> Bool {
        rows.withLock { rows in
            guard let index = rows.firstIndex(where: { $0[0] == objectId.lowercased() }) else { return false }
            for (field, value) in values {
                if let column = fields.firstIndex(of: field), column != 0 { rows[index][column] = value }
            }
            return true
        }
    }

    func remove(objectId: String) -> Bool {
        rows.withLock { rows in
            guard let index = rows.firstIndex(where: { $0[0] == objectId.lowercased() }) else { return false }
            rows.remove(at: index)
            return true
        }
    }
}

/// Unity Connection's data: classes of service, user templates, and a voicemail user for every 2nd user.
enum CUPIData {
    /// CUPI object ids: lowercase GUIDs without braces, derived like the AXL uuids.
    static func objectId(_ kind: String, _ key: String) -> String {
        String(SimulatedUUID.make("cupi." + kind, key).dropFirst().dropLast()).lowercased()
    }

    static let userFields = ["ObjectId", "Alias", "FirstName", "LastName", "DisplayName", "EmailAddress", "DtmfAccessId", "CosObjectId",
                             "IsVmEnrolled", "ListInDirectory", "Inactive"]

    static func generate(users: Int) -> [String: CUPITable] {
        let coses = CUPITable(listElement: "Coses", element: "Cos", fields: ["ObjectId", "DisplayName", "MaxMsgLength", "AccessUnifiedClient"], keyField: "DisplayName")
        let cosNames = ["Voice Mail User COS", "System", "COS_Executive", "COS_Staff", "COS_Lobby"]
        coses.load(cosNames.enumerated().map { index, name in
            coses.row(["ObjectId": objectId("cos", name), "DisplayName": name, "MaxMsgLength": String(300 + index * 60),
                       "AccessUnifiedClient": index % 2 == 0 ? "true" : "false"])
        })
        let templates = CUPITable(listElement: "UserTemplates", element: "UserTemplate", fields: ["ObjectId", "Alias", "DisplayName", "CosObjectId"], keyField: "Alias")
        let templateNames = ["voicemailusertemplate", "VMT_Site01", "VMT_Site02", "VMT_Executive", "VMT Sales & Support"]
        templates.load(templateNames.enumerated().map { index, alias in
            templates.row(["ObjectId": objectId("template", alias), "Alias": alias, "DisplayName": alias == templateNames[0] ? "Voice Mail User Template" : alias,
                           "CosObjectId": objectId("cos", cosNames[index % cosNames.count])])
        })
        let mailboxes = CUPITable(listElement: "Users", element: "User", fields: userFields, keyField: "Alias")
        var rows: [[String]] = []
        rows.reserveCapacity(users / 2 + 1)
        for index in 0..<users where UserData.hasVoicemail(index) {
            let alias = UserData.userid(index), first = UserData.firstName(index), last = UserData.lastName(index)
            rows.append(mailboxes.row([
                "ObjectId": objectId("user", alias), "Alias": alias, "FirstName": first, "LastName": last, "DisplayName": "\(first) \(last)",
                "EmailAddress": alias + "@example.com", "DtmfAccessId": UserData.directoryNumber(index),
                "CosObjectId": objectId("cos", cosNames[index % 3 == 0 ? 2 : 0]), "IsVmEnrolled": index % 4 == 0 ? "true" : "false",
                "ListInDirectory": "true", "Inactive": "false",
            ]))
        }
        mailboxes.load(rows)
        return ["users": mailboxes, "usertemplates": templates, "coses": coses]
    }
}
