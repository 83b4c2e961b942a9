import COpenSSL
import Foundation

/// The AES-256 key that seals passwords at rest.
///
/// The key file holds the 32 key bytes in standard base64 (44 characters) on one line, so it can be
/// copied and inspected as text. Only its owner may have access to it: a file that grants any access
/// to group or others is refused, as is a key of the wrong length.
public struct SecretKey: Sendable, CustomStringConvertible {
    public static let environmentVariable = "UCP_SECRET_KEY_FILE"
    public static let byteCount = 32

    let bytes: [UInt8]

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var description: String { "SecretKey(********)" }

    /// A new key from OpenSSL's random generator.
    public static func random() throws -> SecretKey {
        SecretKey(bytes: try randomBytes(byteCount))
    }

    /// The key in the file that `UCP_SECRET_KEY_FILE` names.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SecretKey {
        guard let path = environment[environmentVariable], !path.isEmpty else {
            throw SecretsError("\(environmentVariable) is not set: it must name the secret key file (32 random bytes in base64, mode 0600)")
        }
        return try load(path: path)
    }

    public static func load(path: String) throws -> SecretKey {
        // O_NONBLOCK: a FIFO (or device) named by mistake is refused below instead of blocking the open.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw fileError(path, "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(descriptor) }
        // Checked on the open descriptor, so the file cannot be swapped between the check and the read.
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw fileError(path, "must be a regular file")
        }
        let permissions = status.st_mode & 0o777
        guard permissions & 0o077 == 0 else {
            throw fileError(path, "mode \(String(permissions, radix: 8)) grants access to group or others; it must be 600 (chmod 600 \(path))")
        }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = read(descriptor, &buffer, buffer.count)
        guard count >= 0 else { throw fileError(path, "cannot read (\(String(cString: strerror(errno))))") }
        defer { OPENSSL_cleanse(&buffer, buffer.count) }
        let text = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let expected = "must hold \(byteCount) random bytes in base64 (44 characters)"
        guard let key = Data(base64Encoded: text) else { throw fileError(path, "\(expected); it is not base64") }
        guard key.count == byteCount else { throw fileError(path, "\(expected); it holds \(key.count) bytes") }
        return SecretKey(bytes: Array(key))
    }

    /// Writes a new random key to `path` with mode 0600; refuses to replace an existing file.
    @discardableResult
    public static func generateFile(at path: String) throws -> SecretKey {
        let key = try random()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST { throw fileError(path, "already exists; refusing to overwrite it") }
            throw fileError(path, "cannot create (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        let contents = Array((Data(key.bytes).base64EncodedString() + "\n").utf8)
        // The umask may have narrowed the mode given to open; make it exactly 0600.
        guard fchmod(descriptor, 0o600) == 0, write(descriptor, contents, contents.count) == contents.count,
              fsync(descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw fileError(path, "cannot write (\(reason))")
        }
        return key
    }

    private static func fileError(_ path: String, _ problem: String) -> SecretsError {
        SecretsError("secret key file \(path): \(problem)")
    }
}

func randomBytes(_ count: Int) throws -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    guard RAND_bytes(&bytes, Int32(count)) == 1 else {
        throw SecretsError("cannot get random bytes from OpenSSL")
    }
    return bytes
}
