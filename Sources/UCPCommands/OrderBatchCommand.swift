import ArgumentParser
import Foundation
import Orders
import Postgres
import Runtime

extension OrderCommand {
    struct Batch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Submit one add order per row of a CSV or YAML file; every row is checked first.",
            discussion: """
                CSV: a header naming the order file's fields: domain, service_area, user, phone_name, phone_model \
                (required), line, voicemail, credential_policy, on_failure (optional; an empty cell leaves the field \
                out). YAML: a list of orders, each as `order submit` reads one. An `error` column (field) is ignored, \
                so a failed-rows file can be fixed and sent again.

                Every row is checked before anything is written, as `order plan` checks a file, and against the \
                other rows (the same user, phone or line twice; automatic numbers never collide). A bad row is \
                printed as `row N, column C: field: rule` (row N: the Nth order of the file, the header not \
                counted; YAML adds the line); any bad row and nothing is submitted (exit 64), unless \
                --skip-bad-rows. --key K gives each row the key K:user: sending the batch again submits nothing \
                new (a row whose order was rolled back or canceled is submitted again; one whose order failed or \
                needs attention is not, and is a failed row: retry or roll back that order). With --wait the rows' orders are \
                followed to their end (a progress bar on a terminal) and exit 1 if any order did not succeed; the failed rows \
                (skipped bad rows, orders failed, rolled back or needing attention) go to FILE.failed.csv|yaml \
                with an error column (an earlier run's file is removed when no row fails; --failed-rows may not \
                name the batch file).
                """)
        @Option(name: .shortAndLong, help: "The batch file: FILE.csv or FILE.yaml.") var file: String
        @Flag(help: "Check every row and print what would be submitted. Writes nothing.") var dryRun = false
        @Flag(help: "Follow the orders to their end with a progress bar; exit 1 if any failed.") var wait = false
        @Flag(help: "Submit the good rows even when some are bad (the bad ones go to the failed-rows file).") var skipBadRows = false
        @Option(help: "The batch's idempotency key: each row's key is KEY:user; a resubmitted batch submits nothing new.") var key: String?
        @Option(help: "Where the failed rows go (default FILE.failed.csv or FILE.failed.yaml).") var failedRows: String?
        @Flag(help: "Print JSON.") var json = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            if let key, key.isEmpty || key.count > 150 { throw InputError(field: "key", problem: "must be 1 to 150 characters") }
            let failedPath = failedRows ?? OrderBatch.failedRowsPath(for: file)
            if OrderBatch.sameFile(failedPath, file) {
                throw InputError(field: "failed-rows", problem: "\(InputError.quoted(failedPath)) is the batch file itself; name another file (it would be overwritten)")
            }
            // Before any order is queued: a batch that queued its orders and then failed on this file
            // would exit 64 as if nothing had been written.
            if !dryRun { try Self.checkWritable(failedPath) }
            var batch = try OrderBatch.read(path: file)
            let connection = Connection(try await Database.open())
            try await batch.check(connection, key: key)
            let bad = batch.bad
            let refusals = bad.flatMap(\.refusals)
            if !bad.isEmpty && !skipBadRows {
                throw InputError(refusals.map { InputError(line: $0) }
                                 + [InputError(field: "batch", problem: "\(bad.count) of \(batch.rows.count) rows are bad; nothing submitted (--skip-bad-rows submits the others)")])
            }
            let skipped = bad.isEmpty ? "" : ", \(Self.count(bad.count, "bad row")) skipped"
            let already = batch.alreadySubmitted.count
            let failedBefore = batch.failedBefore.count
            let alreadyText = (already == 0 ? "" : ", \(already) already submitted with this key")
                + (failedBefore == 0 ? "" : ", \(failedBefore) submitted before with this key and failed (not submitted again)")
            for line in refusals { FileHandle.standardError.write(Data("ucp: \(line)\n".utf8)) }
            if dryRun {
                if json {
                    print(try Output.json(["rows": batch.rows.count, "to_submit": batch.toSubmit.count, "already_submitted": already,
                                           "failed_before": failedBefore, "bad": refusals]))
                    return
                }
                let indices = batch.toSubmit
                let asked = indices.filter { batch.rows[$0].request?.line != nil }.count
                let numbers = indices.compactMap { batch.rows[$0].plannedLine }
                print("batch \(batch.file): \(Self.count(batch.rows.count, "row")); would submit \(Self.count(indices.count, "order"))"
                      + " (\(asked) with their line, \(numbers.count) with the next free number\(numbers.isEmpty ? "" : ": \(numbers.first!)…\(numbers.last!)"))"
                      + "\(alreadyText)\(skipped); nothing written (dry run)")
                return
            }
            let terminal = isatty(STDOUT_FILENO) == 1 && !json
            var meter = Meter(terminal: terminal, quiet: json, total: batch.toSubmit.count)
            try await batch.submit(connection, actor: global.actorName) { through, total, ids in
                guard meter.due || through == total else { return }
                let states = wait ? try await OrderBatch.states(connection, of: ids) : [:]
                meter.show(submitted: through, of: total, states: states, final: false)
            }
            let submitted = batch.submittedIDs.count
            let refused = batch.rows.compactMap(\.submitError)
            meter.end()
            for line in refused { FileHandle.standardError.write(Data("ucp: \(line)\n".utf8)) }
            if !json {
                print("batch \(batch.file): \(Self.count(batch.rows.count, "row")), \(Self.count(submitted, "order")) submitted\(alreadyText)\(skipped)"
                      + (refused.isEmpty ? "" : ", \(refused.count) refused at submission"))
            }
            if wait && submitted > 0 {
                // Until every order the batch submitted has ended (succeeded, failed, rolled back, needs attention).
                meter.total = submitted
                let ids = batch.submittedIDs
                while true {
                    let states = try await OrderBatch.states(connection, of: ids)
                    let finished = Meter.ended(states) >= submitted
                    if meter.due || finished { meter.show(submitted: submitted, of: submitted, states: states, final: finished) }
                    if finished { break }
                    try await Task.sleep(nanoseconds: 200_000_000)
                }
                try await batch.refresh(connection)
            }
            let failed = batch.rows.filter { batch.failure($0) != nil }
            if let text = try batch.failedRowsText() {
                guard FileManager.default.createFile(atPath: failedPath, contents: Data(text.utf8)) else {
                    throw InputError(field: "failed-rows", problem: "cannot write \(InputError.quoted(failedPath))")
                }
                if !json { print("\(Self.count(failed.count, "failed row")) written to \(failedPath)") }
            } else if FileManager.default.fileExists(atPath: failedPath) {
                // An earlier run's failed rows, if kept, would be sent again as if they had failed now.
                do {
                    try FileManager.default.removeItem(atPath: failedPath)
                } catch {
                    throw InputError(field: "failed-rows", problem: "no row failed, but the earlier \(InputError.quoted(failedPath)) cannot be removed: \(error.localizedDescription)")
                }
                if !json { print("no failed rows; the earlier \(failedPath) removed") }
            }
            if json {
                let states = try await OrderBatch.states(connection, of: batch.submittedIDs)
                print(try Output.json(["rows": batch.rows.count, "submitted": submitted, "already_submitted": already,
                                       "skipped": refusals, "refused": refused, "states": states,
                                       "failed_rows": failed.isEmpty ? NSNull() as Any : failedPath as Any]))
            }
            if failed.contains(where: { !$0.isBad }) { throw ExitCode(1) }
        }

        /// The batch's progress: a bar redrawn in place on a terminal (orders done and failed, rows
        /// submitted, rate, time left), a plain line at most every two seconds otherwise.
        struct Meter {
            var terminal: Bool
            var quiet: Bool
            var total: Int
            let clock = ContinuousClock()
            let started = ContinuousClock().now
            var shown: ContinuousClock.Instant?
            var drawn = false

            /// Time to draw again: every 0.2 s on a terminal, every 2 s otherwise.
            var due: Bool {
                guard !quiet, let shown else { return !quiet }
                return clock.now - shown >= (terminal ? .milliseconds(200) : .seconds(2))
            }

            static func ended(_ states: [String: Int]) -> Int {
                ["succeeded", "failed", "rolled_back", "needs_attention", "canceled"].reduce(0) { $0 + states[$1, default: 0] }
            }

            mutating func show(submitted: Int, of rows: Int, states: [String: Int], final: Bool) {
                guard !quiet else { return }
                shown = clock.now
                let done = states["succeeded", default: 0], ended = Self.ended(states)
                let elapsed = clock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                var line: String
                if states.isEmpty && !final {
                    line = "submitting \(submitted)/\(rows)"
                } else {
                    let rate = seconds > 0 ? Double(ended) / seconds : 0
                    line = "\(done)/\(total) done, \(ended - done) failed"
                    if submitted < rows { line += ", \(submitted)/\(rows) submitted" }
                    line += String(format: ", %.1f rows/s, ", rate)
                        + (final ? String(format: "%.0f s in all", seconds) : rate > 0 ? String(format: "%.0f s left", Double(total - ended) / rate) : "time left unknown")
                }
                let fraction = states.isEmpty ? Double(submitted) / Double(max(rows, 1)) : Double(ended) / Double(max(total, 1))
                if terminal {
                    print("\r\u{1B}[2K" + Batch.bar(fraction) + " " + line, terminator: final ? "\n" : "")
                    fflush(nil)
                    drawn = !final
                } else {
                    print(line)
                }
            }

            /// Ends a bar left on the terminal's line.
            mutating func end() {
                if drawn { print("") }
                drawn = false
            }
        }

        /// Proves the failed-rows file can be written (atomically, in its folder) or removed at the end,
        /// leaving an earlier run's file as it is: refused with one line otherwise.
        static func checkWritable(_ path: String) throws {
            let files = FileManager.default
            let refusal = InputError(field: "failed-rows", problem: "cannot write \(InputError.quoted(path)); nothing submitted")
            var isDirectory: ObjCBool = false
            if files.fileExists(atPath: path, isDirectory: &isDirectory) {
                let folder = (path as NSString).deletingLastPathComponent
                guard !isDirectory.boolValue, files.isWritableFile(atPath: path),
                      files.isWritableFile(atPath: folder.isEmpty ? "." : folder) else { throw refusal }
            } else {
                guard files.createFile(atPath: path, contents: nil) else { throw refusal }
                try? files.removeItem(atPath: path)
            }
        }

        /// `1 row`, `2 rows`.
        static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

        static func bar(_ fraction: Double) -> String {
            let width = 30, filled = Int(min(1, max(0, fraction)) * Double(width))
            return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
        }
    }
}
