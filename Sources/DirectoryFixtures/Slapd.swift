import Foundation
import Runtime

/// A private OpenLDAP server (Debian's `slapd`) in a folder of its own, on loopback ports: the
/// directory of the tests, the benchmark and the demo. Its configuration is a slapd.conf written
/// here (mdb backend; the AD-like schema below; a size limit of 500 entries per search for
/// everyone but the root DN, with paged searches of at most 500 a page allowed to read everything,
/// as AD's MaxPageSize does), loaded offline with `slapadd`, so 100,000 entries load in seconds.
///
/// Runs as whoever starts it (root in CI) and keeps everything under its folder (under /tmp by default).
public final class Slapd: @unchecked Sendable {
    public let directory: String
    public let port: Int
    /// The ldaps:// port when started with TLS.
    public let tlsPort: Int?
    public private(set) var pid: pid_t?

    public static let slapdPath = "/usr/sbin/slapd"
    public static let slapaddPath = "/usr/sbin/slapadd"

    public init(directory: String, port: Int, tlsPort: Int? = nil) {
        self.directory = directory
        self.port = port
        self.tlsPort = tlsPort
    }

    public var url: String { "ldap://127.0.0.1:\(port)" }
    public var ldapsURL: String? { tlsPort.map { "ldaps://127.0.0.1:\($0)" } }
    /// The CA that signed the server's certificate (with TLS).
    public var caFile: String { directory + "/tls/ca.pem" }
    public var logPath: String { directory + "/slapd.log" }

    /// Writes the configuration and loads `users` (streamed to an LDIF file, then slapadd).
    public func create<S: Sequence>(users: S) throws where S.Element == FixtureUser {
        try? FileManager.default.removeItem(atPath: directory + "/db")
        try FileManager.default.createDirectory(atPath: directory + "/db", withIntermediateDirectories: true)
        try Self.schema.write(toFile: directory + "/ad-like.schema", atomically: true, encoding: .utf8)
        if tlsPort != nil { try makeCertificates() }
        try configuration().write(toFile: directory + "/slapd.conf", atomically: true, encoding: .utf8)
        let ldif = directory + "/directory.ldif"
        try DirectoryFixture.writeLDIF(to: ldif, users: users)
        let (status, output) = try ChildProcess.run([Self.slapaddPath, "-q", "-f", directory + "/slapd.conf", "-l", ldif])
        guard status == 0 else { throw FixtureError("slapadd failed (\(status)): \(output.suffix(2000))") }
        try? FileManager.default.removeItem(atPath: ldif)
    }

