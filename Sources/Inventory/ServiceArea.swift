import Foundation
import Postgres
import Runtime

/// A block of directory numbers `first...last` of one length in one partition ('' is the none
/// partition). Numbers are compared as text of equal length, so leading zeros count.
public struct DNBlock: Sendable, Equatable, Codable {
    public var partition: String
    public var first: String
    public var last: String

    public init(partition: String, first: String, last: String) {
        self.partition = partition
        self.first = first
        self.last = last
    }

    public func overlaps(_ other: DNBlock) -> Bool {
        partition == other.partition && first.count == other.first.count && first <= other.last && other.first <= last
    }

    /// `4000-4099` or `4000-4099 in PT_Internal`.
    public var text: String { "\(first)-\(last)" + (partition.isEmpty ? "" : " in \(partition)") }
}

/// A service area as the operator writes it (seed 004; orders-brief §B): which technology the
/// services placed in it use.
public struct ServiceAreaDraft: Sendable, Equatable {
    public var domain: String
    public var name: String
    public var callProcessor: String
    public var messageProcessor: String?
    public var devicePool: String
    public var location: String?
    public var deviceCSS: String?
    public var lineCSS: String?
    public var externalMask: String?
    public var voicemailProfile: String?
    public var unityTemplate: String?
    public var unityCOS: String?
    /// In order; the first is where new lines go.
    public var partitions: [String] = []
    public var dnBlocks: [DNBlock] = []

    public init(domain: String, name: String, callProcessor: String = "", devicePool: String = "") {
        self.domain = domain
        self.name = name
        self.callProcessor = callProcessor
        self.devicePool = devicePool
    }

    /// The Unified CM objects the area names, as (field, inventory type, name) — each must be one the
    /// call processor's infrastructure synchronization read.
    var callProcessorObjects: [(field: String, type: String, name: String)] {
        var objects: [(String, String, String)] = [("device_pool", "DevicePool", devicePool)]
        if let location { objects.append(("location", "Location", location)) }
        if let deviceCSS { objects.append(("device_css", "CallingSearchSpace", deviceCSS)) }
        if let lineCSS { objects.append(("line_css", "CallingSearchSpace", lineCSS)) }
        if let voicemailProfile { objects.append(("voicemail_profile", "VoicemailProfile", voicemailProfile)) }
        objects += partitions.map { ("partition", "RoutePartition", $0) }
        return objects
    }

    /// The Unity Connection objects the area names (subscriber template by alias, class of service by name).
    var messageProcessorObjects: [(field: String, type: String, name: String)] {
        var objects: [(String, String, String)] = []
        if let unityTemplate { objects.append(("unity_template", "SubscriberTemplate", unityTemplate)) }
        if let unityCOS { objects.append(("unity_cos", "UnifiedMessagingFeatureSpecification", unityCOS)) }
        return objects
    }

    var parameters: [any PostgresEncodable] {
        [domain, name, callProcessor, messageProcessor, devicePool, location, deviceCSS, lineCSS, externalMask,
         voicemailProfile, unityTemplate, unityCOS]
    }

    /// The names of the settings that differ from `other`, as the audit trail names them.
    func changedFields(from other: ServiceAreaDraft) -> [String] {
        var fields: [String] = []
        if callProcessor != other.callProcessor { fields.append("call_processor") }
        if messageProcessor != other.messageProcessor { fields.append("message_processor") }
        if devicePool != other.devicePool { fields.append("device_pool") }
        if location != other.location { fields.append("location") }
        if deviceCSS != other.deviceCSS { fields.append("device_css") }
        if lineCSS != other.lineCSS { fields.append("line_css") }
        if externalMask != other.externalMask { fields.append("external_mask") }
        if voicemailProfile != other.voicemailProfile { fields.append("voicemail_profile") }
        if unityTemplate != other.unityTemplate { fields.append("unity_template") }
        if unityCOS != other.unityCOS { fields.append("unity_cos") }
        if partitions != other.partitions { fields.append("partitions") }
        if dnBlocks != other.dnBlocks { fields.append("dn_blocks") }
        return fields
    }
}

/// A stored service area with how many user services are placed in it.
public struct ServiceArea: Sendable {
    public var settings: ServiceAreaDraft
    public var placedServices: Int
    public var createdAt: Date
    public var updatedAt: Date

    public var domain: String { settings.domain }
    public var name: String { settings.name }

    init(row: Row) throws {
        var draft = ServiceAreaDraft(domain: try row.decode("domain"), name: try row.decode("name"),
                                     callProcessor: try row.decode("call_processor"), devicePool: try row.decode("device_pool"))
        draft.messageProcessor = try row.decodeIfPresent("message_processor")
        draft.location = try row.decodeIfPresent("location")
        draft.deviceCSS = try row.decodeIfPresent("device_css")
        draft.lineCSS = try row.decodeIfPresent("line_css")
        draft.externalMask = try row.decodeIfPresent("external_mask")
        draft.voicemailProfile = try row.decodeIfPresent("voicemail_profile")
        draft.unityTemplate = try row.decodeIfPresent("unity_template")
        draft.unityCOS = try row.decodeIfPresent("unity_cos")
        let partitionsJSON: String = try row.decode("partitions_json")
        let blocksJSON: String = try row.decode("blocks_json")
        draft.partitions = try JSONDecoder().decode([String].self, from: Data(partitionsJSON.utf8))
        draft.dnBlocks = try JSONDecoder().decode([DNBlock].self, from: Data(blocksJSON.utf8))
        settings = draft
        placedServices = Int(try row.decode("placed_services") as Int64)
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
    }
}

