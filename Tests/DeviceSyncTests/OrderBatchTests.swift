import Foundation
import Orders
import Postgres
import TestSupport
import XCTest

/// `ucp order batch` (issue 15 item 7) through a real worker, PostgreSQL and `ucp devsim`: a batch
/// with bad rows is refused whole; --skip-bad-rows submits the rest and writes exactly the bad rows
/// to the failed-rows file; the same key again submits nothing new; a dry run writes nothing.
final class OrderBatchTests: OrderTestCase {
    static let header = "domain,service_area,user,phone_name,phone_model,voicemail,line"

    /// A CSV of `count` rows for user000000 … (the simulator's users), each with its own phone;
    /// `rows` replaces the cells of some rows (1-based).
    func batchFile(_ name: String = "batch.csv", count: Int, rows: [Int: String] = [:]) throws -> String {
        var lines = [Self.header]
        for number in 1...count {
            lines.append(rows[number] ?? "\(Self.domain),\(Self.area),\(user(number)),\(phone(number)),Cisco 8845,no,")
        }
        let path = folder + "/" + name
        try (lines.joined(separator: "\r\n") + "\r\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func user(_ number: Int) -> String { String(format: "user%06d", number - 1) }
    func phone(_ number: Int) -> String { String(format: "SEP00BB0000%04d", number) }

    func count(_ sql: String) async throws -> Int64 {
        try await self.sql(sql)[0].decode("n", as: Int64.self)
    }

    func testBadRowsRefuseTheBatchWholeThenSkipBadRowsSubmitsTheRestAndTheSameKeySubmitsNothingNew() async throws {
        try await prepare(users: 100, block: "4000-4199")
        let rows = [
            10: "\(Self.domain),\(Self.area),nosuchuser,\(phone(10)),Cisco 8845,no,",
            50: "\(Self.domain),\(Self.area),\(user(50)),\(phone(50)),Cisco 9999,no,",
            90: "\(Self.domain),\(Self.area),\(user(90)),\(phone(2)),Cisco 8845,no,",
            // A row asking for a number inside the block: no automatic row takes it.
            80: "\(Self.domain),\(Self.area),\(user(80)),\(phone(80)),Cisco 8845,no,4003",
        ]
        let file = try batchFile(count: 100, rows: rows)

        // Refused whole: exactly the three row/column errors, nothing written.
        let refused = try harness.ucp(["order", "batch", "-f", file, "--key", "B1", "--wait"])
        XCTAssertEqual(refused.status, 64, refused.stdout + refused.stderr)
        let errors = refused.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(errors.filter { $0.hasPrefix("ucp: row ") }, [
            "ucp: row 10, column 3: user: no such user 'nosuchuser' in the inventory (synchronize it first)",
            "ucp: row 50, column 5: phone.model: unknown phone model 'Cisco 9999' (known: Cisco 7821, Cisco 7841, Cisco 8845, Cisco 8851, Cisco 8865, Cisco Unified Client Services Framework)",
            "ucp: row 90, column 4: phone.name: 'SEP00BB00000002' is also on row 2",
        ], refused.stderr)
        XCTAssertTrue(errors.last?.contains("batch: 3 of 100 rows are bad; nothing submitted") == true, refused.stderr)
        let noOrders = try await count("SELECT count(*)::bigint AS n FROM orders")
        XCTAssertEqual(noOrders, 0)
        XCTAssertEqual(try writes(), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: OrderBatch.failedRowsPath(for: file)))

        // A dry run checks, prints the plan and writes nothing.
        let dry = try ucp(["order", "batch", "-f", file, "--key", "B1", "--skip-bad-rows", "--dry-run"])
        XCTAssertTrue(dry.stdout.contains("100 rows; would submit 97 orders (1 with their line, 96 with the next free number: 4000…4096)"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("3 bad rows skipped; nothing written (dry run)"), dry.stdout)
        let stillNone = try await count("SELECT count(*)::bigint AS n FROM orders")
        XCTAssertEqual(stillNone, 0)
        XCTAssertEqual(try writes(), [])

        // --skip-bad-rows: the 97 others succeed; the failed-rows file holds exactly the three.
        let run = try ucp(["order", "batch", "-f", file, "--key", "B1", "--skip-bad-rows", "--wait"])
        XCTAssertTrue(run.stdout.contains("batch batch.csv: 100 rows, 97 orders submitted, 3 bad rows skipped"), run.stdout)
        XCTAssertTrue(run.stdout.contains("97/97 done, 0 failed"), run.stdout)
        XCTAssertTrue(run.stdout.contains("3 failed rows written to \(OrderBatch.failedRowsPath(for: file))"), run.stdout)
        let succeeded = try await count("SELECT count(*)::bigint AS n FROM orders WHERE state = 'succeeded'")
        XCTAssertEqual(succeeded, 97)
        let distinct = try await count("SELECT count(DISTINCT line)::bigint AS n FROM orders")
        XCTAssertEqual(distinct, 97, "no two rows took one number")
        let asked = try await sql("SELECT user_id, line FROM orders WHERE line = '4003'").map { try $0.decode("user_id", as: String.self) }
        XCTAssertEqual(asked, [user(80)])
        let failed = try String(contentsOfFile: OrderBatch.failedRowsPath(for: file), encoding: .utf8)
        let failedRows = try CSV.records(failed, file: "failed")
        XCTAssertEqual(failedRows.first?.cells, Self.header.split(separator: ",").map(String.init) + ["error"])
        XCTAssertEqual(failedRows.dropFirst().map { $0.cells[2] }, ["nosuchuser", user(50), user(90)])
        XCTAssertEqual(failedRows.dropFirst().map { $0.cells.last!.components(separatedBy: ":").first! }, ["row 10, column 3", "row 50, column 5", "row 90, column 4"])
        let audit = try await sql("SELECT message FROM audit_log WHERE action = 'order.batch' ORDER BY id").map { try $0.decode("message", as: String.self) }
        XCTAssertEqual(audit, ["Batch batch.csv: 100 rows, 97 submitted, 0 already submitted, 3 skipped as bad, 0 refused at submission"])

        // The same batch with the same key again: nothing new.
        let again = try ucp(["order", "batch", "-f", file, "--key", "B1", "--skip-bad-rows", "--wait"])
        XCTAssertTrue(again.stdout.contains("100 rows, 0 orders submitted, 97 already submitted with this key, 3 bad rows skipped"), again.stdout)
        let total = try await count("SELECT count(*)::bigint AS n FROM orders")
        XCTAssertEqual(total, 97)
    }

    /// An order of the batch that fails on the device is rolled back and its row goes to the
    /// failed-rows file (exit 1); that file, fixed nothing but the device, sent again with the same
    /// key submits only that row again (under the key's next form), which then succeeds.
    /// A row whose user has an open order is refused at the check, with the other bad rows: nothing
    /// of the batch is written (it used to pass the check and be refused at submission, after the
    /// rows before it were submitted).
    func testARowWhoseUserHasAnOpenOrderRefusesTheBatchWhole() async throws {
        try await prepare()
        harness.processes.kill("worker")
        let open = try orderID(try ucp(["order", "submit", "-f", try orderFile(user: user(2), phone: "SEP00AA00BB0042")]))
        let file = try batchFile(count: 3)
        let refused = try harness.ucp(["order", "batch", "-f", file])
        XCTAssertEqual(refused.status, 64, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("ucp: row 2, column 3: user: '\(user(2))' has open add order \(open) (submitted)"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("batch: 1 of 3 rows are bad; nothing submitted"), refused.stderr)
        let orders = try await count("SELECT count(*)::bigint AS n FROM orders")
        XCTAssertEqual(orders, 1, "only the open order")
    }

    func testAFailedOrderGoesToTheFailedRowsFileAndItsResubmitRunsOnlyThatRow() async throws {
        try await prepare()
        let file = try batchFile(count: 3)
        try fault("fail=addPhone:1")
        let run = try harness.ucp(["order", "batch", "-f", file, "--key", "F1", "--wait", "--failed-rows", folder + "/out.csv"])
        XCTAssertEqual(run.status, 1, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("2/3 done, 1 failed"), run.stdout)
        let failedRows = try CSV.records(try String(contentsOfFile: folder + "/out.csv", encoding: .utf8), file: "out")
        XCTAssertEqual(failedRows.count, 2, "the header and the one failed row")
        let error = try XCTUnwrap(failedRows.last?.cells.last)
        XCTAssertTrue(error.contains("rolled back") && error.contains("Simulated failure"), error)

        try fault("clear=1")
        let again = try ucp(["order", "batch", "-f", folder + "/out.csv", "--key", "F1", "--wait", "--json"])
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any], again.stdout)
        XCTAssertEqual(summary["rows"] as? Int, 1)
        XCTAssertEqual(summary["submitted"] as? Int, 1)
        XCTAssertEqual(summary["states"] as? [String: Int], ["succeeded": 1])
        XCTAssertTrue(summary["failed_rows"] is NSNull, again.stdout)
        let keys = try await sql("SELECT submit_key || ' ' || state AS k FROM orders ORDER BY id").map { try $0.decode("k", as: String.self) }
        let failedUser = try XCTUnwrap(failedRows.last?.cells[2])
        let expected = [user(1), user(2), user(3)].flatMap { user in
            user == failedUser ? ["F1:\(user) rolled_back", "F1:\(user)#2 succeeded"] : ["F1:\(user) succeeded"]
        }
        XCTAssertEqual(keys.sorted(), expected.sorted(), "the failed row's order (whichever the device refused) was sent again")
    }

    /// The failed-rows file keeps every cell of a failed row, a row with more cells than the header
    /// too; a rerun in which no row fails removes the earlier file (it would be sent again as if its
    /// rows had failed now); --failed-rows naming the batch file, by any spelling or a hard link, is
    /// refused: one line naming the field, exit 64, nothing written.
    func testFailedRowsKeepEveryCellAStaleFileIsRemovedAndTheBatchFileIsNeverOverwritten() async throws {
        try await prepare()
        let surplus = "\(Self.domain),\(Self.area),\(user(2)),\(phone(2)),Cisco 8845,no,,surplus"
        let file = try batchFile(count: 3, rows: [2: surplus])
        let written = try String(contentsOfFile: file, encoding: .utf8)
        XCTAssertEqual(link(file, folder + "/linked.csv"), 0)
        for target in [file, folder + "/./batch.csv", folder + "/linked.csv"] {
            let refused = try harness.ucp(["order", "batch", "-f", file, "--skip-bad-rows", "--failed-rows", target])
            XCTAssertEqual(refused.status, 64, refused.stdout + refused.stderr)
            XCTAssertEqual(refused.stderr, "ucp: failed-rows: '\(target)' is the batch file itself; name another file (it would be overwritten)\n")
            XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), written, "the batch file as it was")
        }
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM orders"), 0, "nothing submitted")

