import AXL
import Foundation
import Synchronization

/// A line on a phone, device profile or remote destination profile (`lines/line` of a get).
struct LineAppearance: Sendable, Hashable {
    var index: Int
    var pattern: String
    var partition: String
    /// The partition's name hash, made once rather than for every answer (`ReferenceUUIDs` tells
    /// the uuid to answer).
    var partitionUUID: String
    /// The external phone number mask of this appearance ("" for none).
    var e164Mask: String

    init(index: Int, pattern: String, partition: String, e164Mask: String = "") {
        self.index = index
        self.pattern = pattern
        self.partition = partition
        self.e164Mask = e164Mask
        partitionUUID = SimulatedUUID.make("RoutePartition", partition)
    }
}

/// One object on the simulated Unified CM: its uuid, its scalar fields (aligned with the table's
/// `fields`, "" for none), and the collections only a get returns.
struct SimulatedObject: Sendable {
    var uuid: String
    var values: [String]
    /// The name hash of what each reference field names ("" for other fields and empty references):
    /// the uuid of a generated object of that name (`ReferenceUUIDs` tells the uuid to answer).
    var references: [String]
    var lines: [LineAppearance] = []
    /// The table's first name list (`ObjectTable.primaryList`): device-profile or phone services, or
    /// a user's associated devices.
    var names: [String] = []
    /// The other name lists, by collection (a user's `phoneProfiles`); empty for most objects.
    var lists: [String: [String]] = [:]
}

/// The objects of one AXL type, in a fixed order (the order they were made), with indexes by key and
/// by uuid. Readers take a snapshot (copy-on-write arrays: a retain, no copy) under a lock held for
/// nanoseconds, then write their answer from it without holding anything.
///
/// A removal leaves its slot empty rather than closing the gap: the positions the indexes hold stay
/// valid, so removing costs what a lookup costs. The empty slots are dropped, and the indexes moved
/// to the new positions, once they outnumber the objects (so a compaction moves fewer objects than
/// the removals since the last one).
final class ObjectTable: Sendable {
    struct State: Sendable {
        /// The objects in the order they were made; nil where one was removed since the last compaction.
        var slots: [SimulatedObject?] = []
        /// Positions in `slots`, of live objects only.
        var byKey: [String: Int] = [:]
        var byUUID: [String: Int] = [:]
        /// Empty slots in `slots`.
        var vacant = 0
        /// How many objects AXL adds made in this table (each add's uuid is drawn from it).
        var adds = 0
        /// The uuids of the live objects whose uuid is not their key's hash (AXL made them, or renamed
        /// them), by key: few, and what a reference by name carries instead of the name's hash.
        var ownUUIDs: [String: String] = [:]
        /// Positions of the live objects that name a user in one of the table's `userFields`, by the
        /// user's key (its userid, lower-cased); a position once for each field naming that user.
        var byUser: [String: [Int]] = [:]

        /// The live objects.
        var count: Int { slots.count - vacant }

        /// The object at a position an index gave.
        subscript(position: Int) -> SimulatedObject { slots[position]! }

        /// The live objects, in the order they were made.
        var objects: [SimulatedObject] { slots.compactMap { $0 } }

        /// The positions of the live objects, in order.
        var positions: [Int] { vacant == 0 ? Array(slots.indices) : slots.indices.filter { slots[$0] != nil } }

        /// Drops the empty slots once they outnumber the objects. `mapValues` keeps each index's
        /// hashing as it is: only the positions change.
        mutating func compactIfSparse() {
            guard vacant > count else { return }
            var moved = [Int](repeating: -1, count: slots.count)
            var kept: [SimulatedObject?] = []
            kept.reserveCapacity(count)
            for (position, object) in slots.enumerated() where object != nil {
                moved[position] = kept.count
                kept.append(object)
            }
            slots = kept
            vacant = 0
            byKey = byKey.mapValues { moved[$0] }
            byUUID = byUUID.mapValues { moved[$0] }
            byUser = byUser.mapValues { $0.map { moved[$0] } }
        }
    }

    let axlName: String
    let itemElement: String
    /// Scalar fields in the XSD order of the LX (and RX) type.
    let fields: [String]
    let fieldIndex: [String: Int]
    let keyFields: [Int]
    /// The AXL type a field refers to (its values get a `uuid` attribute), nil for plain values.
    let references: [String?]
    /// The get-only collections, and the field each is written before in the RX type (nil: at the end).
    let collections: [(name: String, before: String?)]
    /// The fields by which an object names a user as its owner or login user (none is a key field).
    let userFields: [Int]
    private let state = Mutex(State())

