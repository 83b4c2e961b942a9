import Postgres
import Queue

/// Every statement that touches `orders` and `order_steps` (migrations/024_orders.sql), by name.
/// Values are always bound parameters.
enum OrderSQL {
    static let columns = """
        o.id, o.kind, o.domain, o.service_area, o.user_id, o.call_processor, o.message_processor, o.line, o.line_partition,
        o.phone, o.request::text AS request, o.on_failure, o.state, o.submit_key, o.cancels, o.job_id, o.job_attempt, o.error,
        o.submitted_by, o.created_at, o.started_at, o.finished_at
        """
    static let stepColumns = """
        s.order_id, s.position, s.name, s.device, s.call::text AS call, s.state, s.before_image::text AS before_image,
        s.after_image::text AS after_image, s.created_uuid, s.adopted, s.attempts, s.started_at, s.finished_at, s.error, s.undo_failed
        """

    /// Change and push orders of one call processor are stored one at a time (the user's open order
    /// checked under it), and none while an add order of it is being stored.
    static let planningLock = Statement("order_planning_lock", "SELECT pg_advisory_xact_lock(hashtext('ucp.order.plan'), hashtext($1))")
    /// Add orders of one call processor are stored side by side (the same lock, shared): each
    /// claims its number under that number's own lock (`numberLock`, `numberTryLock`).
    static let planningLockShared = Statement("order_planning_lock_shared",
                                              "SELECT pg_advisory_xact_lock_shared(hashtext('ucp.order.plan'), hashtext($1))")
    /// The lock of one user's orders ($1, without case), held until the transaction storing an order
    /// of the user ends: two submissions for one user (each checking the other's absence) never both store.
    static let userLock = Statement("order_user_lock", "SELECT pg_advisory_xact_lock(hashtext('ucp.order.user'), hashtext(lower($1)))")
    /// The lock of a submission key ($1), held until the submission ends.
    static let keyLock = Statement("order_key_lock", "SELECT pg_advisory_xact_lock(hashtext('ucp.order.key'), hashtext($1))")
    /// The lock of one number ($3) of a partition ($2) of a call processor ($1), held until the
    /// submission ends: the submission of that number waits for another one's to end.
    static let numberLock = Statement("order_number_lock", """
        SELECT pg_advisory_xact_lock(hashtext('ucp.order.number:' || $1 || '/' || $2), hashtext($3))
        """)
    /// The first of the candidate numbers ($3, in their partitions $2) whose lock is free, taken
    /// (the scan stops at the first: LIMIT 1 over a plain function scan); no row when all are held.
    static let numberTryLock = Statement("order_number_try_lock", """
        SELECT c.number, c.partition FROM unnest($3::text[], $2::text[]) AS c(number, partition)
         WHERE pg_try_advisory_xact_lock(hashtext('ucp.order.number:' || $1 || '/' || c.partition), hashtext(c.number))
         LIMIT 1
        """)
    /// Whether an open order of the call processor ($1) holds number $3 in partition $2 (read after
    /// the number's lock is held: an order stored meanwhile is seen).
    static let numberHeld = Statement("order_number_held", """
        SELECT EXISTS (SELECT 1 FROM orders o
                        WHERE o.call_processor = $1 AND o.line_partition = $2 AND o.line = $3 AND o.kind = 'add'
                          AND o.state IN ('submitted', 'running', 'failed', 'rolling_back', 'needs_attention')) AS held
        """)

    /// Numbers held by open orders of the call processor in one partition. $1 call processor, $2 partition.
    static let numbersHeld = Statement("order_numbers_held", """
        SELECT o.line FROM orders o
         WHERE o.call_processor = $1 AND o.line_partition = $2 AND o.kind = 'add' AND o.line IS NOT NULL
           AND o.state IN ('submitted', 'running', 'failed', 'rolling_back', 'needs_attention')
        """)
    /// An open add order for the phone name (any call processor would refuse a second one).
    static let phoneHeld = Statement("order_phone_held", """
        SELECT o.id FROM orders o
         WHERE o.call_processor = $1 AND lower(o.phone) = lower($2) AND o.kind = 'add'
           AND o.state IN ('submitted', 'running', 'failed', 'rolling_back', 'needs_attention')
        """)

