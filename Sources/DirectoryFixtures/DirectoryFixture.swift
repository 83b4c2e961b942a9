import Foundation

/// One person of a generated test directory, with the attributes the seed's field mappings read.
/// `nil` leaves the attribute out.
public struct FixtureUser: Sendable, Equatable {
    /// The RDN value: the entry is `cn=<escaped cn>,<people base>`.
    public var cn: String
    public var uid: String
    public var sAMAccountName: String?
    public var givenName: String?
    public var sn: String
    public var middleName: String?
    public var initials: String?
    public var mail: String?
    public var telephoneNumber: String?
    public var ipPhone: String?
    public var employeeNumber: String?
    public var userPrincipalName: String?
    public var sipAddress: String?
    public var department: String?
    public var title: String?
    /// AD's userAccountControl: 512 a normal account, 514 (bit 2 set) a disabled one.
    public var userAccountControl: Int?
    /// ADAM / LDS: msDS-UserAccountDisabled.
    public var accountDisabled: Bool?

    public init(cn: String, uid: String, sAMAccountName: String? = nil, givenName: String? = nil, sn: String,
                middleName: String? = nil, initials: String? = nil, mail: String? = nil, telephoneNumber: String? = nil,
                ipPhone: String? = nil, employeeNumber: String? = nil, userPrincipalName: String? = nil,
                sipAddress: String? = nil, department: String? = nil, title: String? = nil, userAccountControl: Int? = nil,
                accountDisabled: Bool? = nil) {
        self.cn = cn
        self.uid = uid
        self.sAMAccountName = sAMAccountName
        self.givenName = givenName
        self.sn = sn
        self.middleName = middleName
        self.initials = initials
        self.mail = mail
        self.telephoneNumber = telephoneNumber
        self.ipPhone = ipPhone
        self.employeeNumber = employeeNumber
        self.userPrincipalName = userPrincipalName
        self.sipAddress = sipAddress
        self.department = department
        self.title = title
        self.userAccountControl = userAccountControl
        self.accountDisabled = accountDisabled
    }

    public var disabled: Bool { (userAccountControl ?? 0) & 2 != 0 }

    /// The attributes of the entry, in a fixed order.
    var attributes: [(String, String)] {
        var list: [(String, String)] = [("objectClass", "inetOrgPerson"), ("objectClass", "user"),
                                        ("cn", cn), ("uid", uid), ("sn", sn)]
        let optional: [(String, String?)] = [
            ("sAMAccountName", sAMAccountName), ("givenName", givenName), ("middleName", middleName),
            ("initials", initials), ("mail", mail), ("telephoneNumber", telephoneNumber), ("ipPhone", ipPhone),
            ("employeeNumber", employeeNumber), ("userPrincipalName", userPrincipalName),
            ("msRTCSIP-PrimaryUserAddress", sipAddress), ("department", department), ("title", title),
            ("userAccountControl", userAccountControl.map(String.init)),
            ("msDS-UserAccountDisabled", accountDisabled.map { $0 ? "TRUE" : "FALSE" }),
        ]
        for (name, value) in optional { if let value { list.append((name, value)) } }
        return list
    }
}

/// A deterministic generated directory: user `i` is always the same person. Among the ordinary
/// users are the awkward ones a real directory holds: non-ASCII names (every 7th), common names
/// with the DN-special characters `,` `+` `"` `\` `#` (every 11th, one starting with `#`), values
/// holding the filter-special `*()\` (every 13th department), and disabled accounts (every 10th).
public enum DirectoryFixture {
    public static let suffix = "dc=example,dc=com"
    public static let peopleBase = "ou=People,dc=example,dc=com"
    /// The directory's superuser (no size limit applies to it).
    public static let rootDN = "cn=admin,dc=example,dc=com"
    /// The account a sync binds as: an ordinary user, so the server's size limit applies to it.
    public static let syncDN = "cn=sync,dc=example,dc=com"
    /// An account that may read the whole directory but write nothing (slapd's ACL): the write-back's
    /// "no permission to perform a write operation" case. Its password is `password` too.
    public static let readerDN = "cn=reader,dc=example,dc=com"
    public static let password = "fixture-secret"

