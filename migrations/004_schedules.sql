-- Schedule synchronization (issue 5, item 1; seed 004, "Schedule Synchronization", Table 3): the stored
-- schedules. Validation with operator-facing messages lives in Sources/Schedules (JobName,
-- ScheduleFrequency, GranularSync) and Sources/Scheduling/Schedule.swift; the constraints here are the
-- backstop for anything that bypasses it. Firing them (last_fired_at) is the coordinator's later duty.

CREATE TABLE schedules (
    -- Table 3 "Job Name": letters, digits, space, '_', '-'; 1 to 100 characters, no space at either end.
    name             text PRIMARY KEY
                     CHECK (name ~ '^[A-Za-z0-9_-]([A-Za-z0-9 _-]{0,98}[A-Za-z0-9_-])?$'),
    -- The command-line form: once, or every N hours, days or weeks (6h, 2d, 1w).
    frequency        text NOT NULL CHECK (frequency = 'once' OR frequency ~ '^[1-9][0-9]{0,3}[hdw]$'),
    start_at         timestamptz NOT NULL,
    -- The IANA zone the schedule keeps its time of day in (e.g. Europe/Berlin).
    time_zone        text NOT NULL CHECK (time_zone <> ''),
    selection_kind   text NOT NULL CHECK (selection_kind IN ('builder', 'granular')),
    -- Builder choices (all, cp, mp, pp, ldap, domain) when selection_kind = 'builder'.
    builder_choices  text[],
    -- The custom granular synchronization text as typed, when selection_kind = 'granular'.
    granular_text    text,
    force_domain     boolean NOT NULL DEFAULT false,
    parallel         boolean NOT NULL DEFAULT false,
    abort_on_failure boolean NOT NULL DEFAULT false,
    -- When the coordinator last fired the schedule (later duty); NULL until then.
    last_fired_at    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_by       text NOT NULL,
    CONSTRAINT selection_matches_kind CHECK (
        (selection_kind = 'builder' AND granular_text IS NULL AND cardinality(builder_choices) > 0
             AND builder_choices <@ ARRAY['all', 'cp', 'mp', 'pp', 'ldap', 'domain']::text[])
        OR (selection_kind = 'granular' AND builder_choices IS NULL AND granular_text IS NOT NULL))
);

GRANT SELECT, INSERT, UPDATE, DELETE ON schedules TO ucp_app;
