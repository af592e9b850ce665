-- englog SQLite schema, version 5: each person's time zone (NULL until set: read as
-- UTC) and first day of the week.
ALTER TABLE users ADD COLUMN timezone TEXT;
ALTER TABLE users ADD COLUMN week_start TEXT NOT NULL DEFAULT 'monday';