/// The rules of a service area that need no database; ServiceAreaStore checks the rest (devices,
/// the objects infrastructure synchronizations read, blocks of other areas) in its transaction.
public enum ServiceAreaValidation {
    static let longestObjectName = 200

    /// Checks `draft` whole and returns it with each DN block's partition resolved (a block given
    /// without one is in the area's only partition, or the none partition when it has none).
    public static func draft(_ draft: ServiceAreaDraft) throws -> ServiceAreaDraft {
        var checked = draft
        try DomainValidation.name(draft.domain, field: "domain")
        try name(draft.name)
        try DeviceValidation.name(draft.callProcessor, field: "call_processor")
        if let messageProcessor = draft.messageProcessor { try DeviceValidation.name(messageProcessor, field: "message_processor") }
        for (field, _, value) in draft.callProcessorObjects + draft.messageProcessorObjects { try objectName(value, field: field) }
        if draft.messageProcessor == nil {
            for (field, value) in [("voicemail_profile", draft.voicemailProfile), ("unity_template", draft.unityTemplate),
                                   ("unity_cos", draft.unityCOS)] where value != nil {
                throw InputError(field: field, problem: "needs a message processor (--message-processor NAME)")
            }
        }
        if let mask = draft.externalMask, mask.range(of: #"\A[0-9X+*#]{1,24}\z"#, options: .regularExpression) == nil {
            throw InputError(field: "external_mask", problem: "\(InputError.quoted(mask)) must be 1 to 24 of the digits 0-9, X, +, * and # (e.g. 972555XXXX)")
        }
        var seen = Set<String>()
        for partition in draft.partitions where !seen.insert(partition).inserted {
            throw InputError(field: "partition", problem: "'\(partition)' is given twice")
        }
        checked.dnBlocks = try draft.dnBlocks.map { block in
            var block = block
            try number(block.first)
            try number(block.last)
            if block.first.count != block.last.count {
                throw InputError(field: "dn_block", problem: "\(block.first)-\(block.last): both ends must have the same number of digits")
            }
            if block.first > block.last {
                throw InputError(field: "dn_block", problem: "\(block.first)-\(block.last): the first number is above the last")
            }
            if block.partition.isEmpty, draft.partitions.count == 1 { block.partition = draft.partitions[0] }
            if block.partition.isEmpty, draft.partitions.count > 1 {
                throw InputError(field: "dn_block", problem: "\(block.first)-\(block.last): name its partition (FIRST-LAST:PARTITION); the area has \(draft.partitions.count)")
            }
            if !block.partition.isEmpty, !draft.partitions.contains(block.partition) {
                throw InputError(field: "dn_block", problem: "\(block.text): '\(block.partition)' is not one of the area's partitions (--partition)")
            }
            return block
        }
        for (index, block) in checked.dnBlocks.enumerated() {
            if let other = checked.dnBlocks[..<index].first(where: { $0.overlaps(block) }) {
                throw InputError(field: "dn_block", problem: "\(block.text) overlaps \(other.text)")
            }
        }
        return checked
    }

    public static func name(_ name: String) throws {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty, name.count <= 100,
              name.range(of: #"\A[A-Za-z0-9 _.@-]+\z"#, options: .regularExpression) != nil else {
            throw InputError(field: "name", problem: "\(InputError.quoted(name)) must be 1 to 100 letters, digits, spaces or _ - . @")
        }
    }

    /// `FIRST-LAST` or `FIRST-LAST:PARTITION`, as `--dn-block` takes it.
    public static func dnBlock(_ text: String) throws -> DNBlock {
        let (range, partition) = text.firstIndex(of: ":").map { (String(text[..<$0]), String(text[text.index(after: $0)...])) } ?? (text, "")
        let ends = range.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard ends.count == 2 || ends.count == 1 else {
            throw InputError(field: "dn_block", problem: "\(InputError.quoted(text)) must be FIRST-LAST or FIRST-LAST:PARTITION (e.g. 4000-4099:PT_Internal)")
        }
        if !partition.isEmpty { try objectName(partition, field: "dn_block") }
        return DNBlock(partition: partition, first: ends[0], last: ends.count == 2 ? ends[1] : ends[0])
    }

    static func number(_ text: String) throws {
        guard text.range(of: #"\A\+?[0-9]{1,24}\z"#, options: .regularExpression) != nil else {
            throw InputError(field: "dn_block", problem: "\(InputError.quoted(text)) must be a directory number: 1 to 24 digits, optionally after '+'")
        }
    }

    /// A name orders write to a device (a partition, a calling search space, a template's alias).
    static func objectName(_ value: String, field: String) throws {
        guard !value.isEmpty, value.count <= longestObjectName, !InputError.hasControlCharacters(value) else {
            throw InputError(field: field, problem: "must be a name of 1 to \(longestObjectName) characters without control characters")
        }
    }
}