    static let orderInsert = Statement("order_insert", """
        INSERT INTO orders (kind, domain, service_area, user_id, call_processor, message_processor, line, line_partition, phone,
                            request, on_failure, submit_key, cancels, submitted_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14)
        RETURNING id
        """)
    /// Many orders in one statement, their ids returned in the order given: each row's id is drawn
    /// before the insert, so the answer pairs ids with inputs whatever order the rows go in. $1–$14
    /// arrays alike in length, the columns of `orderInsert`.
    static let orderInsertMany = Statement("order_insert_many", """
        WITH input AS MATERIALIZED (
            SELECT nextval(pg_get_serial_sequence('orders', 'id')) AS id, t.*
              FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                          $10::text[], $11::text[], $12::text[], $13::bigint[], $14::text[])
                   WITH ORDINALITY AS t(kind, domain, service_area, user_id, call_processor, message_processor, line, line_partition,
                                        phone, request, on_failure, submit_key, cancels, submitted_by, n)),
        inserted AS (
            INSERT INTO orders (id, kind, domain, service_area, user_id, call_processor, message_processor, line, line_partition, phone,
                                request, on_failure, submit_key, cancels, submitted_by)
            SELECT id, kind, domain, service_area, user_id, call_processor, message_processor, line, line_partition, phone,
                   request::jsonb, on_failure, submit_key, cancels, submitted_by FROM input)
        SELECT id FROM input ORDER BY n
        """)
    /// The order's job; returns the order as it now is.
    static let orderJobSet = Statement("order_job_set", """
        UPDATE orders o SET job_id = $2, updated_at = clock_timestamp() WHERE o.id = $1 RETURNING \(columns)
        """)
    /// Each order's job, many at once ($1 orders, $2 jobs, alike in length), as `orderJobSet`.
    static let orderJobSetMany = Statement("order_job_set_many", """
        UPDATE orders o SET job_id = t.job_id, updated_at = clock_timestamp()
          FROM unnest($1::bigint[], $2::bigint[]) AS t(id, job_id) WHERE o.id = t.id
        """)
    /// The steps of one order or many in one statement. $1 orders, $2 positions, $3 names, $4 devices,
    /// $5 calls (JSON), alike in length.
    static let stepInsertMany = Statement("order_step_insert_many", """
        INSERT INTO order_steps (order_id, position, name, device, call)
        SELECT t.order_id, t.position, t.name, t.device, t.call::jsonb
          FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[], $5::text[]) AS t(order_id, position, name, device, call)
        """)

    static let orderGet = Statement("order_get", "SELECT \(columns) FROM orders o WHERE o.id = $1")
    static let orderByKey = Statement("order_by_key", "SELECT \(columns) FROM orders o WHERE o.submit_key = $1")
    /// The order of key $1, and whether it was submitted for request $2 (an order file's JSON as
    /// stored): compared as stored JSON, without where each was read (`file`, `fieldLines`: the same
    /// order sent as another file, or over the API, is the same request).
    static let orderByKeyForRequest = Statement("order_by_key_for_request", """
        SELECT \(columns), (o.request - 'file' - 'fieldLines') = ($2::jsonb - 'file' - 'fieldLines') AS same_request
          FROM orders o WHERE o.submit_key = $1
        """)
    /// `order list`: the newest orders (before order $2, when not NULL), newest first. $1 limit.
    static let orderList = Statement("order_list", """
        SELECT \(columns) FROM orders o WHERE o.id < coalesce($2::bigint, \(Int64.max)) ORDER BY o.id DESC LIMIT $1
        """)
    /// In state $3. Not prepared (an operator's listing, seldom): planned with the state it names, so
    /// a rare state (failed, needs attention) is read through orders_state, a common one (succeeded)
    /// by walking the newest orders — a generic plan would walk the history for every state.
    static let orderListByState = Statement("", """
        SELECT \(columns) FROM orders o WHERE o.state = $3 AND o.id < coalesce($2::bigint, \(Int64.max)) ORDER BY o.id DESC LIMIT $1
        """)
    /// Of user $3 (without case; orders_user), in state $4 when not NULL.
    static let orderListByUser = Statement("order_list_by_user", """
        SELECT \(columns) FROM orders o
         WHERE lower(o.user_id) = lower($3) AND ($4::text IS NULL OR o.state = $4) AND o.id < coalesce($2::bigint, \(Int64.max))
         ORDER BY o.id DESC LIMIT $1
        """)
    static let stepList = Statement("order_step_list", "SELECT \(stepColumns) FROM order_steps s WHERE s.order_id = $1 ORDER BY s.position")

