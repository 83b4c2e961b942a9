import AXL
import DeviceClients
import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime
import Synchronization

/// Infrastructure and user synchronization of one device (seed 004): reads every object type the
/// catalog lists for the device's kind, page by page, into `device_objects`; marks removed what the
/// device no longer has; writes the detailed log, replacing the previous one. A type that fails
/// (an AXL fault) does not stop the others; a failure of the device itself (down, hanging,
/// answering garbage) ends the sync with the reason.
public enum DeviceSync {
    /// The setting that lets user synchronization keep analog phones (seed: `analog_phone_support`).
    public static let analogPhoneSetting = SettingsStore.analogPhoneSupport
    public static let defaultPageSize = 1000
    public static let defaultConcurrency = 4

    @Sendable
    static func run<P: DeviceSyncParameters>(_ parameters: P, _ context: JobContext) async throws {
        guard let name = context.job.target else { throw DeviceJobFailure("device: the sync names no device") }
        try await context.database.withConnection { connection in
            try await Run(name: name, kind: P.syncType == .infra ? .infra : .user, context: context, connection: connection,
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
        // ASCII case folding is enough for the two markers, and cheap: every listed phone is checked.
        let product = (item.text("product") ?? "") + " " + (item.text("model") ?? "")
        return containsIgnoringCase(product, "analog") || containsIgnoringCase(product, "vgc phone")
    }

    /// Whether `text` contains `marker` (lowercase ASCII), ASCII letters compared without case.
    static func containsIgnoringCase(_ text: String, _ marker: StaticString) -> Bool {
        let needle = UnsafeBufferPointer(start: marker.utf8Start, count: marker.utf8CodeUnitCount)
        var text = text
        return text.withUTF8 { bytes in
            guard bytes.count >= needle.count else { return false }
            for start in 0...(bytes.count - needle.count) {
                var index = 0
                while index < needle.count {
                    var byte = bytes[start + index]
                    if byte >= 65, byte <= 90 { byte += 32 }
                    if byte != needle[index] { break }
                    index += 1
                }
                if index == needle.count { return true }
            }
            return false
        }
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
    /// What the type readers, several at once, add up.
    struct Tally {
        var done: Int64 = 0
        var estimate: Int64?
        var counts: [String: Int] = [:]
        var failedTypes: [String] = []
        var warned: Set<String> = []
        var removed = 0
        var inserted = 0
    }
    let tally = Mutex(Tally())

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
    /// This attempt: every write on the job's behalf is fenced on it.
    var owner: QueueStore.Held { .init(id: context.job.id, attempt: context.job.attempt) }

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
        tally.withLock { $0.estimate = previous.isEmpty ? nil : Int64(previous.values.reduce(0, +)) }
        try await objects.deviceSyncLogStart(device: name, kind: kind, job: jobID, owner: owner)
        do {
            try await log("info", "\(kind.title) of \(device.device.kind.title) '\(name)' started (job \(jobID))")
            try await context.progress(done: 0, total: tally.withLock { $0.estimate }, message: "connecting to \(name)")
            switch device.device.kind {
            case .callProcessor, .presenceProcessor:
                let client = device.axl(options: .init(pageSize: pageSize), context: context)
                let version = try await client.ccmVersion()
                if DeviceConnections.isExpress(version) {
                    throw DeviceJobFailure("device '\(name)': \(version) is Cisco Unified CM Express, which is not supported (only Unified CM is synchronized)")
                }
                try await log("info", "Connected: version \(version), AXL \(client.version)")
                if device.device.kind == .callProcessor, kind == .infra {
                    try await readLDAPIntegration(client)
                }
                if device.device.kind == .callProcessor {
                    try await ChangeNotification.baselineBeforeSync(device: name, axl: client, version: version, context: context,
                                                                    connection: connection, log: log)
                }
                try await readAll(types, axl: client)
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
            let result = tally.withLock { $0 }
            // Types are read several at once: the failed ones are named in the catalog's order.
            let failedTypes = types.map(\.inventoryType).filter(result.failedTypes.contains)
            let outcome = DeviceSync.outcome(failedTypes: failedTypes)
            let total = result.counts.values.reduce(0, +)
            try await log("info", "Read \(total) objects (\(result.inserted) new, \(result.removed) marked removed)")
            try await log("info", outcome)
            try await objects.deviceSyncSucceeded(
                device: name, kind: kind, job: jobID, outcome: outcome, counts: result.counts,
                audit: "\(kind.title) of '\(name)' stored \(total) objects: \(result.inserted) new, \(result.removed) marked removed",
                owner: owner)
            SyncMetrics.objects(sync: kind.rawValue, [("read", total), ("created", result.inserted), ("removed", result.removed)])
            if device.device.kind == .callProcessor {
                // A resync change notification waits for clears as the second of its syncs ends having read everything.
                try await ChangeNotificationStore(connection).cnResyncSyncRead(device: name, kind: kind, job: jobID, unread: failedTypes,
                                                                               owner: owner)
            }
            // The next change-notification poll is planned on the rows just written.
            try await ChangeNotificationStore(connection).cnStatisticsRefresh()
            try await context.progress(done: result.done, total: result.done, message: outcome)
        } catch {
            // Every reader has waited for its page being written: the connection goes back to the
            // pool only once no write uses it.
            let canceled = (try? context.checkCancellation()) == nil
            let message = canceled ? "Canceled." : "Failed: \(DeviceJobFailure.reason(error, withOperation: true))"
            try? await log(canceled ? "warning" : "error", message)
            try? await objects.deviceSyncLogFinish(device: name, kind: kind, job: jobID, state: canceled ? "canceled" : "failed",
                                                   outcome: message, counts: tally.withLock { $0.counts }, owner: owner)
            try context.checkCancellation()
            if let failure = error as? DeviceJobFailure { throw failure }
            throw DeviceJobFailure("\(kind.title) of '\(name)' failed: \(DeviceJobFailure.reason(error, withOperation: true))")
        }
    }

    /// The call processor's LDAP integration (AXL getLdapSystem syncEnabled), kept on the device for
    /// the directory search source (DirectorySourceStore): an integrated one while UDS is the source
    /// switches it back to LDAP, with its audit line and this line in the device's log. A read that
    /// fails is a warning; the sync goes on.
    func readLDAPIntegration(_ client: AXLClient) async throws {
        let integrated: Bool
        do {
            let answer = try await client.exchange("getLdapSystem") { _ in }
            integrated = answer.child("ldapSystem")?.child("syncEnabled")?.text?.lowercased() == "true"
        } catch let error where !(error is CancellationError) {
            // Not a reason to fail the infrastructure sync: the integration stays as last read (UDS
            // copies nothing to a call processor whose integration was never read).
            try await log("warning", "LDAP integration could not be read: \(error)")
            return
        }
        try await log("info", "LDAP integration: \(integrated ? "on (users synchronized from LDAP)" : "off")")
        let owner = owner, actor = context.job.submittedBy, copies = DirectorySync()
        let outcome = try await DirectorySourceStore(connection).ldapIntegrationRecord(device: name, integrated: integrated, actor: actor, owner: owner) { session in
            // Seed 004: with UDS on, adding a call processor starts the directory sync of the users to it.
            _ = try QueueStore.InTransaction(session).jobEnqueue(try QueueStore.EnqueueParams(copies, target: "directory", dedupKey: copies.dedupKey, actor: actor))
        }
        switch outcome {
        case .unchanged: break
        case .switchedBack(let message): try await log("warning", message)
        case .addedWhileUDS:
            try await log("info", "Directory search source is the call processor (UDS) and '\(name)' is new: \(DirectorySync.jobType) queued to copy the provisioned users to it (when it is version 10 or later)")
        }
    }

    func log(_ level: String, _ message: String) async throws {
        try await objects.deviceSyncLogAppend(device: name, kind: kind, level: level, message: message, owner: owner)
        try await context.log(message, level: level == "error" ? .error : level == "warning" ? .warning : .info)
    }

    func progress(_ type: String) async throws {
        let (done, estimate) = tally.withLock { ($0.done, $0.estimate) }
        try await context.progress(done: done, total: estimate.map { max($0, done) }, message: "reading \(type) (\(done) objects read)")
    }

    /// Unexpected elements are reported once per name and type.
    func warnUnexpected(_ names: Set<String>, in type: String) async throws {
        for name in names.sorted() where tally.withLock({ $0.warned.insert("\(type)/\(name)").inserted }) {
            try await log("warning", "Skipped unexpected element <\(name)> in \(type)")
        }
    }

    // MARK: AXL

    /// Independent types are read several at once, so one type's parsing and writing overlaps
    /// another's requests. The device still sees at most `concurrency` requests in flight: every
    /// request of every type waits for one of the client's lanes.
    func readAll(_ types: [AXLObjectType], axl: AXLClient) async throws {
        let width = min(Self.typeReaders(concurrency), max(1, types.count))
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = types.makeIterator()
            for _ in 0..<width {
                guard let type = next.next() else { break }
                group.addTask { try await self.read(type, axl: axl) }
            }
            while try await group.next() != nil {
                guard let type = next.next() else { continue }
                group.addTask { try await self.read(type, axl: axl) }
            }
        }
    }

    /// Types read at once for a device limited to `concurrency` requests in flight: one type per
    /// two lanes (a list holds one lane for its page and one for the next), three at most.
    static func typeReaders(_ concurrency: Int) -> Int {
        min(3, max(1, (concurrency + 1) / 2))
    }

    func read(_ type: AXLObjectType, axl: AXLClient) async throws {
        try context.checkCancellation()
        let started = ContinuousClock.now
        let writer = PageWriter(run: self)
        defer {
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            if writer.stored > 0 {
                context.logger.debug("\(type.inventoryType): \(writer.stored) objects in \(String(format: "%.2f", seconds)) s")
            }
        }
        do {
            switch type.source {
            case .axlList:
                try await readList(type, axl: axl, writer: writer)
            case .axlSQL(let table):
                try await readSQL(type, table: table, axl: axl, writer: writer)
            case .unavailable(let reason):
                try await log("info", "\(type.inventoryType): not read (\(reason))")
                return
            case .cupi:
                return
            }
            try await writer.flush()
            // A list's pages shift when the device removes objects mid-read; one SQL query does not.
            if case .axlList = type.source { try await confirmUnlisted(type, axl: axl, writer: writer) }
            try await markRemoved(type)
        } catch let fault as AXLFault {
            try await writer.flush()
            tally.withLock { $0.failedTypes.append(type.inventoryType) }
            try await log("warning", "\(type.inventoryType) could not be synchronized: \(fault.description)")
        } catch {
            await writer.drain()
            throw error
        }
    }

    /// Whether analog phones of `type` are kept: always but for phones while the setting is off.
    func keepsAnalogPhones(_ type: AXLObjectType) async throws -> Bool {
        type.inventoryType == "Phone"
            ? (try await SettingsStore(connection).settingGet(DeviceSync.analogPhoneSetting, as: Bool.self) ?? false) : true
    }

    func readList(_ type: AXLObjectType, axl: AXLClient, writer: PageWriter) async throws {
        let keepAnalog = try await keepsAnalogPhones(type)
        var analogSkipped = 0
        try await axl.list(type) { page in
            var items = page.items
            try await warnUnexpected(page.unexpected, in: type.inventoryType)
            if !keepAnalog {
                let before = items.count
                items.removeAll(where: DeviceSync.isAnalogPhone)
                analogSkipped += before - items.count
            }
            if !type.getTags.isEmpty { items = try await followUp(type, items, axl: axl) }
            try await writer.store(type, items)
        }
        if !keepAnalog, analogSkipped > 0 {
            try await log("info", "Skipped \(analogSkipped) analog phones (setting \(DeviceSync.analogPhoneSetting) is off)")
        }
    }
    /// The `get` of each listed object, several in flight (the client's lanes bound them), merged
    /// into the listed fields.
    func followUp(_ type: AXLObjectType, _ items: [DeviceItem], axl: AXLClient) async throws -> [DeviceItem] {
        // Per item: nil when it has no uuid (kept as listed); no item when it was removed between the
        // list and the get (dropped); else the get's fields and the elements it did not expect.
        let gets = try await Self.mapBounded(items, width: axl.endpoint.concurrency) { item -> (item: DeviceItem?, unexpected: Set<String>)? in
            guard let uuid = item.uuid else { return nil }
            guard let got = try await axl.get(type, uuid: uuid) else { return (nil, []) }
            return (got.item, got.unexpected)
        }
        var merged: [DeviceItem] = []
        var unexpected = Set<String>()
        for (item, got) in zip(items, gets) {
            guard let got else { merged.append(item); continue }
            unexpected.formUnion(got.unexpected)
            guard let fields = got.item?.fields else { continue }
            var item = item
            item.fields += fields
            merged.append(item)
        }
        try await warnUnexpected(unexpected, in: type.inventoryType)
        return merged
    }

    /// `body` of each element, at most `width` at once (a window as wide as the device's lanes: no
    /// more tasks than requests that can be in flight); the results in the elements' order.
    static func mapBounded<Element: Sendable, Result: Sendable>(
        _ elements: [Element], width: Int, _ body: @escaping @Sendable (Element) async throws -> Result
    ) async throws -> [Result] {
        try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: elements.count)
            var inFlight = 0
            for (index, element) in elements.enumerated() {
                if inFlight >= max(1, width), let (done, result) = try await group.next() {
                    results[done] = result
                    inFlight -= 1
                }
                group.addTask { (index, try await body(element)) }
                inFlight += 1
            }
            for try await (done, result) in group { results[done] = result }
            return results.map { $0! }
        }
    }

