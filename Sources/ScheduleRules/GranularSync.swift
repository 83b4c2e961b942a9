import Foundation
import Runtime

/// The class of object a granular synchronization line names (Table 3: "object class").
public enum SyncObjectClass: String, CaseIterable, Hashable, Sendable, Codable {
    case callProcessor = "cp"
    case messageProcessor = "mp"
    case presenceProcessor = "pp"
    /// The seed's "ad (Active Directory)": any LDAP directory.
    case ldapDirectory = "ad"
    case domain = "domain"

    /// Processors take a sync type (infra, sub, both); directories and domains take none.
    public var isDevice: Bool {
        switch self {
        case .callProcessor, .messageProcessor, .presenceProcessor: return true
        case .ldapDirectory, .domain: return false
        }
    }

    /// How messages name one object of this class: "no call processor named 'X'".
    public var noun: String {
        switch self {
        case .callProcessor: return "call processor"
        case .messageProcessor: return "message processor"
        case .presenceProcessor: return "presence processor"
        case .ldapDirectory: return "LDAP directory"
        case .domain: return "domain"
        }
    }

    public var pluralNoun: String {
        switch self {
        case .callProcessor: return "call processors"
        case .messageProcessor: return "message processors"
        case .presenceProcessor: return "presence processors"
        case .ldapDirectory: return "LDAP directories"
        case .domain: return "domains"
        }
    }
}

/// Which objects of a class a line means: `all` of them, or one by name.
public enum SyncObjectSelector: Hashable, Sendable {
    case all
    case named(String)

    /// As written in the granular text.
    public var text: String {
        switch self {
        case .all: return "all"
        case .named(let name): return name
        }
    }
}

/// What a processor line asks for (Table 3: "sync type"): `infra`, `sub`, or `both` (the two together).
public enum DeviceSyncType: String, CaseIterable, Hashable, Sendable, Codable {
    case infrastructure = "infra"
    case subscriber = "sub"
}

/// One valid line of granular synchronization text.
public struct GranularSyncEntry: Hashable, Sendable {
    /// 1-based line number in the text, for messages about this entry.
    public var line: Int
    public var objectClass: SyncObjectClass
    public var object: SyncObjectSelector
    /// Empty for `ad` and `domain`; one or both types for processors.
    public var syncTypes: Set<DeviceSyncType>

    public init(line: Int, objectClass: SyncObjectClass, object: SyncObjectSelector, syncTypes: Set<DeviceSyncType>) {
        self.line = line
        self.objectClass = objectClass
        self.object = object
        self.syncTypes = syncTypes
    }

    /// The entry written back in the seed's syntax, e.g. `cp.Test-UCM: infra`, `ad.all:`.
    public var text: String {
        let head = "\(objectClass.rawValue).\(object.text):"
        switch (syncTypes.contains(.infrastructure), syncTypes.contains(.subscriber)) {
        case (true, true): return head + " both"
        case (true, false): return head + " infra"
        case (false, true): return head + " sub"
        case (false, false): return head
        }
    }
}

/// One bad line: its 1-based number and what is wrong. Printed as `line 3: unknown class 'xx' (…)`.
public struct GranularSyncLineError: Error, Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var problem: String

    public init(line: Int, problem: String) {
        self.line = line
        self.problem = problem
    }

    public var description: String { "line \(line): \(problem)" }
}

/// Why granular text was refused: every bad line, or — when no line is bad — that it names nothing.
public struct GranularSyncError: Error, Hashable, Sendable, CustomStringConvertible {
    public static let noEntriesMessage = "granular: no synchronization lines (write one per line, e.g. 'cp.all: both')"

    /// Every bad line in text order; empty when the text only had blank and comment lines.
    public var lineErrors: [GranularSyncLineError]

    /// One printable message per problem.
    public var messages: [String] {
        lineErrors.isEmpty ? [Self.noEntriesMessage] : lineErrors.map(\.description)
    }

    public var description: String { messages.joined(separator: "\n") }
}

/// The result of checking granular text line by line: the good entries and the bad lines, both in text
/// order. The preview shows both; a schedule is only stored when `errors` is empty.
public struct GranularSyncCheck: Hashable, Sendable {
    public var entries: [GranularSyncEntry]
    public var errors: [GranularSyncLineError]

    public init(entries: [GranularSyncEntry], errors: [GranularSyncLineError]) {
        self.entries = entries
        self.errors = errors
    }
}

