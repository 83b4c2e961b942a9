import Foundation
import Postgres
import Queue
import Runtime

/// Every database operation of the watchdog and the alert outbox, noun-first.
public struct AlertStore: Sendable {
    public let connection: Connection

    public init(_ connection: Connection) {
        self.connection = connection
    }

    static let watchdogCheck = Statement("watchdog_check", "SELECT id FROM ucp_watchdog_check($1, $2, $3::text[], $4::timestamptz)")
    static let alertEnqueue = Statement("alert_enqueue", """
        INSERT INTO alerts (kind, recipient, subject, body) SELECT $1, recipient, $3, $4 FROM unnest($2::text[]) AS recipient
        """)
    /// Due rows: pending and due, or left `sending` by a sender that died (lease expired). $3 is the
    /// time to judge by (NULL: the database's clock).
    static let alertClaimDue = Statement("alert_claim_due", """
        UPDATE alerts SET state = 'sending', attempts = attempts + 1,
                          lease_expires_at = coalesce($3::timestamptz, now()) + make_interval(secs => $2)
         WHERE id IN (SELECT id FROM alerts
                       WHERE (state = 'pending' AND next_attempt_at <= coalesce($3::timestamptz, now()))
                          OR (state = 'sending' AND lease_expires_at < coalesce($3::timestamptz, now()))
                       ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING id, kind, job_id, recipient, subject, body, attempts
        """)
    /// Right before a message is sent: its lease renewed from now, if the claim is still this
    /// attempt's. A claim takes a batch under one lease, and the batch's later messages may start
    /// after it ran out; without this another sender could take such a message and both send it.
    static let alertLeaseRenew = Statement("alert_lease_renew", """
        UPDATE alerts SET lease_expires_at = coalesce($3::timestamptz, now()) + make_interval(secs => $4)
         WHERE id = $1 AND attempts = $2 AND state = 'sending'
        RETURNING id
        """)
    static let alertMarkSent = Statement("alert_mark_sent", """
        UPDATE alerts SET state = 'sent', sent_at = clock_timestamp(), lease_expires_at = NULL, last_error = NULL
         WHERE id = $1 AND attempts = $2 AND state = 'sending'
        """)
    /// The next attempt comes $7 seconds after $4 (NULL: the database's clock, not the sender's);
    /// failed for good when $5 (permanent) or once the message is $3 seconds old, counted from its
    /// queueing or its last requeueing by `ucp alerts retry`.
    static let alertMarkFailedAttempt = Statement("alert_mark_failed_attempt", """
        UPDATE alerts SET state = CASE WHEN $5 OR coalesce(requeued_at, created_at) + make_interval(secs => $3)
                                                  <= coalesce($4::timestamptz, now())
                                       THEN 'failed' ELSE 'pending' END,
                          next_attempt_at = coalesce($4::timestamptz, now()) + $7::float8 * interval '1 second',
                          last_error = $6, lease_expires_at = NULL
         WHERE id = $1 AND attempts = $2 AND state = 'sending'
        """)
    static let alertState = Statement("alert_state", "SELECT state FROM alerts WHERE id = $1 FOR UPDATE")
    /// Failed alerts ($1, or all when NULL) back in the outbox, due now; `attempts` goes on counting,
    /// so a sender still holding an old attempt stays fenced out.
    static let alertRequeue = Statement("alert_requeue", """
        UPDATE alerts SET state = 'pending', next_attempt_at = now(), requeued_at = now()
         WHERE state = 'failed' AND ($1::bigint IS NULL OR id = $1)
        RETURNING id
        """)
    static let alertCountPending = Statement("alert_count_pending", """
        SELECT count(*) AS alerts FROM alerts WHERE state IN ('pending', 'sending')
        """)
    static let alertList = Statement("alert_list", """
        SELECT id, kind, job_id, recipient, subject, state, attempts, next_attempt_at, last_error, created_at, sent_at
          FROM alerts WHERE ($1::text IS NULL OR state = $1) ORDER BY id DESC LIMIT $2
        """)

    /// Stops the syncs stuck for `thresholdSeconds` at `now` (nil: the database's clock) and queues
    /// their alerts; returns their ids.
    public func watchdogCheck(thresholdSeconds: Double, actor: String, recipients: [String],
                              now: Date? = nil) async throws -> [Int64] {
        try await connection.query(Self.watchdogCheck, [thresholdSeconds, actor, PostgresTextArray(recipients), now])
            .map { try $0.decode("id") }
    }

