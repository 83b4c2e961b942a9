import APIServer
import ArgumentParser
import Foundation
import Inventory
import JobCatalog
import Postgres
import Queue
import Runtime
import Secrets
import Sync

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "The device registry: Unified CM, Unity Connection, IM and Presence systems and LDAP directories.",
        discussion: """
            Passwords are never taken from the command line (ps shows it): give --password-stdin, \
            --password-file FILE, or type it at the prompt. They are stored encrypted with the key \
            UCP_SECRET_KEY_FILE names (ucp secret-key generate --file PATH) and never shown.
            """,
        subcommands: [Add.self, Edit.self, List.self, Show.self, Remove.self, Test.self, Log.self, Objects.self, ChangeNotification.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a device.")
        @Option(help: "The device name: letters, digits, space, '_', '-', '.', '@' (1 to 100).") var name: String
        @OptionGroup var fields: DeviceFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let draft = try fields.change.draft(name: name) // before asking for the password
            let box = try DevicePasswords.box()
            let password = try DevicePasswords.read(fields, deviceName: name, required: true)!
            let store = DeviceStore(Connection(try await Database.open()), secretBox: box)
            let device = try await store.deviceAdd(draft, password: password, actor: global.actorName)
            print("device '\(device.name)' added (\(device.kind.title) at \(device.ldapURL ?? "\(device.address):\(device.port)"))")
            for exposure in DeviceExposure.taken(before: nil, after: device.settings) { print(exposure.warning(device: device.name)) }
        }
    }

    struct Edit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a device. Only the options given change; --backup-address '' or --ca-file '' clears.")
        @Argument(help: "The device name.") var name: String
        @OptionGroup var fields: DeviceFieldOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let change = fields.change
            try change.checkChoices()
            let wantsPassword = fields.passwordStdin || fields.passwordFile != nil
            let box = wantsPassword ? try DevicePasswords.box() : nil
            let password = try DevicePasswords.read(fields, deviceName: name, required: false)
            let store = DeviceStore(Connection(try await Database.open()), secretBox: box)
            let before = try await store.deviceGet(name: name)
            let device = try await store.deviceUpdate(name: name, password: password, actor: global.actorName) { try change.apply(to: &$0) }
            print(before.map { $0.updatedAt == device.updatedAt } == true
                  ? "device '\(name)': nothing changed" : "device '\(name)' changed")
            for exposure in DeviceExposure.taken(before: before?.settings, after: device.settings) {
                print(exposure.warning(device: name))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the devices.")
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let devices = try await DeviceStore(Connection(try await Database.open())).deviceList()
            if json {
                print(try Output.json(devices.map(DeviceOutput.json)))
                return
            }
            print(pad("NAME", 24) + pad("KIND", 7) + pad("VERSION", 9) + pad("ADDRESS", 32) + pad("AXL", 6)
                  + pad("TLS", 5) + "LAST TEST")
            for device in devices {
                // A directory shows its server type where others show their version, and no AXL version.
                let version = device.directoryType?.rawValue ?? device.version ?? "-"
                print(pad(device.name, 24) + pad(device.kind.commandName, 7) + pad(version, 9)
                      + pad(device.ldapURL ?? "\(device.address):\(device.port)", 32)
                      + pad(device.kind == .directory ? "-" : device.axlVersion, 6)
                      + pad(device.verifyTLS ? "on" : "off", 5) + device.lastTestState.rawValue)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one device (the password never).")
        @Argument(help: "The device name.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            guard let device = try await DeviceStore(Connection(try await Database.open())).deviceGet(name: name) else {
                throw ValidationError("device '\(name)': no such device")
            }
            if json {
                print(try Output.json(DeviceOutput.json(device)))
                return
            }
            var lines: [(String, String)] = [
                ("name", device.name), ("kind", "\(device.kind.commandName) (\(device.kind.title))"),
                ("version", device.version ?? "-"), ("address", device.address), ("port", String(device.port)),
                ("backup address", device.backupAddress ?? "-"), ("backup port", device.backupPort.map(String.init) ?? "-"),
                (device.kind == .directory ? "admin dn" : "admin user", device.adminUser), ("password", DeviceOutput.password(device)),
                ("axl version", device.kind == .directory ? "-" : device.axlVersion), ("verify tls", device.verifyTLS ? "on" : "off"),
                ("ca file", device.caFile ?? "-"),
                ("writes in flight", device.kind == .directory ? "-" : "at most \(device.maxWritesInFlight) (orders, over all workers)"),
                ("last test", device.lastTestState.rawValue + (device.lastTestMessage.map { ": \($0)" } ?? "")),
                ("last tested at", Output.shortTime(device.lastTestedAt)),
                ("first synced at", Output.shortTime(device.firstSyncedAt)),
                ("created at", Output.shortTime(device.createdAt)), ("updated at", Output.shortTime(device.updatedAt)),
            ]
            if device.kind == .callProcessor {
                // As the infrastructure synchronization last read it (getLdapSystem): UDS is refused while one is integrated.
                let integration = device.ldapIntegrated.map { $0 ? "on (users synchronized from LDAP)" : "off" } ?? "not read yet (run an infrastructure synchronization)"
                lines.append(("ldap integration", integration + (device.ldapIntegrationReadAt.map { ", read \(Output.shortTime($0))" } ?? "")))
            }
            if let type = device.directoryType, let security = device.ldapSecurity, let url = device.ldapURL {
                lines.insert(contentsOf: [("server type", "\(type.rawValue) (\(type.title))"), ("security", security.rawValue),
                                          ("url", url), ("backup url", device.ldapBackupURL ?? "-")], at: 2)
            }
            for (key, value) in lines { print(pad(key, 17) + value) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a device no domain or service area refers to.")
        @Argument(help: "The device name.") var name: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await DeviceStore(Connection(try await Database.open())).deviceRemove(name: name, actor: global.actorName)
            print("device '\(name)' removed")
        }
    }
}

