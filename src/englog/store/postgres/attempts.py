"""PostgreSQL's writing of attempt endings (`AttemptEnd`, decided in
`englog.domain.attempts`): accepted results, lapsed leases and deadlines, deliveries
lost in transit. Every ending is fenced on (status, attempt), so a requeue and a result
racing across replicas produce exactly one winner."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Sequence
from typing import Any

import asyncpg

from englog.domain.attempts import (
    AttemptEnd,
    accepted_end,
    judge,
    lapsed_end,
    lost_in_transit,
)
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import (
    AttemptOutcome,
    Disposition,
    ReportedResult,
    ResultDecision,
    Task,
    TaskAttempt,
    TaskStatus,
)
from englog.store.base import StoreError
from englog.store.postgres.listener import notify
from englog.store.postgres.reads import attempts_of
from englog.store.records import LostDeliveries
from englog.store.rows import task_from_row
from englog.store.sql import end_attempt_assignments

_PARAMS = {"now": "$1", "result": "c.result::jsonb"}

# Statements that reach their tasks by key say `status IS NOT DISTINCT FROM 'running'`
# (the same test: status is NOT NULL) rather than `status = 'running'`: the planner
# cannot match that to the partial indexes' predicates, so it cannot read a whole
# partial index (tasks_worker, tasks_lease) in place of the keys, which it did with
# statistics older than the queue (they always are: the queue changes faster than
# autovacuum analyzes). tests/unit/test_store_postgres_plans.py holds the plans.

# The ends arrive as one array per field; the attempt record of each changed task is
# closed in the same statement.
_END_ATTEMPTS = f"""
WITH c AS (
    SELECT * FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::float8[], $9::int[], $10::text[], $11::text[])
        AS c(id, attempt, target, error, result, accepted_worker, run_after, reassigned,
             outcome, record_error)
), ended AS (
    UPDATE tasks AS t SET {end_attempt_assignments(lambda n: _PARAMS.get(n, "c." + n), "t.")}
    FROM c
    WHERE t.id = c.id AND t.status IS NOT DISTINCT FROM 'running' AND t.attempt = c.attempt
    RETURNING t.*
), closed AS (
    UPDATE task_attempts AS a SET ended_at = $1, outcome = c.outcome, error = c.record_error
    FROM c
    WHERE a.task_id = c.id AND a.attempt = c.attempt AND a.ended_at IS NULL
        AND c.id IN (SELECT id FROM ended)
)
SELECT * FROM ended
"""


async def end_attempts(
    conn: asyncpg.Connection, ends: Sequence[AttemptEnd], now: float
) -> list[Task]:
    """Write `ends` in one statement; returns the tasks changed, in the order of `ends`.
    Any task made PENDING is announced to every replica."""
    if not ends:
        return []
    rows = await conn.fetch(
        _END_ATTEMPTS,
        now,
        [e.task_id for e in ends],
        [e.attempt for e in ends],
        [str(e.target) for e in ends],
        [e.error for e in ends],
        [None if e.result is None else json.dumps(e.result) for e in ends],
        [e.accepted_worker for e in ends],
        [e.run_after for e in ends],
        [int(e.reassigned) for e in ends],
        [str(e.outcome) for e in ends],
        [e.record_error for e in ends],
    )
    order = {e.task_id: i for i, e in enumerate(ends)}
    tasks = sorted((task_from_row(row) for row in rows), key=lambda t: order[t.id])
    if any(t.status is TaskStatus.PENDING for t in tasks):
        await notify(conn)
    return tasks


async def _finals(
    conn: asyncpg.Connection, updated: Sequence[Task], watched: Collection[str]
) -> dict[str, tuple[Task, tuple[TaskAttempt, ...]]]:
    """The watched tasks among `updated` that finished, with their attempt records, as
    this transaction leaves them (see Store.report_results)."""
    done = {t.id: t for t in updated if t.status.terminal and t.id in watched}
    if not done:
        return {}
    attempts = await attempts_of(conn, list(done))
    return {task_id: (task, tuple(attempts[task_id])) for task_id, task in done.items()}


def _decide(
    result: ReportedResult, rows: dict[str, dict[str, Any]], now: float, policy: QueuePolicy
) -> tuple[ResultDecision, AttemptEnd | None]:
    """Judge one result against the locked row, and update that in-memory row so a
    second copy of the result in the same report is judged a duplicate."""
    row = rows.get(result.task_id)
    refused = judge(result, row)
    if refused is not None:
        return refused, None
    assert row is not None
    end = accepted_end(result, row, now, policy)
    row.update(
        status=str(end.target), accepted_attempt=row["attempt"], accepted_worker=result.worker_id
    )
    if end.target is TaskStatus.PENDING:
        row.update(attempt=row["attempt"] + 1, worker_id=None)
    decision = ResultDecision(result.task_id, result.attempt, Disposition.ACCEPTED, end.target)
    return decision, end


async def report_results(
    conn: asyncpg.Connection,
    results: Sequence[ReportedResult],
    now: float,
    policy: QueuePolicy,
    watched: Collection[str],
) -> list[ResultDecision]:
    # Waits (no SKIP LOCKED) for a racing reaper or report: the fence must judge the
    # row as the winner left it. Locked in seq order: no deadlocks.
    locked = await conn.fetch(
        "SELECT * FROM tasks WHERE id = ANY($1::text[]) ORDER BY seq FOR UPDATE",
        list({r.task_id for r in results}),
    )
    rows = {row["id"]: dict(row) for row in locked}
    decisions, ends = [], []
    for result in results:
        decision, end = _decide(result, rows, now, policy)
        decisions.append(decision)
        if end is not None:
            ends.append(end)
    updated = await end_attempts(conn, ends, now)
    if len(updated) != len(ends):  # impossible while the rows are locked
        raise StoreError("result report lost a race it should have been locked against")
    finals = await _finals(conn, updated, watched)
    if not finals:
        return decisions
    return [
        dataclasses.replace(d, final=finals[d.task_id])
        if d.disposition is Disposition.ACCEPTED and d.task_id in finals
        else d
        for d in decisions
    ]


# The common report, completed results of distinct tasks, in one statement and so in one
# round trip with no BEGIN or COMMIT of its own (a statement outside a transaction block
# commits alone, as durably). A completed result needs nothing of its row to know how
# its attempt ends (`accepted_end`: COMPLETED, no error), so the fence `judge` applies
# is the WHERE: the task RUNNING that very attempt on that very worker. The rows are
# locked in seq order, as `report_results` locks them. The attempt history of each
# finished task named in $6 comes back as arrays, the closed record as this statement
# leaves it (a CTE does not see its siblings' writes, hence `closed` joined in).
_COMPLETE_PARAMS = {
    "target": "'completed'",
    "run_after": "t.run_after",
    "result": "c.result::jsonb",
    "error": "NULL",
    "reassigned": "0",
    "accepted_worker": "c.worker_id",
    "now": "$1",
}
_HISTORY = ("attempt", "worker_id", "started_at", "ended_at", "outcome", "error")


def ending(returning: str) -> str:
    """The completion's CTEs, the ended rows returning `returning`; the two statements
    below differ only in what they return."""
    return f"""
