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

from englog.domain.attempts import AttemptEnd, accepted_end, judge, lapsed_end, lost_in_transit
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import (
    Disposition,
    ReportedResult,
    ResultDecision,
    Task,
    TaskAttempt,
    TaskStatus,
)
from englog.store.base import StoreError
from englog.store.postgres.listener import notify
from englog.store.postgres.tasks import attempts_of
from englog.store.records import LostDeliveries
from englog.store.rows import task_from_row
from englog.store.sql import end_attempt_assignments

_PARAMS = {"now": "$1", "result": "c.result::jsonb"}

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
    WHERE t.id = c.id AND t.status = 'running' AND t.attempt = c.attempt
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
