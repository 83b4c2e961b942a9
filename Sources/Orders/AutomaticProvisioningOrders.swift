import Postgres
import Queue
import Sync

/// Automatic provisioning's orders (Sources/Sync/AutomaticProvisioning.swift) as ordinary add
/// orders: planned, refused and submitted by `OrderStore` like `ucp order submit --key`, run by the
/// workers like any order.
public struct AutomaticProvisioningOrders: ProvisioningOrders {
    public init() {}

    static func request(_ order: ProvisioningOrder) -> OrderRequest {
        var request = OrderRequest(domain: order.domain, serviceArea: order.serviceArea, user: order.user, line: order.line,
                                   phoneName: order.phoneName, phoneModel: order.services.phoneModel, voicemail: order.services.voicemail,
                                   file: "automatic provisioning")
        request.extensionMobility = order.services.extensionMobility
        request.imPresence = order.services.imPresence
        return request
    }

    public func submit(_ order: ProvisioningOrder, connection: Connection, actor: String, owner: QueueStore.Held?) async throws -> ProvisioningSubmitted {
        let submitted = try await OrderStore(connection).submit(Self.request(order), key: order.key, actor: actor, owner: owner)
        return ProvisioningSubmitted(orderID: submitted.order.id, line: submitted.order.line ?? "", created: submitted.created)
    }
}
