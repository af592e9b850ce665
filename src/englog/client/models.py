"""What the REST API answers, as typed models. Entries, task states and the AI results
(`Insight`, `WeeklyReport`) are the server's and workers' own models; the task and
worker views are restated here, field for field, so that importing the client does not
import the server (FastAPI, gRPC, the store). tests/unit/test_client_models.py keeps
them equal to the server's OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from englog.ai.schemas import Insight, InsightType, WeeklyReport
from englog.domain.entries import ActivityType, EntryFields, ImpactLevel, ValueRating
from englog.domain.tasks import TaskStatus

__all__ = [
    "ActivityType",
    "AttemptView",
    "Entry",
    "ImpactLevel",
    "Insight",
    "InsightType",
    "TaskAccepted",
    "TaskDetail",
    "TaskList",
    "TaskStatus",
    "TaskView",
    "ValueRating",
    "WaitAnswer",
    "WeeklyReport",
    "WorkerView",
]


class _View(BaseModel):
    # A newer server may add fields; an older client must still read its answers.
    model_config = ConfigDict(extra="ignore")


class Entry(EntryFields):
    """A stored activity entry (`GET /v1/entries/{id}`)."""

    model_config = ConfigDict(extra="ignore", use_enum_values=True)

    id: str
    created_at: datetime
    updated_at: datetime

    @property
    def minutes(self) -> float:
        return (self.end_time - self.start_time).total_seconds() / 60.0


class TaskAccepted(_View):
    """A submission's 202: the task exists and has this id."""

    task_id: str
    status: TaskStatus


class TaskView(_View):
    """A task as `GET /v1/tasks` lists it; times are ISO 8601 UTC."""

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

    @property
    def finished(self) -> bool:
        return self.status.terminal


class AttemptView(_View):
    """One delivery of a task; `outcome` is None while it runs."""

    attempt: int
    worker_id: str
    started_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    error: str | None


class TaskDetail(TaskView):
    """`GET /v1/tasks/{id}`: the task with every attempt so far."""

    attempts: list[AttemptView]


class TaskList(_View):
    tasks: list[TaskView]
    count: int
    limit: int
    offset: int


class WaitAnswer(_View):
    """`POST /v1/tasks/wait`: the finished tasks, the ids still running, and the ids the
    caller has no task for."""

    tasks: list[TaskDetail]
    pending: list[str]
    missing: list[str]


class WorkerView(_View):
    """A registered worker (`GET /v1/workers`, admin token)."""

    id: str
    name: str
    version: str
    capabilities: list[str]
    max_concurrency: int
    metadata: dict[str, str]
    status: str
    registered_at: datetime | None
    last_heartbeat_at: datetime | None
    stats: dict[str, Any]
    capacity: dict[str, Any]
    connected: bool
