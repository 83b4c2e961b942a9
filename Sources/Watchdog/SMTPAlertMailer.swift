import Foundation
import Runtime
import Secrets
import Transport

/// Sends alerts through Transport's SMTP mailer with the stored mail settings.
public struct SMTPAlertMailer: AlertMailer {
    let mailer = Mailer()

    public init() {}

    /// Every failure is worth another try except a refusal of this recipient (see `AlertDeliveryError`).
    public func send(to recipient: String, subject: String, body: String, uniqueID: String?,
                     settings: MailSettings) async throws {
        guard settings.url != nil else { throw AlertDeliveryError("mail.url: not set", retryable: true) }
        var password: String?
        if let sealed = settings.sealedPassword {
            do {
                password = try SecretBox(key: try SecretKey.fromEnvironment()).open(sealed)
            } catch {
                throw AlertDeliveryError("mail.password: \(error)", retryable: true)
            }
        }
        let from = settings.from ?? MailSettings.defaultFrom
        let message = MailMessage(from: from, to: [recipient], subject: subject, body: body,
                                  messageID: uniqueID.map { MailMessage.messageID($0, from: from) })
        do {
            try await mailer.send(message, via: settings.server(password: password))
        } catch let error as TransportError {
            throw AlertDeliveryError(error.description, retryable: error.isRetryable)
        } catch let error as InputError {
            // The mailer checks before connecting: a bad recipient is this message's own; any other
            // field is a setting to mend.
            throw AlertDeliveryError(error.field == "to" ? "recipient \(error)" : "mail.\(error)", retryable: error.field != "to")
        } catch {
            throw AlertDeliveryError("\(error)", retryable: true)
        }
    }
}
