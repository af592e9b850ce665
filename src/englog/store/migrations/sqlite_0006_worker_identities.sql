-- englog SQLite schema, version 6: a credential per worker (hash only), and the
-- identity that opened each session (issue 22: workers cannot pose as each other).
CREATE TABLE worker_credentials (
    worker_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);

-- 'shared' (ENGLOG_WORKER_TOKENS) or 'worker:<id>' (englog workers create).
ALTER TABLE sessions ADD COLUMN identity TEXT NOT NULL DEFAULT '';
