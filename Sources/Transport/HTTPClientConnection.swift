import CCurl
import Foundation

/// How an `HTTPClientConnection` reaches one server: TLS verification (on unless turned off, with an
/// optional CA file), HTTP Basic credentials, and the connect and total timeouts of each request.
/// Its description (and `dump`) never shows the password.
public struct HTTPConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var verifyTLS: Bool
    public var caFile: String?
    public var username: String?
    /// Given to libcurl only; never part of a message or an error.
    public var password: String?
    public var connectTimeout: Double
    public var timeout: Double

    public init(verifyTLS: Bool = true, caFile: String? = nil, username: String? = nil, password: String? = nil,
                connectTimeout: Double = 10, timeout: Double = 300) {
        self.verifyTLS = verifyTLS
        self.caFile = caFile
        self.username = username
        self.password = password
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }

    public var description: String {
        var parts = [verifyTLS ? "certificate verified" : "certificate NOT verified"]
        if let caFile { parts.append("CA file \(caFile)") }
        if let username { parts.append("user \(username)") }
        if password != nil { parts.append("password ********") }
        parts.append("timeouts \(connectTimeout) s connect, \(timeout) s total")
        return parts.joined(separator: ", ")
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description], displayStyle: .struct) }
}

/// One reused libcurl handle: requests on it keep the connection alive (HTTP/1.1 keep-alive) and
/// send back the cookies the server set (a session cookie such as JSESSIONIDSSO). The response
/// body is handed over chunk by chunk as it arrives, never held whole.
///
/// Blocking and not thread-safe: use it on one thread of your own, never on Swift's cooperative pool.
public final class HTTPClientConnection {
    public enum Method: String, Sendable { case get = "GET", post = "POST", put = "PUT", patch = "PATCH", delete = "DELETE" }

    private let curl: CurlEasy
    private let sink = TransferSink()
    public let configuration: HTTPConfiguration

    public init(_ configuration: HTTPConfiguration) throws {
        self.configuration = configuration
        curl = try CurlEasy()
        try curl.set(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout * 1000))
        try curl.set(CURLOPT_TIMEOUT_MS, Int(configuration.timeout * 1000))
        try curl.set(CURLOPT_SSL_VERIFYPEER, configuration.verifyTLS)
        try curl.set(CURLOPT_SSL_VERIFYHOST, configuration.verifyTLS ? 2 : 0)
        if let caFile = configuration.caFile { try curl.set(CURLOPT_CAINFO, caFile) }
        if let username = configuration.username {
            try curl.set(CURLOPT_HTTPAUTH, 1) // CURLAUTH_BASIC (a macro Swift does not import)
            try curl.set(CURLOPT_USERNAME, username)
            try curl.set(CURLOPT_PASSWORD, configuration.password ?? "")
        }
        // An empty cookie file turns on libcurl's in-memory cookie engine for this handle.
        try curl.set(CURLOPT_COOKIEFILE, "")
        try curl.set(CURLOPT_TCP_KEEPALIVE, true)
        try curl.setReceiver(sink)
    }

    /// Sends one request and streams the body to `onData` (return false to stop reading); `abort`
    /// is asked about once a second and ends the transfer when it says so. Returns the HTTP status.
    /// Throws `TransportError` when no complete answer came (connect, TLS, timeout, abort).
    public func perform(_ method: Method, url: String, headers: [String] = [], body: [UInt8] = [],
                        abort: @escaping () -> Bool = { false },
                        onData: @escaping (UnsafeRawBufferPointer) -> Bool) throws -> Int {
        try curl.set(CURLOPT_URL, url)
        try curl.replace(CURLOPT_HTTPHEADER, headers + ["Expect:"])
        // A method other than GET and POST is a POST with its name on the request line (and the body, if any).
        try curl.set(CURLOPT_CUSTOMREQUEST, pointer: nil)
        switch method {
        case .get:
            try curl.set(CURLOPT_HTTPGET, true)
        case .post, .put, .patch, .delete:
            try curl.set(CURLOPT_POST, true)
            if method != .post { try curl.set(CURLOPT_CUSTOMREQUEST, method.rawValue) }
            try curl.set(CURLOPT_POSTFIELDSIZE, body.count)
            try body.withUnsafeBytes { bytes in
                // COPYPOSTFIELDS copies, so the bytes may go away after the call.
                try curl.set(CURLOPT_COPYPOSTFIELDS, pointer: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)
            }
        }
        sink.reset()
        sink.onData = onData
        sink.abort = abort
        defer {
            sink.onData = { _ in true }
            sink.abort = { false }
        }
        let code = curl.perform()
        guard code == CURLE_OK else {
            if sink.refused { throw HTTPReceiverStopped() }
            throw TransportError(curlCode: Int(code.rawValue), responseCode: curl.responseCode,
                                 message: Self.describe(code, detail: curl.failureDetail(code)),
                                 isRetryable: Self.retryable.contains(code))
        }
        return curl.responseCode
    }

    /// The status of the answer being received (readable from inside `onData`, once headers are in).
    public var responseCode: Int { curl.responseCode }

    static let retryable: Set<CURLcode> = [
        CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR,
        CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE,
    ]

    /// Short operator-facing text for the common failures, libcurl's detail after it.
    static func describe(_ code: CURLcode, detail: String) -> String {
        switch code {
        case CURLE_OPERATION_TIMEDOUT: return "timed out (\(detail))"
        case CURLE_COULDNT_CONNECT: return "cannot connect (\(detail))"
        case CURLE_COULDNT_RESOLVE_HOST: return "unknown host (\(detail))"
        case CURLE_PEER_FAILED_VERIFICATION: return "TLS certificate not trusted (\(detail))"
        case CURLE_SSL_CONNECT_ERROR: return "TLS handshake failed (\(detail))"
        case CURLE_SSL_CACERT_BADFILE: return "cannot read the CA file (\(detail))"
        case CURLE_ABORTED_BY_CALLBACK: return "canceled"
        default: return detail
        }
    }
}

extension TransportError {
    /// The transfer was ended by the caller's `abort` (a canceled job).
    public var isAborted: Bool { curlCode == Int(CURLE_ABORTED_BY_CALLBACK.rawValue) }
    public var isTimeout: Bool { curlCode == Int(CURLE_OPERATION_TIMEDOUT.rawValue) }
}

/// The receiver returned false: it stopped the transfer itself (it has its own error to report).
public struct HTTPReceiverStopped: Error, CustomStringConvertible {
    public var description: String { "the response was not read to its end" }
}
