import AXL
import Foundation
import Runtime
import Transport

/// One change of a `listChange` answer (AXL Data Change Notification, Unified CM 10.0 and later).
public struct AXLChange: Sendable, Equatable {
    public var id: Int64
    /// The XChangeType name (`Phone`, `Css` …), as the device spells it.
    public var type: String
    public var uuid: String
    /// `a` added, `u` updated, `r` removed.
    public var action: String
    /// True when only a `get` tells the new state (a new object, or many attributes changed).
    public var doGet: Bool
    /// The new values of the tags an update changed (when `doGet` is false).
    public var changedTags: [ChangedTag]

    public struct ChangedTag: Sendable, Equatable {
        public var name: String
        public var value: String
    }
}

/// One `listChange` answer: the queue's state and the changes it carries.
public struct AXLChangePage: Sendable {
    public var firstChangeID: Int64?
    public var lastChangeID: Int64?
    public var nextStartChangeID: Int64?
    public var queueID: String?
    public var changes: [AXLChange]

    /// "If lastChangeId ≥ nextStartChangeId, then the request was paged" (AXL developer guide): ask again.
    public var isPaged: Bool {
        guard let last = lastChangeID, let next = nextStartChangeID else { return false }
        return last >= next
    }
}

extension AXLClient {
    /// `listChange`: the changes from `start` (nil: none, the first call, whose answer gives the
    /// baseline), limited to the types of `objectList`. A fault (5007: the queue id no longer matches;
    /// or a start no longer in the cache) comes back as `AXLFault`.
    public func listChange(start: (queueID: String, changeID: Int64)?, objectList: [String]) async throws -> AXLChangePage {
        let operation = "listChange"
        let body = AXLEnvelope.request(version, operation) { writer in
            if let start {
                writer.open("startChangeId", ["queueId": start.queueID])
                writer.escaped(String(start.changeID))
                writer.close("startChangeId")
            }
            if !objectList.isEmpty {
                writer.open("objectList")
                for object in objectList { writer.element("object", object) }
                writer.close("objectList")
            }
        }
        let (status, bytes) = try await callWhole(operation, body: body)
        let reader = ChangeAnswerReader(operation: operation)
        try Self.parseWhole(bytes, status: status, operation: operation, handler: reader)
        if let fault = reader.faults.fault { throw fault }
        guard reader.sawResponse else {
            throw DeviceClientError(.malformed, operation: operation, message: "the answer holds no listChangeResponse")
        }
        return reader.page
    }
}

/// Reads a `listChange` answer: `queueInfo` and `changes/change*`, or the fault.
final class ChangeAnswerReader: XMLEventHandler {
    let faults: AXLFaultReader
    private(set) var page = AXLChangePage(changes: [])
    private(set) var sawResponse = false
    private let responseElement: String
    private var depth = 0
    private var section: String?
    private var change: AXLChange?
    private var tagName: String?

    init(operation: String) {
        responseElement = operation + "Response"
        faults = AXLFaultReader(operation: operation)
    }

    func startElement(_ name: String, namespace: String?, attributes: [XMLAttribute]) {
        depth += 1
        faults.startElement(name, namespace: namespace, attributes: attributes)
        if faults.inFault { return }
        switch depth {
        case 3 where name == responseElement: sawResponse = true
        case 4: section = name
        case 5 where section == "changes" && name == "change":
            change = AXLChange(id: 0, type: attributes["type"] ?? "", uuid: attributes["uuid"] ?? "", action: "",
                               doGet: true, changedTags: [])
        case 7 where name == "changedTag": tagName = attributes["name"]
        default: break
        }
    }

    func endElement(_ name: String, text: String) {
        defer { depth -= 1 }
        faults.endElement(name, text: text)
        if faults.inFault { return }
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        switch depth {
        case 4: section = nil
        case 5 where section == "queueInfo":
            switch name {
            case "firstChangeId": page.firstChangeID = Int64(value)
            case "lastChangeId": page.lastChangeID = Int64(value)
            case "nextStartChangeId": page.nextStartChangeID = Int64(value)
            case "queueId": page.queueID = value
            default: break
            }
        case 5 where section == "changes" && name == "change":
            if let change { page.changes.append(change) }
            change = nil
        case 6 where change != nil:
            switch name {
            case "id": change!.id = Int64(value) ?? 0
            case "action": change!.action = value.lowercased()
            case "doGet": change!.doGet = value.lowercased() != "false"
            default: break
            }
        case 7 where change != nil && name == "changedTag":
            if let tagName { change!.changedTags.append(.init(name: tagName, value: text)) }
            tagName = nil
        default: break
        }
    }
}
