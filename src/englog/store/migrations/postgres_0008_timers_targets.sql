-- englog PostgreSQL schema, version 8: each person's running timer (at most one; it
-- ends as an entry) and optional weekly target (hours, and a share of focus work).
CREATE TABLE timers (
    user_id text PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    id text NOT NULL,
    fields text NOT NULL,
    start_time text NOT NULL,
    created_at double precision NOT NULL
);
ALTER TABLE users ADD COLUMN weekly_target_hours double precision;
ALTER TABLE users ADD COLUMN focus_target double precision;