    // MARK: confirming removals

    /// Unseen objects confirmed per request of the database (and per batch of gets).
    static let confirmPageSize = 500

    /// Whether the unseen objects of a type are better confirmed by a second list pass than by a
    /// get each. A get costs about what a list page of some 50 uuids does (a keys-only page of 1000
    /// takes Unified CM a second or two, a get 50–100 ms): past a tenth of the type, the pass is
    /// cheaper; under 50 objects, gets always are (the pass lists the whole type).
    static func relists(unseen: Int, read: Int) -> Bool {
        unseen > 50 && unseen > (read + unseen) / 10
    }

    /// Confirms on the device what a complete read of `type` did not return before it is marked
    /// removed. Lists and CUPI pages are read by position: a removal the device makes mid-read moves
    /// every later object up a place and the one at the next page boundary is never read, though it
    /// exists (change notification does not repair it: that object did not change). An unseen object
    /// `fetch` still finds is stored as read (seen by this job); the rest are gone.
    ///
    /// The unseen objects are streamed from the database a page at a time; each page is fetched
    /// `width` at once. When they are many (`relists`) and `relist` is given, the type is listed a
    /// second time, uuids only: the unseen objects a page of it names are fetched; an object missing
    /// from both passes (and so not fetched) is removed.
    func confirmUnseen(_ type: AXLObjectType, writer: PageWriter, width: Int,
                       relist: ((_ onUUIDs: ([String]) async throws -> Void) async throws -> Void)?,
                       fetch: @escaping @Sendable (String) async throws -> DeviceItem?) async throws {
        let typeName = type.inventoryType
        let unseen = try await objects.deviceObjectsUnseenCount(device: name, kind: kind, type: typeName, job: jobID)
        guard unseen > 0 else { return }
        let read = tally.withLock { $0.counts[typeName, default: 0] }
        var found = 0
        func confirm(_ page: [DeviceObjectStore.UnseenObject]) async throws {
            try context.checkCancellation()
            let uuids = page.compactMap(\.uuid)  // without a uuid nothing can be asked: it stays unseen
            let items = try await Self.mapBounded(uuids, width: width, fetch).compactMap { $0 }
            found += items.count
            try await writer.store(type, items)
        }
        if let relist, Self.relists(unseen: unseen, read: read) {
            try await relist { uuids in
                guard !uuids.isEmpty else { return }
                try await confirm(try await objects.deviceObjectsUnseen(device: name, kind: kind, type: typeName, job: jobID,
                                                                        limit: uuids.count, among: uuids))
            }
        } else {
            var after = ""
            while true {
                let page = try await objects.deviceObjectsUnseen(device: name, kind: kind, type: typeName, job: jobID,
                                                                 after: after, limit: Self.confirmPageSize)
                try await confirm(page)
                guard page.count == Self.confirmPageSize, let last = page.last else { break }
                after = last.key
            }
        }
        try await writer.flush()
        if found > 0 {
            try await log("warning", "\(typeName): \(found) of the \(unseen) objects the list did not return are still on the device (read again by uuid): objects were removed during the read, which moves a list's later pages")
        }
    }

