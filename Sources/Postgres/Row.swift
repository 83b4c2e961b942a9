/// The rows a statement returned, decoded from text on demand.
public struct Rows: Sendable, Sequence {
    public let columns: [String]
    let values: [[String?]]
    /// The count from the command tag (rows inserted, updated, deleted …).
    public let affectedRows: Int

    init(columns: [String], values: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.affectedRows = affectedRows
    }

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }
    public var first: Row? { values.first.map { Row(columns: columns, values: $0) } }
    public subscript(index: Int) -> Row { Row(columns: columns, values: values[index]) }

    public func makeIterator() -> AnyIterator<Row> {
        var index = 0
        return AnyIterator {
            guard index < values.count else { return nil }
            defer { index += 1 }
            return Row(columns: columns, values: values[index])
        }
    }
}

/// One row; columns are read by name and decoded to the type asked for.
public struct Row: Sendable {
    public let columns: [String]
    let values: [String?]

    public func raw(_ column: String) throws -> String? {
        guard let index = columns.firstIndex(of: column) else {
            throw PostgresError(kind: .decoding, message: "no column named \(column)")
        }
        return values[index]
    }

    /// A non-null column value.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let text = try raw(column) else {
            throw PostgresError(kind: .decoding, message: "column \(column) is null")
        }
        return try T(postgresText: text)
    }

    /// A column value that may be null.
    public func decodeIfPresent<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T? {
        guard let text = try raw(column) else { return nil }
        return try T(postgresText: text)
    }
}
