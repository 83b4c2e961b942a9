import Secrets
import Transport

/// Where a device client connects and how: address, credentials, TLS and timeouts, and how many
/// requests may be in flight at once (each on a connection of its own, kept alive).
public struct DeviceEndpoint: Sendable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: Secret
    public var verifyTLS: Bool
    public var caFile: String?
    /// `http` only for `ucp devsim --plain-http`; devices speak HTTPS.
    public var scheme: String
    public var connectTimeout: Double
    public var timeout: Double
    /// Requests in flight at once against this device (AXL get follow-ups, prefetched pages).
    public var concurrency: Int

    public init(host: String, port: Int, username: String, password: Secret, verifyTLS: Bool = true,
                caFile: String? = nil, scheme: String = "https", connectTimeout: Double = 10, timeout: Double = 120,
                concurrency: Int = 4) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.verifyTLS = verifyTLS
        self.caFile = caFile
        self.scheme = scheme
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
    }

    /// `https://host:port` (IPv6 literals in brackets).
    public var baseURL: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(shownHost):\(port)"
    }

    /// Whether a client made for `other` connects exactly as one made for this endpoint would.
    public func connectsLike(_ other: DeviceEndpoint) -> Bool {
        (host, port, username, password.revealed, scheme) == (other.host, other.port, other.username, other.password.revealed, other.scheme)
            && (verifyTLS, caFile, concurrency, connectTimeout, timeout)
            == (other.verifyTLS, other.caFile, other.concurrency, other.connectTimeout, other.timeout)
    }

    var httpConfiguration: HTTPConfiguration {
        HTTPConfiguration(verifyTLS: verifyTLS, caFile: caFile, username: username, password: password.revealed,
                          connectTimeout: connectTimeout, timeout: timeout)
    }
}
