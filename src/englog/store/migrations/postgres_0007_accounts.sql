-- englog PostgreSQL schema, version 7: accounts (issue 23); see sqlite_0008_accounts.sql.
-- users.token_hash is no longer read: every token, today's included, is in api_tokens.
UPDATE users SET name = name || '-' || substr(id, 1, 8)
    WHERE EXISTS (
        SELECT 1 FROM users AS older
        WHERE lower(older.name) = lower(users.name)
          AND (older.created_at < users.created_at
               OR (older.created_at = users.created_at AND older.id < users.id))
    );

CREATE UNIQUE INDEX users_name_unique ON users (lower(name));

ALTER TABLE users ADD COLUMN email text;

CREATE UNIQUE INDEX users_email_unique ON users (lower(email));

ALTER TABLE users ADD COLUMN password_hash text;

ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'member'
    CHECK (role IN ('member', 'operator', 'admin'));

ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;

CREATE TABLE api_tokens (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name text NOT NULL,
    kind text NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'web')),
    token_hash text NOT NULL UNIQUE,
    created_at double precision NOT NULL,
    last_used_at double precision,
    expires_at double precision
);

CREATE INDEX api_tokens_user ON api_tokens (user_id, kind);

INSERT INTO api_tokens (id, user_id, name, kind, token_hash, created_at)
    SELECT md5(random()::text || id), id, 'first', 'api', token_hash, created_at FROM users;

CREATE TABLE signin_failures (
    key text PRIMARY KEY,
    failures integer NOT NULL,
    last_failure_at double precision NOT NULL
);

CREATE TABLE invites (
    id text PRIMARY KEY,
    code_hash text NOT NULL UNIQUE,
    role text NOT NULL CHECK (role IN ('member', 'operator', 'admin')),
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    used_at double precision
);

CREATE TABLE projects (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name text NOT NULL,
    description text,
    colour text,
    status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'completed', 'on_hold', 'cancelled')),
    is_default boolean NOT NULL DEFAULT false,
    start_date text,
    end_date text,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
);

CREATE UNIQUE INDEX projects_user_name ON projects (user_id, name);
