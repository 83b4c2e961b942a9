-- Orders (issue 14; DESIGN.md §7; orders-brief §A): one user's change in one domain, placed in a
-- service area, planned as the exact ordered device calls and applied as a saga by one job of kind
-- order. Owned by Sources/Orders (OrderStatements.swift); validation with operator-facing messages
-- lives there too, the constraints here are the backstop.

CREATE TABLE orders (
    id                 bigserial PRIMARY KEY,
    -- add: provision a subscriber; cancel: remove what an add order made (`cancels`).
    kind               text NOT NULL CHECK (kind IN ('add', 'cancel')),
    domain             text NOT NULL,
    service_area       text NOT NULL,
    user_id            text NOT NULL,
    call_processor     text NOT NULL,
    message_processor  text,
    -- The directory number the order holds (with its partition, '' for none) and the phone it makes.
    line               text,
    line_partition     text NOT NULL DEFAULT '',
    phone              text,
    -- What the operator asked (the order file as checked), for `order show`.
    request            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(request) = 'object'),
    -- On a failed step: roll the earlier steps back (rollback), or stop for `order retry|rollback` (stop).
    on_failure         text NOT NULL DEFAULT 'rollback' CHECK (on_failure IN ('rollback', 'stop')),
    state              text NOT NULL DEFAULT 'submitted' CHECK (state IN (
                           'submitted', 'running', 'succeeded', 'failed', 'rolling_back', 'rolled_back',
                           'canceled', 'needs_attention')),
    -- The idempotency key of `order submit --key`: one order per key.
    submit_key         text UNIQUE CHECK (submit_key <> ''),
    cancels            bigint REFERENCES orders (id),
    -- The latest job queued for the order (submit, retry, rollback, cancel).
    job_id             bigint,
    -- The job and attempt that own the order: a newer job or attempt takes it over and every step
    -- write is fenced on both, so a rescued attempt that runs on writes nothing.
    owner_job          bigint,
    job_attempt        integer NOT NULL DEFAULT 0,
    error              text,
    submitted_by       text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at         timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX orders_user ON orders (lower(user_id));
-- A number is held by every open order of its call processor: never planned twice.
CREATE UNIQUE INDEX orders_open_line ON orders (call_processor, line_partition, line)
    WHERE kind = 'add' AND line IS NOT NULL AND state IN ('submitted', 'running', 'failed', 'rolling_back', 'needs_attention');
CREATE UNIQUE INDEX orders_open_phone ON orders (call_processor, lower(phone))
    WHERE kind = 'add' AND phone IS NOT NULL AND state IN ('submitted', 'running', 'failed', 'rolling_back', 'needs_attention');

-- The steps of an order, in the order they run: the planned call with its values, what the step
-- found and wrote, and its undo.
CREATE TABLE order_steps (
    order_id      bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position      integer NOT NULL CHECK (position >= 1),
    -- user, line, phone, associate, voicemail, line_voicemail, reset (seed 000's order).
    name          text NOT NULL,
    device        text NOT NULL,
    -- The planned calls: [{"operation": …, "values": […]}] (what `order plan` printed).
    call          jsonb NOT NULL CHECK (jsonb_typeof(call) = 'array'),
    -- pending → sending (the write may have reached the device) → done | failed; undo: undone | conflict.
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN (
                      'pending', 'sending', 'done', 'failed', 'undone', 'conflict', 'skipped')),
    -- The fields an update changes as read before it, and as the order wrote them.
    before_image  jsonb,
    after_image   jsonb,
    -- The uuid (or Unity ObjectId) of the object this step created; undo removes only that.
    created_uuid  text,
    adopted       boolean NOT NULL DEFAULT false,
    attempts      integer NOT NULL DEFAULT 0,
    started_at    timestamptz,
    finished_at   timestamptz,
    error         text,
    PRIMARY KEY (order_id, position)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON orders, order_steps TO ucp_app;
GRANT USAGE ON SEQUENCE orders_id_seq TO ucp_app;
