"""What the REST API reads and writes: request bodies (validated by FastAPI, so a 422
names the field) and the JSON views of tasks, entries and workers. Times in views are
ISO 8601 UTC. The task views live in `englog.views`, shared with the client."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)
from pydantic_core import to_json

from englog.domain.entries import Entry, EntryFields, check_times
from englog.domain.tasks import Task, TaskAttempt
from englog.server.http.iso_times import DayOrInstant, IsoDate, IsoDateTime
from englog.store.base import WorkerRecord
from englog.views import AttemptView as AttemptView
from englog.views import TaskAccepted, TaskDetail, TasksWaited, iso, task_detail_fields
from englog.views import TaskList as TaskList
from englog.views import TaskView as TaskView

MAX_PAGE = 1000
# SQLite integers are 64-bit; no real listing goes anywhere near this.
MAX_OFFSET = 1_000_000_000
# Tasks per `POST /v1/tasks/batch`.
MAX_BATCH = 1000
# Longest `GET /v1/tasks/{id}?wait_s=`, `Prefer: wait=` and `POST /v1/tasks/wait`:
# below common proxy and client idle timeouts.
MAX_WAIT_S = 30.0
# Task ids per `POST /v1/tasks/wait`.
MAX_WAIT_IDS = 1000


def utc(value: datetime) -> datetime:
    """Naive datetimes in queries and bodies are taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- views ----------------------------------------------------------------------------


# A task with its attempts, as the store reads them for `GET /v1/tasks/{id}`.
TaskFound = tuple[Task, list[TaskAttempt]]
# How FastAPI serialises a route's response model (pydantic's dump_json, by alias), for
# answers written as bytes: they are the route's byte for byte.
TASK_DETAIL_JSON: TypeAdapter[TaskDetail] = TypeAdapter(TaskDetail)


def task_detail_json(found: TaskFound) -> bytes:
    """`TASK_DETAIL_JSON.dump_json(TaskDetail.of(*found))`, byte for byte, at half the
    CPU: the same pydantic-core serializer over the fields as plain values, without
    building and validating the model first (they come from the store, already typed).
    A finished task's answer is on every round trip, and `POST /v1/tasks/wait` sends a
    thousand at once: that validation was 45 % of its CPU (issue 26). The tests hold
    the bytes equal to the model's for every kind of value a result can hold."""
    return to_json(task_detail_fields(*found))


def tasks_waited_json(
    finished: Sequence[TaskFound], pending: list[str], missing: list[str]
) -> bytes:
    """`TasksWaited`'s JSON (`POST /v1/tasks/wait`), each task as `task_detail_json`."""
    tasks = [task_detail_fields(*found) for found in finished]
    return to_json({"tasks": tasks, "pending": pending, "missing": missing})


TASKS_WAITED_JSON: TypeAdapter[TasksWaited] = TypeAdapter(TasksWaited)


# The single-task submission routes take `Prefer: wait=N` (see `submission.accepted`);
# the batch route does not (it sends no Preference-Applied, as RFC 7240 allows).
WAIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": TaskDetail,
        "description": "Sent with `Prefer: wait=N` (seconds, at most 30): the task finished"
        " within the wait; it is shown as GET /v1/tasks/{task_id} shows it.",
    }
}


def accepted_json(task: Task) -> bytes:
    """The 202 body, as the TaskAccepted model serialises it."""
    return b'{"task_id":"%s","status":"%s"}' % (task.id.encode(), str(task.status).encode())


class BatchAccepted(BaseModel):
    tasks: list[TaskAccepted]


def entry_json(entry: Entry) -> dict[str, Any]:
    return entry.to_payload()


def worker_json(record: WorkerRecord, connected: bool) -> dict[str, Any]:
    info = record.info
    return {
        "id": info.id,
        "name": info.name,
        "version": info.version,
        "capabilities": list(info.capabilities),
        "max_concurrency": info.max_concurrency,
        "metadata": dict(info.metadata),
        "status": record.status,
        "registered_at": iso(record.registered_at),
        "last_heartbeat_at": iso(record.last_heartbeat_at),
        "stats": dict(record.stats),
        "capacity": dict(record.capacity),
        "connected": connected,
    }


# --- request bodies ---------------------------------------------------------------------


class EntryIn(EntryFields):
    """EntryFields whose time rules are reported against `end_time`, so a 422 names the
    field (`body.entries.3.end_time`) instead of the whole object; times in ISO 8601 only."""

    start_time: IsoDateTime
    end_time: IsoDateTime

    @field_validator("end_time")
    @classmethod
    def _end_after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start_time")
        if start is not None:
            check_times(start, end)
        return end


class BulkEntriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[EntryIn] = Field(min_length=1, max_length=MAX_PAGE)


class InsightType(StrEnum):
    PRODUCTIVITY = "productivity"
    SKILL_DEVELOPMENT = "skill_development"
    TIME_MANAGEMENT = "time_management"
    TEAM_COLLABORATION = "team_collaboration"
    PATTERNS = "patterns"


# strict: JSON `true` is not the number 1 (pydantic's lax mode would take it).
Priority = Annotated[int, Field(ge=0, le=1_000_000, strict=True)]
# Insights and reports are users' own: their priority is bounded as a user's generic
# task's is (englog.server.http.submission.USER_MAX_PRIORITY).
UserPriority = Annotated[int, Field(ge=0, le=100, strict=True)]


class InsightRequest(BaseModel):
    """Either `entry_ids` or a `from`/`to` range (checked in the route, so the 422
    names the field)."""

    model_config = ConfigDict(extra="forbid")

    insight_type: InsightType
    entry_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=MAX_PAGE
    )
    # A date is a local day in the user's zone (`to` included); a date-time an instant.
    from_: DayOrInstant | None = Field(default=None, alias="from")
    to: DayOrInstant | None = None
    context: str | None = Field(default=None, max_length=2000)
    priority: UserPriority = 0


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    week_start: IsoDate
    week_end: IsoDate
    priority: UserPriority = 0


class TaskSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = 0
    max_attempts: int = Field(default=3, ge=1, le=20, strict=True)
    timeout_s: float | None = Field(default=None, gt=0, le=86_400, strict=True)


class WaitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=MAX_WAIT_IDS, description="Task ids (repeats count once)."
    )
    timeout_s: float = Field(
        ge=0,
        le=MAX_WAIT_S,
        strict=True,
        description="Answer as soon as any of the tasks is finished, or after this many"
        " seconds with none (0: look once, do not wait).",
    )


class BatchItem(TaskSubmit):
    """A batch item; `idempotency_key` stores it as a single `POST /v1/tasks` with that
    `Idempotency-Key` and the same body would be (see `batch_keys`)."""

    idempotency_key: str | None = Field(
        default=None,
        description="This task's own Idempotency-Key (1 to 255 printable ASCII characters):"
        " the item is created once per key, as `POST /v1/tasks` with the same key and body"
        " would be, and a resent item (alone or in another batch) answers the same task.",
    )


class BatchSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH)
