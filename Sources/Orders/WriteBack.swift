import Directory
import Foundation
import Inventory
import LDAP
import Postgres
import Runtime
import Sync

/// What one write-back of a primary directory number did (seed 004, "Write Primary DN to LDAP").
public enum WriteBackOutcomeKind: String, Sendable, Codable, CaseIterable {
    case written
    /// "LDAP server is unreachable or incorrect LDAP credentials."
    case unreachable
    /// "Admin user account … does not have permission to perform a write operation."
    case permission
    /// "The Domain level LDAP attribute is set to Do not write to LDAP."
    case doNotWrite = "do_not_write"
    /// "User does not have any primary directory number."
    case noPrimaryNumber = "no_primary_number"
    /// Beyond the seed: the user has no directory entry ("if LDAP user, Primary DN, and write back
    /// settings are enabled"), or the domain no directory source.
    case notLDAPUser = "not_ldap_user"
    /// Beyond the seed: the directory refused the write for another reason (its answer is given).
    case failed

    /// The seed's words for why the number was not written (nil when it was).
    public var reason: String? {
        switch self {
        case .written: return nil
        case .unreachable: return "LDAP server is unreachable or incorrect LDAP credentials"
        case .permission:
            return "Admin user account entered in \"Admin Distinguished Name\" does not have permission to perform a write operation"
        case .doNotWrite: return "The Domain level LDAP attribute is set to Do not write to LDAP"
        case .noPrimaryNumber: return "User does not have any primary directory number"
        case .notLDAPUser: return "User is not an LDAP user (no directory entry to write to)"
        case .failed: return "the directory refused the write"
        }
    }
}

/// The outcome of one write-back: what was written where, or why nothing was, as one line.
public struct WriteBackOutcome: Sendable, Equatable {
    public var kind: WriteBackOutcomeKind
    public var attribute: String?
    /// The value written (or that would have been): the primary number after the domain's mask.
    public var value: String?
    public var entryDN: String?
    /// `Primary DN written to LDAP: ipPhone = +14085554000 (cn=…)`, or `Primary DN not written to
    /// LDAP: <the seed's reason> (<the directory's answer>)`.
    public var message: String
    public var at: Date?

    public var written: Bool { kind == .written }

    public init(kind: WriteBackOutcomeKind, attribute: String? = nil, value: String? = nil, entryDN: String? = nil,
                detail: String? = nil, at: Date? = nil) {
        self.kind = kind
        self.attribute = attribute
        self.value = value
        self.entryDN = entryDN
        if let reason = kind.reason {
            message = "Primary DN not written to LDAP: \(reason)" + (detail.map { " (\($0))" } ?? "")
        } else {
            message = "Primary DN written to LDAP: \(attribute ?? "?") = \(value ?? "") (\(entryDN ?? "?"))"
        }
        self.at = at
    }

    init(row: Row) throws {
        guard let kind = WriteBackOutcomeKind(rawValue: try row.decode("outcome")) else {
            throw PostgresError(kind: .decoding, message: "order_write_backs.outcome: unknown value")
        }
        self.kind = kind
        attribute = try row.decodeIfPresent("attribute")
        value = try row.decodeIfPresent("value")
        entryDN = try row.decodeIfPresent("entry_dn")
        message = try row.decode("message")
        at = try row.decodeIfPresent("at")
    }

    /// Records the outcome on the order (replacing an earlier attempt's), in the caller's transaction.
    public func record(orderID: Int64, in session: Session) throws {
        try session.query(WriteBackOrderSQL.record, [orderID, kind.rawValue, attribute, value, entryDN, message])
    }
}

/// A domain's write-back settings resolved for writing: the attribute (nil: "Do not write to LDAP"),
/// the mask, and how to reach and bind to the domain's directory (its admin DN and password).
public struct WriteBackTarget: Sendable {
    public var domain: String
    public var attribute: String?
    public var mask: PhoneMask?
    /// nil when the domain has no directory source, or its password cannot be opened (`directoryProblem`).
    public var directory: LDAPConfiguration?
    public var directoryProblem: String?
    /// Whether the domain names a directory device (its LDAP settings).
    public var hasDirectorySource = true

