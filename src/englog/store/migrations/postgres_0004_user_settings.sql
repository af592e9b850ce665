-- englog PostgreSQL schema, version 4: each person's time zone (NULL until set: read
-- as UTC) and first day of the week.
ALTER TABLE users ADD COLUMN timezone text;
ALTER TABLE users ADD COLUMN week_start text NOT NULL DEFAULT 'monday';
