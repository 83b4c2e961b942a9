import CCurl
import Foundation
import Logging
import Runtime

/// Sends mail over SMTP with libcurl.
public struct Mailer: Sendable {
    private let logger: Logger

    public init(logger: Logger = Logger(label: "ucp.mail")) {
        self.logger = logger
    }

    /// Sends without blocking the caller's thread. Throws `InputError` before connecting
    /// when the server or message breaks a rule, `TransportError` when the send fails.
    public func send(_ message: MailMessage, via server: MailServer) async throws {
        // libcurl blocks its thread for up to the server's timeout.
        try await BlockingExecutor.shared.run { try self.send(message, via: server) }
    }

    /// Sends on the calling thread, blocking it for up to `server.timeout`.
    public func send(_ message: MailMessage, via server: MailServer) throws {
        try server.validate()
        let text = try message.rendered()
        let curl = try CurlEasy()
        try curl.set(CURLOPT_URL, server.url)
        try curl.set(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(server.connectTimeout))
        try curl.set(CURLOPT_TIMEOUT_MS, Self.milliseconds(server.timeout))
        if !server.usesImplicitTLS { try curl.set(CURLOPT_USE_SSL, Int(server.startTLSOption.rawValue)) }
        try curl.set(CURLOPT_SSL_VERIFYPEER, server.verifyTLS)
        try curl.set(CURLOPT_SSL_VERIFYHOST, server.verifyTLS ? 2 : 0)
        if let caFile = server.caFile { try curl.set(CURLOPT_CAINFO, caFile) }
        if let username = server.username { try curl.set(CURLOPT_USERNAME, username) }
        if let password = server.password { try curl.set(CURLOPT_PASSWORD, password) }
        try curl.set(CURLOPT_MAIL_FROM, "<\(message.from)>")
        try curl.set(CURLOPT_MAIL_RCPT, message.to.map { "<\($0)>" })
        try curl.setUpload(Array(text.utf8))

        let code = curl.perform()
        guard code == CURLE_OK else {
            let reply = curl.responseCode
            var detail = curl.failureDetail(code)
            // libcurl does not put the password in its messages; make sure no server reply does either.
            if let password = server.password, !password.isEmpty {
                detail = detail.replacingOccurrences(of: password, with: "********")
            }
            let replyNote = reply >= 400 ? ", SMTP \(reply)" : ""
            throw TransportError(curlCode: Int(code.rawValue), responseCode: reply,
                                 message: "SMTP \(server.url): \(detail) (curl \(code.rawValue)\(replyNote))",
                                 isRetryable: Self.isRetryable(curlCode: code, responseCode: reply))
        }
        logger.debug("mail sent", metadata: [
            "server": "\(server.url)", "message_id": "\(message.messageID)", "recipients": "\(message.to.count)",
        ])
    }

    /// Whether a failed send may succeed later. Authentication failures and 5xx replies (permanent
    /// rejections) will not; 4xx replies (temporary) and network failures may.
    static func isRetryable(curlCode: CURLcode, responseCode: Int) -> Bool {
        if curlCode == CURLE_LOGIN_DENIED { return false }
        switch responseCode {
        case 400..<500: return true
        case 500..<600: return false
        default: break
        }
        let transient = [CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT,
                         CURLE_WEIRD_SERVER_REPLY, CURLE_OPERATION_TIMEDOUT, CURLE_SSL_CONNECT_ERROR,
                         CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR]
        return transient.contains(curlCode)
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
