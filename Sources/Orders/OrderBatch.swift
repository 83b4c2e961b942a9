import Foundation
import Inventory
import Postgres
import Queue
import Runtime
import Yams

/// A batch of add orders (`ucp order batch -f FILE.csv|FILE.yaml`): one order per row, every row
/// checked before anything is written, by the same checks as `order plan|submit` (OrderFile.request,
/// then OrderStore.plan), plus duplicates inside the file and the numbers the rows will take.
///
/// - CSV: a header naming the order file's fields, a nested field by its path joined with '_'
///   (`domain,service_area,user,line,phone_name,phone_model,voicemail,credential_policy,on_failure`);
///   an empty cell is a field left out. Quotes, commas and line breaks inside quotes, CRLF.
/// - YAML: a list of orders, each as `order submit` reads one.
///
/// An `error` column (field) is ignored, so that the failed-rows file can be fixed and sent again.
public struct OrderBatch {
    public enum Format: String, Sendable { case csv, yaml }

    /// One row of the file and what the checks made of it.
    public struct Row {
        /// 1-based, in the order of the file.
        public var number: Int
        /// The file's line the row starts on.
        public var line: Int
        /// CSV: the row's cells as written; YAML: the item as written.
        var cells: [String]
        var node: Node?
        public var request: OrderRequest?
        /// `row N, column C: field: rule` lines; a row with any is bad.
        public var refusals: [String] = []
        /// The row's idempotency key (`--key K`: K and the user).
        public var key: String?
        /// The order submitted before with the row's key (nothing is submitted again).
        public var existing: Order?
        /// The number an automatic row was given by the checks (submit chooses it again under the lock).
        public var plannedLine: String?
        /// The order this batch submitted for the row, or why its submission was refused.
        public var submitted: Order?
        public var submitError: String?

        public var isBad: Bool { !refusals.isEmpty }
    }

    public var format: Format
    public var file: String
    /// CSV: the header's column names as written (lower case).
    public var header: [String]
    public var rows: [Row]

    static let errorField = "error"

    // MARK: reading