    /// `confirmUnseen` for a type AXL lists: a get by uuid, or a second keys-only list pass.
    func confirmUnlisted(_ type: AXLObjectType, axl: AXLClient, writer: PageWriter) async throws {
        let keepAnalog = try await keepsAnalogPhones(type)
        try await confirmUnseen(type, writer: writer, width: axl.endpoint.concurrency, relist: { onUUIDs in
            try await axl.list(type, keysOnly: true) { page in try await onUUIDs(page.items.compactMap(\.uuid)) }
        }, fetch: { uuid in
            // An analog phone the setting leaves out stays out, as the list's page would have it.
            guard let item = try await axl.getAsListed(type, uuid: uuid), keepAnalog || !DeviceSync.isAnalogPhone(item) else { return nil }
            return item
        })
    }

    /// Read completely and confirmed: what this job did not see of the type is gone from the device.
    func markRemoved(_ type: AXLObjectType) async throws {
        let removed = try await objects.deviceObjectsMarkRemoved(device: name, kind: kind, type: type.inventoryType, job: jobID, owner: owner)
        tally.withLock {
            $0.counts[type.inventoryType] = $0.counts[type.inventoryType, default: 0]
            $0.removed += removed
        }
    }

    func readSQL(_ type: AXLObjectType, table: String, axl: AXLClient, writer: PageWriter) async throws {
        // Constants of the catalog only: the table and column names are never input.
        let sql = "SELECT \(type.returnedTags.joined(separator: ", ")) FROM \(table)"
        let page = try await axl.sqlQuery(sql)
        try await writer.store(type, page.items)
    }

