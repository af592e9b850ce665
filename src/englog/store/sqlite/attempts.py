"""SQLite's writing of attempt endings (`AttemptEnd`, decided in `englog.domain.attempts`):
accepted results, lapsed leases and deadlines, deliveries lost in transit. Each runs
on a connection inside a transaction."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Collection, Sequence

from englog.domain.attempts import (
    AttemptEnd,
    accepted_end,
    completions,
    judge,
    lapsed_end,
    lost_in_transit,
)
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import (
    Disposition,
    ReportedResult,
    ResultDecision,
    Task,
    TaskStatus,
)
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


def _end_params(end: AttemptEnd, now: float) -> dict[str, object]:
    return {
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


def _close_record(conn: sqlite3.Connection, end: AttemptEnd, now: float) -> None:
    conn.execute(_CLOSE_RECORD, (now, str(end.outcome), end.record_error, end.task_id, end.attempt))


def end_attempt(conn: sqlite3.Connection, end: AttemptEnd, now: float) -> sqlite3.Row:
    """Write `end` (the task was read RUNNING at that attempt in this transaction) and
    close its attempt record; returns the task row as it is now."""
    _close_record(conn, end, now)
    updated: sqlite3.Row = conn.execute(_END_TASK, _end_params(end, now)).fetchone()
    return updated


# Completions judged and written in one statement, a row of `v` each. Its WHERE is
# `judge`'s fence (that attempt, on that worker, running, its result not accepted yet), so
# a row comes back exactly when `judge` would accept; what a completion ends with
# (`completion_end`) is the same for every row, so it is written as constants. Only the
# status comes back unless a waiting request wants the whole task (16 us more a row).
_COMPLETION_VALUES = {
    "target": "'completed'",
    "run_after": "tasks.run_after",
    "result": "v.result",
    "error": "NULL",
    "reassigned": "0",
    "accepted_worker": "v.worker_id",
    "now": "v.now",
}
_COMPLETE = (
    "WITH v(id, attempt, worker_id, result, now) AS (VALUES {rows})"
    f" UPDATE tasks SET {end_attempt_assignments(_COMPLETION_VALUES.__getitem__, 'tasks.')}"
    " FROM v WHERE tasks.id = v.id AND tasks.status = 'running'"
    " AND tasks.attempt = v.attempt AND tasks.worker_id = v.worker_id"
    " AND (tasks.accepted_attempt IS NOT v.attempt OR tasks.accepted_worker IS NOT v.worker_id)"
    " RETURNING {returning}"
)


@functools.cache
def _complete_sql(rows: int, full: bool) -> str:
    returning = "*" if full else "id, status"
    return _COMPLETE.format(rows=", ".join(["(?, ?, ?, ?, ?)"] * rows), returning=returning)


def _padded(n: int) -> int:
    """`n` rounded up to a power of two: a few statement texts for every report size,
    so they stay in the connection's statement cache (128 texts)."""
    return 1 << (n - 1).bit_length()


def _complete(
    conn: sqlite3.Connection, results: Sequence[ReportedResult], now: float, full: bool
) -> dict[str, sqlite3.Row]:
    """`completions`, each judged and written as `judge` and `completion_end` would, their
    attempt records closed: the rows of those accepted, by task id. IN_CHUNK results a
    statement (a report may hold thousands; SQLite takes 32,766 values at most), padded
    with rows of NULLs, which match no task (9 us a result instead of 26 one by one,
    measured in a report of 32)."""
    accepted: dict[str, sqlite3.Row] = {}
    for chunk in chunks(results):
        params: list[object] = []
        for r in chunk:
            params += (r.task_id, r.attempt, r.worker_id, dumps(r.result), now)
        padded = _padded(len(chunk))
        params += (None,) * (5 * (padded - len(chunk)))
        accepted.update(
            (row["id"], row) for row in conn.execute(_complete_sql(padded, full), params)
        )
    conn.executemany(
        _CLOSE_RECORD,
        [(now, "completed", None, r.task_id, r.attempt) for r in results if r.task_id in accepted],
    )
    return accepted


def decide_all(
    conn: sqlite3.Connection,
    results: Sequence[ReportedResult],
    now: float,
    policy: QueuePolicy,
    watched: Collection[str] = (),
) -> list[ResultDecision]:
    """Every result of a report judged, in its order: its `completions` in one statement
    (the usual report), the others, and any the statement refused, one by one."""
    batch = completions(results)
    full = any(r.task_id in watched for r in batch)
    accepted = _complete(conn, batch, now, full) if batch else {}
    return [
        _accepted(conn, r, row, r.task_id in watched)
        if (row := accepted.get(r.task_id)) is not None
        else decide(conn, r, now, policy, watched)
        for r in results
    ]


def decide(
    conn: sqlite3.Connection,
    result: ReportedResult,
    now: float,
    policy: QueuePolicy,
    watched: Collection[str] = (),
) -> ResultDecision:
    """Judge one result from its task's row and, when accepted, end its attempt."""
    row = conn.execute("SELECT * FROM tasks WHERE id = ?", (result.task_id,)).fetchone()
    refused = judge(result, row)
    if refused is not None:
        return refused
    updated = end_attempt(conn, accepted_end(result, row, now, policy), now)
    return _accepted(conn, result, updated, result.task_id in watched)


def _accepted(
    conn: sqlite3.Connection, result: ReportedResult, updated: sqlite3.Row, wanted: bool
) -> ResultDecision:
    status = TaskStatus(updated["status"])
    final = None
    if status.terminal and wanted:
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
