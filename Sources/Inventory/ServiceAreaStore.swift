import Directory
import Foundation
import Postgres
import Queue
import Runtime

/// The service areas of the domains: every change is validated first — each Unified CM and Unity
/// Connection name against what the infrastructure synchronization read (seed: objects can only be
/// mapped after an infrastructure sync), the mask by the mask rules, DN blocks by the table's overlap
/// rule — and written with its audit line in one transaction, or refused whole (nothing written).
///
/// TODO(issue 11, item 2): refuse removal while a user service is placed in the area, once user
/// services exist (there is no table of them yet).
public struct ServiceAreaStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    // MARK: reads

    /// The service area of a domain by name (any case), or nil.
    public func serviceArea(domain: String, name: String) async throws -> ServiceArea? {
        try await connection.query(ServiceAreaSQL.serviceAreaGet, [domain, name]).first.map(ServiceArea.init(row:))
    }

    /// The service areas of one domain, or of every domain, by domain and name.
    public func serviceAreaList(domain: String? = nil) async throws -> [ServiceArea] {
        try await connection.query(ServiceAreaSQL.serviceAreaList, [domain]).map(ServiceArea.init(row:))
    }

    // MARK: changes

    @discardableResult
    public func serviceAreaAdd(_ draft: ServiceAreaDraft, actor: String) async throws -> ServiceArea {
        try Self.checkWithoutDatabase(draft)
        return try await connection.transaction { session in
            try Self.lockDomain(session, draft.domain)
            guard try session.query(ServiceAreaSQL.serviceAreaGet, [draft.domain, draft.name]).isEmpty else {
                throw Self.alreadyExists(draft)
            }
            let checked = try Self.checked(session, draft)
            let id: Int64
            do {
                id = try session.query(ServiceAreaSQL.serviceAreaInsert, checked.parameters).first!.decode("id")
            } catch let error as PostgresError where error.kind == .uniqueViolation {
                throw Self.alreadyExists(draft)
            }
            try Self.insertBlocks(session, id: id, checked)
            let area = try ServiceArea(row: try session.query(ServiceAreaSQL.serviceAreaGet, [draft.domain, draft.name]).first!)
            try Self.audit(session, actor: actor, action: "service_area.added", area: area,
                           message: "Service area '\(area.name)' of domain '\(area.domain)' added: \(Self.summary(area.settings))")
            return area
        }
    }

    /// Applies `change` to the service area's fields. Domain and name cannot change. An edit that
    /// changes nothing writes nothing.
    @discardableResult
    public func serviceAreaUpdate(domain: String, name: String, actor: String,
                                  _ change: @escaping @Sendable (inout ServiceAreaDraft) throws -> Void) async throws -> ServiceArea {
        try await connection.transaction { session in
            try Self.lockDomain(session, domain)
            guard try session.query(ServiceAreaSQL.serviceAreaLock, [domain, name]).first != nil,
                  let row = try session.query(ServiceAreaSQL.serviceAreaGet, [domain, name]).first else {
                throw Self.noSuchServiceArea(domain: domain, name: name)
            }
            let current = try ServiceArea(row: row)
            var after = current.settings
            try change(&after)
            guard after.domain == current.domain, after.name == current.name else {
                throw InputError(field: "name", problem: "a service area cannot be renamed or moved (remove it and add it again)")
            }
            try Self.checkWithoutDatabase(after)
            after = try Self.checked(session, after)
            let fields = after.changedFields(from: current.settings)
            guard !fields.isEmpty else { return current }
            // Blocks being replaced go first, so a new call processor is checked against the new blocks only.
            if fields.contains("dn_blocks") { try session.query(ServiceAreaSQL.dnBlocksDelete, [current.id]) }
            do {
                try session.query(ServiceAreaSQL.serviceAreaUpdate, after.parameters)
            } catch let error as PostgresError where error.kind == .raised {
                throw InputError(line: error.message)
            }
            if fields.contains("dn_blocks") { try Self.insertBlocks(session, id: current.id, after) }
            let area = try ServiceArea(row: try session.query(ServiceAreaSQL.serviceAreaGet, [domain, current.name]).first!)
            try Self.audit(session, actor: actor, action: "service_area.changed", area: area,
                           message: "Service area '\(area.name)' of domain '\(area.domain)' changed: \(fields.joined(separator: ", "))")
            return area
        }
    }

    /// Removes a service area and its DN blocks.
    public func serviceAreaRemove(domain: String, name: String, actor: String) async throws {
        try await connection.transaction { session in
            try Self.lockDomain(session, domain)
            guard let row = try session.query(ServiceAreaSQL.serviceAreaGet, [domain, name]).first else {
                throw Self.noSuchServiceArea(domain: domain, name: name)
            }
            let area = try ServiceArea(row: row)
            // TODO(issue 11, item 2): "cannot be removed while N user services are placed in it", here.
            try session.query(ServiceAreaSQL.serviceAreaDelete, [area.id])
            try Self.audit(session, actor: actor, action: "service_area.removed", area: area,
                           message: "Service area '\(area.name)' of domain '\(area.domain)' removed")
        }
    }

    // MARK: rules

    public static func noSuchServiceArea(domain: String, name: String) -> InputError {
        InputError(field: "service area '\(name)'", problem: "no such service area in domain '\(domain)'")
    }

    static func alreadyExists(_ draft: ServiceAreaDraft) -> InputError {
        InputError(field: "name", problem: "domain '\(draft.domain)' already has a service area named '\(draft.name)' (names are unique whatever their case)")
    }

    /// What needs no database: the name, the required fields, the mask, the DN blocks' shape.
    static func checkWithoutDatabase(_ draft: ServiceAreaDraft) throws {
        guard draft.name.range(of: "^[A-Za-z0-9 _.@-]{1,100}$", options: .regularExpression) != nil,
              !draft.name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw InputError(field: "name", problem: "'\(draft.name)' must be 1 to 100 letters, digits, spaces, '_', '-', '.' or '@'")
        }
        guard !draft.callProcessor.isEmpty else {
            throw InputError(field: "call-processor", problem: "required (a device of kind cucm)")
        }
        guard !draft.devicePool.isEmpty else {
            throw InputError(field: "device-pool", problem: "required (a DevicePool of the call processor)")
        }
        if let mask = draft.externalMask { _ = try PhoneMask(parsing: mask, field: "mask") }
        if draft.messageProcessor == nil {
            if draft.subscriberTemplate != nil { throw needsMessageProcessor("subscriber-template") }
            if draft.classOfService != nil { throw needsMessageProcessor("class-of-service") }
        }
    }

    static func needsMessageProcessor(_ field: String) -> InputError {
        InputError(field: field, problem: "is a Unity Connection object; give --message-processor too")
    }

    /// The draft with each device name checked for its kind and each object name checked against the
    /// device's inventory (and spelled as the device spells it); DN blocks without a partition take the
    /// area's first route partition (none when it has none). Locks the devices until the commit.
    static func checked(_ session: Session, _ draft: ServiceAreaDraft) throws -> ServiceAreaDraft {
        var draft = draft
        try device(session, draft.callProcessor, kind: .callProcessor, field: "call-processor")
        if let messageProcessor = draft.messageProcessor {
            try device(session, messageProcessor, kind: .messageProcessor, field: "message-processor")
        }
        let callProcessor = draft.callProcessor
        func onCallProcessor(_ name: String, _ type: String, _ field: String) throws -> String {
            try object(session, device: callProcessor, role: "call processor", type: type, name: name, field: field)
        }
        draft.devicePool = try onCallProcessor(draft.devicePool, "DevicePool", "device-pool")
        draft.location = try draft.location.map { try onCallProcessor($0, "Location", "location") }
        draft.routePartitions = try draft.routePartitions.map { try onCallProcessor($0, "RoutePartition", "partition") }
        draft.deviceCSS = try draft.deviceCSS.map { try onCallProcessor($0, "CallingSearchSpace", "device-css") }
        draft.lineCSS = try draft.lineCSS.map { try onCallProcessor($0, "CallingSearchSpace", "line-css") }
        draft.voicemailProfile = try draft.voicemailProfile.map { try onCallProcessor($0, "VoicemailProfile", "voicemail-profile") }
        if let messageProcessor = draft.messageProcessor {
            func onMessageProcessor(_ name: String, _ type: String, _ field: String) throws -> String {
                try object(session, device: messageProcessor, role: "message processor", type: type, name: name, field: field)
            }
            draft.subscriberTemplate = try draft.subscriberTemplate.map { try onMessageProcessor($0, "SubscriberTemplate", "subscriber-template") }
            draft.classOfService = try draft.classOfService.map {
                try onMessageProcessor($0, "UnifiedMessagingFeatureSpecification", "class-of-service")
            }
        }
        draft.dnBlocks = try draft.dnBlocks.map { block in
            var block = block
            let partition = block.partition ?? draft.routePartitions.first ?? ""
            block.partition = partition.isEmpty ? "" : try onCallProcessor(partition, "RoutePartition", "dn-block")
            return block
        }
        return draft
    }

    /// A device the service area names must exist and be of `kind`.
    static func device(_ session: Session, _ name: String, kind: DeviceKind, field: String) throws {
        guard let row = try session.query(ServiceAreaSQL.deviceShare, [name]).first else {
            throw InputError(field: field, problem: "no device named '\(name)' (add it with ucp device add --kind \(kind.commandName))")
        }
        let kindText: String = try row.decode("kind")
        guard kindText == kind.rawValue else {
            let title = DeviceKind(rawValue: kindText)?.title ?? kindText
            throw InputError(field: field, problem: "device '\(name)' is a \(title), not a \(kind.title) (--kind \(kind.commandName))")
        }
    }

    /// The object as the device spells it; refused when the infrastructure sync did not read it.
    static func object(_ session: Session, device: String, role: String, type: String, name: String, field: String) throws -> String {
        guard let row = try session.query(ServiceAreaSQL.infraObjectFind, [device, type, name]).first else {
            throw InputError(field: field, problem: "no \(type) '\(name)' on \(role) '\(device)' (run an infrastructure sync first)")
        }
        return try row.decode("object_key")
    }

    static func lockDomain(_ session: Session, _ domain: String) throws {
        guard try session.query(ServiceAreaSQL.domainShare, [domain]).first != nil else {
            throw DomainStore.noSuchDomain(domain)
        }
    }

    /// Inserts the blocks; the table's trigger refuses an overlap with one line naming the other block.
    static func insertBlocks(_ session: Session, id: Int64, _ draft: ServiceAreaDraft) throws {
        for block in draft.dnBlocks {
            do {
                try session.query(ServiceAreaSQL.dnBlockInsert, [id, draft.callProcessor, block.partition ?? "", block.first, block.last])
            } catch let error as PostgresError where error.kind == .raised {
                throw InputError(line: error.message)
            }
        }
    }

    /// `call processor 'cucm', device pool 'Default', partitions PT_Internal, DN blocks 4000-4999@PT_Internal`.
    static func summary(_ draft: ServiceAreaDraft) -> String {
        var parts = ["call processor '\(draft.callProcessor)'"]
        if let messageProcessor = draft.messageProcessor { parts.append("message processor '\(messageProcessor)'") }
        parts.append("device pool '\(draft.devicePool)'")
        if let location = draft.location { parts.append("location '\(location)'") }
        if !draft.routePartitions.isEmpty { parts.append("partitions \(draft.routePartitions.joined(separator: ", "))") }
        if let css = draft.deviceCSS { parts.append("device CSS '\(css)'") }
        if let css = draft.lineCSS { parts.append("line CSS '\(css)'") }
        if let mask = draft.externalMask { parts.append("mask \(mask)") }
        if let profile = draft.voicemailProfile { parts.append("voicemail profile '\(profile)'") }
        if let template = draft.subscriberTemplate { parts.append("subscriber template '\(template)'") }
        if let cos = draft.classOfService { parts.append("class of service '\(cos)'") }
        if !draft.dnBlocks.isEmpty { parts.append("DN blocks \(draft.dnBlocks.map(\.description).joined(separator: ", "))") }
        return parts.joined(separator: ", ")
    }

    private static func audit(_ session: Session, actor: String, action: String, area: ServiceArea, message: String) throws {
        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: action, target: "\(area.domain)/\(area.name)",
                                                          message: message)
    }
}