    public static func read(path: String) throws -> OrderBatch {
        let name = (path as NSString).lastPathComponent
        let format: Format
        switch (path as NSString).pathExtension.lowercased() {
        case "csv": format = .csv
        case "yaml", "yml": format = .yaml
        default: throw InputError(field: "file", problem: "\(InputError.quoted(path)) must end in .csv, .yaml or .yml")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(field: "file", problem: "cannot read \(InputError.quoted(path))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(field: "file", problem: "\(InputError.quoted(path)) is not UTF-8 text")
        }
        return try parse(text, format: format, file: name)
    }

    /// The rows of a batch file; a row's own problems become its refusals, a problem of the whole
    /// file (the header, malformed YAML, no rows) is thrown.
    public static func parse(_ text: String, format: Format, file: String) throws -> OrderBatch {
        let batch = format == .csv ? try parseCSV(text, file: file) : try parseYAML(text, file: file)
        guard !batch.rows.isEmpty else { throw InputError(field: "file", problem: "\(InputError.quoted(file)) holds no orders") }
        return batch
    }

    /// The column of a CSV header: a field holding one value, or one of a mapping's as `parent_child`
    /// (`phone_name`); nil for any other (`user_id` is no column: `user` holds one value).
    static func path(ofColumn column: String) -> (String, String?)? {
        if OrderFile.topFields.contains(column), OrderFile.mappingFields[column] == nil { return (column, nil) }
        for (parent, children) in OrderFile.mappingFields where column.hasPrefix(parent + "_") {
            let child = String(column.dropFirst(parent.count + 1))
            return children.contains(child) ? (parent, child) : nil
        }
        return nil
    }

    static var knownColumns: [String] {
        OrderFile.topFields.flatMap { field in OrderFile.mappingFields[field].map { $0.map { field + "_" + $0 } } ?? [field] }
    }

    static func parseCSV(_ text: String, file: String) throws -> OrderBatch {
        var records = try CSV.records(text, file: file)
        guard !records.isEmpty else { throw InputError(field: "file", problem: "\(InputError.quoted(file)) is empty (a header, then one order a row)") }
        let header = records.removeFirst().cells.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for (index, column) in header.enumerated() where column != errorField {
            guard path(ofColumn: column) != nil else {
                throw InputError(field: "header, column \(index + 1)", problem: "unknown column \(InputError.quoted(column)) (known: \(knownColumns.joined(separator: ", ")))")
            }
            guard header.firstIndex(of: column) == index else {
                throw InputError(field: "header, column \(index + 1)", problem: "\(InputError.quoted(column)) is given twice")
            }
        }
        let required = ["domain", "service_area", "user", "phone_name", "phone_model"]
        let missing = required.filter { !header.contains($0) }
        guard missing.isEmpty else {
            throw InputError(field: "header", problem: "missing column\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")) (the header names the fields: \(knownColumns.joined(separator: ", ")))")
        }
        var rows: [Row] = []
        for (index, record) in records.enumerated() {
            var row = Row(number: index + 1, line: record.line, cells: record.cells)
            guard record.cells.count == header.count else {
                row.refusals = ["row \(row.number), column \(min(record.cells.count, header.count) + 1): row: has \(record.cells.count) cells; the header has \(header.count)"]
                rows.append(row)
                continue
            }
            var top: [(String, Node)] = []
            var nested: [String: [(Node, Node)]] = [:]
            for (column, cell) in zip(header, record.cells) where column != errorField && !cell.isEmpty {
                guard let (parent, child) = path(ofColumn: column) else { continue }
                // Quoted, so that a cell is always text (`null`, `~`); voicemail plain, so yes/no reads as a flag.
                let value = Node(cell, .implicit, column == "voicemail" ? .plain : .singleQuoted)
                if let child {
                    if nested[parent] == nil { top.append((parent, Node([(Node, Node)]()))) }
                    nested[parent, default: []].append((Node(child), value))
                } else {
                    top.append((column, value))
                }
            }
            let mapping = Node(top.map { name, value in (Node(name), nested[name].map { Node($0) } ?? value) })
            do {
                row.request = try OrderFile.request(mapping, file: "row \(row.number)")
            } catch let error as InputError {
                row.refusals = [refusal(row, error, column: { field in column(of: field, in: header) })]
            }
            rows.append(row)
        }
        return OrderBatch(format: .csv, file: file, header: header, rows: rows)
    }

    /// The 1-based CSV column of a field (`phone.name` → `phone_name`; `phone` → its first column).
    static func column(of field: String, in header: [String]) -> String {
        let name = field.replacingOccurrences(of: ".", with: "_")
        let index = header.firstIndex(of: name) ?? header.firstIndex { $0.hasPrefix(name + "_") }
        return String((index ?? 0) + 1)
    }

    static func parseYAML(_ text: String, file: String) throws -> OrderBatch {
        let root = try OrderFile.compose(text, file: file)
        guard let items = root?.sequence else {
            throw InputError(field: OrderFile.fieldName("yaml", file: file, line: root?.mark?.line),
                             problem: "a batch file (YAML) is a list of orders, each a mapping of fields (domain, service_area, user, phone …)")
        }
        var rows: [Row] = []
        for (index, item) in items.enumerated() {
            var row = Row(number: index + 1, line: item.mark?.line ?? 0, cells: [], node: item)
            var node = item
            if let mapping = item.mapping {
                node = Node(mapping.filter { $0.key.string != errorField }.map { ($0.key, $0.value) })
            }
            do {
                row.request = try OrderFile.request(node, file: "row \(row.number)")
            } catch let error as InputError {
                row.refusals = [refusal(row, error, column: { field in yamlPlace(of: field, in: item) })]
            }
            rows.append(row)
        }
        return OrderBatch(format: .yaml, file: file, header: [], rows: rows)
    }

