import COpenSSL
import Foundation

/// Seals short texts (passwords) with AES-256-GCM into self-describing tokens, and opens them.
///
/// A token is `v1:` followed by base64(nonce 12 bytes | ciphertext | tag 16 bytes). Each seal draws a
/// fresh random nonce, so sealing the same text twice gives different tokens. The version is also
/// authenticated (as additional data), so a token cannot be passed off as another format.
public struct SecretBox: Sendable {
    static let prefix = "v1:"
    static let nonceCount = 12
    static let tagCount = 16
    private static let additionalData = Array("v1".utf8)
    private static let damaged = SecretsError("cannot decrypt: wrong key or damaged value")

    private let key: SecretKey

    public init(key: SecretKey) {
        self.key = key
    }

    public func seal(_ plaintext: String) throws -> String {
        let input = Array(plaintext.utf8)
        let nonce = try randomBytes(Self.nonceCount)
        var ciphertext = [UInt8](repeating: 0, count: input.count)
        var tag = [UInt8](repeating: 0, count: Self.tagCount)
        let context = EVP_CIPHER_CTX_new()
        defer { EVP_CIPHER_CTX_free(context) }
        var length: Int32 = 0
        let sealed = context != nil
            && EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key.bytes, nonce) == 1
            && EVP_EncryptUpdate(context, nil, &length, Self.additionalData, Int32(Self.additionalData.count)) == 1
            && (input.isEmpty || EVP_EncryptUpdate(context, &ciphertext, &length, input, Int32(input.count)) == 1)
            && EVP_EncryptFinal_ex(context, &tag, &length) == 1 // GCM writes nothing here
            && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(Self.tagCount), &tag) == 1
        guard sealed else { throw SecretsError("cannot encrypt: OpenSSL AES-256-GCM failed") }
        return Self.prefix + Data(nonce + ciphertext + tag).base64EncodedString()
    }

    public func seal(_ secret: Secret) throws -> String {
        try seal(secret.revealed)
    }

    /// The plaintext of a token from `seal`; a wrong key or any change to the token is an error.
    public func open(_ token: String) throws -> String {
        guard token.hasPrefix(Self.prefix) else {
            throw SecretsError("cannot decrypt: not a sealed value (expected the \(Self.prefix) format)")
        }
        guard let data = Data(base64Encoded: String(token.dropFirst(Self.prefix.count))),
              data.count >= Self.nonceCount + Self.tagCount else { throw Self.damaged }
        let bytes = Array(data)
        let nonce = Array(bytes[..<Self.nonceCount])
        let ciphertext = Array(bytes[Self.nonceCount..<(bytes.count - Self.tagCount)])
        var tag = Array(bytes[(bytes.count - Self.tagCount)...])
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count + Self.tagCount)
        defer { OPENSSL_cleanse(&plaintext, plaintext.count) }
        let context = EVP_CIPHER_CTX_new()
        defer { EVP_CIPHER_CTX_free(context) }
        var length: Int32 = 0
        var finalLength: Int32 = 0
        let opened = context != nil
            && EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, key.bytes, nonce) == 1
            && EVP_DecryptUpdate(context, nil, &length, Self.additionalData, Int32(Self.additionalData.count)) == 1
            && (ciphertext.isEmpty || EVP_DecryptUpdate(context, &plaintext, &length, ciphertext, Int32(ciphertext.count)) == 1)
            && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(Self.tagCount), &tag) == 1
            && EVP_DecryptFinal_ex(context, &tag, &finalLength) == 1 // checks the tag; GCM writes nothing
        guard opened, let text = String(validating: plaintext[..<ciphertext.count], as: UTF8.self) else {
            throw Self.damaged
        }
        return text
    }

    public func openSecret(_ token: String) throws -> Secret {
        Secret(try open(token))
    }
}
