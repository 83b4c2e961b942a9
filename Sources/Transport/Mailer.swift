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
        try curl.recordReplies()

        let code = curl.perform()
        guard code == CURLE_OK else {
            let reply = curl.responseCode
            let replyText = reply >= 400 ? curl.replyText(code: reply) : nil
            var detail = curl.failureDetail(code)
            if let replyText {
                detail += Self.isRelayDenial(replyText) ? ", the relay refuses to relay for this server: " : ", the server said: "
                detail += InputError.quoted(String(replyText.prefix(300)))
            }
            // libcurl does not put the password in its messages; make sure no server reply does either.
            if let password = server.password, !password.isEmpty {
                detail = detail.replacingOccurrences(of: password, with: "********")
            }
            let replyNote = reply >= 400 ? ", SMTP \(reply)" : ""
            throw TransportError(curlCode: Int(code.rawValue), responseCode: reply,
                                 message: "SMTP \(server.url): \(detail) (curl \(code.rawValue)\(replyNote))",
                                 isRetryable: Self.isRetryable(responseCode: reply, detail: detail, replyText: replyText))
        }
        logger.debug("mail sent", metadata: [
            "server": "\(server.url)", "message_id": "\(message.messageID)", "recipients": "\(message.to.count)",
        ])
    }

    /// Whether a failed send may succeed later, if need be once an operator has mended the settings,
    /// the credentials, the CA file or the relay: every failure but a permanent (5xx) refusal of a
    /// recipient at RCPT TO, which no change on this side can turn. A 5xx elsewhere (530 auth
    /// required at MAIL FROM, 554 at the greeting), a refused login, an unverified certificate or a
    /// relay that will not relay for us (`isRelayDenial`, also said at RCPT TO) is a configuration
    /// to mend, not a verdict on the message. libcurl says which command failed only in its message
    /// ("RCPT failed: 550"), the server's text only to the header function; MailerTests pins both
    /// against a real server.
    static func isRetryable(responseCode: Int, detail: String, replyText: String? = nil) -> Bool {
        guard (500..<600).contains(responseCode), detail.hasPrefix("RCPT failed") else { return true }
        return replyText.map(isRelayDenial) ?? false
    }

    /// A relay's refusal to relay (`550 5.7.1 relaying denied`, Postfix's `554 5.7.1 <…>: Relay access
    /// denied`): the enhanced status 5.7.1 and the word in its text. It refuses every recipient
    /// outside the relay's own domains until the relay lets this server relay (or it authenticates),
    /// unlike a mailbox's refusal (5.1.1).
    static func isRelayDenial(_ replyText: String) -> Bool {
        replyText.hasPrefix("5.7.1 ") && replyText.lowercased().contains("relay")
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
