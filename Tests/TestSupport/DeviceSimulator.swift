import Foundation
import Postgres
import Runtime
import XCTest

/// `ucp devsim` started as a child process for one test: its URL, the certificate to trust, the
/// credentials, and `stop` (called at the latest when the test ends).
public final class DeviceSimulatorProcess: @unchecked Sendable {
    public let port: Int
    /// `https://127.0.0.1:PORT` (or `http://` with plain HTTP), no trailing slash.
    public let baseURL: String
    /// The PEM of the simulator's self-signed certificate (nil with plain HTTP): a client's CA file.
    public let certificatePath: String?
    public let user: String
    public let password: String
    /// A file holding the password (its first line), as `ucp device add … --password-file` reads it.
    public let passwordFile: String
    public let directory: String
    public let logPath: String
    private var pid: pid_t?

    /// The AXL endpoint (`…/axl/`).
    public var axlURL: String { baseURL + "/axl/" }
    /// The CUPI base (`…/vmrest`).
    public var cupiURL: String { baseURL + "/vmrest" }

    /// Starts `ucp devsim --users USERS [ARGUMENTS…]` on a free loopback port and waits for its ready line;
    /// `test` stops it when it ends. `arguments` are further flags (`--rate-503 0.5`, `--fault-type SipTrunk` …).
    public static func start(for test: XCTestCase, users: Int = 20, plainHTTP: Bool = false, arguments: [String] = [],
                             user: String = "axladmin", password: String = "s3cret-Devsim") throws -> DeviceSimulatorProcess {
        let simulator = try DeviceSimulatorProcess(users: users, plainHTTP: plainHTTP, arguments: arguments, user: user, password: password)
        test.addTeardownBlock { simulator.stop() }
        return simulator
    }

    private init(users: Int, plainHTTP: Bool, arguments: [String], user: String, password: String) throws {
        directory = NSTemporaryDirectory() + "ucp-devsim-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.user = user
        self.password = password
        passwordFile = directory + "/password"
        try (password + "\n").write(toFile: passwordFile, atomically: true, encoding: .utf8)
        certificatePath = plainHTTP ? nil : directory + "/cert.pem"
        logPath = directory + "/devsim.log"
        var command = [PackagePaths.ucp, "devsim", "--port", "0", "--users", String(users), "--user", user, "--password-file", passwordFile]
        if let certificatePath { command += ["--cert-out", certificatePath] } else { command += ["--plain-http"] }
        pid = try ChildProcess.spawn(command + arguments, outputPath: logPath)
        // The ready line names the port it picked.
        let deadline = Date().addingTimeInterval(120)
        var found: (Int, String)?
        while found == nil {
            let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix("devsim: listening on ") }) {
                let url = line.dropFirst("devsim: listening on ".count).split(separator: " ").first.map(String.init) ?? ""
                if let port = url.split(separator: ":").last.flatMap({ Int($0) }) { found = (port, url) }
            }
            if found == nil {
                let exited = pid.flatMap(ChildProcess.poll)
                guard exited == nil, Date() < deadline else {
                    let pidToStop = pid
                    pid = nil
                    if let pidToStop, exited == nil { kill(pidToStop, SIGKILL); ChildProcess.wait(pidToStop) }
                    throw SimulatorStartError(description: "ucp devsim did not start: \(output)")
                }
                usleep(20_000)
            }
        }
        port = found!.0
        baseURL = found!.1
    }

    /// Sends SIGKILL and waits; removes the folder. Safe to call twice.
    public func stop() {
        guard let pid else { return }
        kill(pid, SIGKILL)
        ChildProcess.wait(pid)
        self.pid = nil
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The process id, while it runs.
    public var processID: pid_t? { pid }

    /// What the simulator printed.
    public func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

public struct SimulatorStartError: Error, CustomStringConvertible {
    public let description: String
}
