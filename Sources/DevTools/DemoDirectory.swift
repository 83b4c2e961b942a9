import DirectoryFixtures
import Foundation
import Postgres
import Runtime

/// The demo's directory part: a private slapd with a small generated directory (Active Directory
/// attributes, a server page limit of 500), registered as an LDAP directory and tested, a domain that
/// synchronizes all its users, and an LDAP synchronization whose report and users are shown. It drives
/// `ucp` itself, so the output shows the commands an operator would type.
enum DemoDirectory {
    static let directoryName = "demo-ldap"
    static let domainName = "demo-domain"
    static let users = 40

    static func run(logFolder: String, environment: [String: String]) async throws -> Bool {
        print("\nDirectory: a private slapd with \(users) generated users, registered, tested, and synchronized into a domain")
        let slapd = try Slapd.startGenerated(users: users, directory: logFolder + "/slapd")
        defer { slapd.destroy() }
        let passwordFile = logFolder + "/ldap.password"
        _ = FileManager.default.createFile(atPath: passwordFile, contents: Data((DirectoryFixture.password + "\n").utf8),
                                           attributes: [.posixPermissions: 0o600])
        do {
            let place = ["--address", "127.0.0.1", "--port", String(slapd.port), "--user", DirectoryFixture.syncDN,
                         "--password-file", passwordFile, "--actor", "demo"]
            let deviceExists = try ChildProcess.run([ChildProcess.currentExecutable, "device", "show", directoryName]).status == 0
            try DemoSchedule.step(deviceExists ? ["device", "edit", directoryName] + place
                                               : ["device", "add", "--name", directoryName, "--kind", "ldap", "--server-type", "ad"] + place,
                                  environment: environment)
            try DemoSchedule.step(["device", "test", directoryName, "--wait"], environment: environment)
            let domainExists = try ChildProcess.run([ChildProcess.currentExecutable, "domain", "show", domainName]).status == 0
            if !domainExists {
                try DemoSchedule.step(["domain", "add", "--name", domainName, "--directory", directoryName,
                                       "--search-base", DirectoryFixture.peopleBase, "--all-users", "--actor", "demo"],
                                      environment: environment)
            }
            try DemoSchedule.step(["submit", "sync", "ldap", "--domain", domainName, "--dry-run", "--wait", "--actor", "demo"],
                                  environment: environment)
            try DemoDevices.live(["submit", "sync", "ldap", "--domain", domainName, "--wait", "--actor", "demo"], environment: environment)
            try DemoSchedule.step(["domain", "log", domainName, "--kind", "ldap"], environment: environment)
            let listed = try ChildProcess.run([ChildProcess.currentExecutable, "users", "list", "--domain", domainName], environment: environment)
            let lines = listed.output.split(separator: "\n").filter { !$0.hasPrefix("ucp: using the embedded default") }
            print("  $ ucp users list --domain \(domainName)")
            for line in lines.prefix(4) + ["…"] + lines.suffix(1) { print("    " + line) }
            let json = try ChildProcess.run([ChildProcess.currentExecutable, "users", "list", "--domain", domainName, "--json"],
                                            environment: environment)
            let synchronized = (try? JSONSerialization.jsonObject(with: Data(json.output.utf8).drop { $0 != UInt8(ascii: "[") })) as? [Any]
            // Disabled accounts stay out (sync inactive users is off).
            let enabled = (1...users).filter { !DirectoryFixture.user($0).disabled }.count
            return json.status == 0 && synchronized?.count == enabled
        } catch let failure as DemoSchedule.DemoStepError {
            print("  \(failure)")
            return false
        }
    }
}
