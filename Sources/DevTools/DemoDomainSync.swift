import Foundation
import Runtime

/// The demo's domain part, after the device syncs: a domain with one service area on the simulated
/// Unified CM and Unity Connection (site 1's device pool, the internal partition), the rule Match
/// Device Pool, a domain synchronization built from what the device syncs read (no device is asked
/// anything), its detailed log, and one user with the services it found. It drives `ucp` itself,
/// so the output shows the commands an operator would type.
enum DemoDomainSync {
    static let domainName = "demo-services"
    static let serviceArea = "SA_Site01"
    static let user = "user000000"

    static func run(environment: [String: String]) async throws -> Bool {
        print("\nDomain synchronization: a service area on demo-cucm and demo-unity, then the users of its device pool with their services")
        do {
            if try ChildProcess.run([ChildProcess.currentExecutable, "domain", "show", domainName]).status != 0 {
                try DemoSchedule.step(["domain", "add", "--name", domainName, "--actor", "demo"], environment: environment)
            }
            let areaExists = try ChildProcess.run([ChildProcess.currentExecutable, "service-area", "show", "--domain", domainName, serviceArea]).status == 0
            if !areaExists {
                try DemoSchedule.step(["service-area", "add", "--domain", domainName, "--name", serviceArea, "--call-processor", "demo-cucm",
                                       "--device-pool", "DP_Site01", "--partition", "PT_Internal", "--message-processor", "demo-unity",
                                       "--actor", "demo"], environment: environment)
            }
            try DemoSchedule.step(["domain", "edit", domainName, "--rule", "match-device-pool=DP_Site01", "--actor", "demo"], environment: environment)
            try DemoSchedule.step(["submit", "sync", "domain", "--domain", domainName, "--dry-run", "--wait", "--actor", "demo"],
                                  environment: environment)
            try DemoDevices.live(["submit", "sync", "domain", "--domain", domainName, "--wait", "--actor", "demo"], environment: environment)
            try DemoSchedule.step(["domain", "log", domainName, "--kind", "domain"], environment: environment)
            let shown = try ChildProcess.run([ChildProcess.currentExecutable, "users", "show", user], environment: environment)
            print("  $ ucp users show \(user)")
            for line in shown.output.split(separator: "\n") where !line.hasPrefix("ucp: using the embedded default") { print("    " + line) }
            // The user of site 1 holds its phone, its line and its voicemail, placed in the service area.
            return shown.status == 0 && shown.output.contains("service area \(serviceArea)")
                && ["phone", "line", "voicemail", "im_presence"].allSatisfy { shown.output.contains("    \($0) ") }
        } catch let failure as DemoSchedule.DemoStepError {
            print("  \(failure)")
            return false
        }
    }
}