extension DeviceCommand {
    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Test the connection to a device: authenticate and read its version (a \(DeviceTest.jobType) job).")
        @Argument(help: "The device name.") var name: String
        @OptionGroup var waitOptions: WaitOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let database = try await Database.open()
            guard try await DeviceStore(Connection(database)).deviceGet(name: name) != nil else {
                throw ValidationError("device '\(name)': no such device")
            }
            let store = QueueStore(Connection(database))
            let params = QueueStore.EnqueueParams(DeviceTest.self, target: name, dedupKey: "\(DeviceTest.jobType):\(name)",
                                                  actor: global.actorName)
            do {
                try await Submission.enqueue(params, store: store, wait: waitOptions.wait)
            } catch let exit as ExitCode {
                try await printResult(database)
                throw exit
            }
            if waitOptions.wait { try await printResult(database) }
        }

        func printResult(_ database: ConnectionConfiguration) async throws {
            guard let device = try await DeviceStore(Connection(database)).deviceGet(name: name) else { return }
            print("device '\(name)' test: \(device.lastTestState.rawValue)\(device.lastTestMessage.map { ": \($0)" } ?? "")")
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the detailed log of a device's latest infrastructure or user synchronization, or of its change notification (the recent polls).")
        @Argument(help: "The device name.") var name: String
        @Option(help: "infra, user or cn (change notification).") var kind: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let syncKind = DeviceSyncKind(rawValue: kind)
            guard syncKind != nil || kind == "cn" else {
                throw ValidationError("kind: must be infra, user or cn (got '\(kind)')")
            }
            let title = syncKind?.title ?? "Change notification"
            let connection = Connection(try await Database.open())
            guard try await DeviceStore(connection).deviceGet(name: name) != nil else {
                throw ValidationError("device '\(name)': no such device")
            }
            let found: DeviceSyncLog?
            if let syncKind {
                found = try await DeviceObjectStore(connection).deviceSyncLogGet(device: name, kind: syncKind)
            } else {
                found = try await ChangeNotificationStore(connection).cnLogGet(device: name)
            }
            guard let log = found else {
                if json { print("null") } else { print("device '\(name)': no \(title.lowercased()) has run") }
                return
            }
            if json {
                print(try Output.json([
                    "job_id": log.jobID, "started_at": Output.iso(log.startedAt), "finished_at": Output.iso(log.finishedAt),
                    "state": log.state, "outcome": log.outcome.map { $0 as Any } ?? NSNull(), "counts": log.counts,
                    "lines": log.lines.map { ["at": Output.iso($0.at), "level": $0.level, "message": $0.message] },
                ] as [String: Any]))
                return
            }
            print("\(title) of '\(name)', job \(log.jobID), \(log.state), started \(Output.shortTime(log.startedAt)), finished \(Output.shortTime(log.finishedAt))")
            for line in log.lines { print("\(Output.shortTime(line.at)) \(line.level): \(line.message)") }
            // A finished sync logged its outcome as its last line; a cut-off one could not.
            if log.state == "interrupted", let outcome = log.outcome { print(outcome) }
        }
    }

    struct ChangeNotification: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cn",
            abstract: "Show or set a Unified CM's change notification: on/off, interval, queue id, last change id, last poll and its outcome, backlog.",
            discussion: """
                On by default for Unified CM 10.0 and later (seed); polled every interval (default 5m) while \
                the device has been synchronized once. Polls run in maintenance mode too, never beside an \
                infrastructure or user synchronization of the device. The recent polls: ucp device log NAME --kind cn.
                """)
        @Argument(help: "The device name.") var name: String
        @Flag(help: "Switch change notification on.") var enable = false
        @Flag(help: "Switch change notification off.") var disable = false
        @Flag(help: "Back to the default: on for Unified CM 10.0 and later.") var defaultOnOff = false
        @Option(help: "How often to poll (e.g. 300s, 5m; 1s to 1d).") var interval: String?
        @Flag(help: "Print JSON.") var json = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            guard [enable, disable, defaultOnOff].filter({ $0 }).count <= 1 else {
                throw ValidationError("enable: give one of --enable, --disable and --default-on-off")
            }
            let seconds = try interval.map { text -> Int in
                // The range is checked on the Double: a value past Int's range would trap in Int(_:).
                let range = ChangeNotificationStore.intervalRange
                let rule = "must be whole seconds from 1s to 1d"
                let value = try Duration.seconds(text, field: "interval", within: Double(range.lowerBound)...Double(range.upperBound), rule: rule)
                guard value == value.rounded() else { throw InputError(field: "interval", problem: "\(rule) (got \(InputError.quoted(text)))") }
                return Int(value)
            }
            let connection = Connection(try await Database.open())
            let store = ChangeNotificationStore(connection)
            if enable || disable || defaultOnOff || seconds != nil {
                try await store.cnConfigure(device: name, enabled: enable ? true : disable ? false : nil,
                                            intervalSeconds: seconds, useDefault: defaultOnOff, actor: global.actorName)
            }
            guard let state = try await store.cnState(device: name) else {
                throw ValidationError("device '\(name)': no such device")
            }
            let onText = state.on ? "on" : "off"
            let why = state.enabledSetting == nil
                ? (state.supported ? "default: Unified CM 10.0 or later" : "default: not supported before Unified CM 10.0, or not a Unified CM")
                : "set by an operator"
            if json {
                func value<T>(_ optional: T?) -> Any { optional.map { $0 as Any } ?? NSNull() }
                print(try Output.json([
                    "device": state.device, "on": state.on, "setting": value(state.enabledSetting), "interval_s": state.intervalSeconds,
                    "queue_id": value(state.queueID), "next_start_change_id": value(state.nextStartChangeID),
                    "last_change_id": value(state.lastChangeID), "cucm_version": value(state.cucmVersion),
                    "baseline_at": Output.iso(state.baselineAt), "last_poll_job": value(state.lastPollJob),
                    "last_poll_started_at": Output.iso(state.lastPollStartedAt),
                    "last_poll_at": Output.iso(state.lastPollAt), "last_poll_outcome": value(state.lastPollOutcome),
                    "last_success_at": Output.iso(state.lastSuccessAt), "backlog": value(state.backlog),
                    "cache_size": state.cacheSize,
                    "resync_pending": state.resyncPendingSince.map { since in
                        ["since": Output.iso(since), "reason": value(state.resyncPendingReason)] as [String: Any]
                    } ?? NSNull(),
                ] as [String: Any]))
                return
            }
            let rows: [(String, String)] = [
                ("change notification", "\(onText) (\(why))"),
                ("interval", "\(state.intervalSeconds) s"),
                ("queue id", state.queueID ?? "- (no baseline yet)"),
                ("next change id", state.position.map { $0.isQueueStart ? "the queue's start (empty at the baseline)" : String($0.nextStartChangeID) } ?? "-"),
                ("last change id", state.lastChangeID.map(String.init) ?? "-"),
                ("unified cm version", state.cucmVersion ?? "-"),
                ("last poll", state.lastPollAt.map { "\(Output.shortTime($0)) (job \(state.lastPollJob.map(String.init) ?? "-"))" }
                    ?? (state.lastPollStartedAt.map { "started \(Output.shortTime($0)), running" } ?? "never")),
                ("last outcome", state.lastPollOutcome ?? "-"),
                ("last success", state.lastSuccessAt.map { Output.shortTime($0) } ?? "never"),
                ("backlog", state.backlog.map { "\($0) changes (cache \(state.cacheSize))" } ?? "-"),
                ("resync pending", state.resyncPendingSince.map {
                    "since \(Output.shortTime($0)): \(state.resyncPendingReason ?? "-") (until an infrastructure and a user sync succeed)"
                } ?? "no"),
            ]
            for (label, text) in rows { print(pad(label + ":", 21) + text) }
        }
    }

    struct Objects: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List or count the objects the latest syncs read from a device (the inventory).")
        @Argument(help: "The device name.") var name: String
        @Option(help: "Only this inventory type (e.g. Phone, User, Line, SIPTrunk).") var type: String?
        @Option(help: "Only what this sync read: infra or user.") var kind: String?
        @Flag(help: "Count per type instead of listing.") var count = false
        @Flag(name: .customLong("include-removed"), help: "List objects marked removed too.") var includeRemoved = false
        @Option(help: "List at most this many (1 to 1000000).") var limit = 1000
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let syncKind = try kind.map { text in
                guard let parsed = DeviceSyncKind(rawValue: text) else { throw ValidationError("kind: must be infra or user (got '\(text)')") }
                return parsed
            }
            guard (1...1_000_000).contains(limit) else { throw ValidationError("limit: must be from 1 to 1000000") }
            let connection = Connection(try await Database.open())
            guard try await DeviceStore(connection).deviceGet(name: name) != nil else {
                throw ValidationError("device '\(name)': no such device")
            }
            let store = DeviceObjectStore(connection)
            if count {
                let counts = try await store.deviceObjectCounts(device: name, type: type, kind: syncKind)
                if json {
                    print(try Output.json(counts.map { ["type": $0.type, "kind": $0.kind.rawValue, "present": $0.present, "removed": $0.removed] }))
                    return
                }
                print(pad("TYPE", 38) + pad("KIND", 7) + pad("PRESENT", 9) + "REMOVED")
                for row in counts {
                    print(pad(row.type, 38) + pad(row.kind.rawValue, 7) + pad(String(row.present), 9) + String(row.removed))
                }
                return
            }
            let objects = try await store.deviceObjectList(device: name, type: type, kind: syncKind,
                                                           includeRemoved: includeRemoved, limit: limit)
            if json {
                print(try Output.json(objects.map { object -> [String: Any] in
                    [
                        "type": object.type, "kind": object.kind.rawValue, "key": object.key,
                        "uuid": object.uuid.map { $0 as Any } ?? NSNull(),
                        "attributes": (try? JSONSerialization.jsonObject(with: Data(object.attributes.utf8))) ?? object.attributes,
                        "first_seen": Output.iso(object.firstSeen), "last_seen": Output.iso(object.lastSeen),
                        "removed_at": Output.iso(object.removedAt),
                    ]
                }))
                return
            }
            print(pad("TYPE", 30) + pad("KIND", 7) + pad("KEY", 40) + "STATE")
            for object in objects {
                print(pad(object.type, 30) + pad(object.kind.rawValue, 7) + pad(object.key, 40)
                      + (object.removedAt.map { "removed \(Output.shortTime($0))" } ?? "present"))
            }
        }
    }
}

