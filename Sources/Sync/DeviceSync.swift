import AXL
import DeviceClients
import Foundation
import Inventory
import Postgres
import Queue

/// The payload of `sync.infra` and `sync.user`. Empty for a real sync; the stand-in fields
/// (`seconds`, `hang`, `fail`) make it run the stand-in instead, which schedule and watchdog
/// tests use without a device. `pageSize` and `concurrency` tune the AXL reads.
public protocol DeviceSyncParameters: StandInSyncParameters {
    static var syncKind: DeviceSyncKind { get }
    var pageSize: Int? { get }
    var concurrency: Int? { get }
}

extension DeviceSyncParameters {
    var isStandIn: Bool { seconds != nil || hang != nil || fail != nil }
}

public struct InfrastructureSync: DeviceSyncParameters {
    public static let jobType = SyncType.infra.jobType
    public static let kind = SyncType.infra.kind
    public static let syncKind = DeviceSyncKind.infra
    public var seconds: Double?
    public var hang: Bool?
    public var fail: String?
    public var pageSize: Int?
    public var concurrency: Int?
}

public struct UserSync: DeviceSyncParameters {
    public static let jobType = SyncType.user.jobType
    public static let kind = SyncType.user.kind
    public static let syncKind = DeviceSyncKind.user
    public var seconds: Double?
    public var hang: Bool?
    public var fail: String?
    public var pageSize: Int?
    public var concurrency: Int?
}

/// Infrastructure and user synchronization of one device (seed 004): reads every object type the
/// catalog lists for the device's kind, page by page, into `device_objects`; marks removed what the
/// device no longer has; writes the detailed log, replacing the previous one. A type that fails
/// (an AXL fault) does not stop the others; a failure of the device itself (down, hanging,
/// answering garbage) ends the sync with the reason.
public enum DeviceSync {
    /// The setting that lets user synchronization keep analog phones (seed: `analog_phone_support`).
    public static let analogPhoneSetting = "analog_phone_support"
    public static let defaultPageSize = 1000
    public static let defaultConcurrency = 4

    @Sendable
    static func run<P: DeviceSyncParameters>(_ parameters: P, _ context: JobContext) async throws {
        if parameters.isStandIn { return try await SyncJobs.runStandIn(parameters, context) }
        guard let name = context.job.target else { throw DeviceJobFailure("device: the sync names no device") }
        try await context.database.withConnection { connection in
            try await Run(name: name, kind: P.syncKind, context: context, connection: connection,
                          pageSize: parameters.pageSize ?? defaultPageSize,
                          concurrency: parameters.concurrency ?? defaultConcurrency).start()
        }
    }

    /// The types a sync of `kind` reads from a device of `deviceKind`, or why it refuses.
    public static func plan(_ deviceKind: DeviceKind, _ kind: DeviceSyncKind) -> Result<[AXLObjectType], DeviceJobFailure> {
        switch (deviceKind, kind) {
        case (.callProcessor, .infra): return .success(AXLCatalog.callProcessorInfrastructure)
        case (.callProcessor, .user): return .success(AXLCatalog.callProcessorUser)
        case (.messageProcessor, .infra): return .success(AXLCatalog.messageProcessorInfrastructure)
        case (.messageProcessor, .user): return .success(AXLCatalog.messageProcessorUser)
        case (.presenceProcessor, .infra):
            // IM and Presence has no object of Table 1 or 2 of its own; its users come from Unified CM.
            return .success([])
        case (.presenceProcessor, .user):
            return .failure(DeviceJobFailure(
                "User synchronization is disabled for IM and Presence 9.0 and higher: user information is synchronized directly from Cisco Unified Communications Manager (seed)"))
        case (.directory, _):
            return .failure(DeviceJobFailure(
                "an LDAP directory has no infrastructure or user synchronization: its users come in with a domain's LDAP synchronization"))
        }
    }

    /// An analog phone (a VG gateway port): product "Analog Phone" or a "VGC Phone" port.
    public static func isAnalogPhone(_ item: DeviceItem) -> Bool {
        let product = (item.text("product") ?? "") + " " + (item.text("model") ?? "")
        return product.localizedCaseInsensitiveContains("analog") || product.localizedCaseInsensitiveContains("VGC Phone")
    }

