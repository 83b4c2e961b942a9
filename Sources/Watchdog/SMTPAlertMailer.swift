import Foundation
import Secrets
import Transport

/// Sends alerts through Transport's SMTP mailer with the stored mail settings.
public struct SMTPAlertMailer: AlertMailer {
    let mailer = Mailer()

    public init() {}

    public func send(to recipient: String, subject: String, body: String, settings: MailSettings) async throws {
        guard let url = settings.url else { throw AlertDeliveryError("mail.url: not set", retryable: false) }
        var password: String?
        if let sealed = settings.sealedPassword {
            do {
                password = try SecretBox(key: try SecretKey.fromEnvironment()).open(sealed)
            } catch {
                throw AlertDeliveryError("mail.password: \(error)", retryable: false)
            }
        }
        let server = MailServer(
            url: url, startTLS: MailServer.StartTLS(rawValue: settings.starttls ?? "required") ?? .required,
            username: settings.username, password: password, verifyTLS: settings.verifyTLS ?? true,
            caFile: settings.caFile)
        let message = MailMessage(from: settings.from ?? "ucprovision@localhost", to: [recipient], subject: subject,
                                  body: body)
        do {
            try await mailer.send(message, via: server)
        } catch let error as TransportError {
            throw AlertDeliveryError(error.description, retryable: error.isRetryable)
        } catch {
            throw AlertDeliveryError("\(error)", retryable: false)
        }
    }
}
