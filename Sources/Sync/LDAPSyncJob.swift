import Foundation
import Queue
import Secrets

/// The payload of `sync.ldap` (the target is the domain). With any of the stand-in fields
/// (`seconds`, `hang`, `fail`) the job runs the stand-in instead — tests of schedules and the
/// watchdog use it to have a sync that lasts, hangs or fails without a directory.
public struct LDAPSyncParameters: StandInSyncParameters {
    public static let jobType = SyncType.ldap.jobType
    public static let kind = SyncType.ldap.kind
    /// Read and report, change nothing.
    public var dryRun: Bool?
    /// Lets this run delete up to this many users past the deletion guard.
    public var allowDeletes: Int?
    public var seconds: Double?
    public var hang: Bool?
    public var fail: String?

    public init(dryRun: Bool? = nil, allowDeletes: Int? = nil) {
        self.dryRun = dryRun
        self.allowDeletes = allowDeletes
    }

    enum CodingKeys: String, CodingKey {
        case dryRun = "dry_run", allowDeletes = "allow_deletes", seconds, hang, fail
    }

    var isStandIn: Bool { seconds != nil || hang != nil || fail != nil }
}

extension JobContext: SyncReporter {
    public func log(_ line: String) async throws {
        try await log(line, level: .info)
    }
}

public enum LDAPSyncJob {
    static func register(in registry: inout JobRegistry) {
        registry.register(LDAPSyncParameters.self, maxAttempts: 1) { parameters, context in
            if parameters.isStandIn { return try await SyncJobs.runStandIn(parameters, context) }
            try await run(parameters, context)
        }
    }

    /// Reads the domain's settings from the inventory (the directory's password opened with the key
    /// `UCP_SECRET_KEY_FILE` names) and runs the synchronization on one connection of the pool.
    static func run(_ parameters: LDAPSyncParameters, _ context: JobContext) async throws {
        guard let domain = context.job.target else { throw QueueError.invalidInput("domain: an LDAP sync needs a target domain") }
        let secretBox = try? SecretBox(key: SecretKey.fromEnvironment())
        let options = LDAPSyncOptions(dryRun: parameters.dryRun ?? false, allowDeletes: parameters.allowDeletes)
        try await context.database.withConnection { connection in
            let settings = try await LDAPSyncSettings.load(domain: domain, connection: connection, secretBox: secretBox)
            _ = try await LDAPSynchronization(settings: settings, options: options, database: connection, reporter: context,
                                              jobID: context.job.id, actor: context.job.submittedBy).run()
        }
    }
}
