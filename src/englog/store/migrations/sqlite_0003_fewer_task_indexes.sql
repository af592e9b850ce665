-- Every index on `tasks` is rewritten by each state change (submit, lease, result) and
-- its pages are synced with the commit. `tasks_claim` served no query the per-type
-- claim index `tasks_claim_type` (status, type, priority DESC, created_at, seq) does
-- not serve as well: claims, has_pending and the pending counts all filter on status
-- first, and claims on type too.
DROP INDEX IF EXISTS tasks_claim;
