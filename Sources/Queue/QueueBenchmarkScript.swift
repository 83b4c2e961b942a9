import Foundation

extension QueueStore {
    /// A pgbench script of the worker's two transactions per batch: the claim (`QueueSQL.jobClaim`,
    /// `batch` slots) and the batched finish (`QueueSQL.jobSucceedMany`), made from the statements
    /// themselves so the benchmark's limit measures what the workers run (`ucp bench queue`).
    public static func pgbenchClaimFinishScript(batch: Int) -> String {
        // NULL time: the database's own clock, as a worker on the system clock sends it.
        let claim = substitute(QueueSQL.jobClaim.sql, ["'pgbench-' || :client_id", String(batch), "30", "NULL"])
        let finish = substitute(QueueSQL.jobSucceedMany.sql, [":ids", ":attempts"])
        return """
            -- ucp bench queue: the worker's claim (\(batch) slots) and its batched finish
            -- (QueueSQL.jobClaim and QueueSQL.jobSucceedMany), two transactions per batch as in the worker.
            SELECT coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(attempt), '{}') AS attempts
              FROM (\(claim)) AS claimed \\gset
            \(finish);

            """
    }

    /// The SQL with `$1`, `$2`, … replaced by `values` (pgbench's variables and constants).
    private static func substitute(_ sql: String, _ values: [String]) -> String {
        var text = sql
        // Highest first, so $1 never eats the start of $10.
        for (index, value) in values.enumerated().reversed() {
            text = text.replacingOccurrences(of: "$\(index + 1)", with: value)
        }
        return text
    }
}
