"""Rows into domain objects, for both backends. `decode` turns a JSON column into its
value: SQLite keeps JSON as text, PostgreSQL's driver already decodes jsonb."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from englog.domain.attempts import TaskRow as Row
from englog.domain.entries import Entry
from englog.domain.tasks import AttemptOutcome, NewTask, Task, TaskAttempt, TaskStatus
from englog.store.records import Lease, Session, WorkerInfo, WorkerRecord

__all__ = [
    "Row",
    "attempt_from_row",
    "entry_from_row",
    "inserted_task",
    "session_from_row",
    "task_from_row",
    "worker_from_row",
]


def _same(value: Any) -> Any:
    return value


# Columns whose stored value is the field's value as is.
_TASK_AS_IS = (
    "id",
    "type",
    "user_id",
    "priority",
    "attempt",
    "max_attempts",
    "timeout_s",
    "worker_id",
    "lease_expires_at",
    "progress",
    "progress_message",
    "error",
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
    "run_after",
    "reassignments",
)
_ATTEMPT_AS_IS = ("task_id", "attempt", "worker_id", "started_at", "ended_at", "error")
_ENTRY_AS_IS = (
    "id",
    "user_id",
    "title",
    "description",
    "type",
    "project",
    "value_rating",
    "impact_level",
)
_WORKER_AS_IS = ("id", "name", "version", "max_concurrency")
_SESSION_AS_IS = ("token_hash", "worker_id", "created_at", "last_heartbeat_at", "identity")


def task_from_row(row: Row, decode: Callable[[Any], Any] = _same) -> Task:
    return Task(
        **{name: row[name] for name in _TASK_AS_IS},
        payload=decode(row["payload"]),
        status=TaskStatus(row["status"]),
        result=decode(row["result"]),
        cancel_requested=bool(row["cancel_requested"]),
        metadata=decode(row["metadata"]),
    )


def inserted_task(
    task_id: str, new: NewTask, now: float, lease: Lease | None, payload: Any, metadata: Any
) -> Task:
    """A task as its insert stored it, made from what was inserted instead of read back
    (a returned row and its conversion were a fifth of a keyed submission's CPU on
    SQLite): RUNNING for `lease`'s worker from `now`, else PENDING; `payload` and
    `metadata` as the store gives them back; every other column the table's default."""
    leased = lease is not None
    return Task(
        id=task_id,
        type=new.type,
        payload=payload,
        status=TaskStatus.RUNNING if leased else TaskStatus.PENDING,
        user_id=new.user_id,
        priority=new.priority,
        max_attempts=new.max_attempts,
        timeout_s=float(new.timeout_s),
        worker_id=lease.worker_id if lease is not None else None,
        lease_expires_at=lease.expires_at if lease is not None else None,
        created_at=now,
        updated_at=now,
        started_at=now if leased else None,
        run_after=now,
        metadata=metadata,
    )


def attempt_from_row(row: Row) -> TaskAttempt:
    outcome = row["outcome"]
    return TaskAttempt(
        **{name: row[name] for name in _ATTEMPT_AS_IS},
        outcome=None if outcome is None else AttemptOutcome(outcome),
    )


def entry_from_row(row: Row, decode: Callable[[Any], Any] = _same) -> Entry:
    return Entry(
        **{name: row[name] for name in _ENTRY_AS_IS},
        tags=decode(row["tags"]),
        start_time=datetime.fromisoformat(row["start_time"]),
        end_time=datetime.fromisoformat(row["end_time"]),
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
    )


def worker_from_row(row: Row, decode: Callable[[Any], Any] = _same) -> WorkerRecord:
    info = WorkerInfo(
        **{name: row[name] for name in _WORKER_AS_IS},
        capabilities=tuple(decode(row["capabilities"])),
        metadata=decode(row["metadata"]),
    )
    return WorkerRecord(
        info=info,
        registered_at=row["registered_at"],
        last_heartbeat_at=row["last_heartbeat_at"],
        status=row["status"],
        stats=decode(row["stats"]),
        capacity=decode(row["capacity"]),
        session_token_hash=row["session_token_hash"],
    )


def session_from_row(row: Row) -> Session:
    return Session(**{name: row[name] for name in _SESSION_AS_IS})