    public init(domain: String, attribute: String?, mask: PhoneMask?, directory: LDAPConfiguration?, directoryProblem: String? = nil) {
        self.domain = domain
        self.attribute = attribute
        self.mask = mask
        self.directory = directory
        self.directoryProblem = directoryProblem
    }

    /// The domain's settings from the inventory; throws only when the domain does not exist.
    public static func load(domain name: String, connection: Connection) async throws -> WriteBackTarget {
        guard let domain = try await DomainStore(connection).domain(named: name) else { throw DomainStore.noSuchDomain(name) }
        var target = WriteBackTarget(domain: name, attribute: domain.writeBackAttribute, mask: domain.ldap?.writeBackMask, directory: nil)
        guard target.attribute != nil else { return target }
        guard let ldap = domain.ldap else {
            target.directoryProblem = "domain '\(name)' has no directory source"
            target.hasDirectorySource = false
            return target
        }
        do {
            let device = try await DeviceConnections.open(name: ldap.directory, connection: connection, concurrency: 1)
            target.directory = LDAPConfiguration(directory: device.device, password: device.endpoint.password)
            if target.directory == nil { target.directoryProblem = "device '\(ldap.directory)' is not a directory" }
        } catch let failure as DeviceJobFailure {
            target.directoryProblem = failure.description
        }
        return target
    }

