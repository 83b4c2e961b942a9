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
