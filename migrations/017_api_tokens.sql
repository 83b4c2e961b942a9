-- API tokens of `ucp serve` (issue 12). A token is shown once, when it is made; only its SHA-256
-- (hex) is kept, so a copy of the database does not hand out access. A revoked token stays listed
-- (who had access, until when) and no longer authenticates.
CREATE TABLE api_tokens (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_sha256  text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

-- Submits through the API carry an Idempotency-Key: the first answer is kept per token and key and
-- given again to a retry with the same request (a retry with another request is refused).
CREATE TABLE api_idempotency_keys (
    token_id        bigint NOT NULL REFERENCES api_tokens (id),
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_sha256  text NOT NULL,
    status          integer NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (token_id, key)
);

GRANT SELECT, INSERT, UPDATE ON api_tokens TO ucp_app;
GRANT SELECT, INSERT, DELETE ON api_idempotency_keys TO ucp_app;
GRANT USAGE, SELECT ON SEQUENCE api_tokens_id_seq TO ucp_app;
