"""PostgreSQL reads of tasks: lists, statuses, details with their attempt records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from englog.domain.tasks import Task, TaskAttempt
from englog.store.records import TaskQuery
from englog.store.rows import attempt_from_row, task_from_row

# The status of those of $1 the user $2 may see (any, for NULL): `Store.task_statuses`.
STATUSES = (
    "SELECT id, status FROM tasks WHERE id = ANY($1::text[]) AND ($2::text IS NULL OR user_id = $2)"
)

# A worker's RUNNING tasks, oldest first (`Store.running_tasks`).
RUNNING_OF = (
    "SELECT * FROM tasks WHERE worker_id = $1 AND status = 'running' ORDER BY started_at, seq"
)


def list_query(query: TaskQuery) -> tuple[str, list[Any]]:
    """The SELECT for `list_tasks` (newest first) and its arguments."""
    filters = query.filters()
    where = ["true", *(f"{column} = ${i}" for i, column in enumerate(filters, 1))]
    args: list[Any] = list(filters.values())
    sql = (
        f"SELECT * FROM tasks WHERE {' AND '.join(where)}"
        f" ORDER BY created_at DESC, seq DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
    )
    return sql, [*args, max(0, query.limit), max(0, query.offset)]


async def attempts_of(
    conn: asyncpg.Connection, task_ids: Sequence[str]
) -> dict[str, list[TaskAttempt]]:
    """The attempt records of each of `task_ids`, in attempt order."""
    rows = await conn.fetch(
        "SELECT * FROM task_attempts WHERE task_id = ANY($1::text[]) ORDER BY task_id, attempt",
        list(task_ids),
    )
    attempts: dict[str, list[TaskAttempt]] = {task_id: [] for task_id in task_ids}
    for row in rows:
        attempts[row["task_id"]].append(attempt_from_row(row))
    return attempts


async def details(
    conn: asyncpg.Connection, task_ids: Sequence[str], user_id: str | None
) -> list[tuple[Task, list[TaskAttempt]]]:
    """Those of `task_ids` the user may see (any, for None) with their attempt records,
    in the order given: two statements for any number of tasks."""
    rows = await conn.fetch(
        "SELECT * FROM tasks WHERE id = ANY($1::text[]) AND ($2::text IS NULL OR user_id = $2)",
        list(dict.fromkeys(task_ids)),
        user_id,
    )
    found = {row["id"]: task_from_row(row) for row in rows}
    attempts = await attempts_of(conn, list(found))
    return [(found[t], attempts[t]) for t in task_ids if t in found]
