-- englog PostgreSQL schema, version 2: attempt history, idempotency keys, retention
-- (the SQLite version 2 in PostgreSQL types).

-- One row per delivery of a task; ended_at/outcome stay NULL while it runs.
-- outcome: completed | failed | cancelled | lost | expired | timed_out.
CREATE TABLE task_attempts (
    task_id text NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    worker_id text NOT NULL,
    started_at double precision NOT NULL,
    ended_at double precision,
    outcome text,
    error text,
    PRIMARY KEY (task_id, attempt)
);

-- scope is the submitting user's id, '' for the admin.
CREATE TABLE idempotency_keys (
    scope text NOT NULL,
    key text NOT NULL,
    fingerprint text NOT NULL,
    task_id text NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    created_at double precision NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_task ON idempotency_keys (task_id);

-- Retention pruning walks finished tasks oldest first.
CREATE INDEX tasks_finished ON tasks (completed_at) WHERE completed_at IS NOT NULL;

-- Dead-worker detection scans sessions by age.
CREATE INDEX sessions_heartbeat ON sessions (last_heartbeat_at);
