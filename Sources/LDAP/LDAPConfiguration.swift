import Foundation
import Secrets

/// One directory server address. `ldaps` (SSL) is implied by the ports 636 and 3269 (Global Catalog
/// over SSL) unless given explicitly.
public struct LDAPEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var useSSL: Bool

    public init(host: String, port: Int? = nil, useSSL: Bool? = nil) {
        self.host = host
        let ssl = useSSL ?? (port == 636 || port == 3269)
        self.useSSL = ssl
        self.port = port ?? (ssl ? 636 : 389)
    }

    /// Parses `ldap://host:port` or `ldaps://host:port` (port optional).
    public init?(url: String) {
        let parts = url.split(separator: "://", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0] == "ldap" || parts[0] == "ldaps" else { return nil }
        let ssl = parts[0] == "ldaps"
        var hostPort = parts[1]
        if hostPort.hasSuffix("/") { hostPort.removeLast() }
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]"), let port = Int(hostPort[hostPort.index(after: colon)...]) {
            self.init(host: String(hostPort[..<colon]), port: port, useSSL: ssl)
        } else {
            guard !hostPort.isEmpty else { return nil }
            self.init(host: hostPort, useSSL: ssl)
        }
    }

    public var url: String {
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(useSSL ? "ldaps" : "ldap")://\(bracketed):\(port)"
    }

    public var description: String { url }
}

/// How to reach and log in to a directory.
public struct LDAPConfiguration: Sendable {
    public var primary: LDAPEndpoint
    /// Tried when the primary does not answer.
    public var backup: LDAPEndpoint?
    /// StartTLS on an `ldap://` connection (ignored for `ldaps://`).
    public var startTLS: Bool
    /// Verify the server's certificate (and host name); off only when an operator turned it off.
    public var verifyTLS: Bool
    /// A PEM file of trusted CA certificates; nil for the system's.
    public var caFile: String?
    /// The admin DN for simple bind; nil for an anonymous bind.
    public var bindDN: String?
    public var password: Secret?
    /// Seconds to wait for a TCP connection (and the TLS handshake) to a server.
    public var networkTimeout: Double
    /// Seconds to wait for the answer to one operation (one page of a search).
    public var operationTimeout: Double

    public init(primary: LDAPEndpoint, backup: LDAPEndpoint? = nil, startTLS: Bool = false, verifyTLS: Bool = true,
                caFile: String? = nil, bindDN: String? = nil, password: Secret? = nil,
                networkTimeout: Double = 10, operationTimeout: Double = 120) {
        self.primary = primary
        self.backup = backup
        self.startTLS = startTLS
        self.verifyTLS = verifyTLS
        self.caFile = caFile
        self.bindDN = bindDN
        self.password = password
        self.networkTimeout = networkTimeout
        self.operationTimeout = operationTimeout
    }

    /// The servers in the order they are tried.
    public var endpoints: [LDAPEndpoint] { [primary] + (backup.map { [$0] } ?? []) }
}

/// Search scopes (RFC 4511 §4.5.1.2).
public enum LDAPScope: Sendable {
    case base, oneLevel, subtree
}

/// One search. `pageSize` is the RFC 2696 page size asked of the server (AD serves at most 1,000).
public struct LDAPSearch: Sendable {
    public var base: String
    public var scope: LDAPScope
    public var filter: String
    /// The attributes to return; empty means all user attributes.
    public var attributes: [String]
    public var pageSize: Int

    public init(base: String, scope: LDAPScope = .subtree, filter: String = "(objectClass=*)",
                attributes: [String] = [], pageSize: Int = 500) {
        self.base = base
        self.scope = scope
        self.filter = filter
        self.attributes = attributes
        self.pageSize = pageSize
    }

    /// Where each entry of the result keeps the requested attributes (their order in `attributes`).
    public var layout: LDAPAttributeLayout { LDAPAttributeLayout(attributes) }
}

/// The attributes a search asked for, in its order: each entry stores their values by position,
/// so a caller that reads many entries resolves a name to a position once (`position(of:)`).
public final class LDAPAttributeLayout: Sendable {
    public let names: [String]
    let lowered: [[UInt8]]

    public init(_ names: [String]) {
        self.names = names
        lowered = names.map { Array($0.lowercased().utf8) }
    }

    /// The position of an attribute (any case); nil when it was not asked for.
    public func position(of name: String) -> Int? {
        let wanted = Array(name.lowercased().utf8)
        return lowered.firstIndex(of: wanted)
    }

    /// The position of an attribute name as the server sent it (ASCII, any case).
    func position(of bytes: UnsafeRawBufferPointer) -> Int? {
        search: for (index, name) in lowered.enumerated() where name.count == bytes.count {
            for offset in 0..<name.count {
                var byte = bytes[offset]
                if byte >= 65 && byte <= 90 { byte += 32 }
                if byte != name[offset] { continue search }
            }
            return index
        }
        return nil
    }
}

/// One entry of a search result. Attribute names are matched without regard to case, as LDAP does.
/// The values of the requested attributes are stored by position (see `LDAPAttributeLayout`); any
/// other attribute the server returned (all of them, when none were named) by name.
public struct LDAPEntry: Sendable, Equatable {
    public let dn: String
    let layout: LDAPAttributeLayout
    /// The values of every requested attribute, one after the other; `bounds[i]..<bounds[i + 1]` are attribute i's.
    let values: [String]
    let bounds: [Int32]
    /// Attributes not in the layout, by lower-cased name.
    let others: [String: [String]]

    public init(dn: String, attributes: [String: [String]]) {
        var lowered: [String: [String]] = [:]
        for (name, values) in attributes { lowered[name.lowercased(), default: []].append(contentsOf: values) }
        self.init(dn: dn, layout: LDAPAttributeLayout([]), values: [], bounds: [0], others: lowered)
    }

    init(dn: String, layout: LDAPAttributeLayout, values: [String], bounds: [Int32], others: [String: [String]]) {
        self.dn = dn
        self.layout = layout
        self.values = values
        self.bounds = bounds
        self.others = others
    }

    public static func == (left: LDAPEntry, right: LDAPEntry) -> Bool {
        left.dn == right.dn && left.attributes == right.attributes
    }

    /// The values of the attribute at a layout position.
    public func values(at position: Int) -> ArraySlice<String> {
        values[Int(bounds[position])..<Int(bounds[position + 1])]
    }

    /// The first value of the attribute at a layout position.
    public func first(at position: Int) -> String? {
        bounds[position] < bounds[position + 1] ? values[Int(bounds[position])] : nil
    }

    public subscript(_ name: String) -> [String] {
        if let position = layout.position(of: name) { return Array(values(at: position)) }
        return others[name.lowercased()] ?? []
    }

    /// The first value of an attribute, nil when it has none.
    public func first(_ name: String) -> String? { self[name].first }

    /// Every attribute with values, by lower-cased name.
    public var attributes: [String: [String]] {
        var all = others
        for (position, name) in layout.names.enumerated() where bounds[position] < bounds[position + 1] {
            all[name.lowercased(), default: []].append(contentsOf: values(at: position))
        }
        return all
    }
}

/// One page of a paged search.
public struct LDAPPage: Sendable {
    /// 0 for the first page.
    public let index: Int
    public let entries: [LDAPEntry]
    /// The server's estimate of the total number of entries, when it gives one (RFC 2696 `size`; 0 = unknown).
    public let estimatedTotal: Int
}
