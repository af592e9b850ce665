-- englog SQLite schema, version 9: each person's running timer (at most one; it ends
-- as an entry) and optional weekly target (hours, and a share of focus work).
CREATE TABLE timers (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    fields TEXT NOT NULL,
    start_time TEXT NOT NULL,
    created_at REAL NOT NULL
);
ALTER TABLE users ADD COLUMN weekly_target_hours REAL;
ALTER TABLE users ADD COLUMN focus_target REAL;
