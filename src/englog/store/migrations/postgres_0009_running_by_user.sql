-- englog PostgreSQL schema, version 9: indexes that a finished task no longer writes.
--
-- Every state change of a task is an UPDATE that cannot be HOT (`status` is in the
-- partial indexes' predicates), so each new row version goes into every index whose
-- predicate it meets. `tasks_worker` and `tasks_user` took one from every claim and
-- every result, though all their readers ask for RUNNING tasks of one worker, or one
-- user's tasks: both are now partial.
--
-- The per-user cap's count of running tasks (in `_CANDIDATES`, read by every capped
-- claim) gets an index of its own. Through `tasks_lease` it was a bitmap scan that
-- visited the heap for every entry, dead ones included, and every task leaves a dead
-- entry there when it stops running: during a 30,000-task drain the count read 21
-- buffers at the start and 1,881 at the end (0.16 -> 4.7 ms per claim) until
-- autovacuum came by. Tasks without a user (the admin's) are not capped, so they are
-- not in it at all.
CREATE INDEX tasks_running_user ON tasks (user_id)
    WHERE status = 'running' AND user_id IS NOT NULL;

DROP INDEX tasks_worker;
CREATE INDEX tasks_worker ON tasks (worker_id) WHERE status = 'running';

DROP INDEX tasks_user;
CREATE INDEX tasks_user ON tasks (user_id, created_at) WHERE user_id IS NOT NULL;

-- Built at the first start of this version, in the migrations' transaction: on a large
-- `tasks` table that takes a while, and writes from replicas still on the previous
-- version wait for it (their queries are served by these indexes as well).
