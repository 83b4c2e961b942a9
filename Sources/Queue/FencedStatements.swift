import Postgres

/// The queue's part of another module's statement fenced on a job's attempt in one round trip
/// (an order's step saves, taken with its write slot: `OrderSQL.sagaCommit`): the same fence as
/// `QueueStore.InTransaction.jobConfirmOwned` and the same lines as `jobLogAppend`, as common table
/// expressions the caller puts in its WITH list, so that the SQL naming the queue's tables stays in
/// this module (DESIGN.md §8).
///
///     WITH \(FencedSQL.jobOwned(job: "$2", attempt: "$3")),
///          fenced AS MATERIALIZED (SELECT … FROM job_owned, <the caller's own fence>),
///          \(FencedSQL.jobLines("$14", when: "fenced")),
///          <the caller's writes, each joined with fenced>
///     SELECT (SELECT count(*) FROM fenced) AS fenced, …
///
/// One statement is one transaction: the job's row is held FOR SHARE while it runs (a rescue, an
/// UPDATE of that row, waits for it, or came first and then `job_owned` is empty), and nothing is
/// written unless the caller's fence yields a row — the caller throws `JobLostError` when it did not.
public enum FencedSQL {
    /// The states in which a job's attempt still owns it: every fence (`jobConfirmOwned`,
    /// `jobLogAppend`, `job_owned`) tests this one list.
    static let ownedStates = "('running', 'canceling')"

    /// `job_owned`: one row (`id`, `attempt`, `state`: running, or canceling once an operator
    /// canceled it) when the attempt named by the parameters `job` and `attempt` is the job's
    /// running one, its row held FOR SHARE until the statement ends; none else.
    public static func jobOwned(job: String, attempt: String) -> String {
        """
        job_owned AS MATERIALIZED (
            SELECT id, attempt, state FROM jobs
             WHERE id = \(job)::bigint AND attempt = \(attempt)::integer AND state IN \(ownedStates)
               FOR SHARE)
        """
    }

    /// `job_lines`: the lines of the text array parameter `lines` appended to the job's log (level
    /// info), in their order, when the common table expression `fence` (after `job_owned` in the same
    /// WITH list, reading it) yields a row.
    public static func jobLines(_ lines: String, when fence: String) -> String {
        """
        job_lines AS (
            INSERT INTO job_logs (job_id, attempt, level, message)
            SELECT owned.id, owned.attempt, 'info', line.message
              FROM job_owned owned, unnest(\(lines)::text[]) WITH ORDINALITY AS line(message, n)
             WHERE EXISTS (SELECT 1 FROM \(fence))
             ORDER BY line.n)
        """
    }
}
