/// A device request that did not get a usable answer. The message names the operation and the
/// cause for an operator and never holds a password.
public struct DeviceClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// HTTP 401: wrong user name or password.
        case authentication
        /// No answer: cannot connect, TLS, timeout, connection dropped.
        case transport
        /// An answer that is not what the protocol says (malformed XML or JSON, an unexpected document).
        case malformed
        /// An HTTP status the client does not expect (after any retries).
        case http
        /// The device does not speak what was asked (an AXL version it lacks, an Express product).
        case unsupported
        /// The caller asked to stop (a canceled job).
        case canceled
    }

    public let kind: Kind
    /// The AXL operation or CUPI resource the request was for (`listPhone`, `GET /vmrest/users`).
    public let operation: String
    public let message: String
    public let httpStatus: Int?

    public init(_ kind: Kind, operation: String, message: String, httpStatus: Int? = nil) {
        self.kind = kind
        self.operation = operation
        self.message = message
        self.httpStatus = httpStatus
    }

    public var description: String { "\(operation): \(message)" }
}

extension DeviceClientError {
    /// An answer over the client's bound, whose reading stopped there.
    static func answerTooLarge(_ operation: String, limit: Int, httpStatus: Int) -> DeviceClientError {
        DeviceClientError(.malformed, operation: operation, message: "the answer is larger than \(limit) bytes: not read further",
                          httpStatus: httpStatus)
    }
}
