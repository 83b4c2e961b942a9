import Foundation
import Postgres
import Queue
import Runtime

/// The fields of a user an operator sets (`ucp user add|edit`): column name → value, absent when
/// empty. Checked by `UserValidation` before anything is written.
public struct UserDraft: Sendable, Equatable {
    public var userID: String
    public var domain: String
    public var fields: [String: String]

    /// The columns an operator may set, in the order the statements bind them.
    public static let columns = ["first_name", "middle_name", "last_name", "email", "phone", "department", "title", "manager_id"]

    public init(userID: String, domain: String, fields: [String: String] = [:]) {
        self.userID = userID
        self.domain = domain
        self.fields = fields
    }

    var fieldParameters: [any PostgresEncodable] { Self.columns.map { fields[$0] as String? } }
}

/// The rules of a user's fields, each refusal one line naming the field (Unified CM's own limits:
/// userid 128, names 64, mail 255 — AXLSoap.xsd 12.5 XUser).
public enum UserValidation {
    static let limits: [String: Int] = ["first_name": 64, "middle_name": 64, "last_name": 64, "email": 255, "phone": 64,
                                        "department": 64, "title": 64, "manager_id": 128]

    public static func userID(_ id: String, field: String = "user") throws {
        guard (1...128).contains(id.count), id.range(of: #"\A[A-Za-z0-9][A-Za-z0-9._@-]*\z"#, options: .regularExpression) != nil else {
            throw InputError(field: field, problem: "\(InputError.quoted(id)) must be 1 to 128 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
        }
        guard !["admin", "globaladmin"].contains(id.lowercased()) else {
            throw InputError(field: field, problem: "'\(id)' is a built-in administrator and cannot be a provisioned user")
        }
    }

    /// Checks the fields (nil or empty: cleared); the last name is required (Unified CM's addUser needs it).
    public static func fields(_ fields: [String: String]) throws -> [String: String] {
        var checked: [String: String] = [:]
        for column in UserDraft.columns {
            guard let raw = fields[column] else { continue }
            let value = raw.trimmingCharacters(in: .whitespaces)
            let field = column.replacingOccurrences(of: "_", with: "-")
            if value.isEmpty { continue }
            guard value.count <= limits[column]!, !InputError.hasControlCharacters(value) else {
                throw InputError(field: field, problem: "must be 1 to \(limits[column]!) characters without control characters")
            }
            switch column {
            case "email":
                guard value.range(of: #"\A[^@\s]+@[^@\s]+\.[^@\s]+\z"#, options: .regularExpression) != nil else {
                    throw InputError(field: field, problem: "\(InputError.quoted(value)) must be a mail address (name@domain)")
                }
            case "phone":
                guard value.range(of: #"\A\+?[0-9][0-9 ().-]*\z"#, options: .regularExpression) != nil else {
                    throw InputError(field: field, problem: "\(InputError.quoted(value)) must be a telephone number: digits, optionally after '+', with spaces, '-', '.', '(' or ')'")
                }
            case "manager_id":
                try userID(value, field: field)
            default:
                break
            }
            checked[column] = value
        }
        guard checked["last_name"] != nil else {
            throw InputError(field: "last-name", problem: "is required (Unified CM needs a last name)")
        }
        return checked
    }
}

extension UserStore {
    /// `ucp user add`: a user of `domain` made by hand (source manual), at domain level until moved,
    /// or placed in `serviceArea` of the domain in the same transaction (refused whole without it).
    @discardableResult
    public func userAdd(_ draft: UserDraft, placedIn serviceArea: String? = nil, actor: String) async throws -> User {
        try UserValidation.userID(draft.userID)
        let fields = try UserValidation.fields(draft.fields)
        return try await connection.transaction { session in
            guard try session.query(ServiceAreaSQL.domainLock, [draft.domain]).first != nil else {
                throw DomainStore.noSuchDomain(draft.domain)
            }
            if let serviceArea, try session.query(ServiceAreaSQL.serviceAreaGet, [draft.domain, serviceArea]).first == nil {
                throw InputError(field: "service-area", problem: "no service area '\(serviceArea)' in domain '\(draft.domain)'")
            }
            let inserted = try session.query(UserSQL.userAdd, [draft.userID, draft.domain] + UserDraft(userID: draft.userID, domain: draft.domain, fields: fields).fieldParameters)
            guard !inserted.isEmpty else {
                let taken = try session.query(UserSQL.userIdentityTaken, [draft.userID]).first
                let domain: String = try taken?.decode("domain") ?? draft.domain
                throw InputError(field: "user", problem: "'\(draft.userID)' already exists in domain '\(domain)' (user IDs are unique without case)")
            }
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "user.added", target: "user \(draft.userID)",
                                                              message: "User '\(draft.userID)' added to domain '\(draft.domain)' by hand"
                                                                  + (serviceArea.map { ", placed in service area '\($0)'" } ?? ""))
            if let serviceArea { try session.query(UserSQL.userPlace, [draft.userID, serviceArea]) }
            return try User(row: try session.query(UserSQL.userLock, [draft.userID]).first!)
        }
    }

