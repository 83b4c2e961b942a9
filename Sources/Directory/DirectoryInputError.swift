/// A refused directory setting: one line, `field: problem`, the field as the command line names it.
public struct DirectoryInputError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The command-line field the value was given for, e.g. `filter` or `mask`.
    public var field: String
    /// What is wrong, without the field name.
    public var problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { "\(field): \(problem)" }
}