    /// Starts slapd in the foreground (a child of ours) and waits until it accepts connections.
    public func start(timeout: Double = 20) throws {
        var urls = url + "/"
        if let ldapsURL { urls += " " + ldapsURL + "/" }
        // -d 0: stay in the foreground, so the pid is ours to stop; no debug output.
        let pid = try ChildProcess.spawn([Self.slapdPath, "-d", "0", "-f", directory + "/slapd.conf", "-h", urls],
                                         outputPath: logPath)
        self.pid = pid
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status = ChildProcess.poll(pid) {
                self.pid = nil
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                throw FixtureError("slapd exited with status \(status): \(log.suffix(2000))")
            }
            if Self.accepts(port: port) { return }
            usleep(50_000)
        }
        stop()
        throw FixtureError("slapd did not listen on \(url) within \(Int(timeout)) s")
    }

    /// Stops slapd and waits for it to exit (it flushes the database on SIGTERM... mdb needs nothing).
    public func stop() {
        guard let pid else { return }
        kill(pid, SIGTERM)
        ChildProcess.wait(pid)
        self.pid = nil
    }

    /// Stops, replaces the whole directory with `users`, starts again on the same ports.
    public func reload<S: Sequence>(users: S) throws where S.Element == FixtureUser {
        stop()
        try create(users: users)
        try start()
    }

    public func destroy() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    func configuration() -> String {
        var text = """
            include /etc/ldap/schema/core.schema
            include /etc/ldap/schema/cosine.schema
            include /etc/ldap/schema/inetorgperson.schema
            include \(directory)/ad-like.schema
            pidfile \(directory)/slapd.pid
            argsfile \(directory)/slapd.args
            modulepath /usr/lib/ldap
            moduleload back_mdb
            # 500 entries per search, as OpenLDAP's default; paged searches may read everything in pages of 500.
            sizelimit size.soft=500 size.hard=500 size.pr=500 size.prtotal=unlimited

            """
        if tlsPort != nil {
            text += """
                TLSCACertificateFile \(directory)/tls/ca.pem
                TLSCertificateFile \(directory)/tls/server.pem
                TLSCertificateKeyFile \(directory)/tls/server.key

                """
        }
        text += """
            database mdb
            suffix "\(DirectoryFixture.suffix)"
            rootdn "\(DirectoryFixture.rootDN)"
            rootpw \(DirectoryFixture.password)
            directory \(directory)/db
            maxsize 4294967296
            index objectClass eq
            index uid,sAMAccountName,mail eq
            access to attrs=userPassword by anonymous auth by * none
            access to * by dn.exact="\(DirectoryFixture.readerDN)" read by users write by * none

            """
        return text
    }

    /// A CA and a server certificate for 127.0.0.1 / localhost, made with the openssl command.
    private func makeCertificates() throws {
        let tls = directory + "/tls"
        try FileManager.default.createDirectory(atPath: tls, withIntermediateDirectories: true)
        let extensions = tls + "/server.ext"
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
            .write(toFile: extensions, atomically: true, encoding: .utf8)
        let steps: [[String]] = [
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=UCProvision test CA",
             "-keyout", tls + "/ca.key", "-out", tls + "/ca.pem"],
            ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", tls + "/server.key", "-out", tls + "/server.csr"],
            ["openssl", "x509", "-req", "-in", tls + "/server.csr", "-CA", tls + "/ca.pem", "-CAkey", tls + "/ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", extensions, "-out", tls + "/server.pem"],
        ]
        for step in steps {
            let (status, output) = try ChildProcess.run(step)
            guard status == 0 else { throw FixtureError("\(step.prefix(3).joined(separator: " ")) failed: \(output.suffix(1000))") }
        }
    }

    /// A loopback port nothing listens on now (bound to port 0, then closed).
    public static func freeLoopbackPort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw FixtureError("cannot find a free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// Starts a private slapd with the first `users` generated users on a free loopback port (for
    /// the demo and `ucp ldapsim`). The caller stops it with `destroy()`.
    public static func startGenerated(users: Int, directory: String? = nil, port: Int? = nil, tls: Bool = false) throws -> Slapd {
        let folder = directory ?? "/tmp/ucp-slapd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let slapd = Slapd(directory: folder, port: try port ?? freeLoopbackPort(), tlsPort: tls ? try freeLoopbackPort() : nil)
        do {
            try slapd.create(users: (0..<max(0, users)).lazy.map { DirectoryFixture.user($0 + 1) })
            try slapd.start()
        } catch {
            slapd.destroy()
            throw error
        }
        return slapd
    }

    /// AD's user attributes the seed's field mappings read, under a private OID arc, as an auxiliary
    /// class named as AD's `user` that inetOrgPerson entries add (so AD's person filter
    /// `(&(objectClass=user)(!(objectClass=computer)))` selects them; `computer` exists for that filter). userAccountControl is an INTEGER, so
    /// slapd's bit-AND matching rule (1.2.840.113556.1.4.803, as AD's) selects disabled accounts.
    static let schema = """
        # AD-like attributes for UCProvision's tests (private OIDs: 1.3.6.1.4.1.55555.7 is a test arc).
        attributetype ( 1.3.6.1.4.1.55555.7.1.1 NAME 'sAMAccountName'
            EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
            SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
        attributetype ( 1.3.6.1.4.1.55555.7.1.2 NAME 'userPrincipalName'
            EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
            SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
        attributetype ( 1.3.6.1.4.1.55555.7.1.3 NAME 'ipPhone'
            EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch
            SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )
        attributetype ( 1.3.6.1.4.1.55555.7.1.4 NAME 'msRTCSIP-PrimaryUserAddress'
            EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
            SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
        attributetype ( 1.3.6.1.4.1.55555.7.1.5 NAME 'userAccountControl'
            EQUALITY integerMatch ORDERING integerOrderingMatch
            SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
        attributetype ( 1.3.6.1.4.1.55555.7.1.6 NAME 'department'
            EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
            SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
        attributetype ( 1.3.6.1.4.1.55555.7.1.7 NAME 'middleName'
            EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
            SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
        attributetype ( 1.3.6.1.4.1.55555.7.1.8 NAME 'msDS-UserAccountDisabled'
            EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE )
        objectclass ( 1.3.6.1.4.1.55555.7.2.1 NAME 'user' AUXILIARY
            MAY ( sAMAccountName $ userPrincipalName $ ipPhone $ msRTCSIP-PrimaryUserAddress $
                  userAccountControl $ department $ middleName $ msDS-UserAccountDisabled ) )
        objectclass ( 1.3.6.1.4.1.55555.7.2.2 NAME 'computer' AUXILIARY )

        """
}
