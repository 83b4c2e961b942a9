import Foundation
import Postgres
import Runtime
import XCTest

/// aiosmtpd (PyPI) listening on a free loopback port, writing what it accepts to a maildir. Recipients
/// whose local part is `refused` get 550 (5.1.1, no such mailbox), `relay` the 550 5.7.1 of a relay
/// that will not relay for us, and `later` 451. Killed by `stop`, at the latest when the
/// test that started it ends.
public final class SMTPSink: @unchecked Sendable {
    public enum Security: Sendable { case plain, startTLS, implicitTLS }

    public let port: Int
    public let directory: String
    private var pid: pid_t?

    public var maildir: String { directory + "/maildir" }
    public var url: String { "\(security == .implicitTLS ? "smtps" : "smtp")://127.0.0.1:\(port)" }
    /// The self-signed certificate the TLS sinks present (for 127.0.0.1).
    public var certificate: String { directory + "/cert.pem" }
    private let security: Security

    /// Starts a sink and has `test` kill it when it ends.
    /// `port`: a given port (to bring a server up where one was down), else a free one.
    public static func start(for test: XCTestCase, security: Security = .plain, port: Int? = nil) throws -> SMTPSink {
        let sink = try SMTPSink(security: security, port: port)
        test.addTeardownBlock { sink.stop() }
        return sink
    }

    private init(security: Security, port: Int?) throws {
        self.security = security
        let (status, output) = try ChildProcess.run(["python3", "-c", "import aiosmtpd"])
        guard status == 0 else {
            let reason = output.split(separator: "\n").last.map(String.init) ?? "import failed"
            throw SinkError("aiosmtpd is not installed for python3 (run scripts/install-deps.sh): \(reason)")
        }
        directory = NSTemporaryDirectory() + "ucp-smtp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.handler.write(toFile: directory + "/ucp_test_sink.py", atomically: true, encoding: .utf8)
        var tlsArguments: [String] = []
        if security != .plain {
            let certificate = directory + "/cert.pem"
            let made = try ChildProcess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                             "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                                             "-addext", "subjectAltName=IP:127.0.0.1",
                                             "-keyout", directory + "/key.pem", "-out", certificate])
            guard made.status == 0 else { throw SinkError("openssl cannot make a test certificate: \(made.output)") }
            let flag = security == .startTLS ? "--tls" : "--smtps"
            tlsArguments = ["\(flag)cert", certificate, "\(flag)key", directory + "/key.pem"]
        }
        self.port = try port ?? freeLoopbackPort()
        let log = directory + "/aiosmtpd.log"
        pid = try ChildProcess.spawn(["python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(self.port)"] + tlsArguments
                                     + ["-c", "ucp_test_sink.RefusingMailbox", maildir],
                                     outputPath: log, environment: ["PYTHONPATH": directory])
        let deadline = Date().addingTimeInterval(20)
        while !loopbackPortAcceptsConnections(self.port) {
            let exited = pid.flatMap(ChildProcess.poll)
            guard exited == nil, Date() < deadline else {
                stop()
                let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw SinkError("aiosmtpd did not start on 127.0.0.1:\(self.port): \(output)")
            }
            usleep(50_000)
        }
    }

    public func stop() {
        guard let pid else { return }
        kill(pid, SIGKILL)
        ChildProcess.wait(pid)
        self.pid = nil
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// What arrived, decoded by Python's own email package (RFC 2047 subjects, quoted-printable bodies).
    public func delivered() throws -> [DeliveredMail] {
        let (status, output) = try ChildProcess.run(["python3", "-c", Self.reader, maildir])
        guard status == 0, let json = output.split(separator: "\n").last(where: { $0.hasPrefix("[") }) else {
            throw SinkError("cannot read the maildir: \(output)")
        }
        return try JSONDecoder().decode([DeliveredMail].self, from: Data(json.utf8))
    }

    private static let handler = """
        from aiosmtpd.handlers import Mailbox

        class RefusingMailbox(Mailbox):
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                local = address.split('@')[0]
                if local == 'refused':
                    return '550 5.1.1 mailbox unavailable'
                if local == 'relay':
                    return '550 5.7.1 relaying denied'
                if local == 'later':
                    return '451 4.3.0 try again later'
                envelope.rcpt_tos.append(address)
                return '250 OK'
        """

    private static let reader = """
        import email, json, mailbox, sys
        from email.header import decode_header, make_header
        mails = []
        for message in mailbox.Maildir(sys.argv[1], create=False):
            mails.append({
                'envelopeFrom': message['X-MailFrom'], 'envelopeTo': message['X-RcptTo'].split(', '),
                'from': message['From'], 'to': message['To'], 'messageID': message['Message-ID'], 'date': message['Date'],
                'subject': str(make_header(decode_header(message['Subject']))),
                'body': message.get_payload(decode=True).decode(message.get_content_charset()),
            })
        print(json.dumps(mails))
        """
}

public struct DeliveredMail: Decodable, Sendable {
    public let envelopeFrom: String
    public let envelopeTo: [String]
    public let from: String
    public let to: String
    public let messageID: String
    public let date: String
    public let subject: String
    public let body: String
}

public struct SinkError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A loopback port nothing listens on (bound, then closed).
public func freeLoopbackPort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0
        }
    }
    guard bound else { throw SinkError("cannot find a free loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

public func loopbackPortAcceptsConnections(_ port: Int) -> Bool {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = loopbackAddress(port: port)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

private func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}
