import COpenSSL
import Foundation

/// The bearer tokens of `ucp serve`: 32 random bytes, shown once as `ucp_` and base64url; kept only
/// as the hex SHA-256 of that text, so a copy of the database does not hand out access.
public enum BearerToken {
    public static let prefix = "ucp_"

    /// A new token from OpenSSL's random generator.
    public static func generate() throws -> String {
        let text = Data(try randomBytes(32)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return prefix + text
    }

    /// The hex SHA-256 of `token`'s UTF-8 text: what the database keeps and looks tokens up by.
    public static func digest(_ token: String) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let bytes = Array(token.utf8)
        let ok = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_sha256(), nil) }
        precondition(ok == 1 && length == 32, "OpenSSL's SHA-256 failed")
        // Hex by table: `String(format:)` per byte cost more than the hash, on every request of `ucp serve`.
        let hex = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(64)
        for byte in digest.prefix(32) {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
