import XCTest
import ScheduleRules

final class GranularSyncTests: XCTestCase {
    private enum Expected {
        case entry(SyncObjectClass, SyncObjectSelector, Set<DeviceSyncType>)
        case error(String)
        case skipped
    }

    private static let both: Set<DeviceSyncType> = [.infrastructure, .subscriber]

    /// One line each; parsed all together as one text, so line numbers and "every bad line" are checked too.
    private static let table: [(line: String, expected: Expected)] = [
        // The seed's examples.
        ("cp.Test-UCM: infra", .entry(.callProcessor, .named("Test-UCM"), [.infrastructure])),
        ("mp.all: sub", .entry(.messageProcessor, .all, [.subscriber])),
        ("pp.all: both", .entry(.presenceProcessor, .all, both)),
        ("ad.all:", .entry(.ldapDirectory, .all, [])),
        ("domain.Test-Dom:", .entry(.domain, .named("Test-Dom"), [])),
        // More valid lines.
        ("cp.all: both", .entry(.callProcessor, .all, both)),
        ("  cp . CUCM 1 :  sub  ", .entry(.callProcessor, .named("CUCM 1"), [.subscriber])),
        ("cp.cucm-pub.example.com: infra", .entry(.callProcessor, .named("cucm-pub.example.com"), [.infrastructure])),
        ("mp.unity@site_2: both", .entry(.messageProcessor, .named("unity@site_2"), both)),
        ("pp.IMP.01: infra", .entry(.presenceProcessor, .named("IMP.01"), [.infrastructure])),
        ("ad.Corp LDAP:", .entry(.ldapDirectory, .named("Corp LDAP"), [])),
        ("domain.all:", .entry(.domain, .all, [])),
        ("ad.all:    ", .entry(.ldapDirectory, .all, [])),
        ("\tcp.Tabbed:\tinfra", .entry(.callProcessor, .named("Tabbed"), [.infrastructure])),
        ("cp.ALL: infra", .entry(.callProcessor, .named("ALL"), [.infrastructure])),
        ("cp.all.: infra", .entry(.callProcessor, .named("all."), [.infrastructure])),
        // Skipped.
        ("", .skipped),
        ("    ", .skipped),
        ("# nightly synchronization", .skipped),
        ("   # cp.x: infra", .skipped),
        // Bad lines.
        ("xx.foo: infra", .error("unknown class 'xx' (use cp, mp, pp, ad or domain)")),
        ("CP.foo: infra", .error("unknown class 'CP' (use cp, mp, pp, ad or domain)")),
        ("xx.foo", .error("unknown class 'xx' (use cp, mp, pp, ad or domain)")),
        (".foo: infra", .error("missing class before '.' (use cp, mp, pp, ad or domain)")),
        ("cp.foo infra", .error("missing ':' after the object")),
        ("cp.foo bar", .error("missing ':' after the object")),
        ("cp.foo: full", .error("sync type 'full' is not one of infra, sub, both")),
        ("cp.foo: INFRA", .error("sync type 'INFRA' is not one of infra, sub, both")),
        ("cp.foo: infra sub", .error("sync type 'infra sub' is not one of infra, sub, both")),
        ("cp.x: infra,sub", .error("sync type 'infra,sub' is not one of infra, sub, both")),
        ("cp.a:b: infra", .error("sync type 'b: infra' is not one of infra, sub, both")),
        ("pp.all: both # nightly", .error("sync type 'both # nightly' is not one of infra, sub, both")),
        ("ad.all: infra", .error("ad takes no sync type (got 'infra')")),
        ("ad.x: sub", .error("ad takes no sync type (got 'sub')")),
        ("domain.Test-Dom: both", .error("domain takes no sync type (got 'both')")),
        ("domain.a:b:", .error("domain takes no sync type (got 'b:')")),
        ("cp.: infra", .error("missing object name")),
        ("cp.   : infra", .error("missing object name")),
        ("cp: infra", .error("missing '.' between class and name")),
        ("cp: infra.x", .error("missing '.' between class and name")),
        ("hello", .error("missing '.' between class and name")),
        ("domain", .error("missing '.' between class and name")),
        ("cp.a#b: infra", .error("object name 'a#b' may hold only letters, digits, space, '_', '-', '.' and '@'")),
        ("cp.Müller: infra", .error("object name 'Müller' may hold only letters, digits, space, '_', '-', '.' and '@'")),
        ("mp.foo/bar: sub", .error("object name 'foo/bar' may hold only letters, digits, space, '_', '-', '.' and '@'")),
        ("cp.foo:", .error("cp needs a sync type (infra, sub or both)")),
        ("mp.all:", .error("mp needs a sync type (infra, sub or both)")),
        ("pp.x:   ", .error("pp needs a sync type (infra, sub or both)")),
    ]

