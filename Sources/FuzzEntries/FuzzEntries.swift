import AXL
import DeviceClients
import Directory
import Foundation
import Inventory
import Postgres
import Queue
import Runtime
import ScheduleRules

/// The body of every fuzz target: one parser of outside input each, fed arbitrary bytes. A body
/// returns normally for any input; where a parser promises something (a filter re-renders to
/// itself, a refusal is one line) it checks that with `require`, which traps like a crash so the
/// fuzzer keeps the input. `ucp-fuzz` runs them under libFuzzer (scripts/fuzz.sh); FuzzCorpusTests
/// replays the kept corpus (Fuzz/corpus/TARGET/) through the same bodies.
public enum FuzzEntries {
    public static let targets: [String: @Sendable ([UInt8]) -> Void] = [
        "granular-sync": granularSync,
        "ldap-filter": ldapFilter,
        "simple-query": simpleQuery,
        "phone-mask": phoneMask,
        "schedule-time": scheduleTime,
        "names": names,
        "axl-answer": axlAnswer,
        "cupi-json": cupiJSON,
        "database-url": databaseURL,
    ]

    public static var names: [String] { targets.keys.sorted() }

    static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("fuzz property broken: \(message())") }
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// A refusal is one line: it names the field and the rule, and echoes values escaped.
    static func requireOneLine(_ error: InputError) {
        for line in error.lines {
            require(!line.contains("\n") && !line.contains("\r"), "a refusal spans lines: \(line.debugDescription)")
        }
    }

    /// The granular sync syntax (schedules' lines), line by line and whole.
    static func granularSync(_ bytes: [UInt8]) {
        let text = text(bytes)
        let check = GranularSync.check(text)
        for error in check.errors { require(!error.problem.contains("\n"), "a line's error spans lines: \(error.problem.debugDescription)") }
        do {
            let parsed = try GranularSync(parsing: text)
            require(check.errors.isEmpty && parsed.entries == check.entries, "parse and check disagree")
        } catch {
            // Text without a single entry is refused whole; anything else only for a bad line.
            require(!check.errors.isEmpty || check.entries.isEmpty, "parse refused what check accepted")
        }
    }

    /// RFC 4515 filters: what parses renders to text that parses to the same filter; an escaped
    /// value is taken back exactly.
    static func ldapFilter(_ bytes: [UInt8]) {
        let text = text(bytes)
        do {
            let filter = try LDAPFilter(parsing: text)
            // Escaping may make the rendering longer than the parser takes (each byte of a non-UTF-8
            // value becomes \XX): only a rendering within the limit must parse back.
            let again = filter.text.utf8.count > LDAPFilter.maximumLength ? filter : try? LDAPFilter(parsing: filter.text)
            require(again == filter, "\(text.debugDescription) renders to \(filter.text.debugDescription), which parses otherwise")
        } catch {
            requireOneLine(error)
        }
        // Escaping makes a value up to three times longer: only a filter within the limit must parse.
        let equality = "(cn=\(LDAPFilter.escape(text)))"
        if equality.utf8.count <= LDAPFilter.maximumLength {
            let parsed = try? LDAPFilter(parsing: equality)
            require(parsed == .equal("cn", LDAPValue(text)), "the escaped value \(text.debugDescription) does not come back")
        }
    }

    /// The simple query: each line a condition, compiled for every server type's default mapping.
    static func simpleQuery(_ bytes: [UInt8]) {
        var conditions: [QueryCondition] = []
        for line in text(bytes).split(separator: "\n", omittingEmptySubsequences: false).prefix(16) {
            do {
                conditions.append(try QueryCondition(parsing: String(line)))
            } catch {
                requireOneLine(error)
            }
        }
        for match in SimpleQuery.Match.allCases {
            let query = FilterQuery.simple(SimpleQuery(conditions: conditions, match: match))
            for type in DirectoryServerType.allCases {
                do {
                    if let filter = try query.userFilter(mapping: FieldMappingChoices().resolved(for: type)) {
                        require((try? LDAPFilter(parsing: filter.text)) == filter, "a compiled query does not parse back: \(filter.text)")
                    }
                } catch {
                    requireOneLine(error)
                }
            }
        }
    }

    /// Phone masks: the first line is the mask, the rest numbers it is applied to.
    static func phoneMask(_ bytes: [UInt8]) {
        let lines = text(bytes).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let first = lines.first else { return }
        do {
            let mask = try PhoneMask(parsing: first)
            for number in lines.dropFirst().prefix(16) { _ = mask.apply(to: number) }
        } catch {
            requireOneLine(error)
        }
    }

    /// A schedule's start and frequency; a frequency that parses gives a next run after any instant.
    static func scheduleTime(_ bytes: [UInt8]) {
        let lines = text(bytes).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let utc = TimeZone(identifier: "UTC")!
        var start = Date(timeIntervalSince1970: 1_700_000_000)
        do {
            start = try ScheduleStart.parse(lines.first ?? "", timeZone: utc)
            _ = ScheduleStart.format(start, timeZone: utc)
        } catch {
            requireOneLine(error)
        }
        guard lines.count > 1 else { return }
        do {
            let frequency = try ScheduleFrequency(parsing: lines[1])
            let instant = start.addingTimeInterval(12_345)
            if let next = frequency.nextRun(after: instant, start: start, timeZone: utc) {
                require(next > instant, "next run \(next) not after \(instant) for \(lines[1].debugDescription)")
            }
        } catch {
            requireOneLine(error)
        }
    }

    /// Names of devices, domains, schedules' jobs and processes; a refusal echoes them escaped.
    static func names(_ bytes: [UInt8]) {
        let text = text(bytes)
        let quoted = InputError.quoted(text)
        require(!quoted.unicodeScalars.contains { $0.properties.generalCategory == .control }, "quoted keeps a control character")
        do { try DeviceValidation.name(text) } catch let error as InputError { requireOneLine(error) } catch {}
        do { _ = try JobName(text) } catch { requireOneLine(error) }
        do { try Names.validateProcessName(text) } catch { requireOneLine(error) }
        let host = Names.defaultProcessName(role: "worker", host: text, pid: 4_194_304)
        require(Names.isValidProcessName(host), "the default name \(host.debugDescription) is not valid")
    }

    /// An AXL answer as it streams in, cut into two chunks where the first byte says.
    static func axlAnswer(_ bytes: [UInt8]) {
        guard let cut = bytes.first else { return }
        let body = Array(bytes.dropFirst())
        let split = body.isEmpty ? 0 : Int(cut) % (body.count + 1)
        let items = Counter()
        let reader = AXLItemReader(operation: "listPhone", itemElement: "phone", expected: ["name", "description", "lines"]) { _ in
            items.count += 1
        }
        let parser = XMLEventReader(handler: reader)
        do {
            try parser.feed(Array(body[..<split]))
            try parser.feed(Array(body[split...]))
            try parser.finish()
        } catch {}
    }

    /// A CUPI list answer: the JSON object, then its page of `User` rows.
    static func cupiJSON(_ bytes: [UInt8]) {
        guard let object = try? CUPIClient.object(bytes, operation: "GET /vmrest/users") else { return }
        let page = CUPIClient.page(from: object, element: "User")
        require(page.items.count <= bytes.count, "more rows than bytes")
    }

    /// DATABASE_URL: parsed and described, never echoing a password.
    static func databaseURL(_ bytes: [UInt8]) {
        let text = text(bytes)
        guard !text.contains("\0") else { return }
        do {
            let configuration = try ConnectionConfiguration(conninfo: text)
            _ = configuration.description
        } catch let error as InputError {
            requireOneLine(error)
        } catch {
            require(!"\(error)".contains("\n"), "a DATABASE_URL refusal spans lines: \(error)")
        }
    }

    final class Counter: @unchecked Sendable { var count = 0 }
}
