import Foundation
import Postgres
import Queue
import Runtime

/// The business rules of a domain's synchronization (seed 004, "Domain Synchronization Business
/// Rules"). The first five are the required ones, in priority order: Sync All Users overrides every
/// other, Sync Only Existing Users overrides the Match rules, and the Match rules are additive (a
/// user satisfies every one enabled). The last two coreside with them.
public enum DomainRule: String, Sendable, CaseIterable, Codable {
    case syncAllUsers = "sync_all_users"
    case syncExistingUsers = "sync_existing_users"
    case matchDepartment = "match_department"
    case matchLocation = "match_location"
    case matchDevicePool = "match_device_pool"
    case syncAllUnityUsers = "sync_all_unity_users"
    case syncPrimaryUserFromUnity = "sync_primary_user_from_unity"

    public var title: String {
        switch self {
        case .syncAllUsers: return "Sync All Users (Unified CM)"
        case .syncExistingUsers: return "Sync Only Existing Users"
        case .matchDepartment: return "Match Department"
        case .matchLocation: return "Match Location"
        case .matchDevicePool: return "Match Device Pool"
        case .syncAllUnityUsers: return "Sync All Users (Unity Connection)"
        case .syncPrimaryUserFromUnity: return "Sync Primary User From Unity Connection"
        }
    }

    /// One of the rules of which a domain synchronization needs at least one.
    public var isRequired: Bool { self != .syncAllUnityUsers && self != .syncPrimaryUserFromUnity }
    /// A Match rule, which carries the list of values it matches.
    public var takesList: Bool { self == .matchDepartment || self == .matchLocation || self == .matchDevicePool }
    /// As the command line writes it: `sync-all-users`.
    public var cliName: String { rawValue.replacingOccurrences(of: "_", with: "-") }
}

/// The rules enabled on a domain, with the values of the Match rules.
public struct DomainRules: Sendable, Equatable {
    public var enabled: [DomainRule: [String]]

    public init(_ enabled: [DomainRule: [String]] = [:]) {
        self.enabled = enabled
    }

    public func isOn(_ rule: DomainRule) -> Bool { enabled[rule] != nil }

    /// The required rule in effect by the seed's priority (nil: none enabled, the sync is refused).
    public var inEffect: DomainRule? { DomainRule.allCases.first { $0.isRequired && isOn($0) } }

    /// The Match rules that apply: none under Sync All Users or Sync Only Existing Users.
    public var matchRules: [(rule: DomainRule, values: [String])] {
        guard inEffect?.takesList == true else { return [] }
        return DomainRule.allCases.compactMap { rule in rule.takesList ? enabled[rule].map { (rule, $0) } : nil }
    }

    /// `sync-all-users, match-department=Sales,Support` in the rules' order.
    public var summary: String {
        let parts = DomainRule.allCases.compactMap { rule in
            enabled[rule].map { values in rule.cliName + (rule.takesList ? "=" + values.joined(separator: ",") : "") }
        }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }

    /// Parses `--rule` values: `NAME` or `NAME=V1,V2` for a Match rule; `''` alone enables none.
    public static func parse(_ texts: [String]) throws -> DomainRules {
        var rules = DomainRules()
        guard texts != [""] else { return rules }
        let names = DomainRule.allCases.map(\.cliName).joined(separator: ", ")
        for text in texts {
            let (name, list) = text.firstIndex(of: "=").map { (String(text[..<$0]), String(text[text.index(after: $0)...])) } ?? (text, nil)
            guard let rule = DomainRule(rawValue: name.replacingOccurrences(of: "-", with: "_")) else {
                throw InputError(field: "rule", problem: "\(InputError.quoted(name)) is not a rule (one of \(names))")
            }
            guard rules.enabled[rule] == nil else { throw InputError(field: "rule", problem: "\(rule.cliName) is given twice") }
            if rule.takesList {
                let values = (list ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                guard !values.isEmpty else {
                    throw InputError(field: "rule", problem: "\(rule.cliName) must name what it matches (\(rule.cliName)=VALUE,VALUE…)")
                }
                if let bad = values.first(where: { $0.count > 200 || $0.contains("\u{0}") }) {
                    throw InputError(field: "rule", problem: "\(rule.cliName): \(InputError.quoted(String(bad.prefix(40)))) must be 1 to 200 characters (no NUL)")
                }
                rules.enabled[rule] = values
            } else {
                guard list == nil else { throw InputError(field: "rule", problem: "\(rule.cliName) takes no list (only the Match rules do)") }
                rules.enabled[rule] = []
            }
        }
        return rules
    }

    /// The refusal of a domain synchronization while no required rule is enabled (seed: "you are
    /// required to enable one of the rules").
    public static func noRequiredRule(domain: String) -> InputError {
        InputError(field: "domain '\(domain)'", problem: "you are required to enable one of the rules "
                   + "Sync All Users (Unified CM), Sync Only Existing Users, Match Department, Match Location or Match Device Pool "
                   + "before a domain synchronization (e.g. ucp domain edit '\(domain)' --rule sync-all-users)")
    }
}

extension DomainStore {
    /// Why a domain synchronization of `name` may not start, or nil when it may: the one check that
    /// `ucp submit sync domain`, a schedule's `domain.X:` line and the sync itself make. A domain
    /// that does not exist is not refused here: a submission refuses it first (`SyncSubmission`), a
    /// schedule's run leaves it to the sync (stand-in syncs of tests use such names).
    public func domainSyncRefusal(name: String) async throws -> InputError? {
        guard try await domain(named: name) != nil else { return nil }
        return try await domainRules(name: name).inEffect == nil ? DomainRules.noRequiredRule(domain: name) : nil
    }

    /// The rules enabled on `domain` (none for a domain that does not exist).
    public func domainRules(name: String) async throws -> DomainRules {
        try await connection.withSession { session in try Self.rules(session, name) }
    }

    /// Replaces the rules of a domain; returns whether anything changed (an unchanged set writes nothing).
    @discardableResult
    public func domainRulesSet(name: String, _ rules: DomainRules, actor: String) async throws -> Bool {
        try await connection.transaction { session in try Self.rulesSet(session, name: name, rules, actor: actor) }
    }

    /// `domainRulesSet` in the caller's transaction.
    static func rulesSet(_ session: Session, name: String, _ rules: DomainRules, actor: String) throws -> Bool {
        guard try session.query(DomainSQL.domainLock, [name]).first != nil else { throw Self.noSuchDomain(name) }
        let current = try Self.rules(session, name)
        guard current != rules else { return false }
        let ordered = DomainRule.allCases.filter(rules.isOn)
        let lists = try ordered.map { String(decoding: try JSONEncoder().encode(rules.enabled[$0]!), as: UTF8.self) }
        try session.query(DomainRuleSQL.rulesDelete, [name])
        try session.query(DomainRuleSQL.rulesInsert, [name, PostgresTextArray(ordered.map(\.rawValue)), PostgresTextArray(lists)])
        try QueueStore.InTransaction(session).auditAppend(actor: actor, action: "domain.rules_changed", target: name,
                                                          message: "Domain '\(name)' synchronization rules: \(rules.summary)")
        return true
    }

    static func rules(_ session: Session, _ name: String) throws -> DomainRules {
        var rules = DomainRules()
        for row in try session.query(DomainRuleSQL.rulesGet, [name]) {
            guard let rule = DomainRule(rawValue: try row.decode("rule")) else { continue }
            let json: String = try row.decode("vals_json")
            rules.enabled[rule] = try JSONDecoder().decode([String].self, from: Data(json.utf8))
        }
        return rules
    }
}
