import CLDAP
import Foundation

/// A failed LDAP operation: the LDAP result code (RFC 4511 §4.1.9, or one of libldap's negative
/// client codes such as -1 server down), libldap's text for it, and the server's diagnostic message.
/// Never holds a password.
public struct LDAPError: Error, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let code: Int32
    /// What was being done, e.g. "bind to ldap://dc1:389".
    public let operation: String
    public let diagnostic: String?

    public init(code: Int32, operation: String, diagnostic: String? = nil) {
        self.code = code
        self.operation = operation
        let trimmed = diagnostic?.trimmingCharacters(in: .whitespacesAndNewlines)
        self.diagnostic = trimmed?.isEmpty == false ? trimmed : nil
    }

    /// libldap's name for the code ("Invalid credentials", "Can't contact LDAP server", …).
    public var resultText: String { String(cString: ldap_err2string(code)) }

    public var description: String {
        var text = "\(operation): LDAP error \(code) (\(resultText))"
        if let diagnostic { text += ": \(diagnostic)" }
        return text
    }

    public var debugDescription: String { description }

    /// The server did not answer (not reachable, refused, timed out, TLS handshake failed): a backup
    /// server is worth trying. An answer such as invalid credentials is not.
    public var serverUnreachable: Bool {
        code == LDAP_SERVER_DOWN || code == LDAP_CONNECT_ERROR || code == LDAP_TIMEOUT
    }

    /// The bound account may not do what was asked (RFC 4511 insufficientAccessRights, 50).
    public var insufficientAccess: Bool { code == LDAP_INSUFFICIENT_ACCESS }

    /// The server was not reached, or refused the bind's credentials (the write-back's first reason).
    public var unreachableOrBadCredentials: Bool {
        serverUnreachable || code == LDAP_INVALID_CREDENTIALS || code == LDAP_UNAVAILABLE || code == LDAP_BUSY
    }

    public static let noSuchObject = LDAP_NO_SUCH_OBJECT
    public static let invalidCredentials = LDAP_INVALID_CREDENTIALS
    public static let filterError = LDAP_FILTER_ERROR
    public static let serverDown = LDAP_SERVER_DOWN
}
