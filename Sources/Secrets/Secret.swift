/// A value such as a password that must not reach a log by accident: printing, interpolating,
/// debug-printing or dumping it shows `********`. Read it only where it is used, as `revealed`.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let revealed: String

    public init(_ value: String) {
        revealed = value
    }

    public var description: String { "********" }
    public var debugDescription: String { "********" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// A failure of the secrets module. The message never holds a plaintext, a key or a sealed value.
public struct SecretsError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
