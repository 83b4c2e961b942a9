import CCurl
import Runtime

/// The SMTP server that mail goes through, as `smtp://host[:port]` (plain, upgraded with STARTTLS as
/// `startTLS` says) or `smtps://host[:port]` (TLS from the start). Its description never shows the password.
public struct MailServer: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public enum StartTLS: String, Sendable, CaseIterable {
        /// Upgrade with STARTTLS or fail.
        case required
        /// Upgrade when the server offers STARTTLS, otherwise go on in plain text.
        case opportunistic
        /// Never upgrade.
        case none
    }

    public var url: String
    public var startTLS: StartTLS
    public var username: String?
    public var password: String?
    /// Verify the server's certificate and host name; on unless an operator turns it off.
    public var verifyTLS: Bool
    /// PEM file of the authorities to trust instead of the system's.
    public var caFile: String?
    public var connectTimeout: Duration
    /// The whole send, connection included.
    public var timeout: Duration

    public init(url: String, startTLS: StartTLS = .required, username: String? = nil, password: String? = nil,
                verifyTLS: Bool = true, caFile: String? = nil,
                connectTimeout: Duration = .seconds(10), timeout: Duration = .seconds(60)) {
        self.url = url
        self.startTLS = startTLS
        self.username = username
        self.password = password
        self.verifyTLS = verifyTLS
        self.caFile = caFile
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }

    /// TLS from the first byte (smtps://) rather than through STARTTLS.
    public var usesImplicitTLS: Bool { url.lowercased().hasPrefix("smtps://") }

    /// Whether a password would only ever travel inside TLS.
    var alwaysEncrypted: Bool { usesImplicitTLS || startTLS == .required }

    /// Throws a `InputError` naming the first field that breaks a rule.
    public func validate() throws {
        try Self.checkURL(url)
        if let username, username.unicodeScalars.contains(where: Self.isControl) {
            throw InputError(field: "username", problem: "must not contain control characters")
        }
        if let password {
            try Self.checkPassword(password)
            if username?.isEmpty ?? true {
                throw InputError(field: "username", problem: "is required when a password is set")
            }
            if !alwaysEncrypted {
                throw InputError(field: "password", problem: "is sent only over TLS: use smtps:// or starttls required")
            }
        }
        if let caFile { try CAFileRule.check(caFile, field: "ca-file") }
        if connectTimeout <= .zero {
            throw InputError(field: "connect-timeout", problem: "must be more than 0 seconds")
        }
        if timeout <= .zero {
            throw InputError(field: "timeout", problem: "must be more than 0 seconds")
        }
    }

    /// The rule of `url` alone (`ucp settings set mail.url` checks it when the value is set).
    public static func checkURL(_ url: String) throws {
        let shape = "must be smtp://host[:port] or smtps://host[:port]"
        let lowercased = url.lowercased()
        guard let scheme = ["smtp://", "smtps://"].first(where: lowercased.hasPrefix) else {
            throw InputError(field: "url", problem: "must start with smtp:// or smtps://")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        if rest.contains("@") {
            throw InputError(field: "url", problem: "must not hold a user name or password: set username and password instead")
        }
        if rest.unicodeScalars.contains(where: { isControl($0) || $0 == " " }) {
            throw InputError(field: "url", problem: "must not contain spaces or control characters")
        }
        if rest.contains(where: { "/?#".contains($0) }) {
            throw InputError(field: "url", problem: "\(shape), with nothing after the port")
        }
        let host: Substring
        let port: Substring?
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { throw InputError(field: "url", problem: shape) }
            port = after.isEmpty ? nil : after.dropFirst()
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw InputError(field: "url", problem: "\(shape); [\(host)] is not an IPv6 address")
            }
        } else {
            let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw InputError(field: "url", problem: "\(shape); put an IPv6 address in brackets") }
            host = parts[0]
            port = parts.count == 2 ? parts[1] : nil
            guard !host.isEmpty else { throw InputError(field: "url", problem: "\(shape): the host is missing") }
            guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }) else {
                throw InputError(field: "url", problem: "\(shape); \(host) is not a host name")
            }
        }
        if let port {
            guard let number = Int(port), (1...65535).contains(number), port.allSatisfy(\.isNumber) else {
                throw InputError(field: "url", problem: "the port must be a number from 1 to 65535")
            }
        }
    }

    /// The rule of the password alone (`ucp settings set mail.password` checks it before sealing it).
    public static func checkPassword(_ password: String) throws {
        if password.unicodeScalars.contains(where: isControl) {
            throw InputError(field: "password", problem: "must not contain control characters")
        }
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F
    }

    public var description: String {
        var parts = usesImplicitTLS ? ["TLS"] : ["STARTTLS \(startTLS.rawValue)"]
        if let username { parts.append("user \(username)") }
        if password != nil { parts.append("password ********") }
        if !verifyTLS { parts.append("certificate NOT verified") }
        if let caFile { parts.append("CA file \(caFile)") }
        return "\(url) (\(parts.joined(separator: ", ")))"
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description], displayStyle: .struct) }

    var startTLSOption: curl_usessl {
        switch startTLS {
        case .required: CURLUSESSL_ALL
        case .opportunistic: CURLUSESSL_TRY
        case .none: CURLUSESSL_NONE
        }
    }
}

