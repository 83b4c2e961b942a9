import Queue
import Runtime

/// The coordinator's sweep of open orders whose job ended first (`OrderStore.withdrawOrdersOfEndedJobs`;
/// each withdrawal is an audit line). Built where the coordinator is (the queue knows no orders), at
/// the lease rescue's interval, after it in a round: an order whose job the rescue ended is withdrawn
/// within about one interval.
public struct EndedJobOrdersDuty: CoordinatorDuty {
    public let name = "orders of ended jobs"
    public let intervalSeconds: Double

    public init(intervalSeconds: Double) {
        self.intervalSeconds = intervalSeconds
    }

    public func runOnce(_ store: QueueStore, actor: String, clock: any TimeSource) async throws {
        _ = try await OrderStore(store.connection).withdrawOrdersOfEndedJobs(actor: actor)
    }
}
