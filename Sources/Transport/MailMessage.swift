import Foundation
import Runtime

/// A plain-text mail. Addresses are bare `name@domain` (ASCII); the subject and body may hold any text.
public struct MailMessage: Sendable {
    public var from: String
    public var to: [String]
    public var subject: String
    public var body: String
    public var messageID: String
    public var date: Date

    /// Without a `messageID`, one is made from a random UUID and the sender's domain.
    public init(from: String, to: [String], subject: String, body: String, messageID: String? = nil, date: Date = Date()) {
        self.from = from
        self.to = to
        self.subject = subject
        self.body = body
        self.messageID = messageID ?? Self.messageID(UUID().uuidString.lowercased(), from: from)
        self.date = date
    }

    /// `<unique@domain>` with the domain of `from`: the same `unique` gives the same Message-ID, so a
    /// receiver can drop a second copy of a message sent again.
    public static func messageID(_ unique: String, from: String) -> String {
        let domain = from.split(separator: "@").last.map(String.init) ?? "ucprovision.invalid"
        return "<\(unique)@\(domain)>"
    }

    /// Throws a `InputError` naming the first field that breaks a rule. CR and LF are refused
    /// in every header field, so no value can add a header of its own.
    public func validate() throws {
        try Self.checkAddress(from, field: "from")
        guard !to.isEmpty else { throw InputError(field: "to", problem: "needs at least one recipient") }
        for address in to { try Self.checkAddress(address, field: "to") }
        try Self.checkNoControlCharacters(subject, field: "subject")
        try Self.checkNoControlCharacters(messageID, field: "message-id")
        guard messageID.hasPrefix("<"), messageID.hasSuffix(">"), messageID.contains("@"), !messageID.contains(" ") else {
            throw InputError(field: "message-id", problem: "must look like <unique@domain>")
        }
    }

    /// The message as RFC 5322 text with CRLF line endings. SMTP's dot-stuffing is left to libcurl.
    public func rendered() throws -> String {
        try validate()
        let recipients = to.joined(separator: ", ")
        let (transferEncoding, bodyLines) = Self.encodeBody(body)
        let headers = [
            "Date: \(Self.rfc5322Date(date))",
            "From: \(from)",
            "To: \(recipients.utf8.count + 4 <= 78 ? recipients : to.joined(separator: ",\r\n "))",
            "Subject: \(Self.encodeHeaderText(subject))",
            "Message-ID: \(messageID)",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: \(transferEncoding)",
        ]
        return (headers + [""] + bodyLines).map { $0 + "\r\n" }.joined()
    }

    private static func checkNoControlCharacters(_ value: String, field: String) throws {
        if value.unicodeScalars.contains(where: MailServer.isControl) {
            throw InputError(field: field, problem: "must not contain CR, LF or other control characters")
        }
    }

    /// The one rule for a mail address (the settings check it when set, the mailer before sending):
    /// a bare `name@domain` of printable ASCII without `()<>[]:;,\\"`.
    public static func checkAddress(_ address: String, field: String) throws {
        try checkNoControlCharacters(address, field: field)
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        let allowed = address.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && !"()<>[]:;,\\\"".unicodeScalars.contains($0) }
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, allowed else {
            throw InputError(field: field, problem: "\"\(address)\" is not an email address (expected name@domain, in ASCII)")
        }
    }

    /// Printable ASCII as it is; anything else, or text that could be read as an encoded-word or is
    /// too long for one line, as RFC 2047 encoded-words of whole characters, one per folded line.
    static func encodeHeaderText(_ text: String) -> String {
        let plain = text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F }
        if plain, !text.contains("=?"), text.utf8.count <= 900 { return text }
        // 42 bytes make 56 base64 characters: with `=?UTF-8?B?…?=` and "Subject: " a line stays within 78.
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > 42 {
                words.append(encodedWord(chunk))
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append(encodedWord(chunk)) }
        return words.joined(separator: "\r\n ")
    }

    private static func encodedWord(_ bytes: [UInt8]) -> String {
        "=?UTF-8?B?\(Data(bytes).base64EncodedString())?="
    }

    /// The body's lines (any of CRLF, LF or CR ends a line) and the transfer encoding they need:
    /// 7bit when every line is short printable ASCII, else quoted-printable.
    static func encodeBody(_ body: String) -> (encoding: String, lines: [String]) {
        var lines: [[UInt8]] = [[]]
        var afterCR = false
        for byte in body.utf8 {
            if byte == 0x0A, afterCR { afterCR = false; continue }
            afterCR = byte == 0x0D
            if byte == 0x0A || byte == 0x0D { lines.append([]) } else { lines[lines.count - 1].append(byte) }
        }
        if lines.last?.isEmpty == true { lines.removeLast() }
        let isSevenBit = lines.allSatisfy { line in
            line.count <= 998 && line.allSatisfy { ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 }
        }
        if isSevenBit { return ("7bit", lines.map { String(decoding: $0, as: UTF8.self) }) }
        return ("quoted-printable", lines.flatMap(quotedPrintable))
    }

    /// One line in quoted-printable (RFC 2045), split by soft line breaks into lines of at most 76.
    private static func quotedPrintable(_ line: [UInt8]) -> [String] {
        let hex = Array("0123456789ABCDEF".utf8)
        var output: [String] = []
        var current: [UInt8] = []
        for (index, byte) in line.enumerated() {
            let isLiteral = (byte >= 0x21 && byte <= 0x7E && byte != UInt8(ascii: "="))
                || ((byte == 0x20 || byte == 0x09) && index < line.count - 1)
            let piece = isLiteral ? [byte] : [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            if current.count + piece.count > 75 {
                output.append(String(decoding: current + [UInt8(ascii: "=")], as: UTF8.self))
                current = []
            }
            current += piece
        }
        output.append(String(decoding: current, as: UTF8.self))
        return output
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.string(from: date)
    }
}
