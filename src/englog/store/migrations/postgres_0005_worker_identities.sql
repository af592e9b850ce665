-- englog PostgreSQL schema, version 5: a credential per worker (hash only), and the
-- identity that opened each session (issue 22: workers cannot pose as each other).
CREATE TABLE worker_credentials (
    worker_id text PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    created_at double precision NOT NULL,
    revoked_at double precision
);

-- 'shared' (ENGLOG_WORKER_TOKENS) or 'worker:<id>' (englog workers create).
ALTER TABLE sessions ADD COLUMN identity text NOT NULL DEFAULT '';
