import Runtime

/// Every production job type, by contract. Workers register a handler for each; the commands,
/// schedules and coordinator duties enqueue them by these contracts, never by a typed name.
public enum JobCatalog {
    public static let contracts: [any JobParameters.Type] = [
        InfrastructureSync.self, UserSync.self, DomainSync.self, LDAPSync.self,
        DeviceTest.self, RunSchedule.self, ChangeNotificationPoll.self, OrderRun.self, OrderDeletePlan.self,
        WriteBackRun.self, DirectorySync.self,
    ]

    /// The contract named `type`, if it is a production job type.
    public static func contract(named type: String) -> (any JobParameters.Type)? {
        for contract in contracts where contract.jobType == type { return contract }
        return nil
    }

    /// The contract named `type` among `known` (the catalog's, and a tooling's stand-ins), or the
    /// refusal that `ucp submit job`, `ucp jobs list --type` and the API's job filters all give.
    public static func contract(named type: String, among known: [any JobParameters.Type]) throws -> any JobParameters.Type {
        for contract in known where contract.jobType == type { return contract }
        let names = contracts.map { $0.jobType }.sorted().joined(separator: ", ")
        throw InputError(field: "job type", problem: "unknown type '\(InputError.escaped(type))' (known: \(names))")
    }
}

/// `device.test`: the seed's Test Connection of one device (the target).
public struct DeviceTest: JobParameters {
    public static let jobType = "device.test"
    public static let kind = JobKind.task
    public static let maxAttempts = 1
    public static let targetKind = JobTargetKind.device
    public init() {}
}

/// `schedule.run`: one run of a stored schedule, which enqueues and waits for the run's syncs.
public struct RunSchedule: JobParameters, Equatable {
    public static let jobType = "schedule.run"
    public static let kind = JobKind.task
    public static let maxAttempts = 5

    public var run: Int64
    public var schedule: String

    public init(run: Int64, schedule: String) {
        self.run = run
        self.schedule = schedule
    }
}

/// `cn.poll`: one change-notification poll of a Unified CM (the target): listChange from the stored
/// position, the changes applied to the inventory. A task: it holds neither the sync slot nor
/// maintenance mode and runs in maintenance mode (seed), but never beside an infrastructure or user
/// sync of its device (the claim rule of migration 023). A lost worker's poll is run again: the
/// position moves only with the changes applied, so the next attempt replays.
public struct ChangeNotificationPoll: JobParameters, Equatable {
    public static let jobType = "cn.poll"
    public static let kind = JobKind.task
    public static let maxAttempts = 3
    public static let targetKind = JobTargetKind.device
    public init() {}

    /// The key that keeps one poll of a device queued at most (the coordinator's enqueue uses the same).
    public static func dedupKey(device: String) -> String { "\(jobType)|\(device)" }
}
