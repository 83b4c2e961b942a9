import JobCatalog
import Queue

/// The handlers of the sync job types and the device connection test.
public enum SyncJobs {
    public static func register(in registry: inout JobRegistry) throws {
        try registry.register(InfrastructureSync.self, run: DeviceSync.run)
        try registry.register(UserSync.self, run: DeviceSync.run)
        try registry.register(DeviceTest.self, run: DeviceTestJob.run)
        try registry.register(LDAPSync.self, run: LDAPSyncJob.run)
        try registry.register(DomainSync.self, run: DomainSyncJob.run)
        try registry.register(ChangeNotificationPoll.self, run: ChangeNotification.run)
    }
}

/// Domain synchronization builds user records and their services from what the device syncs read,
/// by the domain's business rules. Until service areas and user services exist there is nothing to
/// build: the sync completes at once and says so in its log, so schedules can plan it already.
enum DomainSyncJob {
    @Sendable
    static func run(_ parameters: DomainSync, _ context: JobContext) async throws {
        try await context.log("domain synchronization: user records with services are not built yet (they come with service areas); nothing was changed")
        try await context.progress(done: 0, total: 0, message: "Completed.")
    }
}