    /// Where a field of a YAML item is: `line L, column C` of its key (of the item when it is absent).
    static func yamlPlace(of field: String, in item: Node) -> String {
        var node: Node? = item, mark = item.mark
        for part in field.split(separator: ".") {
            guard let mapping = node?.mapping, let (key, value) = mapping.first(where: { $0.key.string == String(part) }) else { break }
            mark = key.mark
            node = value
        }
        return mark.map { "\($0.column) (line \($0.line))" } ?? "1"
    }

    /// `row N, column C: field: rule` of a refusal (`field (row N[ line L])`: problem).
    static func refusal(_ row: Row, _ error: InputError, column: (String) -> String) -> String {
        let field = error.field.range(of: " (").map { String(error.field[..<$0.lowerBound]) } ?? error.field
        return "row \(row.number), column \(column(field)): \(field): \(error.problem)"
    }

    func refusal(_ index: Int, _ error: InputError) -> String {
        let row = rows[index]
        return Self.refusal(row, error) { field in
            format == .csv ? Self.column(of: field, in: header) : row.node.map { Self.yamlPlace(of: field, in: $0) } ?? "1"
        }
    }

    func refusal(_ index: Int, field: String, _ problem: String) -> String {
        refusal(index, InputError(field: field, problem: problem))
    }

    // MARK: checks

    /// The key of the row of `user` under the batch key: K and the user; a row whose keyed order
    /// was rolled back (or canceled before it wrote anything) is submitted again under `K:user#2`,
    /// `#3` … (the fix-and-resubmit path).
    static func keys(_ key: String, user: String) -> [String] {
        let base = key + ":" + user.lowercased()
        return [base] + (2...100).map { "\(base)#\($0)" }
    }

    /// Checks every row against the inventory (as `order plan` does), duplicates inside the file and
    /// the numbers the automatic rows will take; rows already submitted under `key` are not checked.
    public mutating func check(_ connection: Connection, key: String?) async throws {
        let store = OrderStore(connection)
        var users: [String: Int] = [:], phones: [String: Int] = [:], lines: [String: Int] = [:]
        var automatic: [(index: Int, area: ServiceAreaDraft)] = []
        var claimed: [String: Set<String>] = [:]
        func place(_ area: ServiceAreaDraft, _ partition: String) -> String { area.callProcessor + "\u{0}" + partition }

        for index in rows.indices where !rows[index].isBad {
            guard let request = rows[index].request else { continue }
            let number = rows[index].number
            if let first = users[request.user.lowercased()] {
                rows[index].refusals.append(refusal(index, field: "user", "\(InputError.quoted(request.user)) is also on row \(first)"))
                continue
            }
            users[request.user.lowercased()] = number
            if let first = phones[request.phoneName.lowercased()] {
                rows[index].refusals.append(refusal(index, field: "phone.name", "\(InputError.quoted(request.phoneName)) is also on row \(first)"))
                continue
            }
            phones[request.phoneName.lowercased()] = number
            if let key {
                var reused: InputError?
                for candidate in Self.keys(key, user: request.user) {
                    rows[index].key = candidate
                    let row = try await connection.query(OrderSQL.orderByKeyForRequest, [candidate, OrderStore.json(request)]).first
                    let existing = try row.map(Order.init(row:))
                    guard let existing, Self.resubmitted.contains(existing.state) else {
                        // A row changed since its order was submitted is refused, as `order submit --key` refuses it.
                        if let row, let existing, !(try row.decode("same_request", as: Bool.self)) {
                            reused = OrderStore.keyReused(candidate, by: existing)
                        } else {
                            rows[index].existing = existing
                        }
                        break
                    }
                }
                if let reused {
                    rows[index].refusals.append(refusal(index, reused))
                    continue
                }
                if rows[index].existing != nil { continue }
            }
            let plan: OrderPlan
            do {
                plan = try await store.plan(request, chooseNumber: false)
            } catch let error as InputError {
                rows[index].refusals.append(refusal(index, error))
                continue
            }
            // Planning leaves the user's open orders to the submission; a batch checks them here, so
            // that a row refused for one is refused before anything of the batch is written.
            let userID = plan.inputs.user.userID
            if let open = try await connection.withSession({ try OrderStore.openOrder($0, userID: userID) }) {
                rows[index].refusals.append(refusal(index, field: "user", "'\(userID)' " + OrderStore.openOrderProblem(open)))
                continue
            }
            let area = plan.inputs.area
            guard let line = request.line else {
                automatic.append((index, area))
                continue
            }
            do {
                let (_, partition) = try await connection.withSession { session in try OrderStore.chooseNumber(session, request, area) }
                let at = place(area, partition) + "\u{0}" + line
                if let first = lines[at] {
                    rows[index].refusals.append(refusal(index, field: "line", "\(line) is also on row \(first)"))
                    continue
                }
                lines[at] = number
                claimed[place(area, partition), default: []].insert(line)
            } catch let error as InputError {
                rows[index].refusals.append(refusal(index, error))
            }
        }

        // The automatic rows take the next free numbers in row order, after the explicit ones.
        var taken: [String: Set<String>] = [:]
        for (index, area) in automatic {
            var failure: Error?
            var blocks: [String: Set<String>] = [:]
            for block in area.dnBlocks {
                let at = place(area, block.partition) + "\u{0}" + block.text
                if taken[at] == nil {
                    do {
                        taken[at] = try await connection.withSession { session in try OrderStore.numbersTaken(session, area, block) }
                    } catch { failure = error }
                }
                blocks[block.text] = taken[at, default: []].union(claimed[place(area, block.partition), default: []])
            }
            if let failure { throw failure }
            guard let (number, partition) = OrderPlanner.nextFreeNumber(area.dnBlocks, taken: { blocks[$0.text] ?? [] }) else {
                rows[index].refusals.append(refusal(index, field: "service_area",
                                                    "every number of the blocks of '\(area.name)' is in use or taken by an earlier row of this batch"))
                continue
            }
            claimed[place(area, partition), default: []].insert(number)
            rows[index].plannedLine = number
        }
    }

