import Foundation
import Secrets
import XCTest

final class SecretBoxTests: XCTestCase {
    func testRoundTrip() throws {
        let box = SecretBox(key: try SecretKey.random())
        for plaintext in ["hunter2", "", "pässwörd ✓ 🔑", String(repeating: "long password ", count: 500)] {
            let token = try box.seal(plaintext)
            XCTAssertTrue(token.hasPrefix("v1:"))
            XCTAssertFalse(token.contains(plaintext) && !plaintext.isEmpty)
            XCTAssertEqual(try box.open(token), plaintext)
        }
        XCTAssertEqual(try box.openSecret(try box.seal(Secret("s3cret"))).revealed, "s3cret")
    }

    func testEachSealDrawsANewNonce() throws {
        let box = SecretBox(key: try SecretKey.random())
        let tokens = try (0..<20).map { _ in try box.seal("same password") }
        XCTAssertEqual(Set(tokens).count, tokens.count)
        let nonces = tokens.map { Data(base64Encoded: String($0.dropFirst(3)))!.prefix(12) }
        XCTAssertEqual(Set(nonces).count, nonces.count)
    }

    func testAnyChangedByteIsRejected() throws {
        let box = SecretBox(key: try SecretKey.random())
        let token = try box.seal("hunter2")
        let sealed = Array(Data(base64Encoded: String(token.dropFirst(3)))!)
        // A byte of the nonce, of the ciphertext and of the tag.
        for index in [0, 12, sealed.count - 1] {
            var damaged = sealed
            damaged[index] ^= 0x01
            let changed = "v1:" + Data(damaged).base64EncodedString()
            assertCannotDecrypt(try box.open(changed), "byte \(index)")
        }
        assertCannotDecrypt(try box.open("v1:" + Data(sealed.dropLast()).base64EncodedString()), "truncated")
        assertCannotDecrypt(try box.open("v1:not base64!"), "not base64")
    }

    func testWrongKeyIsRejected() throws {
        let token = try SecretBox(key: try SecretKey.random()).seal("hunter2")
        assertCannotDecrypt(try SecretBox(key: try SecretKey.random()).open(token), "other key")
    }

    func testUnsealedValueIsRefusedWithoutEchoingIt() throws {
        let box = SecretBox(key: try SecretKey.random())
        XCTAssertThrowsError(try box.open("hunter2")) { error in
            XCTAssertEqual("\(error)", "cannot decrypt: not a sealed value (expected the v1: format)")
        }
    }

    private func assertCannotDecrypt(_ expression: @autoclosure () throws -> String, _ label: String,
                                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), label, file: file, line: line) { error in
            XCTAssertEqual("\(error)", "cannot decrypt: wrong key or damaged value", label, file: file, line: line)
        }
    }
}

final class SecretKeyTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "ucp-secrets-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    func testGeneratedKeyFileIsPrivateAndLoadsTheSameKey() throws {
        let path = directory + "/key"
        let generated = try SecretKey.generateFile(at: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(Data(base64Encoded: text.trimmingCharacters(in: .newlines))?.count, 32)

        let token = try SecretBox(key: generated).seal("hunter2")
        XCTAssertEqual(try SecretBox(key: try SecretKey.load(path: path)).open(token), "hunter2")
        let fromEnvironment = try SecretKey.fromEnvironment(["UCP_SECRET_KEY_FILE": path])
        XCTAssertEqual(try SecretBox(key: fromEnvironment).open(token), "hunter2")
    }

    func testGeneratorRefusesToOverwrite() throws {
        let path = directory + "/key"
        try SecretKey.generateFile(at: path)
        let before = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertThrowsError(try SecretKey.generateFile(at: path)) { error in
            XCTAssertEqual("\(error)", "secret key file \(path): already exists; refusing to overwrite it")
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), before)
    }

    func testKeyFileOpenToGroupOrOthersIsRefused() throws {
        let path = directory + "/key"
        try SecretKey.generateFile(at: path)
        for mode in [0o640, 0o604, 0o660, 0o644] {
            chmod(path, mode_t(mode))
            XCTAssertThrowsError(try SecretKey.load(path: path)) { error in
                XCTAssertEqual("\(error)", "secret key file \(path): mode \(String(mode, radix: 8)) grants access to group or others; "
                    + "it must be 600 (chmod 600 \(path))")
            }
        }
        chmod(path, 0o400)
        XCTAssertNoThrow(try SecretKey.load(path: path))
    }

    func testKeyOfWrongLengthOrFormatIsRefusedWithoutEchoingIt() throws {
        let cases = [
            (Data(repeating: 7, count: 16).base64EncodedString(), "it holds 16 bytes"),
            (Data(repeating: 7, count: 33).base64EncodedString(), "it holds 33 bytes"),
            ("this is not a key", "it is not base64"),
            ("", "it holds 0 bytes"),
        ]
        for (index, (contents, problem)) in cases.enumerated() {
            let path = directory + "/key\(index)"
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(contents.utf8), attributes: [.posixPermissions: 0o600]))
            XCTAssertThrowsError(try SecretKey.load(path: path)) { error in
                XCTAssertEqual("\(error)", "secret key file \(path): must hold 32 random bytes in base64 (44 characters); \(problem)")
            }
        }
    }

    func testAKeyPathNamingAFIFOOrADirectoryIsRefusedWithoutBlocking() throws {
        // A FIFO with no writer: a blocking open would wait for ever; the file must be refused at once.
        let fifo = directory + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try SecretKey.load(path: fifo)) { error in
            XCTAssertEqual("\(error)", "secret key file \(fifo): must be a regular file")
        }
        XCTAssertThrowsError(try SecretKey.load(path: directory)) { error in
            XCTAssertEqual("\(error)", "secret key file \(directory): must be a regular file")
        }
    }

    func testMissingKeyFileIsNamed() throws {
        XCTAssertThrowsError(try SecretKey.fromEnvironment([:])) { error in
            XCTAssertTrue("\(error)".hasPrefix("UCP_SECRET_KEY_FILE is not set"), "\(error)")
        }
        let path = directory + "/absent"
        XCTAssertThrowsError(try SecretKey.fromEnvironment(["UCP_SECRET_KEY_FILE": path])) { error in
            XCTAssertEqual("\(error)", "secret key file \(path): cannot open (No such file or directory)")
        }
    }
}

final class SecretTests: XCTestCase {
    func testPrintingNeverShowsTheValue() throws {
        let secret = Secret("hunter2")
        var dumped = ""
        dump(secret, to: &dumped)
        let renderings = ["\(secret)", String(describing: secret), String(reflecting: secret), dumped,
                          "\([secret])", "\(Optional(secret) as Any)"]
        for rendering in renderings {
            XCTAssertFalse(rendering.contains("hunter2"), rendering)
            XCTAssertTrue(rendering.contains("********"), rendering)
        }
        XCTAssertEqual(secret.revealed, "hunter2")
        XCTAssertEqual("\(try SecretKey.random())", "SecretKey(********)")
    }
}

final class BearerTokenTests: XCTestCase {
    /// The stored form of a token is the lowercase hex SHA-256 of its text (FIPS 180-2's test vector),
    /// so tokens made before stay valid whatever computes the hex.
    func testTheDigestIsTheHexSHA256() throws {
        XCTAssertEqual(BearerToken.digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let token = try BearerToken.generate()
        XCTAssertTrue(token.hasPrefix(BearerToken.prefix))
        XCTAssertEqual(BearerToken.digest(token).count, 64)
    }
}