/// Custom granular synchronization text (Table 3): one `<object class>.<object name>: <sync type>` a line,
/// e.g. `cp.Test-UCM: infra`, `mp.all: sub`, `pp.all: both`, `ad.all:`, `domain.Test-Dom:`.
/// Blank lines and lines starting with `#` are skipped.
///
/// A processor line (`cp`, `mp`, `pp`) must name its sync type: the seed lists only infra, sub and both
/// as valid values and shows the empty form only for `ad` and `domain` ("ad.all: - ActiveDirectory mass
/// sync"). Reading an empty type as "both" would start user syncs nobody asked for, so `cp.X:` is an error.
public struct GranularSync: Hashable, Sendable {
    public var entries: [GranularSyncEntry]

    /// Parses `text`, refusing it with every bad line reported (not just the first), or when it has no
    /// entry at all.
    public init(parsing text: String) throws(GranularSyncError) {
        let check = Self.check(text)
        guard check.errors.isEmpty, !check.entries.isEmpty else {
            throw GranularSyncError(lineErrors: check.errors)
        }
        entries = check.entries
    }

    public init(entries: [GranularSyncEntry]) {
        self.entries = entries
    }

    /// Checks every line of `text` without refusing anything.
    public static func check(_ text: String) -> GranularSyncCheck {
        var result = GranularSyncCheck(entries: [], errors: [])
        // `isNewline` treats "\r\n" as one separator, so files written on Windows number their lines right.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (index, rawLine) in lines.enumerated() {
            switch parseLine(String(rawLine), number: index + 1) {
            case .skipped: break
            case .entry(let entry): result.entries.append(entry)
            case .error(let error): result.errors.append(error)
            }
        }
        return result
    }

    private enum LineResult {
        case skipped
        case entry(GranularSyncEntry)
        case error(GranularSyncLineError)
    }

    private static let classList = "cp, mp, pp, ad or domain"

    private static func parseLine(_ rawLine: String, number: Int) -> LineResult {
        func fail(_ problem: String) -> LineResult {
            .error(GranularSyncLineError(line: number, problem: problem))
        }
        let line = rawLine.trimmingSpaces
        if line.isEmpty || line.hasPrefix("#") { return .skipped }

        // The class ends at the first '.'; a ':' before it means the '.' is missing (`cp: infra`).
        let firstColon = line.firstIndex(of: ":")
        guard let dot = line.firstIndex(of: "."), firstColon.map({ dot < $0 }) ?? true else {
            return fail("missing '.' between class and name")
        }
        let classText = line[..<dot].trimmingSpaces
        if classText.isEmpty {
            return fail("missing class before '.' (use \(classList))")
        }
        guard let objectClass = SyncObjectClass(rawValue: classText) else {
            return fail("unknown class \(InputError.quoted(classText)) (use \(classList))")
        }

        // The name is everything between the first '.' and the ':' (names may hold '.' but not ':').
        let afterDot = line[line.index(after: dot)...]
        guard let colon = afterDot.firstIndex(of: ":") else {
            return fail("missing ':' after the object")
        }
        let name = afterDot[..<colon].trimmingSpaces
        if name.isEmpty {
            return fail("missing object name")
        }
        guard NameCharacters.isValidObjectName(name) else {
            return fail("object name \(InputError.quoted(name)) may hold only letters, digits, space, '_', '-', '.' and '@'")
        }
        let object: SyncObjectSelector = name == "all" ? .all : .named(name)

        let typeText = afterDot[afterDot.index(after: colon)...].trimmingSpaces
        let syncTypes: Set<DeviceSyncType>
        if objectClass.isDevice {
            switch typeText {
            case "infra": syncTypes = [.infrastructure]
            case "sub": syncTypes = [.subscriber]
            case "both": syncTypes = [.infrastructure, .subscriber]
            case "": return fail("\(objectClass.rawValue) needs a sync type (infra, sub or both)")
            default: return fail("sync type \(InputError.quoted(typeText)) is not one of infra, sub, both")
            }
        } else {
            guard typeText.isEmpty else {
                return fail("\(objectClass.rawValue) takes no sync type (got \(InputError.quoted(typeText)))")
            }
            syncTypes = []
        }
        return .entry(GranularSyncEntry(line: number, objectClass: objectClass, object: object, syncTypes: syncTypes))
    }
}

extension StringProtocol {
    /// Without surrounding spaces and tabs.
    var trimmingSpaces: String { trimmingCharacters(in: .whitespaces) }
}