        let failedPath = OrderBatch.failedRowsPath(for: file)
        let run = try ucp(["order", "batch", "-f", file, "--key", "S1", "--skip-bad-rows"])
        XCTAssertTrue(run.stdout.contains("1 failed row written to \(failedPath)"), run.stdout)
        let rows = try CSV.records(try String(contentsOfFile: failedPath, encoding: .utf8), file: "failed")
        XCTAssertEqual(rows.count, 2, "the header and the row with a cell too many")
        XCTAssertEqual(rows.last?.cells, surplus.components(separatedBy: ",") + ["row 2, column 8: row: has 8 cells; the header has 7"],
                       "every cell as written, then the error")

        // The row fixed: the rerun submits it, no row fails, and the earlier failed rows are gone.
        _ = try batchFile(count: 3)
        let rerun = try ucp(["order", "batch", "-f", file, "--key", "S1", "--skip-bad-rows"])
        XCTAssertTrue(rerun.stdout.contains("3 rows, 1 order submitted, 2 already submitted with this key"), rerun.stdout)
        XCTAssertTrue(rerun.stdout.contains("no failed rows; the earlier \(failedPath) removed"), rerun.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: failedPath))
    }

    /// A failed-rows file that cannot be written (here a folder) is refused before any order is
    /// queued: one line naming the field, exit 64, no order. It used to be found out at the end, the
    /// good rows' orders queued, and the command exit 64 as if nothing had been written (`--json`
    /// printing nothing).
    func testAnUnwritableFailedRowsFileIsRefusedBeforeAnyOrderIsQueued() async throws {
        try await prepare()
        let bad = "\(Self.domain),\(Self.area),nosuchuser,\(phone(3)),Cisco 8845,no,"
        let file = try batchFile(count: 3, rows: [3: bad])
        let unwritable = folder + "/a-folder"
        try FileManager.default.createDirectory(atPath: unwritable, withIntermediateDirectories: false)
        let jobsBefore = try await count("SELECT count(*)::bigint AS n FROM jobs")
        for options in [["--skip-bad-rows"], ["--skip-bad-rows", "--json"], ["--skip-bad-rows", "--wait"]] {
            let refused = try harness.ucp(["order", "batch", "-f", file, "--failed-rows", unwritable] + options)
            XCTAssertEqual(refused.status, 64, "\(options): \(refused.stdout + refused.stderr)")
            XCTAssertEqual(refused.stderr, "ucp: failed-rows: cannot write '\(unwritable)'; nothing submitted\n", "\(options)")
            XCTAssertEqual(refused.stdout, "", "\(options)")
        }
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM orders"), 0, "no order queued")
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM jobs"), jobsBefore, "no job queued")
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: unwritable, isDirectory: &isDirectory) && isDirectory.boolValue, "the folder as it was")

        // A dry run writes no file, so it does not ask for one.
        let dry = try harness.ucp(["order", "batch", "-f", file, "--failed-rows", unwritable, "--skip-bad-rows", "--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stdout + dry.stderr)
    }

    /// --key skips the rows whose order already succeeded (issue 15 item 7), not one whose order
    /// failed (on_failure: stop): a rerun does not submit that row again while its order holds the
    /// user, and reports it as a failed row (exit 1, in the failed-rows file with what to do with
    /// the order). Once the order is rolled back, the row is submitted again.
    func testAKeyedRowWhoseOrderFailedIsAFailedRowOfTheRerun() async throws {
        try await prepare()
        let lines = [Self.header + ",on_failure"] + (1...2).map { "\(Self.domain),\(Self.area),\(user($0)),\(phone($0)),Cisco 8845,no,,stop" }
        let file = folder + "/stop.csv"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        try fault("fail=addPhone:1")
        let run = try harness.ucp(["order", "batch", "-f", file, "--key", "K1", "--wait"])
        XCTAssertEqual(run.status, 1, run.stdout + run.stderr)
        let failed = try await sql("SELECT id, user_id FROM orders WHERE state = 'failed'")
        XCTAssertEqual(failed.count, 1)
        let failedID: Int64 = try failed[0].decode("id"), failedUser: String = try failed[0].decode("user_id")
        try fault("clear=1")

        let again = try harness.ucp(["order", "batch", "-f", file, "--key", "K1", "--wait"])
        XCTAssertEqual(again.status, 1, again.stdout + again.stderr)
        XCTAssertTrue(again.stdout.contains("2 rows, 0 orders submitted, 1 already submitted with this key, "
                                            + "1 submitted before with this key and failed (not submitted again)"), again.stdout)
        let rows = try CSV.records(try String(contentsOfFile: OrderBatch.failedRowsPath(for: file), encoding: .utf8), file: "failed")
        XCTAssertEqual(rows.count, 2, "the header and the failed order's row")
        XCTAssertEqual(rows.last?.cells[2], failedUser)
        XCTAssertEqual(rows.last?.cells.last, "order \(failedID), submitted before with key 'K1:\(failedUser)', is failed; not submitted again: "
                       + "`ucp order rollback \(failedID)` undoes what it did, `ucp order retry \(failedID)` goes on")
        await assertEqual(try await count("SELECT count(*)::bigint AS n FROM orders"), 2, "nothing submitted")

        XCTAssertEqual(try harness.ucp(["order", "rollback", String(failedID), "--wait"]).status, 0)
        let third = try ucp(["order", "batch", "-f", file, "--key", "K1", "--wait"])
        XCTAssertTrue(third.stdout.contains("2 rows, 1 order submitted, 1 already submitted with this key"), third.stdout)
        let keys = try await sql("SELECT submit_key || ' ' || state AS k FROM orders WHERE user_id = '\(failedUser)' ORDER BY id")
            .map { try $0.decode("k", as: String.self) }
        XCTAssertEqual(keys, ["K1:\(failedUser) rolled_back", "K1:\(failedUser)#2 succeeded"])
    }

    /// The failed-rows file of a YAML batch is YAML with an `error` field; its refusals name the line.
    func testYAMLBatchRefusalsNameLineAndColumn() async throws {
        try await prepare()
        let path = folder + "/batch.yaml"
        try """
            - domain: \(Self.domain)
              service_area: \(Self.area)
              user: user000001
              phone: {name: SEP00CC00000001, model: Cisco 8845}
            - domain: \(Self.domain)
              service_area: \(Self.area)
              user: user000002
              phone:
                name: SEP00CC00000002
                model: Cisco 8845
              line: "5000"

            """.write(toFile: path, atomically: true, encoding: .utf8)
        let refused = try harness.ucp(["order", "batch", "-f", path])
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("ucp: row 2, column 3 (line 11): line: 5000 is outside the blocks of service area 'SA_Orders' (4000-4009"), refused.stderr)
        let dry = try ucp(["order", "batch", "-f", path, "--skip-bad-rows", "--dry-run", "--json"])
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any], dry.stdout)
        XCTAssertEqual(summary["to_submit"] as? Int, 1)
        XCTAssertEqual((summary["bad"] as? [String])?.count, 1)
        let run = try ucp(["order", "batch", "-f", path, "--skip-bad-rows", "--wait"])
        XCTAssertTrue(run.stdout.contains("1/1 done, 0 failed"), run.stdout)
        let failed = try String(contentsOfFile: OrderBatch.failedRowsPath(for: path), encoding: .utf8)
        XCTAssertTrue(failed.contains("user: user000002"), failed)
        XCTAssertTrue(failed.contains("error: \"row 2, column 3 (line 11): line: 5000 is outside"), failed)
        XCTAssertFalse(failed.contains("user000001"), failed)
    }
}

