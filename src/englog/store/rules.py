"""What both stores decide the same way, as pure functions of a row, so SQLite and
PostgreSQL cannot drift apart: how a reported result is judged (accepted, duplicate,
stale), which status it leads to, what taking a task back from its worker does, the
checks and conversions of entry fields, and how rows become domain objects. Each store
only reads the rows and writes the outcome with its own SQL."""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from englog.domain.entries import Entry
from englog.domain.tasks import (
    AttemptOutcome,
    Disposition,
    NewTask,
    ReportedResult,
    ResultDecision,
    ResultOutcome,
    Task,
    TaskAttempt,
    TaskStatus,
    next_status_after_failure,
)
from englog.store.base import Claim, Session, WorkerInfo, WorkerRecord


class Row(Protocol):
    """sqlite3.Row, asyncpg.Record and dicts all answer row["column"]."""

    def __getitem__(self, key: str, /) -> Any: ...


# --- migrations ------------------------------------------------------------------------


def migration_files(pattern: re.Pattern[str]) -> list[tuple[int, str, str]]:
    """(version, name, script) of the packaged migrations whose names match, in order."""
    root = importlib.resources.files("englog.store.migrations")
    found = []
    for item in root.iterdir():
        match = pattern.match(item.name)
        if match:
            found.append((int(match.group(1)), item.name, item.read_text(encoding="utf-8")))
    return sorted(found)


# --- values ------------------------------------------------------------------------------


def instant(value: datetime) -> float:
    """Unix seconds; a naive datetime is taken as UTC so range queries stay total."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def as_datetime(value: Any, field_name: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    raise ValueError(f"{field_name} must be a datetime")


def plain(value: Any) -> Any:
    """An enum's value, anything else as is."""
    return getattr(value, "value", value)


# --- entries -----------------------------------------------------------------------------

ENTRY_EDITABLE = frozenset(
    {
        "title",
        "description",
        "type",
        "project",
        "tags",
        "start_time",
        "end_time",
        "value_rating",
        "impact_level",
    }
)
ENTRY_NULLABLE = frozenset({"description", "project"})


def check_entry_changes(changes: Mapping[str, Any]) -> None:
    unknown = set(changes) - ENTRY_EDITABLE
    if unknown:
        raise ValueError(f"entries have no editable field(s) {sorted(unknown)}")
    nulled = sorted(k for k, v in changes.items() if v is None and k not in ENTRY_NULLABLE)
    if nulled:
        raise ValueError(f"field(s) {nulled} cannot be null")


# --- task state --------------------------------------------------------------------------


def judge(result: ReportedResult, row: Row | None) -> ResultDecision | None:
    """The fence: None when the result is accepted (the task runs that very attempt on
    that very worker), else the decision that refuses it."""

    def decision(disposition: Disposition, status: TaskStatus | None, detail: str) -> Any:
        return ResultDecision(result.task_id, result.attempt, disposition, status, detail)

    if row is None:
        return decision(Disposition.UNKNOWN_TASK, None, "no such task")
    status = TaskStatus(row["status"])
    if (row["accepted_attempt"], row["accepted_worker"]) == (result.attempt, result.worker_id):
        return decision(Disposition.DUPLICATE, status, "this attempt's result was accepted")
    current = (row["attempt"], row["worker_id"]) == (result.attempt, result.worker_id)
    if status is not TaskStatus.RUNNING or not current:
        detail = f"task is {status} at attempt {row['attempt']} (worker {row['worker_id']})"
        return decision(Disposition.STALE, status, detail)
    return None


def target_for(result: ReportedResult, row: Row) -> TaskStatus:
    """Where an accepted result takes its task."""
    if result.outcome is ResultOutcome.COMPLETED:
        return TaskStatus.COMPLETED
    if result.outcome is ResultOutcome.CANCELLED or row["cancel_requested"]:
        return TaskStatus.CANCELLED  # a failure after a cancel request is not retried
    return next_status_after_failure(
        row["attempt"], row["max_attempts"], result.retriable, row["reassignments"]
    )


def take_back(row: Row, reason: str, max_reassignments: int) -> tuple[TaskStatus, str]:
    """A reassignment (base.py "Taking a task back"): not the task's failure, but capped.
    Returns the task's next status and its error."""
    if row["cancel_requested"]:
        return TaskStatus.CANCELLED, reason  # nobody wants another attempt
    if row["reassignments"] < max_reassignments:
        return TaskStatus.PENDING, reason
    return TaskStatus.FAILED, (
        f"{reason}; taken back from its worker {row['reassignments']} times"
        f" (reassignment cap {max_reassignments})"
    )


# --- rows into domain objects ----------------------------------------------------------
# `decode` turns a JSON column into its value: SQLite keeps JSON as text, PostgreSQL's
# driver already decodes jsonb.


def _same(value: Any) -> Any:
    return value


def task_from_row(row: Row, decode: Callable[[Any], Any] = _same) -> Task:
    return Task(
        id=row["id"],
        type=row["type"],
        payload=decode(row["payload"]),
        status=TaskStatus(row["status"]),
        user_id=row["user_id"],
        priority=row["priority"],
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        timeout_s=row["timeout_s"],
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        progress=row["progress"],
        progress_message=row["progress_message"],
        result=decode(row["result"]),
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        run_after=row["run_after"],
        cancel_requested=bool(row["cancel_requested"]),
        metadata=decode(row["metadata"]),
        reassignments=row["reassignments"],
    )


def attempt_from_row(row: Row) -> TaskAttempt:
    outcome = row["outcome"]
    return TaskAttempt(
        task_id=row["task_id"],
        attempt=row["attempt"],
        worker_id=row["worker_id"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        outcome=None if outcome is None else AttemptOutcome(outcome),
        error=row["error"],
    )


def entry_from_row(row: Row, decode: Callable[[Any], Any] = _same) -> Entry:
    return Entry(
        id=row["id"],
        user_id=row["user_id"],
        title=row["title"],
        description=row["description"],
        type=row["type"],
        project=row["project"],
        tags=decode(row["tags"]),
        start_time=datetime.fromisoformat(row["start_time"]),
        end_time=datetime.fromisoformat(row["end_time"]),
        value_rating=row["value_rating"],
        impact_level=row["impact_level"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        updated_at=datetime.fromtimestamp(row["updated_at"], UTC),
    )


def worker_from_row(row: Row, decode: Callable[[Any], Any] = _same) -> WorkerRecord:
    info = WorkerInfo(
        id=row["id"],
        name=row["name"],
        capabilities=tuple(decode(row["capabilities"])),
        version=row["version"],
        metadata=decode(row["metadata"]),
        max_concurrency=row["max_concurrency"],
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
    return Session(
        token_hash=row["token_hash"],
        worker_id=row["worker_id"],
        created_at=row["created_at"],
        last_heartbeat_at=row["last_heartbeat_at"],
    )


def fits_claim(tasks: Sequence[NewTask], claim: Claim) -> bool:
    """Could one claim take all of `tasks` (its limit and each type's capacity)? Then,
    when nothing claimable of their types waits, inserting them already leased is what
    an insert followed by that claim would do (`Store.submit_and_claim`)."""
    if len(tasks) > claim.limit:
        return False
    wanted: dict[str, int] = {}
    for task in tasks:
        wanted[task.type] = wanted.get(task.type, 0) + 1
    return all(n <= int(claim.capacity.get(t, 0)) for t, n in wanted.items())
