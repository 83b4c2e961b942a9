import CCurl

/// A failed transfer: libcurl's code, the server's reply code if it sent one, a short message that
/// names the failure and never holds a password or message content, and whether trying again later
/// may succeed.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public let curlCode: Int
    public let responseCode: Int
    public let message: String
    public let isRetryable: Bool

    public init(curlCode: Int, responseCode: Int = 0, message: String, isRetryable: Bool) {
        self.curlCode = curlCode
        self.responseCode = responseCode
        self.message = message
        self.isRetryable = isRetryable
    }

    init(curlCode: CURLcode, message: String) {
        self.init(curlCode: Int(curlCode.rawValue), message: message, isRetryable: false)
    }

    public var description: String { message }
}
