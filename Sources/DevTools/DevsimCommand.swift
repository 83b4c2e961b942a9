import ArgumentParser
import DeviceSimulator
import Foundation
import UCPCommands

/// `ucp devsim`: the stand-in for Unified CM (AXL) and Unity Connection (CUPI) that tests, benchmarks
/// and the demo talk to. Never used against production.
struct DevsimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devsim",
        abstract: "Run a simulated Unified CM (AXL at /axl/) and Unity Connection (CUPI at /vmrest/).",
        discussion: """
            Prints one line when ready: "devsim: listening on https://127.0.0.1:PORT (axl /axl/, cupi /vmrest/)". \
            The data is generated from --users and is the same for the same size. Credentials are --user and the \
            password in --password-file (first line); without a file the password is "devsim".
            """)

    @Option(help: "Address to listen on.") var listen = "127.0.0.1"
    @Option(parsing: .unconditional, help: "Port to listen on (0 picks a free one).") var port = 0
    @Flag(help: "Plain HTTP instead of HTTPS.") var plainHttp = false
    @Option(help: "Write the generated certificate (PEM) here, for clients to use as their CA file.") var certOut: String?
    @Option(help: "The administrator name clients log in with.") var user = "admin"
    @Option(help: "A file whose first line is the password (never the password itself on the command line).") var passwordFile: String?
    @Option(help: "Number of users (each with a phone and a line).") var users = 100
    @Option(help: "ccm (Unified CM and Unity Connection) or express (getCCMVersion answers as Unified CM Express, /vmrest/version/product as Unity Express).") var product = "ccm"
    @Option(help: "Added latency per request, in milliseconds.") var latencyMs = 0
    @Option(name: .customLong("rate-503"), help: "Fraction (0…1) of AXL requests answered with HTTP 503.") var rate503 = 0.0
    @Option(help: "Every request on this AXL type (for example SipTrunk) answers a SOAP fault.") var faultType: String?
    @Option(help: "After this many requests, stop answering (connections stay open).") var hangAfter: Int?
    @Option(help: "This AXL operation (for example listPhone) answers malformed XML.") var malformedOp: String?
    @Flag(help: "List and get items carry an element the schema does not have.") var unknownElements = false
    @Flag(help: "The users' home cluster is another one (homeCluster false, IM and Presence off).") var notHomeCluster = false
    @Flag(help: "The Unified CM is LDAP-integrated: getLdapSystem answers syncEnabled true (UDS is refused while one is).") var ldapIntegrated = false
    @Option(help: "The version getCCMVersion answers (default 12.5.1.11900(146)), e.g. 9.1.2.10000(28) for a Unified CM older than 10.") var cucmVersion: String?
    @Option(help: "A list page over this many rows answers the \"Query request too large\" fault.") var maxRows: Int?
    @Option(help: "Write every AXL request body to this folder as NNNNNN-<operation>.xml.") var captureDir: String?
    @Option(help: "Changes one listChange answer carries at most (a longer answer is paged).") var changePageSize = 1000
    @Option(help: "Changes the listChange cache keeps (Unified CM: 100,000); the oldest are evicted. POST /devsim/change-queue/reset gives a new queue id (the old one answers fault 5007), POST /devsim/change-queue/burst?count=N makes N changes.") var changeCacheSize = 100_000
    @Flag(help: "A listChange start evicted from the cache is answered as a page from the oldest change kept (firstChangeId newer than the start) instead of a fault.") var evictQuietly = false
    @Flag(help: "listChange on an empty change cache answers queueInfo with the queueId only (no firstChangeId, lastChangeId or nextStartChangeId).") var emptyQueueUnnumbered = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("port: must be 0…65535") }
        guard users >= 0 else { throw ValidationError("users: must be 0 or more") }
        guard ["ccm", "express"].contains(product) else { throw ValidationError("product: must be ccm or express") }
        guard (0...1).contains(rate503) else { throw ValidationError("rate-503: must be a fraction from 0 to 1") }
        guard latencyMs >= 0 else { throw ValidationError("latency-ms: must be 0 or more") }
        if let hangAfter, hangAfter < 0 { throw ValidationError("hang-after: must be 0 or more") }
        if let maxRows, maxRows < 1 { throw ValidationError("max-rows: must be 1 or more") }
        guard changePageSize >= 1 else { throw ValidationError("change-page-size: must be 1 or more") }
        guard changeCacheSize >= 1 else { throw ValidationError("change-cache-size: must be 1 or more") }
    }

    func run() throws {
        var options = SimulatorOptions()
        options.listen = listen
        options.port = port
        options.plainHTTP = plainHttp
        options.certificateOutput = certOut
        options.user = user
        if let passwordFile {
            guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8),
                  let line = text.split(separator: "\n", omittingEmptySubsequences: false).first, !line.isEmpty else {
                throw ValidationError("password-file: cannot read a password from \(passwordFile)")
            }
            options.password = String(line)
        }
        options.users = users
        options.express = product == "express"
        options.latencyMilliseconds = latencyMs
        options.rate503 = rate503
        options.faultType = faultType
        options.hangAfter = hangAfter
        options.malformedOperation = malformedOp
        options.unknownElements = unknownElements
        options.homeCluster = !notHomeCluster
        options.ldapIntegrated = ldapIntegrated
        options.cucmVersion = cucmVersion
        options.maxRows = maxRows
        options.changePageSize = changePageSize
        options.changeCacheSize = changeCacheSize
        options.evictQuietly = evictQuietly
        options.emptyQueueUnnumbered = emptyQueueUnnumbered
        if let captureDir {
            try FileManager.default.createDirectory(atPath: captureDir, withIntermediateDirectories: true)
            options.captureDirectory = captureDir
        }
        let simulator = DeviceSimulator(options: options)
        try simulator.run { line in
            // Tests wait for this line, so it goes out at once (stdout is a pipe or a file there).
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
    }
}
