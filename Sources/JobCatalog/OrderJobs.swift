/// `order.run`: one order (Sources/Orders), applied as a saga against its devices. An order, so
/// maintenance mode holds it back. A lost worker's attempt is run again: the order's step cursor is
/// stored, so the next attempt resumes at the step it was on (pre-checks recognise what took effect).
public struct OrderRun: JobParameters, Equatable {
    public static let jobType = "order.run"
    public static let kind = JobKind.order
    public static let maxAttempts = 5

    /// What the job does to the order.
    public enum Action: String, Codable, Sendable {
        /// Run the steps from the first not done (a new order, or `order retry`).
        case apply
        /// Undo the steps done, in reverse (`order rollback`).
        case rollback
    }

    public var order: Int64
    public var action: Action

    public init(order: Int64, action: Action = .apply) {
        self.order = order
        self.action = action
    }
}

/// `order.delete_plan`: makes one delete request of an LDAP synchronization (`user_delete_orders`)
/// a real order of kind delete and queues its `order.run`. An order job, so maintenance mode holds
/// it back like the order it makes.
public struct OrderDeletePlan: JobParameters, Equatable {
    public static let jobType = "order.delete_plan"
    public static let kind = JobKind.order
    public static let maxAttempts = 5

    /// The `user_delete_orders` row.
    public var request: Int64

    public init(request: Int64) {
        self.request = request
    }
}
