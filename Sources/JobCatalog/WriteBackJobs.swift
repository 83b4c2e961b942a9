/// `writeback.domain`: the seed's "Start Write Back to LDAP" of one domain (the target): every LDAP
/// user's primary directory number, after the domain's mask, written to the domain's write-back
/// attribute of the user's entry. Kind sync: it takes the one sync slot, so no other synchronization
/// runs beside it; while it is queued or running, the domain's domain and LDAP synchronizations are
/// refused at submission (seed: "Once Start Write Back to LDAP action starts, other actions such as
/// Start Domain Synchronization and Start LDAP Synchronization are disabled"). Not retried: a failed
/// run is reported, and the next one writes every user again.
public struct WriteBackRun: JobParameters, Equatable {
    public static let jobType = "writeback.domain"
    public static let kind = JobKind.sync
    public static let maxAttempts = 1
    public static let targetKind = JobTargetKind.domain

    public init() {}

    /// The key that keeps one write-back of a domain queued at most.
    public static func dedupKey(domain: String) -> String { "\(jobType)|\(domain)" }
}
