import Foundation
import JobCatalog
import Postgres
import Queue
import Runtime

/// The service areas of domains: every change is validated first (names of Unified CM and Unity
/// Connection objects against what the infrastructure synchronizations read, DN blocks against the
/// other areas of the same call processor), written with its audit line in one transaction, and
/// refused whole (nothing written) when any rule fails.
public struct ServiceAreaStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    // MARK: reads

    public func serviceArea(domain: String, name: String) async throws -> ServiceArea? {
        try await connection.query(ServiceAreaSQL.serviceAreaGet, [domain, name]).first.map(ServiceArea.init(row:))
    }

    /// The areas of `domain` (every domain's when nil), by domain and name.
    public func serviceAreaList(domain: String? = nil) async throws -> [ServiceArea] {
        try await connection.query(ServiceAreaSQL.serviceAreaList, [domain]).map(ServiceArea.init(row:))
    }

    // MARK: changes

    @discardableResult
    public func serviceAreaAdd(_ draft: ServiceAreaDraft, actor: String) async throws -> ServiceArea {
        let checked = try ServiceAreaValidation.draft(draft)
        return try await connection.transaction { session in
            guard try session.query(ServiceAreaSQL.domainLock, [checked.domain]).first != nil else {
                throw DomainStore.noSuchDomain(checked.domain)
            }
            guard try session.query(ServiceAreaSQL.serviceAreaGet, [checked.domain, checked.name]).isEmpty else {
                throw Self.alreadyExists(checked)
            }
            try Self.checkAgainstInventory(session, checked)
            do {
                try session.query(ServiceAreaSQL.serviceAreaInsert, checked.parameters)
            } catch let error as PostgresError where error.kind == .uniqueViolation {
                throw Self.alreadyExists(checked)
            }
            try Self.writeParts(session, checked)
            let area = try ServiceArea(row: try session.query(ServiceAreaSQL.serviceAreaGet, [checked.domain, checked.name]).first!)
            try Self.audit(session, actor: actor, action: "service_area.added", target: Self.target(checked),
                           message: "Service area '\(checked.name)' added to domain '\(checked.domain)': \(Self.summary(checked))")
            return area
        }
    }

    /// Applies `change` to the area's settings; its domain and name cannot change. An edit that
    /// changes nothing writes nothing.
    @discardableResult
    public func serviceAreaUpdate(domain: String, name: String, actor: String,
                                  _ change: @escaping @Sendable (inout ServiceAreaDraft) throws -> Void) async throws -> ServiceArea {
        try await connection.transaction { session in
            guard try session.query(ServiceAreaSQL.serviceAreaLock, [domain, name]).first != nil,
                  let row = try session.query(ServiceAreaSQL.serviceAreaGet, [domain, name]).first else {
                throw Self.noSuchArea(domain: domain, name: name)
            }
            let current = try ServiceArea(row: row)
            var after = current.settings
            try change(&after)
            guard after.domain == domain, after.name == name else {
                throw InputError(field: "name", problem: "a service area cannot be renamed or moved (remove it and add it again)")
            }
            after = try ServiceAreaValidation.draft(after)
            let fields = after.changedFields(from: current.settings)
            guard !fields.isEmpty else { return current }
            if current.placedServices > 0, after.callProcessor != current.settings.callProcessor {
                throw InputError(field: "call_processor", problem: "cannot change while \(current.placedServices) user services are placed in service area '\(name)'")
            }
            try Self.checkAgainstInventory(session, after)
            try session.query(ServiceAreaSQL.serviceAreaUpdate, after.parameters)
            try Self.writeParts(session, after)
            let area = try ServiceArea(row: try session.query(ServiceAreaSQL.serviceAreaGet, [domain, name]).first!)
            try Self.audit(session, actor: actor, action: "service_area.changed", target: Self.target(after),
                           message: "Service area '\(name)' of domain '\(domain)' changed: \(fields.joined(separator: ", "))")
            return area
        }
    }

    /// Removes an area; refused while a user service is placed in it, and while a synchronization of
    /// its domain is queued or running (it places services in the areas it read when it started).
    public func serviceAreaRemove(domain: String, name: String, actor: String) async throws {
        try await connection.transaction { session in
            guard try session.query(ServiceAreaSQL.serviceAreaLock, [domain, name]).first != nil,
                  let row = try session.query(ServiceAreaSQL.serviceAreaGet, [domain, name]).first else {
                throw Self.noSuchArea(domain: domain, name: name)
            }
            let area = try ServiceArea(row: row)
            if let job = try QueueStore.InTransaction(session).jobUnfinished(types: [DomainSync.jobType], target: domain).first {
                throw InputError(field: "service area '\(name)'",
                                 problem: "cannot be removed while the synchronization of domain '\(domain)' (job \(job.id)) is queued or running")
            }
            guard area.placedServices == 0 else {
                throw InputError(field: "service area '\(name)'",
                                 problem: "cannot be removed while \(area.placedServices) user services are placed in it")
            }
            do {
                try session.query(ServiceAreaSQL.serviceAreaDelete, [domain, name])
            } catch let error as PostgresError where error.kind == .integrityViolation {
                // A domain synchronization placed a service since the count above.
                throw InputError(field: "service area '\(name)'", problem: "cannot be removed while user services are placed in it")
            }
            try Self.audit(session, actor: actor, action: "service_area.removed", target: "\(domain)/\(name)",
                           message: "Service area '\(name)' removed from domain '\(domain)'")
        }
    }

    // MARK: helpers

    public static func noSuchArea(domain: String, name: String) -> InputError {
        InputError(field: "service area '\(name)'", problem: "no such service area in domain '\(domain)'")
    }

    static func alreadyExists(_ draft: ServiceAreaDraft) -> InputError {
        InputError(field: "name", problem: "domain '\(draft.domain)' already has a service area named '\(draft.name)'")
    }

    static func target(_ draft: ServiceAreaDraft) -> String { "\(draft.domain)/\(draft.name)" }

    /// The devices are of the right kinds, every object named is one their infrastructure
    /// synchronization read (seed: objects can only be mapped after one), and no DN block overlaps
    /// a block of another area of the same call processor and partition.
    static func checkAgainstInventory(_ session: Session, _ draft: ServiceAreaDraft) throws {
        try device(session, draft.callProcessor, kind: .callProcessor, field: "call_processor")
        try objects(session, device: draft.callProcessor, draft.callProcessorObjects)
        if let messageProcessor = draft.messageProcessor {
            try device(session, messageProcessor, kind: .messageProcessor, field: "message_processor")
            try objects(session, device: messageProcessor, draft.messageProcessorObjects)
        }
        try session.query(ServiceAreaSQL.blocksLock)
        for block in draft.dnBlocks {
            if let other = try session.query(ServiceAreaSQL.blockOverlap, [draft.domain, draft.name, draft.callProcessor,
                                                                          block.partition, block.first, block.last]).first {
                let otherBlock = DNBlock(partition: try other.decode("partition"), first: try other.decode("first_number"),
                                         last: try other.decode("last_number"))
                let otherArea: String = try other.decode("service_area"), otherDomain: String = try other.decode("domain")
                throw InputError(field: "dn_block", problem: "\(block.text) overlaps \(otherBlock.text) of service area '\(otherArea)' (domain '\(otherDomain)') on call processor '\(draft.callProcessor)'")
            }
        }
    }

    static func device(_ session: Session, _ name: String, kind: DeviceKind, field: String) throws {
        guard let row = try session.query(ServiceAreaSQL.deviceKind, [name]).first else {
            throw InputError(field: field, problem: "no device named '\(name)' (add it with ucp device add --kind \(kind.commandName))")
        }
        let kindText: String = try row.decode("kind")
        guard kindText == kind.rawValue else {
            throw InputError(field: field, problem: "device '\(name)' is a \(DeviceKind(rawValue: kindText)?.title ?? kindText), not a \(kind.title) (--kind \(kind.commandName))")
        }
    }

    static func objects(_ session: Session, device: String, _ objects: [(field: String, type: String, name: String)]) throws {
        guard !objects.isEmpty else { return }
        let read: Bool = try session.query(ServiceAreaSQL.infraRead, [device]).first!.decode("read")
        guard read else {
            throw InputError(field: objects[0].field, problem: "'\(objects[0].name)' cannot be checked: no infrastructure synchronization of '\(device)' has run (ucp submit sync infra --device \(device))")
        }
        let missing = try session.query(ServiceAreaSQL.objectsMissing, [device, PostgresTextArray(objects.map(\.type)),
                                                                        PostgresTextArray(objects.map(\.name))])
        guard let first = missing.first else { return }
        let object = objects[Int(try first.decode("n") as Int32) - 1]
        throw InputError(field: object.field, problem: "'\(device)' has no \(object.type) named '\(object.name)' (as of its last infrastructure synchronization)")
    }

    static func writeParts(_ session: Session, _ draft: ServiceAreaDraft) throws {
        try session.query(ServiceAreaSQL.partitionsDelete, [draft.domain, draft.name])
        try session.query(ServiceAreaSQL.partitionsInsert, [draft.domain, draft.name, PostgresTextArray(draft.partitions)])
        try session.query(ServiceAreaSQL.blocksDelete, [draft.domain, draft.name])
        try session.query(ServiceAreaSQL.blocksInsert, [draft.domain, draft.name, PostgresTextArray(draft.dnBlocks.map(\.partition)),
                                                        PostgresTextArray(draft.dnBlocks.map(\.first)),
                                                        PostgresTextArray(draft.dnBlocks.map(\.last))])
    }

    /// `call processor 'CUCM1', device pool 'Default', partitions PT_A, blocks 4000-4099 in PT_A`.
    static func summary(_ draft: ServiceAreaDraft) -> String {
        var parts = ["call processor '\(draft.callProcessor)'"]
        if let messageProcessor = draft.messageProcessor { parts.append("message processor '\(messageProcessor)'") }
        parts.append("device pool '\(draft.devicePool)'")
        if !draft.partitions.isEmpty { parts.append("partitions \(draft.partitions.joined(separator: ", "))") }
        if !draft.dnBlocks.isEmpty { parts.append("DN blocks \(draft.dnBlocks.map(\.text).joined(separator: ", "))") }
        return parts.joined(separator: ", ")
    }

    private static func audit(_ session: Session, actor: String, action: String, target: String, message: String) throws {
        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: action, target: target, message: message)
    }
}