    /// `ucp user edit`: applies `change` to a manual user's fields. Users a synchronization keeps
    /// (LDAP, or Unified CM / Unity Connection) follow their source and are refused. An edit that
    /// changes nothing writes nothing.
    @discardableResult
    public func userEdit(userID: String, actor: String, _ change: @escaping @Sendable (inout [String: String]) -> Void) async throws -> User {
        let found = try await userGet(userID: userID)
        guard let found else { throw Self.noSuchUser(userID) }
        return try await connection.transaction { session in
            guard let row = try session.query(UserSQL.userLock, [found.userID]).first else { throw Self.noSuchUser(userID) }
            let user = try User(row: row)
            guard user.source == "manual" else {
                let source = user.source == "ldap" ? "the directory (LDAP synchronization)" : "Unified CM or Unity Connection (domain synchronization)"
                throw InputError(field: "user '\(user.userID)'", problem: "is synchronized from \(source): its fields follow that source, change them there")
            }
            var fields = user.fields.filter { UserDraft.columns.contains($0.key) }
            change(&fields)
            let checked = try UserValidation.fields(fields)
            let before = user.fields.filter { UserDraft.columns.contains($0.key) }
            guard checked != before else { return user }
            try session.query(UserSQL.userEdit, [user.userID] + UserDraft(userID: user.userID, domain: user.domain, fields: checked).fieldParameters)
            let changed = UserDraft.columns.filter { checked[$0] != before[$0] }
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "user.edited", target: "user \(user.userID)",
                                                              message: "User '\(user.userID)' edited: \(changed.joined(separator: ", "))")
            return try User(row: try session.query(UserSQL.userLock, [user.userID]).first!)
        }
    }

    /// Places a user in a service area of its domain (a move without device changes: the user has
    /// no services, or a change order re-applied them). Returns the user as placed.
    @discardableResult
    public func userPlace(userID: String, serviceArea: String, actor: String) async throws -> User {
        let found = try await userGet(userID: userID)
        guard let found else { throw Self.noSuchUser(userID) }
        return try await connection.transaction { session in
            guard let row = try session.query(UserSQL.userLock, [found.userID]).first else { throw Self.noSuchUser(userID) }
            let user = try User(row: row)
            guard try session.query(ServiceAreaSQL.serviceAreaGet, [user.domain, serviceArea]).first != nil else {
                throw InputError(field: "service-area", problem: "no service area '\(serviceArea)' in domain '\(user.domain)' (the user's domain)")
            }
            guard user.serviceArea != serviceArea else { return user }
            try session.query(UserSQL.userPlace, [user.userID, serviceArea])
            try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "user.moved", target: "user \(user.userID)",
                                                              message: "User '\(user.userID)' moved from \(user.serviceArea.map { "'\($0)'" } ?? "domain level") to service area '\(serviceArea)'")
            return try User(row: try session.query(UserSQL.userLock, [user.userID]).first!)
        }
    }
}
