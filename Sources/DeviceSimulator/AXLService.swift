import AXL
import Foundation

/// A request element, held whole (AXL requests are small).
final class RequestNode {
    let name: String
    let namespace: String?
    let attributes: [XMLAttribute]
    var text = ""
    var children: [RequestNode] = []

    init(name: String, namespace: String?, attributes: [XMLAttribute]) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes
    }

    func child(_ name: String) -> RequestNode? { children.first { $0.name == name } }
    func value(_ name: String) -> String? { child(name)?.text }
}

/// Builds the tree of a request from the reader's events.
final class RequestTreeBuilder: XMLEventHandler {
    private var stack: [RequestNode] = []
    var root: RequestNode?

    func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) {
        let node = RequestNode(name: name, namespace: namespace, attributes: attributes)
        stack.last?.children.append(node)
        if stack.isEmpty { root = node }
        stack.append(node)
    }

    func endElement(_ name: String, text: String) {
        stack.removeLast().text = text
    }
}

/// The AXL side of the simulator: one request in, one answer out, valid against AXLSoap.xsd.
struct AXLService {
    let simulator: DeviceSimulator
    var options: SimulatorOptions { simulator.options }
    var data: SimulatedData { simulator.data }

    /// Flushes to the socket in pieces of this size; smaller answers go whole with Content-Length.
    static let chunkSize = 64 * 1024

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let builder = RequestTreeBuilder()
        let operationNode: RequestNode
        do {
            try XMLEventReader.parse(request.body, handler: builder)
            guard let body = builder.root?.child("Body"), let first = body.children.first else {
                throw XMLParseError(line: 1, message: "no SOAP body")
            }
            operationNode = first
        } catch {
            return try sendFault(AXLFault(code: -1, message: "Unable to parse the request: \(error)", operation: "unknown"),
                                 version: .latest, responder)
        }
        let operation = operationNode.name
        simulator.capture(request.body, operation: operation)
        // The version must be one we speak, named alike by the namespace and the SOAPAction.
        let supported = AXLVersion.supported.map(\.description).joined(separator: ", ")
        guard let namespace = operationNode.namespace, let version = AXLVersion(namespace: namespace), version.isSupported,
              let action = request.header("soapaction").flatMap(AXLVersion.parseSOAPAction),
              action.version == version, action.operation == operation else {
            return try responder.send(status: 599, reason: "Incorrect axl version", contentType: "text/plain",
                                      text: "Incorrect axl version. Supported axl versions: \(supported)\n")
        }
        if operation == options.malformedOperation {
            var writer = XMLWriter()
            AXLEnvelope.beginResponse(&writer, version, operation)
            writer.raw("<return><broken attribute=\"unterminated></return")
            return try responder.send(status: 200, reason: "OK", contentType: AXLEnvelope.contentType, body: writer.bytes)
        }
        let (_, typeName) = AXLService.split(operation)
        if let faultType = options.faultType, typeName.lowercased() == faultType.lowercased() {
            return try sendFault(AXLFault(code: 5000, message: "Simulated failure reading \(typeName)", operation: operation), version: version, responder)
        }
        if OrderFaults.isWrite(operation), !simulator.orderFaults.admitWrite() {
            return try responder.send(status: 503, reason: "Service Unavailable", contentType: "text/html",
                                      text: "<html><body>Service Unavailable</body></html>")
        }
        simulator.orderFaults.record(operation + (operationNode.children.isEmpty ? "" : " " + OrderFaults.rendered(operationNode.children)))
        if simulator.orderFaults.takeBusy(operation) {
            return try sendFault(AXLFault(code: -1, message: "Maximum AXL Memory Allocation Consumed. Please retry once requests in progress have completed",
                                          operation: operation), version: version, responder)
        }
        switch simulator.orderFaults.take(operation) {
        case .fail?:
            return try sendFault(AXLFault(code: 5000, message: "Simulated failure of \(operation)", operation: operation), version: version, responder)
        case .drop?: responder.dropAnswer = true
        case .stall?: usleep(UInt32(simulator.orderFaults.pauseSeconds * 1_000_000))
        case .hold?: responder.holdAnswer = simulator.orderFaults.pauseSeconds
        case .empty?: responder.emptyReturn = true
        case .remove(let key)?:
            // After the answer is made from the data as it was, before the client can ask again.
            if let table = data.tables[typeName] {
                let lookup: (ObjectTable.State) -> Int? = { $0.byKey[key.lowercased()] }
                responder.beforeAnswer = { _ = removeObject(at: lookup, from: table) }
            }
        case nil: break
        }
        guard OrderFaults.isWrite(operation) else { return try carryOut(operation, operationNode, version, responder) }
        try simulator.orderFaults.write("axl", responder) { try carryOut(operation, operationNode, version, responder) }
    }

    /// The answer to a request that passed the checks and faults.
    func carryOut(_ operation: String, _ operationNode: RequestNode, _ version: AXLVersion, _ responder: HTTPResponder) throws {
        let (verb, typeName) = AXLService.split(operation)
        let sequence = operationNode.attributes["sequence"]
        switch operation {
        case "doDeviceReset":
            return try deviceReset(operationNode, version, sequence, responder)
        case "getCCMVersion":
            var writer = XMLWriter(capacity: 512)
            AXLEnvelope.beginResponse(&writer, version, operation, sequence: sequence)
            writer.raw("<return><componentVersion>")
            writer.element("version", options.express ? SimulatedProduct.expressVersion : options.cucmVersion ?? SimulatedProduct.version)
            writer.raw("</componentVersion></return>")
            AXLEnvelope.endResponse(&writer, operation)
            return try responder.send(status: 200, reason: "OK", contentType: AXLEnvelope.contentType, body: writer.bytes)
        case "getLdapSystem":
            // XLdapSystem (AXLSoap.xsd 12.5): syncEnabled, then userIdAttribute.
            var writer = XMLWriter(capacity: 512)
            AXLEnvelope.beginResponse(&writer, version, operation, sequence: sequence)
            writer.raw("<return><ldapSystem>")
            writer.element("syncEnabled", options.ldapIntegrated ? "true" : "false")
            writer.element("userIdAttribute", "sAMAccountName")
            writer.raw("</ldapSystem></return>")
            AXLEnvelope.endResponse(&writer, operation)
            return try responder.send(status: 200, reason: "OK", contentType: AXLEnvelope.contentType, body: writer.bytes)
        case "listChange":
            return try listChange(operationNode, version, sequence, responder)
        case "executeSQLQuery":
            return try SQLService(data: data).execute(operationNode, version, sequence, responder, service: self)
        default:
            break
        }
        let newer = AXLService.introducedIn[typeName].map { version < $0 } ?? false
        guard !newer, let table = data.tables[typeName] ?? data.tables.values.first(where: { $0.axlName.lowercased() == typeName.lowercased() }),
              ["list", "get", "add", "update", "remove"].contains(verb) else {
            return try sendFault(AXLFault(code: -1, message: "No such operation '\(operation)' in AXL \(version)", operation: operation),
                                 version: version, client: true, responder)
        }
        switch verb {
        case "list": try list(table, operationNode, version, sequence, responder)
        case "get": try get(table, operationNode, version, sequence, responder)
        case "add": try add(table, operationNode, version, sequence, responder)
        case "update": try update(table, operationNode, version, sequence, responder)
        default: try remove(table, operationNode, version, sequence, responder)
        }
    }

    /// Types the older schemas lack (AXLSoap.xsd 10.0 and 10.5 have no such operations).
    static let introducedIn: [String: AXLVersion] = [
        "ConferenceNow": AXLVersion(major: 11, minor: 0), "ElinGroup": AXLVersion(major: 11, minor: 0),
        "InteractiveVoiceResponse": AXLVersion(major: 11, minor: 0), "LicensedUser": AXLVersion(major: 11, minor: 0),
    ]

    /// `listSipTrunk` → ("list", "SipTrunk").
    static func split(_ operation: String) -> (verb: String, type: String) {
        for verb in ["list", "get", "add", "update", "remove"] where operation.hasPrefix(verb) {
            return (verb, String(operation.dropFirst(verb.count)))
        }
        return ("", operation)
    }

    func sendFault(_ fault: AXLFault, version: AXLVersion, client: Bool = false, _ responder: HTTPResponder) throws {
        try responder.send(status: 500, reason: "Internal Server Error", contentType: AXLEnvelope.contentType,
                           body: AXLEnvelope.fault(fault, version: version, client: client))
    }

    // MARK: list

    private func list(_ table: ObjectTable, _ node: RequestNode, _ version: AXLVersion, _ sequence: String?, _ responder: HTTPResponder) throws {
        let operation = node.name
        guard let criteria = node.child("searchCriteria"), !criteria.children.isEmpty else {
            return try sendFault(AXLFault(code: 5003, message: "searchCriteria: at least one search criterion is required", operation: operation),
                                 version: version, responder)
        }
        let requested = node.child("returnedTags")?.children.compactMap { table.fieldIndex[$0.name] } ?? []
        let projection = requested.isEmpty ? Array(table.fields.indices) : requested.sorted()
        let first = node.value("first").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let skip = first == nil ? 0 : max(0, node.value("skip").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 0)
        let state = table.snapshot()
        let filters = criteria.children.compactMap { child -> (Int?, LikePattern)? in
            let pattern = LikePattern(child.text)
            return pattern.matchesEverything ? nil : (table.fieldIndex[child.name], pattern)
        }
        // Positions of live objects only, so that skip and first count what the list shows.
        let matched: [Int]
        if filters.isEmpty {
            matched = state.positions
        } else {
            matched = state.slots.indices.filter { position in
                guard let object = state.slots[position] else { return false }
                return filters.allSatisfy { field, pattern in field.map { pattern.matches(object.values[$0]) } ?? false }
            }
        }
        let start = min(skip, matched.count)
        let end = first.map { min(matched.count, start + max(0, $0)) } ?? matched.count
        if let maxRows = options.maxRows, end - start > maxRows {
            return try sendFault(.tooLarge(totalRows: matched.count, suggestedRows: maxRows, operation: operation), version: version, responder)
        }
        var body = StreamedBody(responder: responder)
        AXLEnvelope.beginResponse(&body.writer, version, operation, sequence: sequence)
        body.writer.raw("<return>")
        let references = ReferenceUUIDs(of: table, in: data.tables)
        for position in start..<end {
            write(state[matched[position]], of: table, fields: projection, collections: [], references: references, to: &body.writer)
            try body.flushIfFull()
        }
        body.writer.raw("</return>")
        AXLEnvelope.endResponse(&body.writer, operation)
        try body.finish()
    }

    /// One object as its item element: the fields asked, and the get-only collections where the RX type has them.
    func write(_ object: SimulatedObject, of table: ObjectTable, fields: [Int], collections: Set<String>, references: ReferenceUUIDs,
               to writer: inout XMLWriter) {
        writer.open(table.itemElement, ["uuid": object.uuid])
        var pending = table.collections.filter { collections.contains($0.name) }
        for index in fields {
            let field = table.fields[index]
            // A collection goes before its field, or before the first later field asked when that one is not.
            while let position = pending.firstIndex(where: { $0.before.flatMap { table.fieldIndex[$0] }.map { $0 <= index } ?? false }) {
                writeCollection(pending.remove(at: position).name, object, of: table, references: references, to: &writer)
            }
            let value = object.values[index]
            if field == "primaryExtension" {
                let parts = value.split(separator: "\u{1}", omittingEmptySubsequences: false).map(String.init)
                writer.open(field)
                if parts.count == 2 {
                    writer.element("pattern", parts[0])
                    writer.element("routePartitionName", parts[1])
                }
                writer.close(field)
            } else if let element = CredentialPolicies.nameElement(field) {
                writer.open(field)
                writer.element(element, value.isEmpty ? CredentialPolicies.defaultName : value)
                writer.close(field)
            } else if field.hasPrefix("callForward") {
                let parts = value.split(separator: "\u{1}", omittingEmptySubsequences: false).map(String.init)
                writer.open(field)
                writer.element("forwardToVoiceMail", parts.first.map { $0.isEmpty ? "false" : $0 } ?? "false")
                if parts.count == 2, !parts[1].isEmpty { writer.element("callingSearchSpaceName", parts[1]) } else { writer.empty("callingSearchSpaceName") }
                writer.close(field)
            } else if value.isEmpty, SimulatedData.booleanFields.contains(field) {
                // Never set: the schema's default (an empty boolean fails its type's pattern).
                writer.element(field, "false")
            } else if value.isEmpty {
                writer.empty(field)
            } else if !object.references[index].isEmpty {
                writer.element(field, value, uuid: references.uuid(field: index, of: object))
            } else {
                writer.element(field, value)
            }
        }
        for collection in pending { writeCollection(collection.name, object, of: table, references: references, to: &writer) }
        if options.unknownElements {
            writer.element("devsimUnknownElement", "not in the schema")
        }
        writer.close(table.itemElement)
    }

    private func writeCollection(_ name: String, _ object: SimulatedObject, of table: ObjectTable, references: ReferenceUUIDs,
                                 to writer: inout XMLWriter) {
        writer.open(name)
        switch name {
        case "lines":
            for line in object.lines {
                writer.raw("<line><index>\(line.index)</index><dirn>")
                writer.element("pattern", line.pattern)
                writer.element("routePartitionName", line.partition, uuid: references.partitionUUID(of: line))
                writer.raw("</dirn>")
                if !line.e164Mask.isEmpty { writer.element("e164Mask", line.e164Mask) }
                writer.raw("</line>")
            }
        case "services":
            let services = data.tables["IpPhoneServices"]?.snapshot()
            let urlField = data.tables["IpPhoneServices"]?.fieldIndex["serviceUrl"]
            for service in table.list(name, of: object) {
                writer.raw("<service>")
                let known = services.flatMap { state in state.byKey[service.lowercased()].map { state[$0] } }
                writer.element("telecasterServiceName", service, uuid: known?.uuid ?? SimulatedUUID.make("IpPhoneServices", service))
                writer.element("name", service)
                // The service's own URL; else Extension Mobility is the EMAppServlet every cluster
                // serves, and any other service has a URL of its own.
                if let known, let urlField, !known.values[urlField].isEmpty {
                    writer.element("url", known.values[urlField])
                } else {
                    writer.element("url", service == "Extension Mobility" ? "http://cucm.example.com:8080/emapp/EMAppServlet?device=#DEVICENAME#"
                                          : "http://cucm.example.com:8080/ccmcip/service.jsp?name=" + service.filter { $0.isLetter || $0.isNumber })
                }
                writer.raw("</service>")
            }
        case "phoneProfiles":
            for profile in table.list(name, of: object) { writer.element("profileName", profile) }
        case "associatedDevices" where table.axlName == "Line":
            for device in devicesOnLine(object, of: table) { writer.element("device", device) }
        default:
            for device in table.list(name, of: object) { writer.element("device", device) }
        }
        writer.close(name)
    }

    /// The phones, device profiles and remote destination profiles that carry `line` (a line's
    /// read-only `associatedDevices`): a scan, made only when a get asks for them.
    func devicesOnLine(_ line: SimulatedObject, of table: ObjectTable) -> [String] {
        guard let patternField = table.fieldIndex["pattern"], let partitionField = table.fieldIndex["routePartitionName"] else { return [] }
        let pattern = line.values[patternField], partition = line.values[partitionField].lowercased()
        var devices: [String] = []
        for type in ["Phone", "DeviceProfile", "RemoteDestinationProfile"] {
            guard let carriers = data.tables[type], let name = carriers.keyFields.first else { continue }
            for device in carriers.snapshot().objects
            where device.lines.contains(where: { $0.pattern == pattern && $0.partition.lowercased() == partition }) {
                devices.append(device.values[name])
            }
        }
        return devices
    }

    // MARK: get, add, update, remove

    /// The object a get/update/remove names: by uuid, or by the type's key (name, or a compound key).
    func lookup(_ table: ObjectTable, _ node: RequestNode) -> (ObjectTable.State) -> Int? {
        if let uuid = node.value("uuid") {
            let normalized = SimulatedUUID.normalized(uuid)
            return { $0.byUUID[normalized] }
        }
        var parts = table.keyFields.map { node.value(table.fields[$0]) }
        if parts.count == 1, parts[0] == nil { parts[0] = node.value("name") }
        let key = parts.map { ($0 ?? "").lowercased() }.joined(separator: "\u{1}")
        return { $0.byKey[key] }
    }

    private func notFound(_ table: ObjectTable, _ operation: String) -> AXLFault {
        AXLFault(code: 5007, message: "Item not valid: The specified \(table.axlName) was not found", operation: operation)
    }

    private func get(_ table: ObjectTable, _ node: RequestNode, _ version: AXLVersion, _ sequence: String?, _ responder: HTTPResponder) throws {
        let state = table.snapshot()
        guard let index = lookup(table, node)(state) else {
            return try sendFault(notFound(table, node.name), version: version, responder)
        }
        // No returnedTags (or an empty one) means everything; otherwise the fields and collections named.
        let asked = node.child("returnedTags")?.children.map(\.name) ?? []
        let fields = asked.isEmpty ? Array(table.fields.indices) : asked.compactMap { table.fieldIndex[$0] }.sorted()
        let collections = Set(table.collections.map(\.name).filter { asked.isEmpty || asked.contains($0) })
        var writer = XMLWriter(capacity: 2048)
        AXLEnvelope.beginResponse(&writer, version, node.name, sequence: sequence)
        writer.raw("<return>")
        write(state[index], of: table, fields: fields, collections: collections, references: ReferenceUUIDs(of: table, in: data.tables),
              to: &writer)
        writer.raw("</return>")
        AXLEnvelope.endResponse(&writer, node.name)
        try responder.send(status: 200, reason: "OK", contentType: AXLEnvelope.contentType, body: writer.bytes)
    }

    /// Field values, lines and names given in an add or update element.
    private func changes(in node: RequestNode, of table: ObjectTable) -> (values: [Int: String], lines: [LineAppearance]?, lists: [String: [String]]) {
        var values: [Int: String] = [:]
        var lines: [LineAppearance]?
        var lists: [String: [String]] = [:]
        for child in node.children {
            var field = child.name
            if field.hasPrefix("new"), field.count > 3 {
                let rest = field.dropFirst(3)
                field = rest.prefix(1).lowercased() + rest.dropFirst()
            }
            if field == "primaryExtension", let index = table.fieldIndex[field] {
                values[index] = (child.value("pattern") ?? "") + "\u{1}" + (child.value("routePartitionName") ?? "")
            } else if let element = CredentialPolicies.nameElement(field), let index = table.fieldIndex[field] {
                if let name = child.value(element) { values[index] = name }
            } else if field.hasPrefix("callForward"), let index = table.fieldIndex[field] {
                values[index] = (child.value("forwardToVoiceMail") ?? "") + "\u{1}" + (child.value("callingSearchSpaceName") ?? "")
            } else if let index = table.fieldIndex[field] {
                values[index] = child.text
            } else if child.name == "lines" {
                lines = child.children.filter { $0.name == "line" }.enumerated().map { LineAppearance($1, position: $0) }
            } else if child.name == "services", table.collections.contains(where: { $0.name == "services" }) {
                lists["services"] = child.children.map { $0.value("telecasterServiceName") ?? $0.value("name") ?? "" }
            } else if ["associatedDevices", "phoneProfiles"].contains(child.name), table.axlName != "Line",
                      table.collections.contains(where: { $0.name == child.name }) {
                lists[child.name] = child.children.map(\.text)
            }
        }
        return (values, lines, lists)
    }

    private func add(_ table: ObjectTable, _ node: RequestNode, _ version: AXLVersion, _ sequence: String?, _ responder: HTTPResponder) throws {
        guard let item = node.child(table.itemElement) else {
            return try sendFault(AXLFault(code: 5003, message: "\(table.itemElement) is required", operation: node.name), version: version, responder)
        }
        var given = changes(in: item, of: table)
        if table.axlName == "User" { given.values = CredentialPolicies.onAdd(given.values, table) }
        var row = [String](repeating: "", count: table.fields.count)
        for (index, value) in given.values { row[index] = value }
        // The first key field names the object; the others may be empty (a line in the None partition).
        guard table.keyFields.first.map({ !row[$0].isEmpty }) ?? true else {
            let missing = table.keyFields.map { table.fields[$0] }.joined(separator: ", ")
            return try sendFault(AXLFault(code: 5003, message: "\(missing) is required", operation: node.name), version: version, responder)
        }
        if table.axlName == "Phone", let name = table.keyFields.first.map({ row[$0] }),
           !Self.phoneNameFits(name, product: table.fieldIndex["product"].map { row[$0] } ?? "") {
            return try sendFault(AXLFault(code: 5003, message: "The specified name has invalid characters or is not formatted correctly for this device type",
                                          operation: node.name), version: version, responder)
        }
        var memo: [String: [String: String]] = [:]
        var lists = given.lists
        let names = table.primaryList.flatMap { lists.removeValue(forKey: $0) } ?? []
        let made = table.object(row: row, lines: given.lines ?? [], names: names, lists: lists, memo: &memo)
        let added = table.axlName == "User" ? simulator.userLifecycle.withLock { _ in addRecorded(made, to: table) } : addRecorded(made, to: table)
        guard let object = added else {
            return try sendFault(AXLFault(code: -239, message: "Could not insert new row - duplicate value in a UNIQUE INDEX column (Unique Index:).",
                                          operation: node.name), version: version, client: true, responder)
        }
        try responder.send(status: 200, reason: "OK", contentType: AXLEnvelope.contentType,
                           body: AXLEnvelope.standardResponse(version, node.name, returning: responder.emptyReturn ? "" : object.uuid, sequence: sequence))
    }

    private func update(_ table: ObjectTable, _ node: RequestNode, _ version: AXLVersion, _ sequence: String?, _ responder: HTTPResponder) throws {
        let given = changes(in: node, of: table)
        if table.axlName == "User", let problem = CredentialPolicies.unknown(in: given.values, table) {
            return try sendFault(AXLFault(code: 5007, message: problem, operation: node.name), version: version, responder)
        }
        var added: [LineAppearance] = [], removed: [String] = []
        for line in node.child("addLines")?.children ?? [] { added.append(LineAppearance(line, position: 0)) }
        for line in node.child("removeLines")?.children ?? [] { removed.append(line.child("dirn")?.value("pattern") ?? "") }
        var memo: [String: [String: String]] = [:]
        var before: [String] = []
        let updated = table.update(at: lookup(table, node)) { old in
            before = old.values
            var row = old.values
            for (index, value) in given.values { row[index] = value }
            var lines = given.lines ?? old.lines
            lines.removeAll { removed.contains($0.pattern) }
            lines.append(contentsOf: added)
            var lists = old.lists
            var names = old.names
            for (collection, given) in given.lists {
                if collection == table.primaryList { names = given } else { lists[collection] = given }
            }
            return table.object(row: row, uuid: old.uuid, lines: lines, names: names, lists: lists, memo: &memo)
        }
        guard let updated else {
            return try sendFault(notFound(table, node.name), version: version, responder)
        }
        // Changed tags: the fields whose value the update changed (not the key that named the object).
        let tags = given.values.keys.sorted().filter { before.indices.contains($0) && before[$0] != updated.values[$0] }
            .map { (name: table.fields[$0], value: updated.values[$0]) }
        // Lines, services or devices changed too, or a field with parts (primaryExtension, a call
        // forward): only a get tells them (doGet). So for more than one attribute: Unified CM sets doGet
        // "when multiple attributes changed" (AXL developer guide; orders brief §C.1).
        let collections = given.lines != nil || !given.lists.isEmpty || !added.isEmpty || !removed.isEmpty
            || tags.contains { $0.value.contains("\u{1}") }
        let getNeeded = collections || tags.count > 1
        simulator.changes.record(type: table.axlName, uuid: updated.uuid, action: "u", changedTags: getNeeded ? [] : tags,
                                 doGet: getNeeded)
        try responder.send(status: 200, reason: "OK", contentType: AXLEnvelope.contentType,
                           body: AXLEnvelope.standardResponse(version, node.name, returning: updated.uuid, sequence: sequence))
    }

    /// `doDeviceReset`: the phone named must exist; nothing else changes.
    private func deviceReset(_ node: RequestNode, _ version: AXLVersion, _ sequence: String?, _ responder: HTTPResponder) throws {
        let name = node.value("deviceName") ?? ""
        let state = data.tables["Phone"]?.snapshot()
        guard let state, let index = state.byKey[name.lowercased()] else {
            return try sendFault(AXLFault(code: 5007, message: "Item not valid: The specified Device was not found", operation: node.name),
                                 version: version, responder)
        }
        let uuid = state[index].uuid
        try responder.send(status: 200, reason: "OK", contentType: AXLEnvelope.contentType,
                           body: AXLEnvelope.standardResponse(version, node.name, returning: uuid, sequence: sequence))
    }

    private func remove(_ table: ObjectTable, _ node: RequestNode, _ version: AXLVersion, _ sequence: String?, _ responder: HTTPResponder) throws {
        guard let removed = removeObject(at: lookup(table, node), from: table) else {
            return try sendFault(notFound(table, node.name), version: version, responder)
        }
        try responder.send(status: 200, reason: "OK", contentType: AXLEnvelope.contentType,
                           body: AXLEnvelope.standardResponse(version, node.name, returning: removed.uuid, sequence: sequence))
    }

    /// Removes an object as `remove<Type>` does (a user is cleared from its devices); nil: no such object.
    func removeObject(at position: (ObjectTable.State) -> Int?, from table: ObjectTable) -> SimulatedObject? {
        guard table.axlName == "User" else { return removeRecorded(at: position, from: table) }
        return simulator.userLifecycle.withLock { _ in removeRecorded(at: position, from: table).map { removed in
            clearUser(table.key(of: removed.values))
            return removed
        } }
    }

    /// Unified CM's naming of the devices orders add: a Cisco desk phone (`Cisco 8845` …) is named
    /// `SEP` and its MAC address; Jabber for desktop `CSF` and up to 12 letters or digits. Other
    /// products are not checked here.
    static func phoneNameFits(_ name: String, product: String) -> Bool {
        if product == "Cisco Unified Client Services Framework" {
            return name.range(of: #"\ACSF[A-Za-z0-9]{1,12}\z"#, options: .regularExpression) != nil
        }
        if product.range(of: #"\ACisco [0-9]{4}\z"#, options: .regularExpression) != nil {
            return name.range(of: #"\ASEP[0-9A-Fa-f]{12}\z"#, options: .regularExpression) != nil
        }
        return true
    }

    /// Adds the object and records the addition in the change queue (nil: its key is taken).
    private func addRecorded(_ object: SimulatedObject, to table: ObjectTable) -> SimulatedObject? {
        guard let added = table.add(object) else { return nil }
        simulator.changes.record(type: table.axlName, uuid: added.uuid, action: "a")
        return added
    }

    /// Removes the object and records the removal in the change queue (nil: no such object).
    private func removeRecorded(at position: (ObjectTable.State) -> Int?, from table: ObjectTable) -> SimulatedObject? {
        guard let removed = table.remove(at: position) else { return nil }
        simulator.changes.record(type: table.axlName, uuid: removed.uuid, action: "r")
        return removed
    }

    /// What Unified CM does to the devices of a user it removes: those naming the user as owner or
    /// login user name it no more, each change an update in the change queue (the fields cleared its
    /// changed tags, empty), as its change notification tells it.
    private func clearUser(_ user: String) {
        for table in data.tables.values.sorted(by: { $0.axlName < $1.axlName }) {
            for (object, fields) in table.clearUser(user) {
                simulator.changes.record(type: table.axlName, uuid: object.uuid, action: "u",
                                         changedTags: fields.map { (name: table.fields[$0], value: "") })
            }
        }
    }

    // MARK: listChange

    private func listChange(_ node: RequestNode, _ version: AXLVersion, _ sequence: String?, _ responder: HTTPResponder) throws {
        let log = simulator.changes
        var start: Int?
        let startNode = node.child("startChangeId")
        if let startNode { start = Int(startNode.text.trimmingCharacters(in: .whitespaces)) }
        let types = Set((node.child("objectList")?.children ?? []).map { $0.text.lowercased() })
        guard let page = log.page(queueId: startNode.map { $0.attributes["queueId"] ?? "" }, from: start, types: types,
                                  limit: options.changePageSize) else {
            return try sendFault(AXLFault(code: 5007, message: "The queueId value does not match the server. This indicates that it is either incorrect or the server restarted and a full sync is needed.",
                                          operation: node.name), version: version, responder)
        }
        if page.lost {
            return try sendFault(AXLFault(code: 5007, message: "The requested changes are no longer in the change cache; a full sync is needed.",
                                          operation: node.name), version: version, responder)
        }
        log.gate.pass()
        var body = StreamedBody(responder: responder)
        AXLEnvelope.beginResponse(&body.writer, version, node.name, sequence: sequence)
        body.writer.raw("<queueInfo>")
        if !(options.emptyQueueUnnumbered && page.isEmpty) {
            body.writer.raw("<firstChangeId>\(page.firstChangeId)</firstChangeId><lastChangeId>\(page.lastChangeId)</lastChangeId><nextStartChangeId>\(page.nextStartChangeId)</nextStartChangeId>")
        }
        body.writer.element("queueId", page.queueId)
        body.writer.raw("</queueInfo><changes>")
        for change in page.changes {
            body.writer.open("change", ["type": change.type, "uuid": change.uuid])
            body.writer.raw("<id>\(change.id)</id>")
            body.writer.element("action", change.action)
            body.writer.element("doGet", change.doGet ? "true" : "false")
            body.writer.open("changedTags")
            for tag in change.changedTags {
                body.writer.open("changedTag", ["name": tag.name])
                body.writer.escaped(tag.value)
                body.writer.close("changedTag")
            }
            body.writer.close("changedTags")
            body.writer.close("change")
            try body.flushIfFull()
        }
        body.writer.raw("</changes>")
        AXLEnvelope.endResponse(&body.writer, node.name)
        try body.finish()
    }
}

extension LineAppearance {
    /// A `line` of a request: index (else its position), dirn pattern and partition, e164 mask.
    init(_ line: RequestNode, position: Int) {
        self.init(index: line.value("index").flatMap { Int($0) } ?? position + 1,
                  pattern: line.child("dirn")?.value("pattern") ?? "",
                  partition: line.child("dirn")?.value("routePartitionName") ?? "",
                  e164Mask: line.value("e164Mask") ?? "")
    }
}

/// An answer body that goes whole (Content-Length) while small, and as a chunked stream once it grows.
struct StreamedBody {
    let responder: HTTPResponder
    var writer = XMLWriter(capacity: AXLService.chunkSize + 4096)
    private var stream: HTTPStream?

    init(responder: HTTPResponder) {
        self.responder = responder
    }

    mutating func flushIfFull() throws {
        guard writer.count >= AXLService.chunkSize else { return }
        if stream == nil {
            stream = try responder.beginStream(status: 200, reason: "OK", contentType: AXLEnvelope.contentType)
        }
        try stream!.write(writer.take())
    }

    mutating func finish() throws {
        if let stream {
            try stream.write(writer.take())
            try stream.finish()
        } else {
            try responder.send(status: 200, reason: "OK", contentType: AXLEnvelope.contentType, body: writer.bytes)
        }
    }
}

/// An AXL searchCriteria value: SQL-style `%` wildcards, compared without case.
struct LikePattern {
    let parts: [String]
    let matchesEverything: Bool

    init(_ text: String) {
        let lower = text.lowercased()
        parts = lower.components(separatedBy: "%")
        matchesEverything = !lower.isEmpty && lower.allSatisfy { $0 == "%" }
    }

    func matches(_ value: String) -> Bool {
        if parts.count == 1 { return value.lowercased() == parts[0] }
        var rest = Substring(value.lowercased())
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return rest.hasSuffix(parts.last!)
    }
}
