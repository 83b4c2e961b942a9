import Postgres

/// The queue's part of another module's statement that looks for the jobs among its own rows that
/// have ended (an order still open whose job the rescue or a stopping worker ended): a common table
/// expression the caller puts in its WITH list after the one holding the job ids, so that the SQL
/// naming `jobs` stays in this module (DESIGN.md §8).
///
///     WITH mine AS MATERIALIZED (SELECT job_id FROM <the caller's table> WHERE …),
///          \(EndedJobSQL.jobsEnded(among: "mine", column: "job_id"))
///     SELECT … FROM jobs_ended e JOIN <the caller's table> t ON t.job_id = e.id
public enum EndedJobSQL {
    /// The states a job never leaves.
    static let endedStates = "('succeeded', 'failed', 'canceled')"

    /// `jobs_ended`: one row (`id`, `state`) for each job id of column `column` of the common table
    /// expression `among` whose job is in a final state, or is gone (pruned: state `gone`). Each id
    /// is looked up by the primary key: the cost follows the caller's rows, not the queue's history.
    public static func jobsEnded(among: String, column: String) -> String {
        """
        jobs_ended AS MATERIALIZED (
            SELECT DISTINCT c.\(column) AS id, coalesce(j.state, 'gone') AS state
              FROM \(among) c LEFT JOIN jobs j ON j.id = c.\(column)
             WHERE c.\(column) IS NOT NULL AND (j.id IS NULL OR j.state IN \(endedStates)))
        """
    }

    /// `syncs_canceled`: cancels the synchronizations still queued (not started) of the schedule runs
    /// whose ids are in column `column` of the common table expression `among` (runs closed because
    /// their job ended: nothing is left to run the rest of their plan). One row (`id`, `type`,
    /// `target`, `kind`, `schedule_run_id`) per job canceled; the caller writes their audit lines in
    /// the same transaction. A sync a worker claimed meanwhile is no longer queued and is left alone.
    public static func queuedSyncsCanceled(ofRuns among: String, column: String) -> String {
        """
        syncs_canceled AS (
            UPDATE jobs j SET state = 'canceled', finished_at = clock_timestamp()
              FROM \(among) c
             WHERE j.schedule_run_id = c.\(column) AND j.state = 'queued' AND j.kind IN ('device_sync', 'sync')
            RETURNING j.id, j.type, j.target, j.kind, j.schedule_run_id)
        """
    }
}
