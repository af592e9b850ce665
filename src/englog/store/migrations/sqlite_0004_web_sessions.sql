-- englog SQLite schema, version 4: web app sessions (hashes only).
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);

-- Expired sessions are pruned by age.
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