    /// The states of a keyed order whose row is submitted again (under the key's next form): it
    /// ended having left nothing on the devices.
    static let resubmitted: Set<String> = ["rolled_back", "canceled"]
    /// The states of a keyed order whose row is neither skipped nor submitted again, but failed: the
    /// order stopped part way and holds the user (a new order would be refused); the operator
    /// retries or rolls it back (issue 15 item 7: --key skips the rows that already succeeded).
    static let failedBeforeStates = Order.stoppedStates

    public var bad: [Row] { rows.filter(\.isBad) }
    /// Rows submitted before with the batch's key whose order succeeded or is still under way: skipped.
    public var alreadySubmitted: [Row] { rows.filter { $0.existing.map { !Self.failedBeforeStates.contains($0.state) } ?? false } }
    /// Rows submitted before with the batch's key whose order failed or needs attention: not
    /// submitted again, and failed rows of this run (`failure`).
    public var failedBefore: [Row] { rows.filter { $0.existing.map { Self.failedBeforeStates.contains($0.state) } ?? false } }
    /// The rows to submit: good and not submitted before; rows asking for a number first, so that no
    /// automatic row takes a number a later row asked for.
    public var toSubmit: [Int] {
        let indices = rows.indices.filter { !rows[$0].isBad && rows[$0].existing == nil && rows[$0].request != nil }
        return indices.filter { rows[$0].request?.line != nil } + indices.filter { rows[$0].request?.line == nil }
    }

    // MARK: submission

