import Directory
import Foundation
import Runtime

/// The rules for device fields (DESIGN.md §4 rule 6). Each failure is one line that names the
/// field and the rule; `DeviceStore` checks everything before it writes anything.
public enum DeviceValidation {
    public static let axlVersions = ["10.0", "10.5", "11.0", "11.5", "12.0", "12.5"]
    public static let defaultAXLVersion = "12.5"

    /// The seed's rule for device names: letters, digits, space, '_', '-', '.', '@'; 1 to 100 characters.
    /// The seed's rule for device names; `field` names what is checked (a device, a sync's target…).
    public static func name(_ name: String, field: String = "name") throws {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: " _-.@"))
        if !name.isEmpty, name.count <= 100, name.allSatisfy({ $0 == " " }) {
            throw InputError(field: field, problem: "\(InputError.quoted(name)) must not be only spaces (at least one letter, digit, '_', '-', '.' or '@')")
        }
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty, name.count <= 100,
              name.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) })
        else {
            throw InputError(field: field, problem: "\(InputError.quoted(name)) may hold only letters, digits, space, '_', '-', '.' and '@' (1 to 100 characters)")
        }
    }

    /// `cucm`, `unity`, `imp`, `ldap` (or the stored names `call_processor`, …, `directory`).
    public static func kind(_ text: String) throws -> DeviceKind {
        guard let kind = DeviceKind(text: text) else {
            throw InputError(field: "kind", problem: "must be cucm (Unified CM), unity (Unity Connection), imp (IM and Presence) or ldap (LDAP directory) (got \(InputError.quoted(text)))")
        }
        return kind
    }

    /// `ad`, `adam`, `openldap` or `oracle`, in any case.
    public static func serverType(_ text: String) throws -> DirectoryServerType {
        guard let type = DirectoryServerType(text: text) else {
            throw InputError(field: "server_type", problem: "must be \(DirectoryServerType.choicesText) (got \(InputError.quoted(text)))")
        }
        return type
    }

    /// `ldap`, `ldaps` or `starttls`, in any case.
    public static func security(_ text: String) throws -> LDAPSecurity {
        guard let security = LDAPSecurity(text: text) else {
            throw InputError(field: "security", problem: "must be ldap, ldaps or starttls (got \(InputError.quoted(text)))")
        }
        return security
    }

    /// A directory has a server type and a security, other kinds neither; the seed's SSL ports
    /// (636, Global Catalog 3269) need ldaps and its plain ports (389, 3268) refuse it.
    public static func directorySettings(_ draft: DeviceDraft) throws {
        guard draft.kind == .directory else {
            if draft.directoryType != nil { throw InputError(field: "server_type", problem: "only a directory (--kind ldap) has a server type") }
            if draft.ldapSecurity != nil { throw InputError(field: "security", problem: "only a directory (--kind ldap) has an LDAP security") }
            return
        }
        guard draft.directoryType != nil else {
            throw InputError(field: "server_type", problem: "required for a directory (--server-type ad|adam|openldap|oracle)")
        }
        let security = draft.ldapSecurity ?? .ldap
        for (field, port) in [("port", draft.port), ("backup_port", draft.backupPort ?? 0)] {
            if security == .ldaps, LDAPSecurity.plainPorts.contains(port) {
                throw InputError(field: field, problem: "\(port) is a plain LDAP port; ldaps uses 636 (Global Catalog 3269)")
            }
            if security != .ldaps, LDAPSecurity.sslPorts.contains(port) {
                throw InputError(field: field, problem: "\(port) is an SSL port; use --security ldaps with it (plain LDAP and StartTLS use 389, Global Catalog 3268)")
            }
        }
        // Seed: "be sure to use complete canonical name, for example, CN= Administrator, OU =Sales, DC=ca, DC=com".
        guard draft.adminUser.contains("=") else {
            throw InputError(field: "admin_user", problem: "a directory's admin user is its admin distinguished name, e.g. CN=Administrator,OU=Sales,DC=ca,DC=com (got \(InputError.quoted(draft.adminUser)))")
        }
    }

    /// A release number: digits in dot-separated groups, optionally a build suffix (12.5, 12.5.1.11900-146).
    public static func version(_ version: String) throws {
        let groups = version.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        let numbers = groups[0].split(separator: ".", omittingEmptySubsequences: false)
        let digitsOnly = { (part: Substring) in !part.isEmpty && part.count <= 10 && part.allSatisfy { $0.isASCII && $0.isNumber } }
        guard (2...5).contains(numbers.count), numbers.allSatisfy(digitsOnly),
              groups.count == 1 || digitsOnly(groups[1])
        else {
            throw InputError(field: "version", problem: "\(InputError.quoted(version)) must be a release number such as 12.5 or 12.5.1.11900-146")
        }
    }

    /// A host name, or an IPv4 or IPv6 address literal: no scheme, path, port or spaces.
    public static func address(_ address: String, field: String = "address") throws {
        guard isHostName(address) || isIPAddress(address) else {
            throw InputError(field: field, problem: "\(InputError.quoted(address)) must be a host name or an IPv4 or IPv6 address (no spaces, slashes, scheme or port)")
        }
    }

    public static func port(_ port: Int, field: String = "port") throws {
        guard (1...65535).contains(port) else {
            throw InputError(field: field, problem: "must be a whole number from 1 to 65535 (got \(port))")
        }
    }

    /// The backup address and port come as a pair: both or neither.
    public static func backup(address: String?, port: Int?) throws {
        switch (address, port) {
        case (nil, nil):
            return
        case (let address?, let port?):
            try self.address(address, field: "backup_address")
            try self.port(port, field: "backup_port")
        case (nil, _?):
            throw InputError(field: "backup_address", problem: "required with backup_port (give both or neither)")
        case (_?, nil):
            throw InputError(field: "backup_port", problem: "required with backup_address (give both or neither)")
        }
    }

    public static func adminUser(_ user: String) throws {
        guard !user.trimmingCharacters(in: .whitespaces).isEmpty, user.count <= 128,
              !user.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) })
        else {
            throw InputError(field: "admin_user", problem: "must not be empty (1 to 128 characters, no control characters)")
        }
    }

    public static func axlVersion(_ version: String) throws {
        guard axlVersions.contains(version) else {
            throw InputError(field: "axl_version", problem: "must be one of \(axlVersions.joined(separator: ", ")) (got \(InputError.quoted(version)))")
        }
    }

    /// The CA file must exist and be readable by this process (it is read at every connection).
    public static func caFile(_ path: String) throws {
        try CAFileRule.check(path, field: "ca_file")
    }

    /// The password itself is never part of a message.
    public static func password(_ password: String) throws {
        guard !password.isEmpty else { throw InputError(field: "password", problem: "must not be empty") }
        guard !password.contains(where: { $0.isNewline }) else {
            throw InputError(field: "password", problem: "must be one line")
        }
    }

    /// Order writes in flight on one device unless an operator sets another bound (issue 14).
    public static let defaultMaxWritesInFlight = 2

    /// The per-device write bound: 1 to 64 writes in flight.
    public static func maxWritesInFlight(_ value: Int) throws {
        guard (1...64).contains(value) else {
            throw InputError(field: "max_writes_in_flight", problem: "must be a whole number from 1 to 64 (got \(value))")
        }
    }

    /// Every field of a device, in the order an operator reads them.
    public static func draft(_ draft: DeviceDraft) throws {
        try name(draft.name)
        if let version = draft.version { try self.version(version) }
        try address(draft.address)
        try port(draft.port)
        try backup(address: draft.backupAddress, port: draft.backupPort)
        try adminUser(draft.adminUser)
        try axlVersion(draft.axlVersion)
        if let caFile = draft.caFile { try self.caFile(caFile) }
        try directorySettings(draft)
        try maxWritesInFlight(draft.maxWritesInFlight)
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// RFC 1123 host names; the last label may not be all digits (so 300.1.1.1 is not a name).
    static func isHostName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        let valid = labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
        return valid && !(labels.last!.allSatisfy { $0.isNumber })
    }
}
