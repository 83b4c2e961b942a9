-- Move filters and automatic moves (issue 15 item 8; seed 000 step 4; orders-brief §A.3). Owned by
-- Sources/Inventory (MoveFilterStatements.swift).

-- A domain's move filters, in order: the first whose attribute matches a user decides the service
-- area `ucp user move --filter` moves it to (and the automatic move places it in). attribute:
-- department, location or device_pool (of the user's phones), or an LDAP attribute the domain's
-- field mapping reads; pattern: a value, '*' the wildcard, compared without case. Removing the
-- service area removes its filters.
CREATE TABLE move_filters (
    domain       text NOT NULL REFERENCES domains (name) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name ~ '^[A-Za-z0-9 _.@-]{1,100}$' AND btrim(name) <> ''),
    position     integer NOT NULL CHECK (position > 0),
    attribute    text NOT NULL CHECK (attribute <> '' AND length(attribute) <= 100),
    pattern      text NOT NULL CHECK (pattern <> '' AND length(pattern) <= 200),
    service_area text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (domain, name),
    CONSTRAINT move_filters_position UNIQUE (domain, position) DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (domain, service_area) REFERENCES service_areas (domain, name) ON DELETE CASCADE
);

-- Automatic move: after an LDAP or domain synchronization of the domain, its users not yet placed
-- are placed by the filters.
ALTER TABLE domains ADD COLUMN automatic_move boolean NOT NULL DEFAULT false;

GRANT SELECT, INSERT, UPDATE, DELETE ON move_filters TO ucp_app;
