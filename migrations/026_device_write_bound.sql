-- The per-device write bound of orders (issue 14: "writes to one device are bounded, a per-device
-- setting, default 2 in flight"): how many device writes the workers of every host together keep in
-- flight on one device. Orders hold one of its slots (a PostgreSQL advisory lock per device and slot)
-- right around each write, so the bound holds across worker processes and hosts.
ALTER TABLE devices ADD COLUMN max_writes_in_flight integer NOT NULL DEFAULT 2
    CONSTRAINT devices_max_writes_in_flight_range CHECK (max_writes_in_flight BETWEEN 1 AND 64);