    func testTableParsedAsOneText() {
        XCTAssertGreaterThanOrEqual(Self.table.count, 40)
        let text = Self.table.map(\.line).joined(separator: "\n")
        let check = GranularSync.check(text)

        var expectedEntries: [GranularSyncEntry] = []
        var expectedErrors: [String] = []
        for (index, row) in Self.table.enumerated() {
            switch row.expected {
            case .entry(let objectClass, let object, let types):
                expectedEntries.append(GranularSyncEntry(line: index + 1, objectClass: objectClass, object: object, syncTypes: types))
            case .error(let problem):
                expectedErrors.append("line \(index + 1): \(problem)")
            case .skipped:
                break
            }
        }
        XCTAssertEqual(check.entries, expectedEntries)
        XCTAssertEqual(check.errors.map(\.description), expectedErrors)
        // Spot-check the numbering against the table by hand.
        XCTAssertEqual(check.errors.first?.description, "line 21: unknown class 'xx' (use cp, mp, pp, ad or domain)")
        XCTAssertEqual(check.entries.last?.line, 16)
    }

    func testEachLineAloneGivesTheSameResult() {
        for row in Self.table {
            let check = GranularSync.check(row.line)
            switch row.expected {
            case .entry(let objectClass, let object, let types):
                XCTAssertEqual(check.errors, [], row.line)
                XCTAssertEqual(check.entries, [GranularSyncEntry(line: 1, objectClass: objectClass, object: object, syncTypes: types)], row.line)
            case .error(let problem):
                XCTAssertEqual(check.entries, [], row.line)
                XCTAssertEqual(check.errors, [GranularSyncLineError(line: 1, problem: problem)], row.line)
            case .skipped:
                XCTAssertEqual(check, GranularSyncCheck(entries: [], errors: []), row.line)
            }
        }
    }

    func testParseThrowsEveryBadLine() {
        let text = """
        cp.Test-UCM: infra
        cp.Test-UCM infra
        xx.all: both
        ad.all:
        cp.foo: full
        """
        XCTAssertThrowsError(try GranularSync(parsing: text)) { error in
            XCTAssertEqual((error as? GranularSyncError)?.messages, [
                "line 2: missing ':' after the object",
                "line 3: unknown class 'xx' (use cp, mp, pp, ad or domain)",
                "line 5: sync type 'full' is not one of infra, sub, both",
            ])
        }
    }

    func testParseKeepsGoodTextInOrder() throws {
        let granular = try GranularSync(parsing: "# weekly\ndomain.Test-Dom:\n\ncp.Test-UCM: infra\npp.all: both\n")
        XCTAssertEqual(granular.entries.map(\.text), ["domain.Test-Dom:", "cp.Test-UCM: infra", "pp.all: both"])
        XCTAssertEqual(granular.entries.map(\.line), [2, 4, 5])
    }

    func testTextWithNoEntryIsRefused() {
        XCTAssertThrowsError(try GranularSync(parsing: "# only a comment\n\n   \n")) { error in
            XCTAssertEqual((error as? GranularSyncError)?.messages, [GranularSyncError.noEntriesMessage])
            XCTAssertEqual((error as? GranularSyncError)?.description,
                           "granular: no synchronization lines (write one per line, e.g. 'cp.all: both')")
        }
        XCTAssertThrowsError(try GranularSync(parsing: ""))
    }

    func testWindowsLineEndingsKeepLineNumbers() {
        let check = GranularSync.check("cp.a: infra\r\nbad\r\nmp.b: sub\r\n")
        XCTAssertEqual(check.entries.map(\.text), ["cp.a: infra", "mp.b: sub"])
        XCTAssertEqual(check.entries.map(\.line), [1, 3])
        XCTAssertEqual(check.errors.map(\.description), ["line 2: missing '.' between class and name"])
    }

    func testEntryTextWritesTheSeedSyntax() {
        XCTAssertEqual(GranularSyncEntry(line: 1, objectClass: .presenceProcessor, object: .all, syncTypes: [.infrastructure, .subscriber]).text, "pp.all: both")
        XCTAssertEqual(GranularSyncEntry(line: 1, objectClass: .messageProcessor, object: .named("U 1"), syncTypes: [.subscriber]).text, "mp.U 1: sub")
        XCTAssertEqual(GranularSyncEntry(line: 1, objectClass: .ldapDirectory, object: .all, syncTypes: []).text, "ad.all:")
    }
}