/// The batch file's reading without a database: CSV quoting, the header, per-row refusals.
final class OrderBatchFileTests: XCTestCase {
    func testCSVQuotesCommasLineBreaksAndCRLF() throws {
        let text = "\u{FEFF}a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\n\r\n,,\nlast,\"\",z"
        let records = try CSV.records(text, file: "t.csv")
        XCTAssertEqual(records.map(\.cells), [["a", "b", "c"], ["x, y", "say \"hi\"", "two\r\nlines"], ["", "", ""], ["last", "", "z"]])
        XCTAssertEqual(records.map(\.line), [1, 2, 5, 6])
        XCTAssertThrowsError(try CSV.records("a,\"open\nb", file: "t.csv")) { error in
            XCTAssertEqual("\(error)", "t.csv line 1: a quoted field is not closed")
        }
        XCTAssertThrowsError(try CSV.records("a,b\"c\n", file: "t.csv")) { error in
            XCTAssertTrue("\(error)".hasPrefix("t.csv line 1: a quote inside an unquoted field"), "\(error)")
        }
        XCTAssertEqual(CSV.line(["plain", "a,b", "say \"hi\"", "two\nlines"]), "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"")
        XCTAssertEqual(try CSV.records(CSV.line(["a,b", "say \"hi\"", "two\r\nlines"]), file: "t").map(\.cells), [["a,b", "say \"hi\"", "two\r\nlines"]])
    }

    /// Yams composes one stack frame per level: nesting a few kilobytes deep ended the process (a
    /// segfault of `ucp order plan|batch`, and of `ucp serve` on a posted body). Refused with one line.
    func testDeeplyNestedYAMLIsRefusedWithOneLineNotACrash() throws {
        for (text, line) in [(String(repeating: "[", count: 30_000), 1),
                             ("domain: Cisco\nuser: jdoe\nphone: " + String(repeating: "{a: ", count: 20_000), 3),
                             (String(repeating: "- ", count: 20_000) + "x", 1)] {
            XCTAssertThrowsError(try OrderFile.parse(text, file: "o.yaml")) { error in
                XCTAssertEqual("\(error)", "yaml (o.yaml line \(line)): nested deeper than 64 levels")
            }
            XCTAssertThrowsError(try OrderBatch.parse(text, format: .yaml, file: "b.yaml")) { error in
                XCTAssertEqual("\(error)", "yaml (b.yaml line \(line)): nested deeper than 64 levels")
            }
        }
        // Brackets and indicators inside quoted values and comments are not nesting; a file as
        // deep as the limit is read.
        let quoted = """
            domain: Cisco   # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
            service_area: "\(String(repeating: "[{- ", count: 20))\\"\(String(repeating: "[", count: 40))"
            user: '\(String(repeating: "{: ? ", count: 20))''\(String(repeating: "[", count: 40))'
            phone: {name: SEP001122334455, model: Cisco 8845}

            """
        let request = try OrderFile.parse(quoted, file: "o.yaml")
        XCTAssertEqual(request.user, String(repeating: "{: ? ", count: 20) + "'" + String(repeating: "[", count: 40))
        XCTAssertThrowsError(try OrderFile.parse("domain: " + String(repeating: "[", count: 63) + String(repeating: "]", count: 63), file: "o.yaml")) { error in
            XCTAssertEqual("\(error)", "domain (o.yaml line 1): must be a single value", "as deep as the limit: read, then refused for what it is")
        }
    }

    /// Aliases of aliases ("billion laughs"), or of a long value: a few kilobytes that Yams composes
    /// as shared copies, but that a batch's failed-rows file wrote out whole (gigabytes: `ucp order
    /// batch --skip-bad-rows` spun there, after submitting the good rows). Refused with one line; an
    /// alias of a short value is still read.
    func testAliasesRepeatingPastTheFilesSizeAreRefused() throws {
        var laughs = "- domain: Cisco\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 {
            laughs += "  a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let long = "- domain: &long " + String(repeating: "x", count: 2_000) + "\n  user: [" + Array(repeating: "*long", count: 1_000).joined(separator: ", ") + "]\n"
        for text in [laughs, long] {
            XCTAssertThrowsError(try OrderBatch.parse(text, format: .yaml, file: "b.yaml")) { error in
                XCTAssertTrue("\(error)".hasPrefix("yaml (b.yaml line "), "\(error)")
                XCTAssertTrue("\(error)".hasSuffix("): its aliases (*name) repeat more than 4 times the file's size; write the values out"), "\(error)")
            }
            // The same item as an order file.
            XCTAssertThrowsError(try OrderFile.parse(String(text.dropFirst(2)).replacingOccurrences(of: "\n  ", with: "\n"), file: "o.yaml")) { error in
                XCTAssertTrue("\(error)".hasSuffix("): its aliases (*name) repeat more than 4 times the file's size; write the values out"), "\(error)")
            }
        }
        let request = try OrderFile.parse("""
            domain: &d Cisco
            service_area: *d
            user: jdoe
            phone: {name: SEP001122334455, model: Cisco 8845}
            """, file: "o.yaml")
        XCTAssertEqual(request.serviceArea, "Cisco")
    }

    func testCSVRowsBecomeOrdersAndBadCellsNameRowAndColumn() throws {
        let text = """
            domain,service_area,user,phone_name,phone_model,voicemail,line,error
            Cisco,"SA, quoted",null,SEP001,Cisco 8845,yes,,old error
            Cisco,SA,jdoe,SEP 002,Cisco 8845,no,,
            Cisco,SA,jdoe,SEP003,Cisco 8845,maybe,,
            Cisco,SA,jdoe,SEP004
            """
        let batch = try OrderBatch.parse(text, format: .csv, file: "b.csv")
        XCTAssertEqual(batch.rows.count, 4)
        let first = try XCTUnwrap(batch.rows[0].request)
        XCTAssertEqual(first.serviceArea, "SA, quoted")
        XCTAssertEqual(first.user, "null", "a cell is text")
        XCTAssertTrue(first.voicemail)
        XCTAssertNil(first.line)
        XCTAssertEqual(batch.rows[0].refusals, [])
        XCTAssertEqual(batch.rows[1].refusals, ["row 2, column 4: phone.name: 'SEP 002' must be 1 to 50 letters, digits, '.', '_' or '-' (e.g. SEP001122334455)"])
        XCTAssertEqual(batch.rows[2].refusals, ["row 3, column 6: voicemail: must be yes or no"])
        XCTAssertEqual(batch.rows[3].refusals, ["row 4, column 5: row: has 4 cells; the header has 8"])
        XCTAssertThrowsError(try OrderBatch.parse("domain,user,phone\nx,y,z\n", format: .csv, file: "b.csv")) { error in
            XCTAssertTrue("\(error)".hasPrefix("header, column 3: unknown column 'phone'"), "\(error)")
        }
        XCTAssertThrowsError(try OrderBatch.parse("domain,user\nx,y\n", format: .csv, file: "b.csv")) { error in
            XCTAssertTrue("\(error)".hasPrefix("header: missing columns service_area, phone_name, phone_model"), "\(error)")
        }
        // A field holding one value with a suffix is no column (it was taken for a mapping, and every row
        // then refused: "user: must be a single value"); a mapping's fields are, and the list names them.
        XCTAssertThrowsError(try OrderBatch.parse("domain,service_area,user,phone_name,phone_model,user_id\nx,y,z,p,m,u\n",
                                                  format: .csv, file: "b.csv")) { error in
            XCTAssertEqual("\(error)", "header, column 6: unknown column 'user_id' (known: domain, service_area, user, line, phone_name, "
                           + "phone_model, voicemail, on_failure, credential_policy, extension_mobility, single_number_reach_destination, "
                           + "im_and_presence_service_profile, conference_now_access_code)")
        }
        let nested = try OrderBatch.parse("""
            domain,service_area,user,phone_name,phone_model,single_number_reach_destination,conference_now_access_code
            Cisco,SA,jdoe,SEP001,Cisco 8845,+15551234567,1234
            """, format: .csv, file: "b.csv")
        XCTAssertEqual(nested.rows[0].refusals, [])
        XCTAssertEqual(nested.rows[0].request?.singleNumberReach, "+15551234567")
        XCTAssertEqual(nested.rows[0].request?.conferenceNow, "1234")
    }
}