    /// Counts a written page.
    func stored(_ type: String, _ result: DeviceObjectStore.UpsertResult) async throws {
        tally.withLock {
            $0.inserted += result.inserted
            $0.counts[type, default: 0] += result.total
            $0.done += Int64(result.total)
        }
        try await progress(type)
    }

    // MARK: CUPI

    /// A CUPI row as `type` keeps it: its fields among the type's tags.
    static func cupiItem(_ row: DeviceItem, of type: AXLObjectType) -> DeviceItem {
        let tags = Set(type.returnedTags)
        return DeviceItem(uuid: row.uuid, fields: row.fields.filter { tags.contains($0.0) })
    }

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
        let writer = PageWriter(run: self)
        for group in groups {
            try context.checkCancellation()
            do {
                try await client.list(group.path, element: group.element) { page in
                    if page.total > 0 {
                        tally.withLock { if $0.estimate == nil { $0.estimate = Int64(page.total * group.types.count) } }
                    }
                    for type in group.types {
                        try await writer.store(type, page.items.map { Self.cupiItem($0, of: type) })
                    }
                }
                try await writer.flush()
                for type in group.types {
                    // A GET by ObjectId each, never a second pass: CUPI lists whole rows (no
                    // keys-only list to make a pass cheap), and a Unity Connection has few to confirm.
                    let path = group.path
                    try await confirmUnseen(type, writer: writer, width: client.endpoint.concurrency, relist: nil) { objectId in
                        try await client.get(path, objectId: objectId).map { Self.cupiItem($0, of: type) }
                    }
                    try await markRemoved(type)
                }
            } catch let error as DeviceClientError where error.kind == .http {
                try await writer.flush()
                tally.withLock { $0.failedTypes += group.types.map(\.inventoryType) }
                try await log("warning", "\(group.types.map(\.inventoryType).joined(separator: ", ")) could not be synchronized: \(error)")
            } catch {
                await writer.drain()
                throw error
            }
        }
    }
}

