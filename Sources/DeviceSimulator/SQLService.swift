import AXL
import Foundation

/// `executeSQLQuery` for the few tables a sync reads with SQL: `digitdiscardinstruction`, and `enduser`,
/// `device`, `numplan` drawn from the AXL tables. The select list (`*`, columns, `t.col`, `col AS x`) and
/// `SKIP n FIRST m` are honoured; WHERE clauses are not (every row comes back).
struct SQLService {
    let data: SimulatedData

    func execute(_ node: RequestNode, _ version: AXLVersion, _ sequence: String?, _ responder: HTTPResponder, service: AXLService) throws {
        let sql = (node.value("sql") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let words = sql.split(whereSeparator: { $0.isWhitespace }).map(String.init)
        let lower = words.map { $0.lowercased() }
        guard lower.first == "select", let fromIndex = lower.firstIndex(of: "from"), fromIndex + 1 < words.count else {
            return try service.sendFault(AXLFault(code: -201, message: "A syntax error has occurred.", operation: node.name), version: version, responder)
        }
        let tableName = lower[fromIndex + 1].trimmingCharacters(in: CharacterSet(charactersIn: ";"))
        guard let table = self.table(tableName) else {
            return try service.sendFault(AXLFault(code: -206, message: "The specified table (\(tableName)) is not in the database.", operation: node.name),
                                         version: version, responder)
        }
        var position = 1
        var skip = 0, first = Int.max
        while position + 1 < fromIndex, ["skip", "first", "limit"].contains(lower[position]) {
            let number = Int(lower[position + 1]) ?? 0
            if lower[position] == "skip" { skip = number } else { first = number }
            position += 2
        }
        let selectList = words[position..<fromIndex].joined(separator: " ")
        var columns: [(source: Int, name: String)] = []
        for item in selectList.split(separator: ",") {
            let parts = item.split(whereSeparator: { $0.isWhitespace }).map { $0.lowercased() }
            guard let expression = parts.first else { continue }
            let column = expression.split(separator: ".").last.map(String.init) ?? expression
            if column == "*" {
                columns += table.columns.enumerated().map { ($0, $1) }
                continue
            }
            guard let source = table.columns.firstIndex(of: column) else {
                return try service.sendFault(AXLFault(code: -217, message: "Column (\(column)) not found in any table in the query (or SLV is undefined).",
                                                      operation: node.name), version: version, responder)
            }
            let alias = parts.count >= 3 && parts[parts.count - 2] == "as" ? parts.last! : column
            columns.append((source, alias))
        }
        var body = StreamedBody(responder: responder)
        AXLEnvelope.beginResponse(&body.writer, version, node.name, sequence: sequence)
        body.writer.raw("<return>")
        for row in table.rows.dropFirst(skip).prefix(first) {
            body.writer.raw("<row>")
            for column in columns { body.writer.element(column.name, row[column.source]) }
            body.writer.raw("</row>")
            try body.flushIfFull()
        }
        body.writer.raw("</return>")
        AXLEnvelope.endResponse(&body.writer, node.name)
        try body.finish()
    }

    private func table(_ name: String) -> (columns: [String], rows: [[String]])? {
        if let fixed = data.sqlTables[name] { return fixed }
        func pkid(_ uuid: String) -> String { String(uuid.dropFirst().dropLast()).lowercased() }
        func rows(_ axlName: String, _ fields: [String]) -> [[String]] {
            guard let table = data.tables[axlName] else { return [] }
            let indexes = fields.map { table.fieldIndex[$0]! }
            return table.snapshot().objects.map { object in [pkid(object.uuid)] + indexes.map { object.values[$0] } }
        }
        switch name {
        case "enduser": return (["pkid", "userid", "firstname", "lastname", "mailid", "department"],
                                rows("User", ["userid", "firstName", "lastName", "mailid", "department"]))
        case "device": return (["pkid", "name", "description"], rows("Phone", ["name", "description"]))
        case "numplan": return (["pkid", "dnorpattern", "description"], rows("Line", ["pattern", "description"]))
        default: return nil
        }
    }
}
