import Runtime

/// A schedule's job name, checked against Table 3: unique (the store's concern), and only letters
/// A–Z, a–z, digits, space, `_` and `-`; 1 to 100 characters, not starting or ending with a space
/// (names are compared and shown as typed, so `"Nightly "` and `"Nightly"` would look the same).
public struct JobName: Hashable, Sendable, Codable, CustomStringConvertible {
    public static let maximumLength = 100

    public let value: String

    public init(_ text: String) throws(InputError) {
        if text.isEmpty {
            throw Self.error("the job name is empty (use 1 to \(Self.maximumLength) letters, digits, spaces, '_' or '-')")
        }
        // Checked before the characters so an over-long name is not echoed back in full.
        if text.count > Self.maximumLength {
            throw Self.error("the job name is \(text.count) characters long (at most \(Self.maximumLength))")
        }
        guard NameCharacters.isValidJobName(text) else {
            throw Self.error("\(InputError.quoted(text)) may hold only letters A–Z, a–z, digits, space, '_' and '-'")
        }
        if text.first == " " || text.last == " " {
            throw Self.error("\(InputError.quoted(text)) may not begin or end with a space")
        }
        value = text
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    public var description: String { value }

    private static func error(_ problem: String) -> InputError {
        InputError(field: "name", problem: problem)
    }
}
