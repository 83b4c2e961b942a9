/// An error from PostgreSQL or from talking to it.
///
/// `description` is safe to print to an operator: it carries the SQLSTATE and the server's
/// primary message, never the statement text or parameter values. `debugDescription` adds
/// the detail and hint the server sent.
public struct PostgresError: Error, CustomStringConvertible, CustomDebugStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The connection could not be made or was lost (SQLSTATE class 08, 57P01–57P03, or no SQLSTATE
        /// at all), or the server no longer takes writes (25006: a failover demoted it, or it was made
        /// read-only to fence it off): the session is dropped and made again, and with
        /// `target_session_attrs=read-write` the new one lands on whichever server is the primary now.
        case connectionLost
        /// 40001: retry the transaction.
        case serializationFailure
        /// 40P01: retry the transaction.
        case deadlockDetected
        /// 55P03 (`NOWAIT`, `lock_timeout`).
        case lockNotAvailable
        /// 23505.
        case uniqueViolation
        /// 23P01.
        case exclusionViolation
        /// 23xxx other than the two above.
        case integrityViolation
        /// 42501.
        case insufficientPrivilege
        /// 57014 (`statement_timeout`, cancel).
        case queryCanceled
        /// A `RAISE EXCEPTION` from our own SQL functions (P0001): the message is meant for operators.
        case raised
        /// The connection string could not be parsed.
        case invalidConfiguration
        /// A value in a row could not be decoded to the requested type.
        case decoding
        case other
    }

    public var kind: Kind
    /// The five-character SQLSTATE, when the server sent one.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// The constraint (or unique index) a violation names: callers turn their own into input errors.
    public var constraint: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil,
                constraint: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
    }

    /// libpq's own messages run over several lines (one per host tried, a tab-indented hint): a log
    /// line or an operator's one-line error takes them joined with "; ".
    public static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
            .joined(separator: "; ")
    }

    /// Classifies a SQLSTATE into the kinds callers act on.
    public static func kind(forSQLState state: String?) -> Kind {
        guard let state else { return .connectionLost }
        switch state {
        case "40001": return .serializationFailure
        case "40P01": return .deadlockDetected
        case "55P03": return .lockNotAvailable
        case "23505": return .uniqueViolation
        case "23P01": return .exclusionViolation
        case "42501": return .insufficientPrivilege
        case "57014": return .queryCanceled
        case "P0001": return .raised
        case "57P01", "57P02", "57P03": return .connectionLost
        case "25006": return .connectionLost  // read_only_sql_transaction
        default:
            if state.hasPrefix("08") { return .connectionLost }
            if state.hasPrefix("23") { return .integrityViolation }
            return .other
        }
    }

    /// True for errors after which the same work may simply be tried again.
    public var isTransient: Bool {
        switch kind {
        case .connectionLost, .serializationFailure, .deadlockDetected, .lockNotAvailable: return true
        default: return false
        }
    }

    public var description: String {
        if let sqlState { return "PostgreSQL \(sqlState): \(message)" }
        return "PostgreSQL: \(message)"
    }

    public var debugDescription: String {
        var text = description
        if let detail { text += " (detail: \(detail))" }
        if let hint { text += " (hint: \(hint))" }
        return text
    }
}
