import Inventory
import Postgres
import Queue

/// The automatic move at the end of a successful LDAP or domain synchronization (issue 15 item 8;
/// seed 000 step 4): the one call each sync makes. Its lines go to the job's log and the end of the
/// sync's detailed log, a chunk of users at a time as each is placed; a failure is a line in the
/// job's log, never the sync's failure (the sync's own work is done and kept, and so are the chunks
/// placed before it). Not in dry runs.
enum AutomaticMove {
    static func afterSync(domain: String, syncType: String, dryRun: Bool, database: Connection, reporter: any SyncReporter,
                          owner: QueueStore.Held?, jobID: Int64?, actor: String,
                          chunkSize: Int = MoveFilterStore.candidateChunkSize) async throws {
        guard !dryRun else { return }
        do {
            try await MoveFilterStore(database).automaticMoveAfterSync(domain: domain, syncType: syncType, owner: owner, jobID: jobID,
                                                                       actor: actor, chunkSize: chunkSize) { lines in
                for line in lines { try await reporter.log(line) }
            }
        } catch let error where error is JobLostError || error is JobCanceledError || error is CancellationError {
            // The attempt is over (lost, canceled, the worker stopping): not a failure of the move.
            throw error
        } catch {
            try await reporter.log("Automatic move of domain '\(domain)' failed: \(error)")
        }
    }
}
