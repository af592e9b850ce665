-- englog PostgreSQL schema, version 3: web app sessions (hashes only).
CREATE TABLE web_sessions (
    id_hash text PRIMARY KEY,
    token_hash text NOT NULL,
    csrf text NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL
);

-- Expired sessions are pruned by age.
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