/// The options `device add` and `device edit` share; on edit, only those given change.
struct DeviceFieldOptions: ParsableArguments {
    @Option(help: "cucm (Unified CM), unity (Unity Connection), imp (IM and Presence) or ldap (LDAP directory).") var kind: String?
    @Option(name: .customLong("server-type"), help: "Directories: ad, adam (ADAM / LDS), openldap or oracle.")
    var serverType: String?
    @Option(help: "Directories: ldap, ldaps or starttls (default ldap).") var security: String?
    @Option(help: "Host name or IP address of the publisher (or directory server).") var address: String?
    // Unconditional: the word after --port is its value even when it starts with a dash, so that
    // `--port -1` is refused by the port's rule (naming its range), not as a missing value.
    @Option(parsing: .unconditional, help: "Port (default: 8443 for cucm and imp, 443 for unity; for ldap 389, or 636 with ldaps; Global Catalog 3268/3269).")
    var port: Int?
    @Option(name: .customLong("backup-address"), help: "Backup host name or IP address (with --backup-port).")
    var backupAddress: String?
    @Option(name: .customLong("backup-port"), parsing: .unconditional, help: "Backup HTTPS port (with --backup-address).") var backupPort: Int?
    @Option(help: "The administrator user name; for a directory, the admin distinguished name (CN=Administrator,OU=Sales,DC=ca,DC=com).")
    var user: String?
    @Flag(name: .customLong("password-stdin"), help: "Read the password from standard input (one line).")
    var passwordStdin = false
    @Option(name: .customLong("password-file"), help: "Read the password from this file (its first line).")
    var passwordFile: String?
    @Option(help: "The product version, e.g. 12.5 (Unified CM).") var version: String?
    @Option(name: .customLong("axl-version"), help: "AXL schema version: 10.0, 10.5, 11.0, 11.5, 12.0 or 12.5 (default 12.5).")
    var axlVersion: String?
    @Flag(name: .customLong("verify-tls"), inversion: .prefixedNo,
          help: "Verify the device's TLS certificate (on by default; turning it off is audited).")
    var verifyTLS: Bool?
    @Option(name: .customLong("ca-file"), help: "PEM file of the CA that signed the device's certificate.") var caFile: String?
    @Option(name: .customLong("max-writes-in-flight"),
            help: "Order writes in flight at once on this device, over every worker and host (1 to 64, default 2).")
    var maxWritesInFlight: Int?