/// One type reader's writes: a page is copied and upserted while the reader reads the next. At
/// most one write in flight per reader, so memory holds two pages of each reader at most. Used by
/// its reader's task only.
private final class PageWriter: @unchecked Sendable {
    let run: Run
    private var writing = InFlight<(String, DeviceObjectStore.UpsertResult)>()
    /// Objects this reader has stored.
    private(set) var stored = 0

    init(run: Run) {
        self.run = run
    }

    func store(_ type: AXLObjectType, _ items: [DeviceItem]) async throws {
        let rows = items.map { item in
            DeviceObjectRow(type: type.inventoryType, key: item.key(type.keyTags), uuid: item.uuid, attributes: item.json)
        }
        let (objects, name, kind, jobID, owner) = (run.objects, run.name, run.kind, run.jobID, run.owner)
        let written = try await writing.start {
            (type.inventoryType, try await objects.deviceObjectsUpsert(device: name, kind: kind, job: jobID, owner: owner, rows))
        }
        try await count(written)
    }

    /// Waits for the page being written and counts it.
    func flush() async throws {
        try await count(try await writing.finish())
    }

    private func count(_ written: (String, DeviceObjectStore.UpsertResult)?) async throws {
        guard let (type, result) = written else { return }
        stored += result.total
        try await run.stored(type, result)
    }

    /// Waits for the page being written, whatever its outcome (before the connection is given back).
    func drain() async {
        await writing.cancel()
    }
}
