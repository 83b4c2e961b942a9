import CoreMetrics

/// What the synchronizations record through swift-metrics: `ucp_sync_objects_total{sync,change}`,
/// objects (device objects, directory users) a sync read and what it changed. `sync` is `ldap`,
/// `infra` or `user`; `change` is `read`, `created`, `updated`, `deleted` or `removed` (marked
/// removed). Counted when the sync's results are written.
enum SyncMetrics {
    static func objects(sync: String, _ counts: [(change: String, count: Int)]) {
        for (change, count) in counts where count > 0 {
            Counter(label: "ucp_sync_objects_total", dimensions: [("sync", sync), ("change", change)]).increment(by: count)
        }
    }
}
