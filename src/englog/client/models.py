"""What the REST API answers, as typed models. Entries, task states and the AI results
(`Insight`, `WeeklyReport`) are the server's and workers' own models; the task views are
`englog.views`, the very models the server answers with (they depend on pydantic and the
domain only, so importing the client does not import the server)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from englog.ai.schemas import Insight, InsightType, WeeklyReport
from englog.domain.entries import ActivityType, EntryFields, ImpactLevel, ValueRating
from englog.domain.tasks import TaskStatus
from englog.views import (
    AttemptView,
    TaskAccepted,
    TaskDetail,
    TaskList,
    TaskRetried,
    TasksWaited,
    TaskView,
)

__all__ = [
    "ActivityType",
    "AttemptView",
    "Entry",
    "ImpactLevel",
    "Insight",
    "InsightType",
    "Me",
    "TaskAccepted",
    "TaskDetail",
    "TaskList",
    "TaskRetried",
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

    # Answers to a create or an edit only: the ids of your entries sharing its time, and
    # what to look at (an overlap, an end in the future). Empty when read back.
    overlaps: list[str] = []
    warnings: list[str] = []

    @property
    def minutes(self) -> float:
        return (self.end_time - self.start_time).total_seconds() / 60.0


class Me(_View):
    """`GET /v1/me`: who the token belongs to, and the calendar your days are counted in
    (every date you send or read is a local day in `timezone`)."""

    id: str
    name: str
    timezone: str = "UTC"
    timezone_set: bool = True
    week_start: str = "monday"
    weekly_target_hours: float | None = None
    focus_target: float | None = None
    email: str | None = None
    role: str = "member"
    has_password: bool = False


class TokenInfo(_View):
    """A personal access token as `GET /v1/me/tokens` lists it (never the token)."""

    id: str
    name: str
    created_at: float
    last_used_at: float | None = None
    expires_at: float | None = None


class NewToken(TokenInfo):
    """A token just made: `token` is shown once."""

    token: str


class Account(_View):
    """An account as the admin routes (`/v1/users`) show it; `token` only when one was
    asked for at creation."""

    id: str
    name: str
    email: str | None = None
    role: str = "member"
    disabled: bool = False
    has_password: bool = False
    created_at: float
    token: str | None = None


# `POST /v1/tasks/wait`'s answer, under the name the client has always used.
WaitAnswer = TasksWaited


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