    /// The job's attempt takes the order over (a newer job, or a later attempt of the same one), and
    /// reads its steps in the same round trip: one row a step (the order's columns, then the step's
    /// prefixed `step_`; a step-less order: one row with NULL step columns). $1 order, $2 job, $3 attempt.
    static let orderTakeOverWithSteps = Statement("order_take_over_with_steps", """
        WITH taken AS (
            UPDATE orders o SET owner_job = $2, job_attempt = $3, started_at = coalesce(o.started_at, clock_timestamp()),
                                updated_at = clock_timestamp()
             WHERE o.id = $1 AND (o.owner_job IS DISTINCT FROM $2 OR o.job_attempt < $3)
            RETURNING \(columns))
        SELECT o.*, s.order_id AS step_order_id, s.position AS step_position, s.name AS step_name, s.device AS step_device,
               s.call::text AS step_call, s.state AS step_state, s.before_image::text AS step_before_image,
               s.after_image::text AS step_after_image, s.created_uuid AS step_created_uuid, s.adopted AS step_adopted,
               s.attempts AS step_attempts, s.started_at AS step_started_at, s.finished_at AS step_finished_at, s.error AS step_error,
               s.undo_failed AS step_undo_failed
          FROM taken o LEFT JOIN order_steps s ON s.order_id = o.id
         ORDER BY s.position
        """)
    /// The order's state, fenced on the attempt that owns it. $1 order, $2 job, $3 attempt, $4 state, $5 error.
    static let orderStateSet = Statement("order_state_set", """
        UPDATE orders o SET state = $4, error = $5, updated_at = clock_timestamp(),
                            finished_at = CASE WHEN $4 IN ('succeeded', 'failed', 'rolled_back', 'canceled', 'needs_attention')
                                               THEN clock_timestamp() END
         WHERE o.id = $1 AND o.owner_job = $2 AND o.job_attempt = $3
        RETURNING o.id
        """)
    /// Another order's state, in the same fenced transaction (the add order a cancel order undid).
    static let orderStateSetOther = Statement("order_state_set_other", """
        UPDATE orders SET state = $2, updated_at = clock_timestamp(), finished_at = clock_timestamp() WHERE id = $1
        """)

    /// What a saga writes in one fenced round trip (`OrderSaga.commit`): the job's row held and the
    /// order owned by the attempt (else nothing is written: `fenced` is 0), the order's state (when
    /// $4 is not NULL), the steps' progress (the arrays $6–$13 and $17, one element a step), the job's log
    /// lines ($14); and the write slot $16 of device $15 the last write held released (whether or
    /// not the fence holds: unlocking is not transactional); and the job's state (canceling: an
    /// operator canceled it, the saga writes nothing more). $1 order, $2 job, $3 attempt, $5 error.
    static let sagaCommit = Statement("order_saga_commit", sagaSQL())

    static func sagaSQL() -> String {
        """
        WITH \(FencedSQL.jobOwned(job: "$2", attempt: "$3")),
        fenced AS MATERIALIZED (
            SELECT o.id FROM job_owned, orders o WHERE o.id = $1 AND o.owner_job = $2 AND o.job_attempt = $3),
        \(FencedSQL.jobLines("$14", when: "fenced")),
        state_set AS (
            UPDATE orders o SET state = $4::text, error = $5::text, updated_at = clock_timestamp(),
                                finished_at = CASE WHEN $4::text IN ('succeeded', 'failed', 'rolled_back', 'canceled', 'needs_attention')
                                                   THEN clock_timestamp() END
              FROM fenced
             WHERE o.id = fenced.id AND $4::text IS NOT NULL
            RETURNING o.id),
        saved AS (
            UPDATE order_steps s SET state = t.state, before_image = t.before::jsonb, after_image = t.after::jsonb, created_uuid = t.uuid,
                                     adopted = t.adopted, attempts = t.attempts, error = t.error, undo_failed = t.undo_failed,
                                     started_at = CASE WHEN t.state = 'sending' AND s.state <> 'sending' THEN clock_timestamp() ELSE s.started_at END,
                                     finished_at = CASE WHEN t.state IN ('done', 'failed', 'undone', 'conflict', 'skipped') THEN clock_timestamp()
                                                        ELSE s.finished_at END
              FROM fenced, unnest($6::integer[], $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[], $12::integer[], $13::text[],
                           $17::boolean[])
                           AS t(position, state, before, after, uuid, adopted, attempts, error, undo_failed)
             WHERE s.order_id = fenced.id AND s.position = t.position
            RETURNING s.position)
        SELECT (SELECT count(*) FROM fenced) AS fenced, (SELECT count(*) FROM saved) AS saved,
               (SELECT state FROM job_owned) AS job_state,
               CASE WHEN $15::text IS NOT NULL THEN pg_advisory_unlock(\(DeviceWriteSQL.slotKey("$15")), $16::integer) END AS released
        """
    }

