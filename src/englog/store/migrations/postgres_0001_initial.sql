-- englog PostgreSQL schema, version 1: the SQLite schema in PostgreSQL types.
-- Times stay unix seconds (double precision) so both backends share one semantics;
-- JSON is jsonb.

CREATE TABLE users (
    id text PRIMARY KEY,
    name text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    created_at double precision NOT NULL
);

-- start_time/end_time keep the ISO text as given (timezone offset included);
-- start_ts/end_ts are the same instants as unix seconds for range queries.
CREATE TABLE entries (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title text NOT NULL,
    description text,
    type text NOT NULL,
    project text,
    tags jsonb NOT NULL DEFAULT '[]',
    start_time text NOT NULL,
    end_time text NOT NULL,
    start_ts double precision NOT NULL,
    end_ts double precision NOT NULL,
    value_rating text NOT NULL,
    impact_level text NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
);

CREATE INDEX entries_user_start ON entries (user_id, start_ts);

-- seq gives a monotonic FIFO tiebreak among tasks created in the same instant.
-- accepted_attempt/accepted_worker name the last accepted result (duplicate detection).
CREATE TABLE tasks (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    user_id text,
    type text NOT NULL,
    payload jsonb NOT NULL,
    status text NOT NULL
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    priority integer NOT NULL DEFAULT 0,
    attempt integer NOT NULL DEFAULT 1,
    max_attempts integer NOT NULL DEFAULT 3,
    reassignments integer NOT NULL DEFAULT 0,
    timeout_s double precision NOT NULL,
    worker_id text,
    lease_expires_at double precision,
    progress double precision NOT NULL DEFAULT 0,
    progress_message text,
    result jsonb,
    error text,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    started_at double precision,
    completed_at double precision,
    run_after double precision NOT NULL DEFAULT 0,
    cancel_requested boolean NOT NULL DEFAULT false,
    metadata jsonb NOT NULL DEFAULT '{}',
    accepted_attempt integer,
    accepted_worker text
);

-- Claims read only PENDING rows, so the claim index is partial.
CREATE INDEX tasks_claim_type ON tasks (type, priority DESC, created_at, seq)
    WHERE status = 'pending';

CREATE INDEX tasks_lease ON tasks (lease_expires_at) WHERE status = 'running';

CREATE INDEX tasks_worker ON tasks (worker_id, status);

CREATE INDEX tasks_user ON tasks (user_id, created_at);

CREATE INDEX tasks_created ON tasks (created_at DESC, seq DESC);

CREATE TABLE workers (
    id text PRIMARY KEY,
    name text NOT NULL,
    capabilities jsonb NOT NULL DEFAULT '[]',
    version text NOT NULL DEFAULT '',
    metadata jsonb NOT NULL DEFAULT '{}',
    max_concurrency integer NOT NULL DEFAULT 1,
    registered_at double precision NOT NULL,
    last_heartbeat_at double precision,
    status text NOT NULL DEFAULT 'ready',
    stats jsonb NOT NULL DEFAULT '{}',
    capacity jsonb NOT NULL DEFAULT '{}',
    session_token_hash text
);

CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    worker_id text NOT NULL REFERENCES workers(id) ON DELETE CASCADE,
    created_at double precision NOT NULL,
    last_heartbeat_at double precision NOT NULL
);

CREATE INDEX sessions_worker ON sessions (worker_id);
