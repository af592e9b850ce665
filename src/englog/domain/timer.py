"""The running timer: an entry whose end is not known yet, kept by the server (one per
user) so it survives a closed terminal, a closed browser and a server restart.

A timer left running for more than `LONG_RUN` is flagged: stopping it needs an explicit
end (or an explicit "keep it all"), so a forgotten timer is never silently counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from englog.domain.entries import (
    MAX_ENTRY_DURATION,
    ActivityType,
    EntryFields,
    ImpactLevel,
    Tag,
    ValueRating,
)

LONG_RUN = timedelta(hours=12)


class TimerFields(BaseModel):
    """What a timer will log: an entry's fields except its times."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    type: ActivityType = ActivityType.DEVELOPMENT
    project: str | None = Field(default=None, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=32)
    value_rating: ValueRating = ValueRating.MEDIUM
    impact_level: ImpactLevel = ImpactLevel.PERSONAL


class RunningTimer(TimerFields):
    """A started timer: its fields, its id (so a stop or a restart changes only the timer
    it read) and the instant it started."""

    model_config = ConfigDict(extra="ignore", use_enum_values=True)

    id: str
    start_time: datetime

    def fields(self) -> dict[str, Any]:
        """The JSON-ready fields the store keeps beside the id and start."""
        return self.model_dump(mode="json", include=set(TimerFields.model_fields))

    def elapsed(self, now: datetime) -> timedelta:
        return max(timedelta(0), _utc(now) - _utc(self.start_time))

    def is_long(self, now: datetime) -> bool:
        """Running for more than LONG_RUN: flagged, never stopped without an explicit end."""
        return self.elapsed(now) > LONG_RUN

    def finished(self, end: datetime) -> EntryFields:
        """The entry this timer becomes when it ends at `end` (ValueError when `end` is
        not after the start, or more than a day after it)."""
        return EntryFields(**self.fields(), start_time=self.start_time, end_time=end)


def too_long_for_an_entry(timer: RunningTimer, end: datetime) -> bool:
    return _utc(end) - _utc(timer.start_time) > MAX_ENTRY_DURATION


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