    /// Submits one order per good row (OrderStore.submit; its job runs on any worker, within each
    /// device's write bound), then writes one audit line for the batch. `progress` is called after
    /// each row with the rows through, of how many, and the orders submitted so far.
    public mutating func submit(_ connection: Connection, actor: String,
                                progress: (Int, Int, [Int64]) async throws -> Void = { _, _, _ in }) async throws {
        var ids: [Int64] = []
        let store = OrderStore(connection)
        let indices = toSubmit
        do {
            for (done, index) in indices.enumerated() {
                guard let request = rows[index].request else { continue }
                do {
                    let submitted = try await store.submit(request, key: rows[index].key, actor: actor)
                    if submitted.created {
                        rows[index].submitted = submitted.order
                        ids.append(submitted.order.id)
                    } else {
                        rows[index].existing = submitted.order
                    }
                } catch let error as InputError {
                    rows[index].submitError = refusal(index, error)
                }
                try await progress(done + 1, indices.count, ids)
            }
        } catch {
            // Stopped part way (the database went away): the audit trail still tells what was submitted.
            try? await auditAppend(connection, actor: actor, stopped: "\(error)")
            throw error
        }
        try await auditAppend(connection, actor: actor, stopped: nil)
    }

    private func auditAppend(_ connection: Connection, actor: String, stopped: String?) async throws {
        let submitted = rows.filter { $0.submitted != nil }.count
        try await QueueStore(connection).auditAppend(
            actor: actor, action: "order.batch", target: "batch \(file)",
            message: "Batch \(file): \(rows.count) rows, \(submitted) submitted, \(alreadySubmitted.count) already submitted, "
                + (failedBefore.isEmpty ? "" : "\(failedBefore.count) submitted before and failed (not submitted again), ")
                + "\(bad.count) skipped as bad, \(rows.filter { $0.submitError != nil }.count) refused at submission"
                + (stopped.map { "; stopped there: \($0)" } ?? ""))
    }

    /// The orders this batch submitted.
    public var submittedIDs: [Int64] { rows.compactMap { $0.submitted?.id } }

    /// How many of the orders are in each state (`succeeded`, `running` …).
    public static func states(_ connection: Connection, of ids: [Int64]) async throws -> [String: Int] {
        guard !ids.isEmpty else { return [:] }
        var counts: [String: Int] = [:]
        for row in try await connection.query(OrderSQL.orderStatesOf, [PostgresIntArray(ids)]) {
            counts[try row.decode("state")] = Int(try row.decode("n") as Int64)
        }
        return counts
    }

    /// Reads the submitted orders again (their end state and error).
    public mutating func refresh(_ connection: Connection) async throws {
        let store = OrderStore(connection)
        for index in rows.indices {
            guard let id = rows[index].submitted?.id else { continue }
            rows[index].submitted = try await store.order(id: id)
        }
    }

    // MARK: the failed rows

    /// Why a row failed: its refusals, its refusal at submission, its order's end (failed, rolled
    /// back, needs attention, canceled), or the end of the order its key submitted before (failed,
    /// needs attention); nil for a row that succeeded, is still open, or was submitted before and
    /// succeeded or is under way.
    public func failure(_ row: Row) -> String? {
        if row.isBad { return row.refusals.joined(separator: "; ") }
        if let error = row.submitError { return error }
        if let order = row.existing, Self.failedBeforeStates.contains(order.state) {
            return "order \(order.id), submitted before with key \(InputError.quoted(row.key ?? "")), is "
                + "\(order.state.replacingOccurrences(of: "_", with: " ")); not submitted again: \(order.nextSteps)"
        }
        guard let order = row.submitted, order.state != "succeeded", order.isFinished else { return nil }
        return "order \(order.id) \(order.state.replacingOccurrences(of: "_", with: " "))\(order.error.map { ": \($0)" } ?? "")"
    }

    /// The failed rows in the input's format, each with an `error` column (field); nil when none failed.
    public func failedRowsText() throws -> String? {
        let failed = rows.compactMap { row in failure(row).map { (row, $0) } }
        guard !failed.isEmpty else { return nil }
        switch format {
        case .csv:
            let columns = header.filter { $0 != Self.errorField }
            let errorColumn = header.firstIndex(of: Self.errorField)
            var lines = [CSV.line(columns + [Self.errorField])]
            for (row, error) in failed {
                // Every cell as written but an earlier error's, a row with more cells than the header
                // too (the error then after them): the operator fixes the row, nothing of it is lost.
                let cells = row.cells.indices.filter { $0 != errorColumn }.map { row.cells[$0] }
                lines.append(CSV.line(cells + Array(repeating: "", count: max(0, columns.count - cells.count)) + [error]))
            }
            return lines.joined(separator: "\r\n") + "\r\n"
        case .yaml:
            let items: [Node] = failed.map { row, error in
                let pairs = (row.node?.mapping).map { $0.filter { $0.key.string != Self.errorField }.map { ($0.key, $0.value) } } ?? []
                return Node(pairs + [(Node(Self.errorField), Node(error, .implicit, .doubleQuoted))])
            }
            return try Yams.serialize(node: Node(items), sequenceStyle: .block, mappingStyle: .block)
        }
    }