WITH c AS (
    SELECT * FROM unnest($2::text[], $3::int[], $4::text[], $5::text[])
        AS c(id, attempt, worker_id, result)
), locked AS (
    SELECT t.seq FROM tasks t JOIN c ON t.id = c.id
    WHERE t.status IS NOT DISTINCT FROM 'running' AND t.attempt = c.attempt
        AND t.worker_id = c.worker_id
    ORDER BY t.seq FOR UPDATE OF t
), ended AS (
    UPDATE tasks AS t SET {end_attempt_assignments(_COMPLETE_PARAMS.__getitem__, "t.")}
    FROM c
    WHERE t.seq IN (SELECT seq FROM locked) AND t.id = c.id
        AND t.status IS NOT DISTINCT FROM 'running' AND t.attempt = c.attempt
        AND t.worker_id = c.worker_id
    RETURNING {returning}
), closed AS (
    UPDATE task_attempts AS a SET ended_at = $1, outcome = 'completed', error = NULL
    FROM ended
    WHERE a.task_id = ended.id AND a.attempt = ended.attempt AND a.ended_at IS NULL
    RETURNING a.*
)"""


_COMPLETE = (
    ending("t.*")
    + f"""
, history AS (
    SELECT * FROM closed WHERE task_id = ANY($6::text[])
    UNION ALL
    SELECT a.* FROM task_attempts a JOIN ended ON a.task_id = ended.id
    WHERE ended.id = ANY($6::text[]) AND NOT EXISTS (
        SELECT 1 FROM closed WHERE closed.task_id = a.task_id AND closed.attempt = a.attempt)
), finals AS (
    SELECT task_id, {", ".join(f"array_agg({c} ORDER BY attempt) AS h_{c}" for c in _HISTORY)}
    FROM history GROUP BY task_id
)
SELECT ended.*, {", ".join(f"finals.h_{c}" for c in _HISTORY)}
FROM ended LEFT JOIN finals ON finals.task_id = ended.id
"""
)
# The same when no request waits on any of the tasks (a drain, a busy worker): each
# accepted result's id and attempt are all its decision needs, so no row comes back
# whole and none is converted, and the statement has no history to plan.
_COMPLETE_QUIET = (
    ending("t.id, t.attempt")
    + """
