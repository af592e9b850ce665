-- englog SQLite schema, version 1.
-- One statement per line end; times are unix seconds (REAL) unless noted.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);

-- start_time/end_time keep the ISO text as given (timezone offset included);
-- start_ts/end_ts are the same instants as unix seconds for range queries.
CREATE TABLE entries (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT,
    type TEXT NOT NULL,
    project TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    start_time TEXT NOT NULL,
    end_time TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL,
    value_rating TEXT NOT NULL,
    impact_level TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE INDEX entries_user_start ON entries (user_id, start_ts);

-- seq gives a monotonic FIFO tiebreak among tasks created in the same instant.
-- accepted_attempt/accepted_worker name the last accepted result (duplicate detection).
CREATE TABLE tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    priority INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 1,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    reassignments INTEGER NOT NULL DEFAULT 0,
    timeout_s REAL NOT NULL,
    worker_id TEXT,
    lease_expires_at REAL,
    progress REAL NOT NULL DEFAULT 0,
    progress_message TEXT,
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    completed_at REAL,
    run_after REAL NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    accepted_attempt INTEGER,
    accepted_worker TEXT
);

CREATE INDEX tasks_claim ON tasks (status, priority DESC, created_at, seq);

CREATE INDEX tasks_claim_type ON tasks (status, type, priority DESC, created_at, seq);

CREATE INDEX tasks_lease ON tasks (status, lease_expires_at);

CREATE INDEX tasks_worker ON tasks (worker_id, status);

CREATE INDEX tasks_user ON tasks (user_id, created_at);

CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    capabilities TEXT NOT NULL DEFAULT '[]',
    version TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    max_concurrency INTEGER NOT NULL DEFAULT 1,
    registered_at REAL NOT NULL,
    last_heartbeat_at REAL,
    status TEXT NOT NULL DEFAULT 'ready',
    stats TEXT NOT NULL DEFAULT '{}',
    capacity TEXT NOT NULL DEFAULT '{}',
    session_token_hash TEXT
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    worker_id TEXT NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    last_heartbeat_at REAL NOT NULL
);

CREATE INDEX sessions_worker ON sessions (worker_id);