    /// Queues one message to each recipient.
    public func alertEnqueue(kind: String, recipients: [String], subject: String, body: String) async throws {
        try await connection.query(Self.alertEnqueue, [kind, PostgresTextArray(recipients), subject, body])
    }

    public struct DueAlert: Sendable {
        public var id: Int64
        public var kind: String
        public var jobID: Int64?
        public var recipient: String
        public var subject: String
        public var body: String
        public var attempt: Int
    }

    /// Takes up to `limit` alerts due at `now` (nil: the database's clock) for sending, each for `leaseSeconds`.
    public func alertClaimDue(limit: Int, leaseSeconds: Double, now: Date? = nil) async throws -> [DueAlert] {
        try await connection.query(Self.alertClaimDue, [limit, leaseSeconds, now]).map { row in
            DueAlert(id: try row.decode("id"), kind: try row.decode("kind"), jobID: try row.decodeIfPresent("job_id"),
                     recipient: try row.decode("recipient"), subject: try row.decode("subject"),
                     body: try row.decode("body"), attempt: try row.decode("attempts"))
        }
    }

    /// Renews the lease of a claimed alert for `leaseSeconds` from `now` (nil: the database's clock);
    /// false when another sender has claimed it since (it is no longer this sender's to send).
    public func alertLeaseRenew(_ alert: DueAlert, leaseSeconds: Double, now: Date? = nil) async throws -> Bool {
        !(try await connection.query(Self.alertLeaseRenew, [alert.id, alert.attempt, now, leaseSeconds]).isEmpty)
    }

    public func alertMarkSent(_ alert: DueAlert) async throws {
        try await connection.query(Self.alertMarkSent, [alert.id, alert.attempt])
    }

    /// Records a failed attempt: tried again `retryDelaySeconds` after `now` (nil: the database's
    /// clock), or failed for good when `permanent` or once older than `maximumAgeSeconds`.
    public func alertMarkFailedAttempt(_ alert: DueAlert, maximumAgeSeconds: Double, retryDelaySeconds: Double,
                                       now: Date? = nil, permanent: Bool, error: String) async throws {
        try await connection.query(Self.alertMarkFailedAttempt, [
            alert.id, alert.attempt, maximumAgeSeconds, now, permanent, error, retryDelaySeconds,
        ])
    }

    /// `ucp alerts retry`: puts the failed alert `id` (nil: every failed alert) back in the outbox,
    /// due now, with its audit line; returns the ids requeued. An `id` that is not a failed alert
    /// is refused, nothing written.
    public func alertRequeue(id: Int64?, actor: String) async throws -> [Int64] {
        try await connection.transaction { session in
            if let id {
                guard let state: String = try session.query(Self.alertState, [id]).first?.decode("state") else {
                    throw InputError(field: "id", problem: "no alert \(id)")
                }
                guard state == "failed" else {
                    throw InputError(field: "id", problem: "alert \(id) is \(state); only a failed alert can be retried")
                }
            }
            let ids: [Int64] = try session.query(Self.alertRequeue, [id]).map { try $0.decode("id") }.sorted()
            if !ids.isEmpty {
                try QueueStore.InTransaction(session).auditAppend(
                    actor: actor, action: "alerts.retry",
                    message: "Failed alert\(ids.count == 1 ? "" : "s") \(ids.map(String.init).joined(separator: ", ")) queued again for sending")
            }
            return ids
        }
    }

    public struct Alert: Sendable {
        public var id: Int64
        public var kind: String
        public var jobID: Int64?
        public var recipient: String
        public var subject: String
        public var state: String
        public var attempts: Int
        public var nextAttemptAt: Date
        public var lastError: String?
        public var createdAt: Date
        public var sentAt: Date?
    }

    /// Alerts not sent yet (pending, or being sent), due or waiting for a retry.
    public func alertCountPending() async throws -> Int {
        try await connection.query(Self.alertCountPending).first?.decode("alerts") ?? 0
    }

    public func alertList(state: String?, limit: Int) async throws -> [Alert] {
        try await connection.query(Self.alertList, [state, limit]).map { row in
            Alert(id: try row.decode("id"), kind: try row.decode("kind"), jobID: try row.decodeIfPresent("job_id"),
                  recipient: try row.decode("recipient"), subject: try row.decode("subject"),
                  state: try row.decode("state"), attempts: try row.decode("attempts"),
                  nextAttemptAt: try row.decode("next_attempt_at"), lastError: try row.decodeIfPresent("last_error"),
                  createdAt: try row.decode("created_at"), sentAt: try row.decodeIfPresent("sent_at"))
        }
    }
}
