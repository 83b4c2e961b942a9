import ArgumentParser
import DirectoryFixtures
import Dispatch
import Foundation

/// `ucp ldapsim`: a private slapd serving a generated directory, for benchmarks and demos (tests
/// start theirs through TestSupport). Runs until SIGINT or SIGTERM, then removes its folder.
struct LDAPSimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ldapsim",
        abstract: "Start a private slapd with a generated directory (tests, benchmarks, demo; never production).",
        discussion: """
            Users are user000001… under ou=People,dc=example,dc=com, with an AD-like schema (sAMAccountName, \
            userPrincipalName, ipPhone, msRTCSIP-PrimaryUserAddress, userAccountControl, department); every 10th \
            is disabled. Searches return at most 500 entries; paged searches (pages of 500 at most) read everything. \
            Bind as cn=sync,dc=example,dc=com with the password in the printed password_file.
            """)

    @Option(help: "How many users to generate.") var users: Int = 100
    @Option(parsing: .unconditional, help: "The ldap:// port on 127.0.0.1 (default: a free one).") var port: Int?
    @Flag(help: "Also serve ldaps:// (a test CA signs the certificate; its file is printed).") var tls = false
    @Option(help: "The folder for the database and configuration (default: a new one under /tmp).") var directory: String?
    @Flag(help: "Load the directory and exit without serving (the folder stays).") var loadOnly = false

    func run() async throws {
        guard users >= 0 else { throw ValidationError("users: must be 0 or more (got \(users))") }
        if let port { guard (1...65535).contains(port) else { throw ValidationError("port: must be from 1 to 65535 (got \(port))") } }
        let started = Date()
        let slapd = try Slapd.startGenerated(users: users, directory: directory, port: port, tls: tls)
        let passwordFile = slapd.directory + "/password"
        _ = FileManager.default.createFile(atPath: passwordFile, contents: Data(DirectoryFixture.password.utf8),
                                       attributes: [.posixPermissions: 0o600])
        var line = "ldapsim: url=\(slapd.url) base=\(DirectoryFixture.peopleBase) bind_dn=\(DirectoryFixture.syncDN)"
        line += " password_file=\(passwordFile) users=\(users) folder=\(slapd.directory)"
        if let ldapsURL = slapd.ldapsURL { line += " ldaps_url=\(ldapsURL) ca_file=\(slapd.caFile)" }
        line += String(format: " load_s=%.1f", Date().timeIntervalSince(started))
        print(line)
        fflush(nil)
        if loadOnly {
            slapd.stop()
            return
        }
        await Self.waitForTermination()
        slapd.destroy()
    }

    static func waitForTermination() async {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let queue = DispatchQueue(label: "ucp.ldapsim.signals")
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
            nonisolated(unsafe) var resumed = false
            for source in sources {
                source.setEventHandler {
                    guard !resumed else { return }
                    resumed = true
                    sources.forEach { $0.cancel() }
                    continuation.resume()
                }
                source.resume()
            }
        }
    }
}