    convenience init(type: AXLObjectType, fields: [String], collections: [(name: String, before: String?)]) {
        self.init(axlName: type.axlName, keyTags: type.keyTags, fields: fields, collections: collections)
    }

    /// A table of a type no synchronization reads (only orders write it: the IP phone services).
    init(axlName: String, keyTags: [String], fields: [String], collections: [(name: String, before: String?)]) {
        self.axlName = axlName
        itemElement = axlName.prefix(1).lowercased() + axlName.dropFirst()
        self.fields = fields
        fieldIndex = Dictionary(uniqueKeysWithValues: fields.enumerated().map { ($1, $0) })
        keyFields = keyTags.compactMap { tag in fields.firstIndex(of: tag) }
        references = fields.map { SimulatedReferences.target[$0] }
        userFields = (SimulatedReferences.userFields[axlName] ?? []).compactMap { fields.firstIndex(of: $0) }
        self.collections = collections
        primaryList = collections.first { $0.name != "lines" }?.name
    }

    /// The collection kept in `names` (the first one that is a list of names); the others are in `lists`.
    let primaryList: String?

    /// The names of one of an object's name collections.
    func list(_ collection: String, of object: SimulatedObject) -> [String] {
        collection == primaryList ? object.names : object.lists[collection] ?? []
    }

    func snapshot() -> State { state.withLock { $0 } }

    var count: Int { state.withLock { $0.count } }

    /// `State.ownUUIDs` alone: a reader of another table holds no snapshot of this one, so writes
    /// here copy nothing on its account.
    func ownUUIDs() -> [String: String] { state.withLock { $0.ownUUIDs } }

    /// The key of an object: its key fields, lower-cased (Unified CM matches names without case).
    func key(of values: [String]) -> String {
        keyFields.map { values[$0].lowercased() }.joined(separator: "\u{1}")
    }

    /// Adds an object under a uuid of its own: Unified CM gives every add a new pkid, also to a name
    /// removed and added again, so a stale uuid (a removal's late retry, an undo) never reaches the
    /// new object. The uuid is drawn from the type, the key and the table's count of adds: the same
    /// calls give the same uuids in every run. Nil when one with its key exists.
    func add(_ object: SimulatedObject) -> SimulatedObject? {
        let key = key(of: object.values)
        return state.withLock { state in
            guard state.byKey[key] == nil else { return nil }
            state.adds += 1
            var added = object
            added.uuid = SimulatedUUID.make(axlName, key + "\u{2}add " + String(state.adds))
            state.byKey[key] = state.slots.count
            state.byUUID[added.uuid] = state.slots.count
            state.ownUUIDs[key] = added.uuid
            indexUsers(of: added.values, at: state.slots.count, adding: true, in: &state)
            state.slots.append(added)
            return added
        }
    }

    /// Appends many objects while the data is generated (no duplicates by construction; each uuid is
    /// its key's hash, as `object(row:)` makes it without one given).
    func load(_ objects: [SimulatedObject]) {
        state.withLock { state in
            state.slots.reserveCapacity(state.slots.count + objects.count)
            state.byKey.reserveCapacity(state.byKey.count + objects.count)
            state.byUUID.reserveCapacity(state.byUUID.count + objects.count)
            if !userFields.isEmpty { state.byUser.reserveCapacity(state.byUser.count + objects.count) }
            for object in objects {
                state.byKey[key(of: object.values)] = state.slots.count
                state.byUUID[object.uuid] = state.slots.count
                indexUsers(of: object.values, at: state.slots.count, adding: true, in: &state)
                state.slots.append(object)
            }
        }
    }

    /// Changes an object in place; the closure returns the new object. Nil when there is no such object,
    /// or when the change would give it the key of another.
    func update(at lookup: (State) -> Int?, _ change: (SimulatedObject) -> SimulatedObject) -> SimulatedObject? {
        state.withLock { state in
            guard let index = lookup(state) else { return nil }
            let old = state[index]
            let new = change(old)
            let oldKey = key(of: old.values), newKey = key(of: new.values)
            if oldKey != newKey {
                guard state.byKey[newKey] == nil else { return nil }
                state.byKey[oldKey] = nil
                state.byKey[newKey] = index
                state.ownUUIDs[oldKey] = nil
                if new.uuid != SimulatedUUID.make(axlName, newKey) { state.ownUUIDs[newKey] = new.uuid }
            }
            if userFields.contains(where: { old.values[$0] != new.values[$0] }) {
                indexUsers(of: old.values, at: index, adding: false, in: &state)
                indexUsers(of: new.values, at: index, adding: true, in: &state)
            }
            state.slots[index] = new
            return new
        }
    }