    /// The outcome line, in the seed's words.
    public static func outcome(failedTypes: [String]) -> String {
        failedTypes.isEmpty ? "Completed."
            : "Completed. But the following objects could not be synchronized: [\(failedTypes.joined(separator: ", "))]"
    }
}

/// One run of a device sync.
private final class Run: @unchecked Sendable {
    let name: String
    let kind: DeviceSyncKind
    let context: JobContext
    let connection: Connection
    let objects: DeviceObjectStore
    let pageSize: Int
    let concurrency: Int
    var done: Int64 = 0
    var estimate: Int64?
    var counts: [String: Int] = [:]
    var failedTypes: [String] = []
    var warned: Set<String> = []
    var removed = 0
    var inserted = 0
    var analogSkipped = 0
    /// The page being written (see `store`).
    var writing: Task<(String, DeviceObjectStore.UpsertResult), Error>?

    init(name: String, kind: DeviceSyncKind, context: JobContext, connection: Connection, pageSize: Int, concurrency: Int) {
        self.name = name
        self.kind = kind
        self.context = context
        self.connection = connection
        objects = DeviceObjectStore(connection)
        self.pageSize = max(1, pageSize)
        self.concurrency = max(1, concurrency)
    }

    var jobID: Int64 { context.job.id }

    func start() async throws {
        let device = try await DeviceConnections.open(name: name, connection: connection, concurrency: concurrency)
        let types: [AXLObjectType]
        switch DeviceSync.plan(device.device.kind, kind) {
        case .success(let planned): types = planned
        case .failure(let refusal): throw refusal
        }
        if device.device.kind == .messageProcessor, device.device.lastTestState != .success {
            let state = device.device.lastTestState == .inProgress ? "in progress" : device.device.lastTestState.rawValue
            throw DeviceJobFailure("device '\(name)': the last connection test is \(state), not successful; a Unity Connection synchronization starts only after a successful test (run 'ucp device test \(name)')")
        }
        let previous = try await objects.deviceSyncPreviousCounts(device: name, kind: kind)
        estimate = previous.isEmpty ? nil : Int64(previous.values.reduce(0, +))
        try await objects.deviceSyncLogStart(device: name, kind: kind, job: jobID)
        do {
            try await log("info", "\(kind.title) of \(device.device.kind.title) '\(name)' started (job \(jobID))")
            try await context.progress(done: 0, total: estimate, message: "connecting to \(name)")
            switch device.device.kind {
            case .callProcessor, .presenceProcessor:
                let client = device.axl(options: .init(pageSize: pageSize), context: context)
                let version = try await client.ccmVersion()
                if DeviceConnections.isExpress(version) {
                    throw DeviceJobFailure("device '\(name)': \(version) is Cisco Unified CM Express, which is not supported (only Unified CM is synchronized)")
                }
                try await log("info", "Connected: version \(version), AXL \(client.version)")
                for type in types { try await read(type, axl: client) }
                if client.retries > 0 {
                    try await log("info", "The device was busy: \(client.retries) requests were sent again after backing off (HTTP 503 or overload)")
                }
            case .messageProcessor:
                let client = device.cupi(context: context)
                let product = try await client.product() ?? "Unity Connection"
                if DeviceConnections.isExpress(product) {
                    throw DeviceJobFailure("device '\(name)': \(product) is Cisco Unity Express, which is not supported (only Unity Connection is synchronized)")
                }
                try await log("info", "Connected: \(product)")
                try await readCUPI(types, client: client)
            case .directory:
                break // refused by the plan above
            }
            let outcome = DeviceSync.outcome(failedTypes: failedTypes)
            let total = counts.values.reduce(0, +)
            try await log("info", "Read \(total) objects (\(inserted) new, \(removed) marked removed)")
            try await log("info", outcome)
            try await objects.deviceSyncLogFinish(device: name, kind: kind, job: jobID, state: "succeeded", outcome: outcome, counts: counts)
            try await DeviceStore(connection).deviceMarkSynchronized(name: name)
            try await objects.deviceObjectsAudit(
                actor: "job \(jobID)", device: name,
                message: "\(kind.title) of '\(name)' stored \(total) objects: \(inserted) new, \(removed) marked removed")
            try await context.progress(done: done, total: done, message: outcome)
        } catch {
            _ = try? await writing?.value // the connection goes back to the pool only once no write uses it
            let canceled = (try? context.checkCancellation()) == nil
            let message = canceled ? "Canceled." : "Failed: \(DeviceJobFailure.reason(error, withOperation: true))"
            try? await log(canceled ? "warning" : "error", message)
            try? await objects.deviceSyncLogFinish(device: name, kind: kind, job: jobID, state: canceled ? "canceled" : "failed",
                                                   outcome: message, counts: counts)
            try context.checkCancellation()
            if let failure = error as? DeviceJobFailure { throw failure }
            throw DeviceJobFailure("\(kind.title) of '\(name)' failed: \(DeviceJobFailure.reason(error, withOperation: true))")
        }
    }

