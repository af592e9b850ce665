"""SQLite's writing of attempt endings (`AttemptEnd`, decided in `englog.domain.attempts`):
accepted results, lapsed leases and deadlines, deliveries lost in transit. Each runs
on a connection inside a transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection

from englog.domain.attempts import (
    AttemptEnd,
    accepted_end,
    judge,
    lapsed_end,
    lost_in_transit,
)
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import Disposition, ReportedResult, ResultDecision, Task, TaskStatus
from englog.store.records import LostDeliveries
from englog.store.sql import end_attempt_assignments
from englog.store.sqlite.rows import attempt, chunks, dumps, marks, task
from englog.store.sqlite.tasks import attempt_rows

_END_TASK = (
    f"UPDATE tasks SET {end_attempt_assignments(lambda name: ':' + name)}"
    " WHERE id = :id AND status = 'running' AND attempt = :attempt RETURNING *"
)
_CLOSE_RECORD = (
    "UPDATE task_attempts SET ended_at = ?, outcome = ?, error = ?"
    " WHERE task_id = ? AND attempt = ? AND ended_at IS NULL"
)


def end_attempt(conn: sqlite3.Connection, end: AttemptEnd, now: float) -> sqlite3.Row:
    """Write `end` (the task was read RUNNING at that attempt in this transaction) and
    close its attempt record; returns the task row as it is now."""
    conn.execute(_CLOSE_RECORD, (now, str(end.outcome), end.record_error, end.task_id, end.attempt))
    params = {
        "id": end.task_id,
        "attempt": end.attempt,
        "target": str(end.target),
        "now": now,
        "error": end.error,
        "result": dumps(end.result),
        "accepted_worker": end.accepted_worker,
        "run_after": end.run_after,
        "reassigned": int(end.reassigned),
    }
    updated: sqlite3.Row = conn.execute(_END_TASK, params).fetchone()
    return updated


def decide(
    conn: sqlite3.Connection,
    result: ReportedResult,
    now: float,
    policy: QueuePolicy,
    watched: Collection[str] = (),
) -> ResultDecision:
    """Judge one result and, when accepted, end its attempt."""
    row = conn.execute("SELECT * FROM tasks WHERE id = ?", (result.task_id,)).fetchone()
    refused = judge(result, row)
    if refused is not None:
        return refused
    updated = end_attempt(conn, accepted_end(result, row, now, policy), now)
    status = TaskStatus(updated["status"])
    final = None
    if status.terminal and result.task_id in watched:
        final = (task(updated), tuple(attempt(a) for a in attempt_rows(conn, result.task_id)))
    return ResultDecision(result.task_id, result.attempt, Disposition.ACCEPTED, status, final=final)


def requeue_expired(
    conn: sqlite3.Connection, now: float, policy: QueuePolicy, grace: float
) -> list[Task]:
    rows = conn.execute(
        "SELECT * FROM tasks WHERE status = 'running'"
        " AND (lease_expires_at < ? OR started_at + timeout_s + ? < ?)"
        " ORDER BY lease_expires_at, seq",
        (now, grace, now),
    ).fetchall()
    return [task(end_attempt(conn, lapsed_end(row, now, policy, grace), now)) for row in rows]


def requeue_lost(
    conn: sqlite3.Connection, lost: LostDeliveries, now: float, policy: QueuePolicy
) -> list[Task]:
    changed = []
    for chunk in chunks(lost.task_ids):
        rows = conn.execute(
            f"SELECT * FROM tasks WHERE status = 'running' AND worker_id = ?"
            f" AND id IN ({marks(len(chunk))}) ORDER BY seq",
            (lost.worker_id, *chunk),
        ).fetchall()
        for row in rows:
            if lost.still_current(row):
                end = lost_in_transit(row, lost.reason, now, policy)
                changed.append(task(end_attempt(conn, end, now)))
    return changed
