"""Activity entries: what an engineer logs, validated once at the edge (REST) and
trusted everywhere after (store, workers, analytics)."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ActivityType(enum.StrEnum):
    DEVELOPMENT = "development"
    MEETING = "meeting"
    CODE_REVIEW = "code_review"
    DEBUGGING = "debugging"
    DOCUMENTATION = "documentation"
    TESTING = "testing"
    DEPLOYMENT = "deployment"
    RESEARCH = "research"
    PLANNING = "planning"
    LEARNING = "learning"
    MAINTENANCE = "maintenance"
    SUPPORT = "support"
    OTHER = "other"


class ValueRating(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ImpactLevel(enum.StrEnum):
    PERSONAL = "personal"
    TEAM = "team"
    DEPARTMENT = "department"
    COMPANY = "company"


MAX_ENTRY_DURATION = timedelta(hours=24)

Tag = Annotated[str, Field(min_length=1, max_length=64)]


class EntryFields(BaseModel):
    """The user-supplied part of an entry (create and bulk bodies)."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    type: ActivityType
    project: str | None = Field(default=None, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=32)
    start_time: datetime
    end_time: datetime
    value_rating: ValueRating = ValueRating.MEDIUM
    impact_level: ImpactLevel = ImpactLevel.PERSONAL

    @model_validator(mode="after")
    def _check_times(self) -> EntryFields:
        check_times(self.start_time, self.end_time)
        return self


def check_times(start: datetime, end: datetime) -> None:
    if (start.tzinfo is None) != (end.tzinfo is None):
        raise ValueError("start_time and end_time must both have a timezone or both not")
    if end <= start:
        raise ValueError("end_time must be after start_time")
    if end - start > MAX_ENTRY_DURATION:
        raise ValueError("an entry lasts at most 24 hours")


class EntryPatch(BaseModel):
    """A partial update; times are re-checked against the stored entry."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    type: ActivityType | None = None
    project: str | None = Field(default=None, max_length=100)
    tags: list[Tag] | None = Field(default=None, max_length=32)
    start_time: datetime | None = None
    end_time: datetime | None = None
    value_rating: ValueRating | None = None
    impact_level: ImpactLevel | None = None


class Entry(EntryFields):
    """A stored entry. `to_payload` is the JSON shape workers receive."""

    model_config = ConfigDict(extra="ignore", use_enum_values=True)

    id: str
    user_id: str
    created_at: datetime
    updated_at: datetime

    @property
    def duration_minutes(self) -> float:
        return (self.end_time - self.start_time).total_seconds() / 60.0

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"user_id"})