SELECT id, attempt FROM ended
"""
)


def complete_args(
    results: Sequence[ReportedResult], now: float, watched: Collection[str]
) -> tuple[str, list[Any]]:
    """`_COMPLETE` and its arguments, for `completions(...)`; `_COMPLETE_QUIET` when
    none of them is watched."""
    args: list[Any] = [
        now,
        [r.task_id for r in results],
        [r.attempt for r in results],
        [r.worker_id for r in results],
        [None if r.result is None else json.dumps(r.result) for r in results],
    ]
    shown = [r.task_id for r in results if r.task_id in watched]
    return (_COMPLETE, [*args, shown]) if shown else (_COMPLETE_QUIET, args)


def completed_decisions(rows: Sequence[asyncpg.Record]) -> dict[str, ResultDecision]:
    """The accepted decisions of `_COMPLETE`'s rows, each watched one with its final
    task and attempt history; results without a row were not accepted there."""
    out = {}
    for row in rows:
        if "h_attempt" not in row:  # a key test: `_COMPLETE_QUIET`'s: nobody waits on it
            out[row["id"]] = ResultDecision(
                row["id"], row["attempt"], Disposition.ACCEPTED, TaskStatus.COMPLETED
            )
            continue
        task = task_from_row(row)
        final = None
        if row["h_attempt"] is not None:
            history = zip(*(row[f"h_{c}"] for c in _HISTORY), strict=True)
            final = (task, tuple(_attempt(task.id, *h) for h in history))
        out[task.id] = ResultDecision(
            task.id, task.attempt, Disposition.ACCEPTED, TaskStatus.COMPLETED, final=final
        )
    return out


def _attempt(task_id: str, *values: Any) -> TaskAttempt:
    """One attempt record from `_HISTORY`'s values."""
    attempt, worker_id, started_at, ended_at, outcome, error = values
    outcome = None if outcome is None else AttemptOutcome(outcome)
    return TaskAttempt(task_id, attempt, worker_id, started_at, ended_at, outcome, error)


async def requeue_expired(
    conn: asyncpg.Connection, now: float, policy: QueuePolicy, grace: float
) -> list[Task]:
    # SKIP LOCKED: a row another replica is reaping (or a result is being reported
    # for) is that transaction's to decide.
    rows = await conn.fetch(
        "SELECT * FROM tasks WHERE status = 'running'"
        " AND (lease_expires_at < $1 OR started_at + timeout_s + $2 < $1)"
        " ORDER BY lease_expires_at, seq FOR UPDATE SKIP LOCKED",
        now,
        grace,
    )
    return await end_attempts(conn, [lapsed_end(row, now, policy, grace) for row in rows], now)


async def requeue_lost(
    conn: asyncpg.Connection, lost: LostDeliveries, now: float, policy: QueuePolicy
) -> list[Task]:
    rows = await conn.fetch(
        "SELECT * FROM tasks WHERE status = 'running' AND worker_id = $1"
        " AND id = ANY($2::text[]) ORDER BY seq FOR UPDATE",
        lost.worker_id,
        lost.task_ids,
    )
    current = [row for row in rows if lost.still_current(row)]
    ends = [lost_in_transit(row, lost.reason, now, policy) for row in current]
    return await end_attempts(conn, ends, now)