    /// Whether two paths name one file: the same path once resolved, or (both existing) the same
    /// file by another name (a hard link).
    public static func sameFile(_ one: String, _ other: String) -> Bool {
        func resolved(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        if resolved(one) == resolved(other) { return true }
        var first = stat(), second = stat()
        guard stat(one, &first) == 0, stat(other, &second) == 0 else { return false }
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }

    /// Where the failed rows go by default: `FILE.failed.csv` next to `FILE.csv`.
    public static func failedRowsPath(for path: String) -> String {
        let ext = (path as NSString).pathExtension
        return (path as NSString).deletingPathExtension + ".failed." + (ext.isEmpty ? "csv" : ext)
    }
}

/// A small CSV reader and writer (RFC 4180): quoted fields may hold commas, quotes (doubled) and
/// line breaks; records end in LF or CRLF; blank lines are skipped.
public enum CSV {
    /// The records of `text`, each with the line it starts on.
    public static func records(_ text: String, file: String) throws -> [(line: Int, cells: [String])] {
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var records: [(line: Int, cells: [String])] = []
        var cells: [String] = [], cell = String.UnicodeScalarView()
        var quoted = false, closed = false, line = 1, start = 1, quoteLine = 1
        var index = 0
        func endCell() {
            cells.append(String(cell))
            cell = String.UnicodeScalarView()
            closed = false
        }
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            if quoted {
                if scalar == "\"" {
                    if index < scalars.count, scalars[index] == "\"" {
                        cell.append("\"")
                        index += 1
                    } else {
                        quoted = false
                        closed = true
                    }
                    continue
                }
                if scalar == "\n" { line += 1 }
                cell.append(scalar)
                continue
            }
            switch scalar {
            case "\"":
                guard cell.isEmpty, !closed else {
                    throw InputError(field: "\(file) line \(line)", problem: "a quote inside an unquoted field (quote the whole field and double its quotes)")
                }
                quoted = true
                quoteLine = line
            case ",":
                endCell()
            case "\r", "\n":
                if scalar == "\r", index < scalars.count, scalars[index] == "\n" { index += 1 }
                let blank = cells.isEmpty && cell.isEmpty && !closed
                endCell()
                if !blank { records.append((start, cells)) }
                cells = []
                line += 1
                start = line
            default:
                guard !closed else {
                    throw InputError(field: "\(file) line \(line)", problem: "text after a closing quote (quote the whole field)")
                }
                cell.append(scalar)
            }
        }
        if quoted { throw InputError(field: "\(file) line \(quoteLine)", problem: "a quoted field is not closed") }
        if !cells.isEmpty || !cell.isEmpty || closed {
            endCell()
            records.append((start, cells))
        }
        return records
    }

    /// One record, each cell quoted when it holds a comma, a quote, a line break or edge spaces.
    public static func line(_ cells: [String]) -> String {
        cells.map { cell in
            let needs = cell.unicodeScalars.contains { ",\"\r\n".unicodeScalars.contains($0) } || cell.first == " " || cell.last == " "
            return needs ? "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : cell
        }.joined(separator: ",")
    }
}

extension OrderSQL {
    /// How many of the orders are in each state. $1 the orders' ids.
    static let orderStatesOf = Statement("order_states_of", """
        SELECT o.state, count(*)::bigint AS n FROM orders o WHERE o.id = ANY($1::bigint[]) GROUP BY o.state
        """)
}
