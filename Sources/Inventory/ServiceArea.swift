import Directory
import Foundation
import Postgres
import Runtime

/// A block of directory numbers of a service area: digit strings of one length, in a route partition
/// (`""` is Unified CM's <None> partition).
public struct DNBlock: Sendable, Hashable, CustomStringConvertible {
    public var first: String
    public var last: String
    /// The route partition; nil until the store resolves it (the service area's first partition, or none).
    public var partition: String?

    public static let longestNumber = 24

    public init(first: String, last: String, partition: String?) {
        self.first = first
        self.last = last
        self.partition = partition
    }

    /// `FIRST-LAST[@PARTITION]`, e.g. `4000-4999@PT_Internal`; a single number is a block of one.
    public init(parsing text: String, field: String = "dn-block") throws(InputError) {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let range = parts[0].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let first = range[0], last = range.count > 1 ? range[1] : range[0]
        func isNumber(_ text: String) -> Bool {
            !text.isEmpty && text.count <= Self.longestNumber && text.allSatisfy { $0.isASCII && $0.isNumber }
        }
        guard isNumber(first), isNumber(last) else {
            throw InputError(field: field, problem: "'\(text)' must be FIRST-LAST[@PARTITION] with numbers of 1 to \(Self.longestNumber) digits (e.g. 4000-4999@PT_Internal)")
        }
        guard first.count == last.count else {
            throw InputError(field: field, problem: "'\(text)': first and last number must have the same number of digits")
        }
        guard first <= last else {
            throw InputError(field: field, problem: "'\(text)': the first number is greater than the last")
        }
        if parts.count > 1, parts[1].isEmpty {
            throw InputError(field: field, problem: "'\(text)': no partition after '@'")
        }
        self.init(first: first, last: last, partition: parts.count > 1 ? String(parts[1]) : nil)
    }

    /// `4000-4999@PT_Internal`, or `4000-4999` in the <None> partition.
    public var description: String {
        let range = first == last ? first : "\(first)-\(last)"
        guard let partition, !partition.isEmpty else { return range }
        return "\(range)@\(partition)"
    }
}

/// The fields an operator sets on a service area.
public struct ServiceAreaDraft: Sendable, Equatable {
    public var domain: String
    public var name: String
    public var callProcessor: String
    public var messageProcessor: String?
    public var devicePool: String
    public var location: String?
    public var routePartitions: [String]
    public var deviceCSS: String?
    public var lineCSS: String?
    public var externalMask: String?
    public var voicemailProfile: String?
    public var subscriberTemplate: String?
    public var classOfService: String?
    public var dnBlocks: [DNBlock]

    public init(domain: String, name: String, callProcessor: String = "", messageProcessor: String? = nil,
                devicePool: String = "", location: String? = nil, routePartitions: [String] = [], deviceCSS: String? = nil,
                lineCSS: String? = nil, externalMask: String? = nil, voicemailProfile: String? = nil,
                subscriberTemplate: String? = nil, classOfService: String? = nil, dnBlocks: [DNBlock] = []) {
        self.domain = domain
        self.name = name
        self.callProcessor = callProcessor
        self.messageProcessor = messageProcessor
        self.devicePool = devicePool
        self.location = location
        self.routePartitions = routePartitions
        self.deviceCSS = deviceCSS
        self.lineCSS = lineCSS
        self.externalMask = externalMask
        self.voicemailProfile = voicemailProfile
        self.subscriberTemplate = subscriberTemplate
        self.classOfService = classOfService
        self.dnBlocks = dnBlocks
    }

    /// The names of the fields that differ from `other`, as the audit trail names them.
    func changedFields(from other: ServiceAreaDraft) -> [String] {
        var fields: [String] = []
        if callProcessor != other.callProcessor { fields.append("call_processor") }
        if messageProcessor != other.messageProcessor { fields.append("message_processor") }
        if devicePool != other.devicePool { fields.append("device_pool") }
        if location != other.location { fields.append("location") }
        if routePartitions != other.routePartitions { fields.append("route_partitions") }
        if deviceCSS != other.deviceCSS { fields.append("device_css") }
        if lineCSS != other.lineCSS { fields.append("line_css") }
        if externalMask != other.externalMask { fields.append("external_mask") }
        if voicemailProfile != other.voicemailProfile { fields.append("voicemail_profile") }
        if subscriberTemplate != other.subscriberTemplate { fields.append("subscriber_template") }
        if classOfService != other.classOfService { fields.append("class_of_service") }
        if Set(dnBlocks) != Set(other.dnBlocks) { fields.append("dn_blocks") }
        return fields
    }

    /// `$1`…`$13` of the insert and update statements.
    var parameters: [any PostgresEncodable] {
        [domain, name, callProcessor, messageProcessor, devicePool, location, PostgresTextArray(routePartitions), deviceCSS,
         lineCSS, externalMask, voicemailProfile, subscriberTemplate, classOfService]
    }
}

/// A stored service area (migrations/016_service_areas.sql).
public struct ServiceArea: Sendable, Equatable {
    public var id: Int64
    public var settings: ServiceAreaDraft
    public var createdAt: Date
    public var updatedAt: Date

    public var domain: String { settings.domain }
    public var name: String { settings.name }

    init(row: Row) throws {
        func decodeJSON<T: Decodable>(_ column: String, as type: T.Type) throws -> T {
            let text: String = try row.decode(column)
            do {
                return try JSONDecoder().decode(T.self, from: Data(text.utf8))
            } catch {
                throw PostgresError(kind: .decoding, message: "service_areas.\(column): not the stored JSON shape")
            }
        }
        id = try row.decode("id")
        settings = ServiceAreaDraft(
            domain: try row.decode("domain"), name: try row.decode("name"), callProcessor: try row.decode("call_processor"),
            messageProcessor: try row.decodeIfPresent("message_processor"), devicePool: try row.decode("device_pool"),
            location: try row.decodeIfPresent("location"),
            routePartitions: try decodeJSON("route_partitions_json", as: [String].self),
            deviceCSS: try row.decodeIfPresent("device_css"), lineCSS: try row.decodeIfPresent("line_css"),
            externalMask: try row.decodeIfPresent("external_mask"), voicemailProfile: try row.decodeIfPresent("voicemail_profile"),
            subscriberTemplate: try row.decodeIfPresent("subscriber_template"),
            classOfService: try row.decodeIfPresent("class_of_service"),
            dnBlocks: try decodeJSON("dn_blocks_json", as: [[String]].self).map { block in
                DNBlock(first: block[0], last: block[1], partition: block[2])
            })
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
    }
}