    /// The `index`-th generated user (1-based).
    public static func user(_ index: Int) -> FixtureUser {
        let id = String(format: "user%06d", index)
        var given = "Given\(index)"
        var family = "Family\(index)"
        if index % 7 == 0 {
            let names = [("Zoë", "Müller"), ("Łukasz", "Żółć"), ("José", "Núñez"), ("Søren", "Ærø"), ("明", "王"), ("Αλέξης", "Παπαδόπουλος")]
            let pick = names[(index / 7) % names.count]
            given = "\(pick.0)\(index)"
            family = pick.1
        }
        var cn = "\(given) \(family)"
        if index % 11 == 0 {
            cn = index % 22 == 0 ? "#\(family), \(given)" : "\(family), \(given) + \"Q\" \\ #\(index)"
        }
        var department = "Dept\(index % 5)"
        if index % 13 == 0 { department = "R&D (Lab*) \\ \(index % 5)" }
        return FixtureUser(
            cn: cn, uid: id, sAMAccountName: id, givenName: given, sn: family,
            middleName: "Middle\(index % 3)", initials: "I\(index % 3)", mail: "\(id)@example.com",
            telephoneNumber: String(format: "+1 (408) 555-%04d", index % 10000), ipPhone: String(100_000 + index),
            employeeNumber: "E\(index)", userPrincipalName: "\(id)@corp.example.com", sipAddress: "sip:\(id)@example.com",
            department: department, title: "Title\(index % 4)", userAccountControl: index % 10 == 0 ? 514 : 512,
            accountDisabled: index % 10 == 0)
    }

    /// The DN of a user's entry.
    public static func dn(of user: FixtureUser) -> String { "cn=\(escapeDNValue(user.cn)),\(peopleBase)" }

    /// RFC 4514 §2.4: escapes what would end or change an RDN value.
    public static func escapeDNValue(_ value: String) -> String {
        var out = ""
        for (offset, character) in value.enumerated() {
            switch character {
            case ",", "+", "\"", "\\", "<", ">", ";", "=":
                out += "\\\(character)"
            case "#" where offset == 0, " " where offset == 0 || offset == value.count - 1:
                out += "\\\(character)"
            case "\0":
                out += "\\00"
            default:
                out.append(character)
            }
        }
        return out
    }

    /// The entries above the users: the suffix, the people container, the sync and reader accounts.
    public static func baseLDIF(syncPasswordHash: String? = nil) -> String {
        var text = ""
        text += entry("dc=example,dc=com", [("objectClass", "dcObject"), ("objectClass", "organization"),
                                            ("o", "Example"), ("dc", "example")])
        text += entry(peopleBase, [("objectClass", "organizationalUnit"), ("ou", "People")])
        text += entry(syncDN, [("objectClass", "person"), ("objectClass", "simpleSecurityObject"), ("cn", "sync"),
                               ("sn", "sync"), ("userPassword", syncPasswordHash ?? password)])
        text += entry(readerDN, [("objectClass", "person"), ("objectClass", "simpleSecurityObject"), ("cn", "reader"),
                                 ("sn", "reader"), ("userPassword", syncPasswordHash ?? password)])
        return text
    }

    /// One entry as LDIF (RFC 2849), base64 where a value is not a safe string.
    public static func entry(_ dn: String, _ attributes: [(String, String)]) -> String {
        var text = line("dn", dn)
        for (name, value) in attributes { text += line(name, value) }
        return text + "\n"
    }

    public static func entry(_ user: FixtureUser) -> String { entry(dn(of: user), user.attributes) }

    /// Writes the base entries and `users` to `path`, streaming (a 100,000-user file never sits in memory).
    public static func writeLDIF<S: Sequence>(to path: String, users: S) throws where S.Element == FixtureUser {
        guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
            throw FixtureError("cannot write \(path)")
        }
        defer { try? file.close() }
        var buffer = baseLDIF()
        for user in users {
            buffer += entry(user)
            if buffer.utf8.count > 1 << 20 {
                try file.write(contentsOf: Data(buffer.utf8))
                buffer = ""
            }
        }
        try file.write(contentsOf: Data(buffer.utf8))
    }

    private static func line(_ name: String, _ value: String) -> String {
        if isSafe(value) { return "\(name): \(value)\n" }
        return "\(name):: \(Data(value.utf8).base64EncodedString())\n"
    }

    /// RFC 2849 SAFE-STRING: ASCII without NUL, LF, CR; not starting with space, ':' or '<'; we also
    /// base64 a trailing space, which LDIF readers may strip.
    private static func isSafe(_ value: String) -> Bool {
        guard let first = value.utf8.first else { return true }
        if first == 32 || first == 58 || first == 60 { return false }
        if value.utf8.last == 32 { return false }
        return value.utf8.allSatisfy { $0 > 0 && $0 < 128 && $0 != 10 && $0 != 13 }
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