    /// `order retry`: the failed steps of a failed order run again; a cancel order's conflicts are
    /// checked again too (the operator resolved the drift). $1 order.
    static let stepFailedReset = Statement("order_step_failed_reset", """
        UPDATE order_steps s SET state = 'pending', error = NULL, undo_failed = false
         WHERE s.order_id = $1
           AND (s.state = 'failed' OR (s.state = 'conflict' AND EXISTS (SELECT 1 FROM orders o WHERE o.id = $1 AND o.kind = 'cancel')))
        """)
    /// A failed order, or a cancel order that needs attention (it has no rollback: it goes on removing).
    static let orderRetryMark = Statement("order_retry_mark", """
        UPDATE orders SET state = 'submitted', error = NULL, finished_at = NULL, updated_at = clock_timestamp()
         WHERE id = $1 AND (state = 'failed' OR (kind = 'cancel' AND state = 'needs_attention')) RETURNING id
        """)
    /// `order rollback`: a failed order (or one that needs attention, once resolved) is undone.
    static let orderRollbackMark = Statement("order_rollback_mark", """
        UPDATE orders SET state = 'rolling_back', error = NULL, finished_at = NULL, updated_at = clock_timestamp()
         WHERE id = $1 AND state IN ('failed', 'needs_attention') RETURNING id
        """)
    /// Conflicted steps are tried again by a new rollback (the operator resolved the drift).
    static let stepConflictsReset = Statement("order_step_conflicts_reset", """
        UPDATE order_steps SET state = 'done', error = NULL WHERE order_id = $1 AND state = 'conflict'
        """)
    /// The order, its row locked until the transaction ends (an operator's action on it).
    static let orderGetLocked = Statement("order_get_locked", "SELECT \(columns) FROM orders o WHERE o.id = $1 FOR UPDATE")
    /// The order whose latest job is $1 and that is still queued or running, its row locked.
    static let orderOfJobLocked = Statement("order_of_job_locked", """
        SELECT \(columns) FROM orders o WHERE o.job_id = $1 AND o.state IN ('submitted', 'running', 'rolling_back') FOR UPDATE
        """)
    /// Open orders whose latest job has ended (or is gone) before they did: a worker stopping or
    /// dying while the job was canceling, or the rescue failing it on its last attempt, leaves the
    /// order as it was. The open orders are read from orders_open_by_job (migration 044, its
    /// predicate), each job by its key. $1 limit; `job_state` the job's final state.
    static let orderOpenOfEndedJob = Statement("order_open_of_ended_job", """
        WITH open_jobs AS MATERIALIZED (
            SELECT o.job_id FROM orders o WHERE o.state IN ('submitted', 'running', 'rolling_back')),
        \(EndedJobSQL.jobsEnded(among: "open_jobs", column: "job_id"))
        SELECT \(columns), e.state AS job_state
          FROM jobs_ended e JOIN orders o ON o.job_id = e.id AND o.state IN ('submitted', 'running', 'rolling_back')
         ORDER BY o.id LIMIT $1
        """)
    /// An order whose job was canceled before it ran: $2 its state now (canceled, or failed when an
    /// earlier attempt wrote something), $3 why. Only while it is queued or running.
    static let orderWithdraw = Statement("order_withdraw", """
        UPDATE orders o SET state = $2, error = $3, updated_at = clock_timestamp(), finished_at = clock_timestamp()
         WHERE o.id = $1 AND o.state IN ('submitted', 'running', 'rolling_back')
        RETURNING \(columns)
        """)
    /// An open cancel order of the add order, if any (one that needs attention too: `order retry` goes on with it).
    static let cancelOpen = Statement("order_cancel_open", """
        SELECT o.id FROM orders o WHERE o.cancels = $1 AND o.state IN ('submitted', 'running', 'failed', 'rolling_back', 'needs_attention')
        """)
    /// The user's newest open order (a new order of the user is refused; OrderStore.openOrder). $1 user. Not the
    /// directory orders: UDS copies on the other call processors (thousands queued at once when UDS is
    /// enabled) must not hold a user's orders back for hours.
    static let userOpenOrder = Statement("order_user_open", """
        SELECT \(columns) FROM orders o
         WHERE lower(o.user_id) = lower($1) AND o.kind <> 'directory'
           AND o.state IN ('submitted', 'running', 'failed', 'rolling_back', 'needs_attention')
         ORDER BY o.id DESC LIMIT 1
        """)
}