    /// Removes an object: its slot is emptied and its index entries dropped.
    func remove(at lookup: (State) -> Int?) -> SimulatedObject? {
        state.withLock { state in
            guard let index = lookup(state) else { return nil }
            let removed = state[index]
            state.slots[index] = nil
            state.vacant += 1
            let key = key(of: removed.values)
            state.byKey[key] = nil
            state.byUUID[removed.uuid] = nil
            state.ownUUIDs[key] = nil
            indexUsers(of: removed.values, at: index, adding: false, in: &state)
            state.compactIfSparse()
            return removed
        }
    }

    /// Clears the `userFields` that name the user of this key (a lower-cased userid), as Unified CM
    /// does when it removes the user. Returns each object changed, in creation order, with the fields
    /// cleared.
    func clearUser(_ user: String) -> [(object: SimulatedObject, fields: [Int])] {
        guard !userFields.isEmpty else { return [] }
        return state.withLock { state in
            guard let positions = state.byUser.removeValue(forKey: user) else { return [] }
            return Set(positions).sorted().compactMap { position in
                var object = state[position]
                let cleared = userFields.filter { object.values[$0].lowercased() == user }
                guard !cleared.isEmpty else { return nil }
                for field in cleared {
                    object.values[field] = ""
                    object.references[field] = ""
                }
                state.slots[position] = object
                return (object, cleared)
            }
        }
    }

    /// Enters the users an object names in `userFields` into `byUser` (or, `adding` false, takes
    /// them out).
    private func indexUsers(of values: [String], at position: Int, adding: Bool, in state: inout State) {
        for field in userFields where !values[field].isEmpty {
            let user = values[field].lowercased()
            if adding {
                state.byUser[user, default: []].append(position)
            } else if var positions = state.byUser[user], let found = positions.firstIndex(of: position) {
                positions.remove(at: found)
                state.byUser[user] = positions.isEmpty ? nil : positions
            }
        }
    }
}

/// Which AXL type a field names (an `XFkType` in the schema): its value is that object's key, and
/// the answer carries the object's uuid as an attribute.
enum SimulatedReferences {
    static let target: [String: String] = [
        "routePartitionName": "RoutePartition", "callManagerName": "CallManager", "softkeyTemplateName": "SoftKeyTemplate",
        "devicePoolName": "DevicePool", "locationName": "Location", "dateTimeSettingName": "DateTimeGroup",
        "callManagerGroupName": "CallManagerGroup", "mediaResourceListName": "MediaResourceList", "regionName": "Region",
        "phoneTemplateName": "PhoneButtonTemplate", "loginUserId": "User", "dialPlanName": "DialPlan",
        "callingSearchSpaceName": "Css", "huntListName": "HuntList", "serverName": "CallManager",
        "timeScheduleIdName": "TimeSchedule", "securityProfileName": "SecurityProfile", "sipProfileName": "SipProfile",
        "baseSoftkeyTemplateName": "SoftKeyTemplate", "digitDiscardInstructionName": "DigitDiscardInstruction",
        "cssName": "Css", "shareLineAppearanceCssName": "Css", "voiceMailProfileName": "VoiceMailProfile",
        "ownerUserName": "User", "serviceProfile": "ServiceProfile", "remoteDestinationProfileName": "RemoteDestinationProfile",
        "ownerUserId": "User",
    ]

    /// The fields by which a device names a user as its owner or login user, by type: Unified CM
    /// clears them when it removes that user (`ObjectTable.clearUser`). A remote destination
    /// profile's `userId` is a plain string in the schema (no uuid), an owner all the same.
    static let userFields: [String: [String]] = [
        "Phone": ["ownerUserName", "loginUserId"], "DeviceProfile": ["loginUserId"],
        "RemoteDestinationProfile": ["userId"], "RemoteDestination": ["ownerUserId"],
    ]
}

extension ObjectTable {
    /// An object from named values (names the table does not keep are dropped); `memo` shares the uuid
    /// Strings of references that repeat (DP_Site01 on thousands of phones).
    func object(_ values: [String: String], uuid: String? = nil, lines: [LineAppearance] = [], names: [String] = [],
                memo: inout [String: [String: String]]) -> SimulatedObject {
        let row = fields.map { values[$0] ?? "" }
        return object(row: row, uuid: uuid, lines: lines, names: names, memo: &memo)
    }

