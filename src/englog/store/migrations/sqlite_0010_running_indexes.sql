-- englog SQLite schema, version 10: fewer index entries moved per state change.
-- `tasks_lease` (status, lease_expires_at) served no query that `tasks_claim_type`'s
-- status prefix does not serve as well: the running tasks are few (the workers' slots)
-- and the expiry scan's OR on started_at needs every one of them anyway. Yet each lease,
-- renewal (every running task, every heartbeat) and ending moved its entry. And
-- `tasks_worker` (worker_id, status) is only ever asked for running tasks, yet kept an
-- entry for every finished task for good and moved one at each state change: partial,
-- a task enters it when leased and leaves when its attempt ends.
DROP INDEX IF EXISTS tasks_lease;
DROP INDEX IF EXISTS tasks_worker;
CREATE INDEX tasks_worker ON tasks (worker_id) WHERE status = 'running';
