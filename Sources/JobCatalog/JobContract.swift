import Foundation
import Runtime

/// What a job is to the scheduling rules (DESIGN.md §4).
public enum JobKind: String, Sendable, Codable, CaseIterable {
    /// Infrastructure and user synchronization: hold the sync slot and maintenance mode.
    case deviceSync = "device_sync"
    /// Domain and LDAP synchronization: hold the sync slot.
    case sync
    /// Writes to devices: maintenance mode holds them back.
    case order
    /// Neither: connection tests, change-notification polls.
    case task

    public var isSync: Bool { self == .deviceSync || self == .sync }
}

/// What a job's target names. The typed submissions (`ucp submit sync`, `ucp device test`, …) set it
/// themselves; a submission by type (`ucp submit job`) takes it from here, so a job that acts on a
/// device or a domain never goes out without one (migration 023's one-sync-per-device index does not
/// hold for NULL) nor with one that is not in the inventory.
public enum JobTargetKind: String, Sendable {
    /// A device of the inventory: the handler reads it and refuses a job without one.
    case device
    /// A domain of the inventory.
    case domain
    /// Whatever its submitter names (an order, a schedule), or nothing: no rule of the queue reads it.
    case other
}

/// The contract of a job type: its `Codable` parameters (the payload), its name, its kind and how
/// many attempts it gets. Contracts carry no handler, so any module may enqueue any job type
/// without importing the feature that runs it.
public protocol JobParameters: Codable, Sendable {
    static var jobType: String { get }
    static var kind: JobKind { get }
    static var maxAttempts: Int { get }
    /// What the job's target names (`other` unless the contract says).
    static var targetKind: JobTargetKind { get }
}

extension JobParameters {
    public static var targetKind: JobTargetKind { .other }
}

extension JobParameters {
    /// Decodes a payload of this type; a payload that does not fit is refused naming the field.
    public static func decode(payload: String) throws(InputError) -> Self {
        do {
            return try JSONDecoder().decode(Self.self, from: Data(payload.utf8))
        } catch let error as DecodingError {
            throw InputError(field: "payload", problem: Self.describe(error))
        } catch {
            throw InputError(field: "payload", problem: "cannot be decoded")
        }
    }
}

extension JobParameters {
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map(\.stringValue).joined(separator: ".")
            return keys.isEmpty ? "" : "field '\(keys)': "
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context))missing required field '\(key.stringValue)'"
        case .typeMismatch(let type, let context): return "\(path(context))must be \(type)"
        case .valueNotFound(let type, let context): return "\(path(context))must be a \(type), not null"
        case .dataCorrupted(let context): return "\(path(context))\(context.debugDescription)"
        @unknown default: return "cannot be decoded"
        }
    }
}