    func log(_ level: String, _ message: String) async throws {
        try await objects.deviceSyncLogAppend(device: name, kind: kind, level: level, message: message)
        try await context.log(message, level: level == "error" ? .error : level == "warning" ? .warning : .info)
    }

    func progress(_ type: String) async throws {
        let total = estimate.map { max($0, done) }
        try await context.progress(done: done, total: total, message: "reading \(type) (\(done) objects read)")
    }

    /// Unexpected elements are reported once per name and type.
    func warnUnexpected(_ names: Set<String>, in type: String) async throws {
        for name in names.sorted() where warned.insert("\(type)/\(name)").inserted {
            try await log("warning", "Skipped unexpected element <\(name)> in \(type)")
        }
    }

    // MARK: AXL

    func read(_ type: AXLObjectType, axl: AXLClient) async throws {
        try context.checkCancellation()
        let started = ContinuousClock.now
        let before = done
        defer {
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            if done > before {
                context.logger.debug("\(type.inventoryType): \(done - before) objects in \(String(format: "%.2f", seconds)) s")
            }
        }
        do {
            switch type.source {
            case .axlList:
                try await readList(type, axl: axl)
            case .axlSQL(let table):
                try await readSQL(type, table: table, axl: axl)
            case .unavailable(let reason):
                try await log("info", "\(type.inventoryType): not read (\(reason))")
                return
            case .cupi:
                return
            }
            try await flush()
            counts[type.inventoryType] = counts[type.inventoryType, default: 0]
            removed += try await objects.deviceObjectsMarkRemoved(device: name, kind: kind, type: type.inventoryType, job: jobID)
        } catch let fault as AXLFault {
            try await flush()
            failedTypes.append(type.inventoryType)
            try await log("warning", "\(type.inventoryType) could not be synchronized: \(fault.description)")
        }
    }

    func readList(_ type: AXLObjectType, axl: AXLClient) async throws {
        let keepAnalog = type.inventoryType == "Phone"
            ? (try await SettingsStore(connection).settingGet(DeviceSync.analogPhoneSetting, as: Bool.self) ?? false) : true
        try await axl.list(type) { page in
            var items = page.items
            try await warnUnexpected(page.unexpected, in: type.inventoryType)
            if !keepAnalog {
                let before = items.count
                items.removeAll(where: DeviceSync.isAnalogPhone)
                analogSkipped += before - items.count
            }
            if !type.getTags.isEmpty { items = try await followUp(type, items, axl: axl) }
            try await store(type, items)
        }
        if !keepAnalog, analogSkipped > 0 {
            try await log("info", "Skipped \(analogSkipped) analog phones (setting \(DeviceSync.analogPhoneSetting) is off)")
        }
    }

