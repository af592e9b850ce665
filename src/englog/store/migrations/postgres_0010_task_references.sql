-- englog PostgreSQL schema, version 10: attempt records and idempotency keys name their
-- task without a foreign key.
--
-- A foreign key checks every inserted row against `tasks` with a query of its own that
-- also locks the task row (FOR KEY SHARE): a claim's or a submission's attempt record,
-- and every key of a keyed submission, paid it. In a keyed batch of 1,000 the keys'
-- insert took 19-22 ms, 12-15 without the check; 60,000 tasks queued in batches cost
-- PostgreSQL 15-18 us of CPU each, 11-12 without (docs/benchmarks.md, round 12).
--
-- What the keys' ON DELETE CASCADE did, the only two deletions of tasks now do in the
-- same statement or transaction (`PostgresStore.prune_finished`, `delete_user`). A key
-- or an attempt record whose task is gone would only be dead weight: every read of
-- either joins or filters by the task.
ALTER TABLE task_attempts DROP CONSTRAINT IF EXISTS task_attempts_task_id_fkey;
ALTER TABLE idempotency_keys DROP CONSTRAINT IF EXISTS idempotency_keys_task_id_fkey;
