"""The JSON views of tasks that the REST API answers, in one home for both sides: the
server builds them from domain objects (`TaskView.of`), the client parses its answers
into them. This module depends only on pydantic and `englog.domain`, so importing the
client pulls in neither the server (FastAPI, gRPC) nor a store. The docstrings and
field descriptions are published in the server's OpenAPI document."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from englog.domain.tasks import Task, TaskAttempt, TaskStatus

__all__ = [
    "AttemptView",
    "TaskAccepted",
    "TaskDetail",
    "TaskList",
    "TaskRetried",
    "TaskView",
    "TasksWaited",
    "iso",
    "task_detail_fields",
]


def iso(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class TaskView(BaseModel):
    """A task as clients see it; times are ISO 8601 UTC."""

    task_id: str
    type: str
    status: TaskStatus
    progress: float
    progress_message: str | None
    attempt: int
    max_attempts: int
    worker_id: str | None
    result: Any
    error: str | None
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    priority: int
    timeout_s: float
    cancel_requested: bool
    reassignments: int

    @classmethod
    def of(cls, task: Task) -> TaskView:
        return cls(**_task_fields(task))

    @property
    def finished(self) -> bool:
        return self.status.terminal


def _task_fields(task: Task) -> dict[str, Any]:
    """TaskView's fields, shared with TaskDetail so it is built in one validation. Each
    number has its field's type already (a progress of 100 read back as an integer is
    100.0), so that serialising the dict without the model writes the model's bytes."""
    return {
        "task_id": task.id,
        "type": task.type,
        "status": task.status,
        "progress": float(task.progress),
        "progress_message": task.progress_message,
        "attempt": int(task.attempt),
        "max_attempts": int(task.max_attempts),
        "worker_id": task.worker_id,
        "result": task.result,
        "error": task.error,
        "created_at": iso(task.created_at),
        "started_at": iso(task.started_at),
        "completed_at": iso(task.completed_at),
        "priority": int(task.priority),
        "timeout_s": float(task.timeout_s),
        "cancel_requested": bool(task.cancel_requested),
        "reassignments": int(task.reassignments),
    }


class AttemptView(BaseModel):
    """One delivery of a task; outcome and ended_at are null while it runs. Outcomes:
    completed, failed, cancelled (reported by the worker), lost (its worker went silent
    or never got it), expired (lease ran out) and timed_out (deadline passed)."""

    attempt: int
    worker_id: str
    started_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    error: str | None

    @classmethod
    def of(cls, attempt: TaskAttempt) -> AttemptView:
        return cls(**_attempt_fields(attempt))


def _attempt_fields(attempt: TaskAttempt) -> dict[str, Any]:
    return {
        "attempt": int(attempt.attempt),
        "worker_id": attempt.worker_id,
        "started_at": iso(attempt.started_at),
        "ended_at": iso(attempt.ended_at),
        "outcome": None if attempt.outcome is None else str(attempt.outcome),
        "error": attempt.error,
    }


class TaskDetail(TaskView):
    """`GET /v1/tasks/{id}`: the task with every attempt so far."""

    attempts: list[AttemptView]

    @classmethod
    def of(cls, task: Task, attempts: Sequence[TaskAttempt]) -> TaskDetail:
        return cls(**_task_fields(task), attempts=[AttemptView.of(a) for a in attempts])


def task_detail_fields(task: Task, attempts: Sequence[TaskAttempt]) -> dict[str, Any]:
    """`TaskDetail.of(task, attempts)`'s fields in its order, as plain values: what the
    server serialises without building (and validating) the model, for answers that
    carry many tasks (`englog.server.http.models.task_detail_json`)."""
    fields = _task_fields(task)
    fields["attempts"] = [_attempt_fields(a) for a in attempts]
    return fields


class TasksWaited(BaseModel):
    """`POST /v1/tasks/wait`: the finished tasks, each as `GET /v1/tasks/{id}` shows it,
    and the other ids asked about, each in the order asked."""

    tasks: list[TaskDetail] = Field(description="Finished: completed, failed or cancelled.")
    pending: list[str] = Field(description="Ids of the caller's tasks not finished yet.")
    missing: list[str] = Field(
        description="Ids of no task the caller may see (unknown, or another user's)."
    )


class TaskAccepted(BaseModel):
    task_id: str
    status: TaskStatus


class TaskRetried(TaskAccepted):
    """A retry's 201 body: the new task, and the failed or cancelled one it repeats."""

    retry_of: str


class TaskList(BaseModel):
    tasks: list[TaskView]
    count: int
    limit: int
    offset: int
