-- Switching maintenance mode on waits for the claims in flight (review finding).
-- A claim takes the claim lock (shared when no sync is due), reads maintenance mode and starts
-- orders in one transaction. `ucp_maintenance_set` of 001 locked only the control row, which the
-- order path of the claim reads without locking: a claim that had read "off" could commit its
-- orders after `ucp maintenance on` returned (write skew). Taking the claim lock exclusively first
-- makes the switch wait for those claims and the claims after it wait for the switch, whose
-- commit they then see (each statement of a READ COMMITTED function takes a new snapshot).
-- The lock comes before the control row: the claim holds the claim lock when
-- ucp_maintenance_refresh locks the control row, so the other order would deadlock.
-- Same signature as 001, so CREATE OR REPLACE keeps the grants and the callers.
CREATE OR REPLACE FUNCTION ucp_maintenance_set(p_on boolean, p_actor text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c_claim_lock constant bigint := 7566937001;  -- 'ucp' claim lock
BEGIN
    PERFORM pg_advisory_xact_lock(c_claim_lock);
    PERFORM 1 FROM control FOR UPDATE;
    UPDATE control SET manual_maintenance = p_on,
                       manual_by = CASE WHEN p_on THEN p_actor END,
                       manual_at = CASE WHEN p_on THEN clock_timestamp() END;
    INSERT INTO audit_log (actor, action, message)
    VALUES (p_actor, CASE WHEN p_on THEN 'maintenance.manual_on' ELSE 'maintenance.manual_off' END,
            CASE WHEN p_on THEN 'Operator switched maintenance mode on'
                 ELSE 'Operator switched maintenance mode off' END);
    PERFORM ucp_maintenance_refresh(p_actor);
END
$$;
