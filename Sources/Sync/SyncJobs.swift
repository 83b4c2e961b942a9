import JobCatalog
import Queue

/// The handlers of the sync job types and the device connection test.
public enum SyncJobs {
    /// `provisioningOrders`: the order engine the LDAP synchronization's automatic provisioning submits through.
    public static func register(in registry: inout JobRegistry, provisioningOrders: (any ProvisioningOrders)? = nil) throws {
        try registry.register(InfrastructureSync.self, run: DeviceSync.run)
        try registry.register(UserSync.self, run: DeviceSync.run)
        try registry.register(DeviceTest.self, run: DeviceTestJob.run)
        try registry.register(LDAPSync.self, run: LDAPSyncJob.handler(provisioningOrders: provisioningOrders))
        try registry.register(DomainSync.self, run: DomainSyncJob.run)
        try registry.register(ChangeNotificationPoll.self, run: ChangeNotification.run)
    }
}