    /// The value written for `number`: the number after the mask (`PhoneMask.apply`), or — without a
    /// mask — its digits, keeping a leading `+`. A mask's `\+` (Unified CM's escaped plus) is written
    /// as `+`, as a directory holds an E.164 number. nil when the number has no digits.
    public func value(for number: String?) -> String? {
        guard let number else { return nil }
        let digits = number.filter { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else { return nil }
        guard let mask else { return (number.hasPrefix("+") || number.hasPrefix("\\+") ? "+" : "") + digits }
        guard let masked = mask.apply(to: number) else { return nil }
        return masked.hasPrefix("\\+") ? String(masked.dropFirst()) : masked
    }

    /// Why nothing is written for this user, before the directory is asked; nil when it is to be written.
    public func refusal(entryDN: String?, number: String?) -> WriteBackOutcome? {
        guard let attribute else { return WriteBackOutcome(kind: .doNotWrite, entryDN: entryDN) }
        guard let value = value(for: number) else {
            return WriteBackOutcome(kind: .noPrimaryNumber, attribute: attribute, entryDN: entryDN)
        }
        guard let entryDN else { return WriteBackOutcome(kind: .notLDAPUser, attribute: attribute, value: value) }
        if directory == nil {
            // No directory source: nobody of the domain has an entry to write to; a directory whose
            // password cannot be opened cannot be bound to.
            return WriteBackOutcome(kind: hasDirectorySource ? .unreachable : .notLDAPUser, attribute: attribute, value: value,
                                    entryDN: entryDN, detail: directoryProblem ?? "no directory")
        }
        return nil
    }

    /// Connects and binds to the domain's directory as its admin DN.
    public func connect() async throws -> LDAPConnection {
        guard let directory else { throw LDAPError(code: LDAPError.serverDown, operation: "connect", diagnostic: directoryProblem) }
        return try await LDAPConnection.connect(directory)
    }

    /// Writes one user's number on `connection` (checked with `refusal` first); never throws.
    public func write(entryDN: String?, number: String?, on connection: LDAPConnection) async -> WriteBackOutcome {
        if let refused = refusal(entryDN: entryDN, number: number) { return refused }
        let attribute = attribute!, value = value(for: number)!, entryDN = entryDN!
        do {
            try await connection.modifyReplace(entryDN, attribute: attribute, values: [value])
            return WriteBackOutcome(kind: .written, attribute: attribute, value: value, entryDN: entryDN)
        } catch {
            return Self.failure(error, attribute: attribute, value: value, entryDN: entryDN, connecting: false)
        }
    }

    /// Connects, writes one user's number, disconnects (an order's write-back). `beforeWriting` runs
    /// once connected, right before the write: a connect can take long, and what it checks (the
    /// order's attempt still owns its job) must hold when the write goes out. Throws only what it throws.
    public func write(entryDN: String?, number: String?, beforeWriting: () async throws -> Void = {}) async throws -> WriteBackOutcome {
        if let refused = refusal(entryDN: entryDN, number: number) { return refused }
        let connection: LDAPConnection
        do {
            connection = try await connect()
        } catch {
            return Self.failure(error, attribute: attribute, value: value(for: number), entryDN: entryDN, connecting: true)
        }
        do {
            try await beforeWriting()
        } catch {
            await connection.close()
            throw error
        }
        let outcome = await write(entryDN: entryDN, number: number, on: connection)
        await connection.close()
        return outcome
    }

    /// The seed's reason for an error: not reached or not bound → unreachable; no right to write →
    /// permission; anything else the directory said → failed, with its answer.
    public static func failure(_ error: Error, attribute: String?, value: String?, entryDN: String?, connecting: Bool) -> WriteBackOutcome {
        let kind: WriteBackOutcomeKind
        if let ldap = error as? LDAPError {
            kind = ldap.insufficientAccess ? .permission : (connecting || ldap.unreachableOrBadCredentials ? .unreachable : .failed)
        } else {
            kind = connecting ? .unreachable : .failed
        }
        return WriteBackOutcome(kind: kind, attribute: attribute, value: value, entryDN: entryDN, detail: "\(error)")
    }
}

/// The write-back of Line and User Services orders (seed: "You can perform the write-back while
/// ordering Line and User Services"): after the device steps succeeded, the user's primary number —
/// the order's line — after the domain's mask, to the user's entry. It never fails the order: the
/// outcome is recorded on it (`order show`) and in the job's log.
public enum WriteBack {
    /// The outcome for an order that ends now, or nil for an order that writes nothing back (not an
    /// add order). Never throws: a failure to read the inventory is an outcome too.
    /// `beforeWriting`: the saga lets go of a device write slot and checks that its attempt still
    /// owns the job (throwing ends the write-back unwritten). It runs before each connect (so no slot
    /// is held while connecting) and again once connected, right before the write (an attempt lost
    /// during a slow connect writes nothing).
    public static func afterOrder(_ order: Order, database: Connection, beforeWriting: () async throws -> Void = {}) async -> WriteBackOutcome? {
        guard order.kind == "add" else { return nil }
        do {
            let target = try await WriteBackTarget.load(domain: order.domain, connection: database)
            guard target.attribute != nil else { return WriteBackOutcome(kind: .doNotWrite) }
            let entryDN = try await UserStore(database).userGet(userID: order.userID)?.directoryDN
            func attempt() async throws -> WriteBackOutcome {
                try await beforeWriting()
                return try await target.write(entryDN: entryDN, number: order.line, beforeWriting: beforeWriting)
            }
            var outcome = try await attempt()
            // A directory that was not reached (a restart, a network blip) is tried twice more, the
            // attempt's ownership checked again before each write (DESIGN §7: the write-back is retried).
            for delay in [1, 3] where outcome.kind == .unreachable && target.directory != nil {
                try await Task.sleep(for: .seconds(delay))
                outcome = try await attempt()
            }
            return outcome
        } catch {
            return WriteBackOutcome(kind: .failed, detail: "\(error)")
        }
    }
}

extension OrderStore {
    /// What the order's write-back to LDAP did, if it ran.
    public func writeBack(orderID: Int64) async throws -> WriteBackOutcome? {
        try await connection.query(WriteBackOrderSQL.get, [orderID]).first.map(WriteBackOutcome.init(row:))
    }
}
