import ArgumentParser
import Foundation
import Secrets

struct SecretKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret-key",
        abstract: "The key that encrypts passwords at rest (AES-256-GCM); UCP_SECRET_KEY_FILE names its file.",
        subcommands: [Generate.self])

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new random key to a file (mode 0600); refuses to overwrite one.")

        @Option(help: "Where to write the key (default: $UCP_SECRET_KEY_FILE).") var file: String?

        func run() async throws {
            guard let path = file ?? ProcessInfo.processInfo.environment["UCP_SECRET_KEY_FILE"], !path.isEmpty else {
                throw ValidationError("file: give --file PATH or set UCP_SECRET_KEY_FILE")
            }
            try SecretKey.generateFile(at: path)
            print("wrote a new secret key to \(path) (mode 0600); keep a copy: passwords sealed with it cannot be read without it")
        }
    }
}
