import Foundation
import Runtime

/// The demo's orders part (issues 14, 15): a subscriber provisioned end to end on the simulated
/// Unified CM with the full bundle (the user adopted, a line from the service area's block, a phone
/// with the area's settings, the association, voicemail, Extension Mobility, Conference Now, Single Number Reach,
/// IM and Presence, the reset), its steps shown, then canceled (what it made removed); then an order
/// that meets a conflict (the user already has a mailbox with another extension) and is rolled back.
enum DemoOrders {
    static let serviceArea = "SA_Orders"
    /// A user made by hand (seed 000 step 1): the order pushes it to Unified CM, and it has no
    /// mailbox, device profile or remote destination there yet, so the full bundle fits.
    static let user = "demo.subscriber"
    static let conflictingUser = "user000010"

    static func run(logFolder: String, environment: [String: String]) async throws -> Bool {
        print("\nOrders: a subscriber provisioned on demo-cucm as a saga, shown, canceled; then a failing order rolled back")
        do {
            let areaExists = try ChildProcess.run([ChildProcess.currentExecutable, "service-area", "show", "--domain", DemoDomainSync.domainName,
                                                   serviceArea], environment: environment).status == 0
            if !areaExists {
                try DemoSchedule.step(["service-area", "add", "--domain", DemoDomainSync.domainName, "--name", serviceArea,
                                       "--call-processor", "demo-cucm", "--device-pool", "DP_Site01", "--location", "Hub_None",
                                       "--device-css", "CSS_Internal", "--line-css", "CSS_Internal", "--partition", "PT_Internal",
                                       "--dn-block", "5000-5999", "--message-processor", "demo-unity", "--voicemail-profile", "Default",
                                       "--unity-template", "voicemailusertemplate", "--actor", "demo"], environment: environment)
            }
            let userExists = try ChildProcess.run([ChildProcess.currentExecutable, "users", "show", user], environment: environment).status == 0
            if !userExists {
                try DemoSchedule.step(["user", "add", user, "--domain", DemoDomainSync.domainName, "--first-name", "Demo", "--last-name", "Subscriber",
                                       "--email", "demo.subscriber@example.com", "--actor", "demo"], environment: environment)
            }
            let phone = "SEP00DE" + String(format: "%08X", UInt32(Date().timeIntervalSince1970) & 0xFFFF_FFFF)
            let good = try write(logFolder + "/order-subscriber.yaml", user: user, phone: phone, voicemail: true, full: true)
            try DemoSchedule.step(["order", "plan", "-f", good], environment: environment)
            let submitted = try ChildProcess.run([ChildProcess.currentExecutable, "order", "submit", "-f", good, "--wait", "--actor", "demo"],
                                                 environment: environment)
            print("  $ ucp order submit -f \(good) --wait")
            for line in submitted.output.split(separator: "\n") where !line.hasPrefix("ucp: using the embedded default") { print("    " + line) }
            guard submitted.status == 0, let id = orderID(submitted.output) else { return false }
            try DemoSchedule.step(["order", "show", id], environment: environment)
            try DemoSchedule.step(["users", "show", user], environment: environment)
            let cancel = try ChildProcess.run([ChildProcess.currentExecutable, "order", "cancel", id, "--wait", "--actor", "demo"], environment: environment)
            print("  $ ucp order cancel \(id) --wait")
            for line in cancel.output.split(separator: "\n") where !line.hasPrefix("ucp: using the embedded default") { print("    " + line) }
            guard cancel.status == 0 else { return false }

            let bad = try write(logFolder + "/order-conflict.yaml", user: conflictingUser, phone: phone, voicemail: true)
            let failing = try ChildProcess.run([ChildProcess.currentExecutable, "order", "submit", "-f", bad, "--wait", "--actor", "demo"],
                                               environment: environment)
            print("  $ ucp order submit -f \(bad) --wait")
            for line in failing.output.split(separator: "\n") where !line.hasPrefix("ucp: using the embedded default") { print("    " + line) }
            guard let failedID = orderID(failing.output) else { return false }
            let shown = try ChildProcess.run([ChildProcess.currentExecutable, "order", "show", failedID], environment: environment)
            print("  $ ucp order show \(failedID)")
            for line in shown.output.split(separator: "\n") where !line.hasPrefix("ucp: using the embedded default") { print("    " + line) }
            return failing.status != 0 && shown.output.contains("— rolled_back")
        } catch let failure as DemoSchedule.DemoStepError {
            print("  \(failure)")
            return false
        }
    }

    static func write(_ path: String, user: String, phone: String, voicemail: Bool, full: Bool = false) throws -> String {
        var text = """
            domain: \(DemoDomainSync.domainName)
            service_area: \(serviceArea)
            user: \(user)
            phone:
              name: \(phone)
              model: Cisco 8845
            voicemail: \(voicemail ? "yes" : "no")

            """
        if full {
            text += "extension_mobility: yes\nconference_now: {access_code: \"4321\"}\nsingle_number_reach: {destination: \"+15550000001\"}\nim_and_presence: {service_profile: SP_Jabber}\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `order 12 submitted …` → "12".
    static func orderID(_ output: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix("order ") }.flatMap { $0.split(separator: " ").dropFirst().first }.map(String.init)
    }
}
