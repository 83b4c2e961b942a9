/// `directory.sync`: the directory search source's work while it is the call processor (UDS; seed
/// 004 "Configuring Directory Search Synchronization Source"). Plans and queues orders of kind
/// `directory` (Sources/Orders/DirectorySource.swift): each provisioned user copied to every Unified
/// CM of version 10 or later that lacks it (homeCluster false; true on its home cluster), or — with
/// `leftHome` — the copies the directory orders made removed, the user having left its home cluster.
/// An order job: maintenance mode holds it back like the orders it queues. Retried: a retry finds the
/// orders it queued already (their submit keys carry the job's id).
public struct DirectorySync: JobParameters, Equatable {
    public static let jobType = "directory.sync"
    public static let kind = JobKind.order
    public static let maxAttempts = 5

    /// One user only (a new add order's user, or one that left its home cluster); nil: every
    /// provisioned user.
    public var user: String?
    /// The call processor the user left (its home cluster): the copies elsewhere are removed.
    public var leftHome: String?

    public init(user: String? = nil, leftHome: String? = nil) {
        self.user = user
        self.leftHome = leftHome
    }

    /// One queued job per user (and per left home cluster) at most; one for every user.
    public var dedupKey: String {
        "\(Self.jobType)|\(user?.lowercased() ?? "")|\(leftHome ?? "")"
    }
}