    func object(row: [String], uuid: String? = nil, lines: [LineAppearance] = [], names: [String] = [],
                lists: [String: [String]] = [:], memo: inout [String: [String: String]]) -> SimulatedObject {
        let references = row.indices.map { index -> String in
            guard let target = self.references[index], !row[index].isEmpty else { return "" }
            if let known = memo[target]?[row[index]] { return known }
            let made = SimulatedUUID.make(target, row[index])
            memo[target, default: [:]][row[index]] = made
            return made
        }
        return SimulatedObject(uuid: uuid ?? SimulatedUUID.make(axlName, key(of: row)), values: row, references: references,
                               lines: lines, names: names, lists: lists)
    }
}

/// The uuids an answer gives its reference fields and its lines' partitions: the uuid of the live
/// object of that name. A generated object's uuid is its name's hash, which each object keeps for
/// its references; the few objects whose uuid is not (AXL added or renamed them) are looked up in
/// their table's `ownUUIDs`, taken once per answer. Nothing of that name, or removed: the name's
/// hash. An answer from a table whose targets hold none of those pays one check per reference.
struct ReferenceUUIDs {
    /// For each field of the table written: the own uuids of the table it refers to, nil when there
    /// are none (or the field refers to nothing).
    private let own: [[String: String]?]
    private let partitions: [String: String]?

    init(of table: ObjectTable, in tables: [String: ObjectTable]) {
        var taken: [String: [String: String]] = [:]
        func own(_ type: String) -> [String: String]? {
            let uuids = taken[type] ?? tables[type]?.ownUUIDs() ?? [:]
            taken[type] = uuids
            return uuids.isEmpty ? nil : uuids
        }
        self.own = table.references.map { $0.flatMap(own) }
        partitions = table.collections.contains { $0.name == "lines" } ? own("RoutePartition") : nil
    }

    /// The uuid field `index` of `object` carries ("" when it names nothing).
    func uuid(field index: Int, of object: SimulatedObject) -> String {
        let hash = object.references[index]
        guard let own = own[index], !hash.isEmpty else { return hash }
        return own[object.values[index].lowercased()] ?? hash
    }

    func partitionUUID(of line: LineAppearance) -> String {
        partitions?[line.partition.lowercased()] ?? line.partitionUUID
    }
}

/// Deterministic AXL uuids: a hash of the type and key, so the same data gets the same uuids every run
/// and a reference to a generated object knows its uuid without a lookup. An object an AXL add made
/// has the add's count in its hash (`ObjectTable.add`); references to it are resolved when answered
/// (`ReferenceUUIDs`).
enum SimulatedUUID {
    static func make(_ type: String, _ key: String) -> String {
        var first: UInt64 = 0xcbf2_9ce4_8422_2325, second: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in type.utf8 { first = (first ^ UInt64(byte)) &* 0x100_0000_01b3; second = (second ^ UInt64(byte)) &* 0x100_0000_01b3 }
        first = (first ^ 0x1f) &* 0x100_0000_01b3
        // Keys are matched without case, so they are hashed in lower case (ASCII: the generated keys are).
        for var byte in key.utf8 {
            if byte >= 65 && byte <= 90 { byte += 32 }
            first = (first ^ UInt64(byte)) &* 0x100_0000_01b3
            second = (second ^ UInt64(byte)) &* 0x1000_0000_01b5
        }
        second = second ^ (first >> 29)
        // {8-4-4-4-12} written straight into the String's storage: this runs for every object made.
        return String(unsafeUninitializedCapacity: 38) { buffer -> Int in
            let digits: StaticString = "0123456789ABCDEF"
            var position = 0
            buffer[position] = UInt8(ascii: "{"); position += 1
            for nibble in 0..<32 {
                if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                    buffer[position] = UInt8(ascii: "-"); position += 1
                }
                let word = nibble < 16 ? first : second
                let shift = UInt64(60 - (nibble % 16) * 4)
                buffer[position] = digits.utf8Start[Int((word >> shift) & 0xF)]; position += 1
            }
            buffer[position] = UInt8(ascii: "}"); position += 1
            return position
        }
    }

    /// `{ABC…}`, `abc…`, any case, with or without braces → `{ABC…}`.
    static func normalized(_ text: String) -> String {
        var body = text.trimmingCharacters(in: .whitespaces).uppercased()
        if body.hasPrefix("{") { body.removeFirst() }
        if body.hasSuffix("}") { body.removeLast() }
        return "{" + body + "}"
    }
}