    /// The `get` of each listed object, several in flight (the client's lanes bound them), merged
    /// into the listed fields.
    func followUp(_ type: AXLObjectType, _ items: [DeviceItem], axl: AXLClient) async throws -> [DeviceItem] {
        let results = try await withThrowingTaskGroup(of: (Int, DeviceItem?, Set<String>).self) { group in
            var merged = items.map(Optional.some)
            var unexpected = Set<String>()
            func take(_ result: (Int, DeviceItem?, Set<String>)) {
                let (index, got, names) = result
                unexpected.formUnion(names)
                if let got {
                    merged[index]!.fields += got.fields
                } else {
                    merged[index] = nil // removed between the list and the get
                }
            }
            // A window as wide as the device's lanes: no more tasks than requests that can be in flight.
            var inFlight = 0
            for (index, item) in items.enumerated() {
                guard let uuid = item.uuid else { continue }
                if inFlight >= axl.endpoint.concurrency, let result = try await group.next() {
                    take(result)
                    inFlight -= 1
                }
                group.addTask {
                    guard let got = try await axl.get(type, uuid: uuid) else { return (index, nil, []) }
                    return (index, got.item, got.unexpected)
                }
                inFlight += 1
            }
            for try await result in group { take(result) }
            return (merged.compactMap { $0 }, unexpected)
        }
        try await warnUnexpected(results.1, in: type.inventoryType)
        return results.0
    }

    func readSQL(_ type: AXLObjectType, table: String, axl: AXLClient) async throws {
        // Constants of the catalog only: the table and column names are never input.
        let sql = "SELECT \(type.returnedTags.joined(separator: ", ")) FROM \(table)"
        let page = try await axl.sqlQuery(sql)
        try await store(type, page.items)
    }

    /// Hands a page to the writer: it is copied and upserted while the next page is read. At most
    /// one write is in flight, so memory holds two pages at most.
    func store(_ type: AXLObjectType, _ items: [DeviceItem]) async throws {
        let rows = items.map { item in
            DeviceObjectRow(type: type.inventoryType, key: item.key(type.keyTags), uuid: item.uuid, attributes: item.json)
        }
        try await flush()
        let (objects, name, kind, jobID) = (objects, name, kind, jobID)
        writing = Task {
            (type.inventoryType, try await objects.deviceObjectsUpsert(device: name, kind: kind, job: jobID, rows))
        }
    }

    /// Waits for the page being written and counts it.
    func flush() async throws {
        guard let write = writing else { return }
        writing = nil
        let (type, result) = try await write.value
        inserted += result.inserted
        counts[type, default: 0] += result.total
        done += Int64(result.total)
        try await progress(type)
    }

    // MARK: CUPI

    /// Unity types that share a resource (VoiceMailInfo, UMInfo and EmailInfo are all users) are
    /// read from it once.
    func readCUPI(_ types: [AXLObjectType], client: CUPIClient) async throws {
        var groups: [(path: String, element: String, types: [AXLObjectType])] = []
        for type in types {
            guard case .cupi(let path, let element) = type.source else { continue }
            if let index = groups.firstIndex(where: { $0.path == path }) {
                groups[index].types.append(type)
            } else {
                groups.append((path, element, [type]))
            }
        }
        for group in groups {
            try context.checkCancellation()
            do {
                try await client.list(group.path, element: group.element) { page in
                    if estimate == nil, page.total > 0 { estimate = Int64(page.total * group.types.count) }
                    for type in group.types {
                        let tags = Set(type.returnedTags)
                        let items = page.items.map { item in
                            DeviceItem(uuid: item.uuid, fields: item.fields.filter { tags.contains($0.0) })
                        }
                        try await store(type, items)
                    }
                }
                try await flush()
                for type in group.types {
                    counts[type.inventoryType] = counts[type.inventoryType, default: 0]
                    removed += try await objects.deviceObjectsMarkRemoved(device: name, kind: kind, type: type.inventoryType, job: jobID)
                }
            } catch let error as DeviceClientError where error.kind == .http {
                try await flush()
                failedTypes += group.types.map(\.inventoryType)
                try await log("warning", "\(group.types.map(\.inventoryType).joined(separator: ", ")) could not be synchronized: \(error)")
            }
        }
    }
}
