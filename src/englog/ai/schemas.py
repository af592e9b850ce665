"""Request and result models of the AI tasks.

Requests are what the server puts in a task payload; they are re-validated on the
worker because a payload crosses a process boundary (and `POST /v1/tasks` lets an
admin submit anything). Results are what a backend returns; an LLM backend can pass
their JSON schema as the model's output `format`, so answers parse into them."""

from __future__ import annotations

import enum
from datetime import date, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from englog.domain.entries import EntryFields
from englog.domain.localtime import DEFAULT_ZONE, check_zone

MAX_ENTRIES = 10_000  # a year of heavy logging; bounds worker memory per task
MAX_REPORT_DAYS = 31  # a "weekly" report over more than a month is a mistake, not a report
# The longest span an insight covers: its facts (one daily total per day) must fit the
# prompt, and the REST routes refuse longer ranges on every path.
MAX_INSIGHT_DAYS = 31

# An IANA zone name, checked where the payload is read (a worker may lack the server's
# tz database version, but an unknown name is refused either way).
ZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(check_zone)]

DEFAULT_LANGUAGE = "en"  # narratives are asked for, and checked to be, in this language
LANGUAGE_PATTERN = r"^[a-z]{2}$"  # an ISO 639-1 code


class InsightType(enum.StrEnum):
    PRODUCTIVITY = "productivity"
    SKILL_DEVELOPMENT = "skill_development"
    TIME_MANAGEMENT = "time_management"
    TEAM_COLLABORATION = "team_collaboration"
    PATTERNS = "patterns"


class EntryPayload(EntryFields):
    """An entry as workers receive it (`Entry.to_payload()`), or as the REST body
    shape (no id) for sample data. Extra keys such as created_at are ignored; the
    fields and their checks are the REST ones (EntryFields)."""

    model_config = ConfigDict(extra="ignore", use_enum_values=True)

    id: str | None = None

    @property
    def duration_minutes(self) -> float:
        return (self.end_time - self.start_time).total_seconds() / 60.0


class InsightRequest(BaseModel):
    """Payload of `insight_generation`. An empty entry list is valid here and
    rejected by the handler, so the error says what to do about it."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    insight_type: InsightType
    entries: list[EntryPayload] = Field(max_length=MAX_ENTRIES)
    context: str | None = Field(default=None, max_length=2000)
    # The local days asked for (both included), in `time_zone`; without them the period
    # runs from the first to the last day an entry covers.
    period_start: date | None = None
    period_end: date | None = None
    time_zone: ZoneName = DEFAULT_ZONE

    @model_validator(mode="after")
    def _check_period(self) -> InsightRequest:
        if self.period_start is not None and self.period_end is not None:
            if self.period_end < self.period_start:
                raise ValueError("period_end must not be before period_start")
            # A range of instants spanning 31 days may touch 32 local days.
            if self.period_end - self.period_start > timedelta(days=MAX_INSIGHT_DAYS):
                raise ValueError(f"an insight covers at most {MAX_INSIGHT_DAYS} days")
        return self

    # The period just before (same length): its facts ground week-over-week trends.
    previous_entries: list[EntryPayload] | None = Field(default=None, max_length=MAX_ENTRIES)
    language: str = Field(default=DEFAULT_LANGUAGE, pattern=LANGUAGE_PATTERN)


class WeeklyReportRequest(BaseModel):
    """Payload of `weekly_report`: an inclusive date range and its entries."""

    model_config = ConfigDict(extra="forbid")

    week_start: date
    week_end: date
    entries: list[EntryPayload] = Field(max_length=MAX_ENTRIES)
    time_zone: ZoneName = DEFAULT_ZONE
    previous_entries: list[EntryPayload] | None = Field(default=None, max_length=MAX_ENTRIES)
    language: str = Field(default=DEFAULT_LANGUAGE, pattern=LANGUAGE_PATTERN)

    @model_validator(mode="after")
    def _check_range(self) -> WeeklyReportRequest:
        if self.week_end < self.week_start:
            raise ValueError("week_end must not be before week_start")
        if self.week_end - self.week_start >= timedelta(days=MAX_REPORT_DAYS):
            raise ValueError(f"a report covers at most {MAX_REPORT_DAYS} days")
        return self


class AIResult(BaseModel):
    """What every AI result carries: who wrote it, how far to trust it, and the facts
    it was written from."""

    model_config = ConfigDict(use_enum_values=True)

    title: str
    summary: str
    recommendations: list[str] = Field(default_factory=list)
    backend: str
    confidence: float = Field(ge=0.0, le=1.0)
    confidence_components: dict[str, float] = Field(default_factory=dict)
    # Sentences whose figures contradict the facts (or name a project the entries lack).
    unsupported_claims: list[str] = Field(default_factory=list)
    degraded: bool = False
    degraded_reason: str | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    entry_count: int = Field(ge=0)
    cited_entry_ids: list[str] = Field(default_factory=list)
    model: str | None = None  # the LLM that wrote the text; None for builtin


class Insight(AIResult):
    """One insight about a set of entries."""

    insight_type: InsightType
    key_points: list[str] = Field(default_factory=list)
    period_start: date | None = None
    period_end: date | None = None


class WeeklyReport(AIResult):
    """A report over one week. `time_breakdown` is minutes per activity type."""

    week_start: date
    week_end: date
    highlights: list[str] = Field(default_factory=list)
    time_breakdown: dict[str, float] = Field(default_factory=dict)


# --- what an LLM writes ---------------------------------------------------------------
# The model writes only the narrative; facts, confidence and provenance are computed by
# englog. These schemas are the chat `format`, so the answer parses into them; they
# forbid extra keys so a model that invents fields is told so and asked again.


class Draft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=200)
    summary: str = Field(min_length=10, max_length=4000)
    recommendations: list[str] = Field(default_factory=list, max_length=8)
    cited_entry_ids: list[str] = Field(default_factory=list, max_length=200)
    self_confidence: float = Field(ge=0.0, le=1.0)
    # Structured claims, checked like the text: enumerations of the real names in the
    # schema sent to the model (`englog.ai.answer_schema`); optional, so an answer in
    # the older schema stays valid.
    busiest_day: str | None = None
    top_project: str | None = None
    top_activity: str | None = None
    focus_areas: list[str] = Field(default_factory=list, max_length=10)


class InsightDraft(Draft):
    """The part of an `Insight` the model writes."""

    key_points: list[str] = Field(min_length=1, max_length=10)


class WeeklyReportDraft(Draft):
    """The part of a `WeeklyReport` the model writes."""

    highlights: list[str] = Field(min_length=1, max_length=10)


def describe_validation_error(exc: ValidationError, *, limit: int = 5) -> str:
    """One line naming each bad field, e.g. `entries[0].end_time: Input should be ...`,
    so a failed task tells its submitter what to fix."""
    parts = []
    for error in exc.errors()[:limit]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where.lstrip('.') or 'payload'}: {message}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
