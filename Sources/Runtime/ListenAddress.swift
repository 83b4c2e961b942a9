/// Where a server listens: `HOST:PORT`, `[IPv6]:PORT`, or `PORT` / `:PORT` alone for loopback
/// (127.0.0.1), so that nothing is served beyond the host unless an address says so. Port 0 asks
/// for any free port (the server then says which). One parser for `serve --listen` and `--metrics-listen`.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public static let loopback = "127.0.0.1"

    /// Parses `text`; a refusal names `field` (the option, e.g. `metrics-listen`) and the rule.
    public init(parsing text: String, field: String) throws(InputError) {
        let rule = "use HOST:PORT, [IPv6]:PORT or PORT (loopback), with a port from 0 (any free one) to 65535 (got \(InputError.quoted(text)))"
        var host = Self.loopback
        var portText = text
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw InputError(field: field, problem: rule)
            }
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = String(text[text.index(close, offsetBy: 2)...])
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw InputError(field: field, problem: rule)
            }
        } else if let colon = text.lastIndex(of: ":") {
            let named = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
            if !named.isEmpty {
                // A host name or an IPv4 address; a bare IPv6 address needs its brackets.
                guard named.unicodeScalars.allSatisfy({ Self.isHostScalar($0) }), !named.hasPrefix("-") else {
                    throw InputError(field: field, problem: rule)
                }
                host = named
            }
        }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
              portText.count <= 5, let port = Int(portText), (0...65535).contains(port) else {
            throw InputError(field: field, problem: rule)
        }
        self.init(host: host, port: port)
    }

    private static func isHostScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", ".", "-": return true
        default: return false
        }
    }

    /// A loopback address: nothing beyond this host reaches it.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
