-- englog SQLite schema, version 8: accounts (issue 23). Names become unique (case
-- insensitive; a duplicate made before this version keeps its entries and is renamed
-- NAME-<first 8 of its id>), optional unique email, argon2id password hash, role and
-- disabled flag; API tokens move to their own table, named, with last use and expiry.
-- users.token_hash is no longer read: every token, today's included, is in api_tokens.
UPDATE users SET name = name || '-' || substr(id, 1, 8)
    WHERE EXISTS (
        SELECT 1 FROM users AS older
        WHERE lower(older.name) = lower(users.name)
          AND (older.created_at < users.created_at
               OR (older.created_at = users.created_at AND older.id < users.id))
    );

CREATE UNIQUE INDEX users_name_unique ON users (lower(name));

ALTER TABLE users ADD COLUMN email TEXT;

CREATE UNIQUE INDEX users_email_unique ON users (lower(email));

ALTER TABLE users ADD COLUMN password_hash TEXT;

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('member', 'operator', 'admin'));

ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;

-- kind 'api': a personal access token; 'web': the one behind a password sign-in.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'web')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    last_used_at REAL,
    expires_at REAL
);

CREATE INDEX api_tokens_user ON api_tokens (user_id, kind);

-- Today's tokens keep working: each user's becomes a token named "first".
INSERT INTO api_tokens (id, user_id, name, kind, token_hash, created_at)
    SELECT lower(hex(randomblob(16))), id, 'first', 'api', token_hash, created_at FROM users;

-- Sign-in throttling: failures per key ("account:<id>" or "address:<ip>"), shared by
-- replicas; a success clears its account's row.
CREATE TABLE signin_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure_at REAL NOT NULL
);

-- One-time invite links: only the code's hash is kept; used_at set once it is used.
CREATE TABLE invites (
    id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('member', 'operator', 'admin')),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);

-- Projects: entries keep naming theirs by name (entries.project); a project row gives
-- the name a description, a colour, a status and dates, and marks one default.
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    colour TEXT,
    status TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'completed', 'on_hold', 'cancelled')),
    is_default INTEGER NOT NULL DEFAULT 0,
    start_date TEXT,
    end_date TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE UNIQUE INDEX projects_user_name ON projects (user_id, name);