    /// The fields given, as `DeviceChange` (the one place the command line and the API share) reads them.
    var change: DeviceChange {
        DeviceChange(kind: kind, serverType: serverType, security: security, version: version, address: address, port: port,
                     backupAddress: backupAddress, backupPort: backupPort, adminUser: user, axlVersion: axlVersion,
                     verifyTLS: verifyTLS, caFile: caFile, maxWritesInFlight: maxWritesInFlight)
    }
}

enum DevicePasswords {
    /// The key that seals device passwords, with the fix in the message when none is configured.
    static func box() throws -> SecretBox { try DeviceStore.secretBoxFromEnvironment() }

    /// The password from standard input, a file, or a prompt without echo on a terminal; never from argv.
    static func read(_ options: DeviceFieldOptions, deviceName: String, required: Bool) throws -> Secret? {
        if options.passwordStdin && options.passwordFile != nil {
            throw ValidationError("password: give --password-stdin or --password-file, not both")
        }
        if options.passwordStdin {
            guard let line = try InputText.standardInputLine(field: "password", source: "standard input"), !line.isEmpty else {
                throw ValidationError("password: expected the password on standard input (--password-stdin)")
            }
            return Secret(line)
        }
        if let path = options.passwordFile {
            let line = try InputText.file(path, field: "password-file").split(separator: "\n", omittingEmptySubsequences: false).first
                .map { String($0.hasSuffix("\r") ? $0.dropLast() : $0) } ?? ""
            guard !line.isEmpty else { throw ValidationError("password-file: '\(path)' holds no password on its first line") }
            return Secret(line)
        }
        guard required else { return nil }
        guard isatty(STDIN_FILENO) == 1 else {
            throw ValidationError("password: required; give --password-stdin or --password-file FILE (or run on a terminal to be prompted), never on the command line")
        }
        return Secret(try PasswordInput.promptWithoutEcho("Password for \(deviceName): ", field: "password"))
    }
}

enum DeviceOutput {
    static func password(_ device: Device) -> String { Representation.devicePassword(device) }

    static func json(_ device: Device) -> [String: Any] { Representation.device(device) }
}
