import Foundation
import JobCatalog
import Queue
import Runtime
import Secrets

extension JobContext: SyncReporter {
    public func log(_ line: String) async throws {
        try await log(line, level: .info)
    }
}

public enum LDAPSyncJob {
    /// The handler, submitting automatic provisioning's orders through `provisioningOrders`.
    static func handler(provisioningOrders: (any ProvisioningOrders)?) -> @Sendable (LDAPSync, JobContext) async throws -> Void {
        { parameters, context in try await run(parameters, context, provisioningOrders: provisioningOrders) }
    }

    /// Reads the domain's settings from the inventory (the directory's password opened with the key
    /// `UCP_SECRET_KEY_FILE` names) and runs the synchronization on one connection of the pool.

    static func run(_ parameters: LDAPSync, _ context: JobContext, provisioningOrders: (any ProvisioningOrders)?) async throws {
        guard let domain = context.job.target else { throw InputError(field: "domain", problem: "an LDAP sync needs a target domain") }
        let secretBox = try? SecretBox(key: SecretKey.fromEnvironment())
        let options = LDAPSyncOptions(dryRun: parameters.dryRun ?? false, allowDeletes: parameters.allowDeletes)
        try await context.database.withConnection { connection in
            let settings = try await LDAPSyncSettings.load(domain: domain, connection: connection, secretBox: secretBox)
            _ = try await LDAPSynchronization(settings: settings, options: options, database: connection, reporter: context,
                                              jobID: context.job.id, owner: .init(id: context.job.id, attempt: context.job.attempt),
                                              actor: context.job.submittedBy, provisioningOrders: provisioningOrders).run()
        }
    }
}
