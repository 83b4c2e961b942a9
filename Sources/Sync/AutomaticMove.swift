import Inventory
import Postgres
import Queue

/// The automatic move at the end of a successful LDAP or domain synchronization (issue 15 item 8;
/// seed 000 step 4): the one call each sync makes. Its lines go to the job's log and the end of the
/// sync's detailed log; a failure is a line there too, never the sync's failure (the sync's own
/// work is done and kept). Not in dry runs.
enum AutomaticMove {
    static func afterSync(domain: String, syncType: String, dryRun: Bool, database: Connection, reporter: any SyncReporter,
                          owner: QueueStore.Held?, jobID: Int64?, actor: String) async throws {
        guard !dryRun else { return }
        let lines: [String]
        do {
            lines = try await MoveFilterStore(database).automaticMoveAfterSync(domain: domain, syncType: syncType, owner: owner,
                                                                               jobID: jobID, actor: actor)
        } catch let error where error is JobLostError || error is JobCanceledError || error is CancellationError {
            // The attempt is over (lost, canceled, the worker stopping): not a failure of the move.
            throw error
        } catch {
            lines = ["Automatic move of domain '\(domain)' failed: \(error)"]
        }
        for line in lines { try await reporter.log(line) }
    }
}
