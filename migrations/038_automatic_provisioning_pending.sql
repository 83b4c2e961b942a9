-- Automatic service provisioning (issue 15 item 9): a user an LDAP synchronization brings in while its
-- domain's automatic provisioning is on waits for its order until one is submitted. A time window
-- ("created since this run started") lost the users of a run that failed after committing some of its
-- batches, of a run the deletion guard stopped, and those whose submission failed for a reason that
-- goes away (a number in use, a filter fixed later): each later synchronization tries them again.
ALTER TABLE users ADD COLUMN provisioning_pending boolean NOT NULL DEFAULT false;
CREATE INDEX users_provisioning_pending ON users (domain) WHERE provisioning_pending;
