"""Trends: the same facts as insights and reports (`compute_facts`), one row per local
week, so a person sees how their weeks move (total, clock time, focus, meetings, top
projects) and how each week stands against their target."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from englog.ai.analytics import NO_PROJECT, EntryLike, compute_facts
from englog.domain.localtime import Weekday, week_containing

DEFAULT_WEEKS = 8
MAX_WEEKS = 104
TOP_PROJECTS = 3


@dataclass(frozen=True, slots=True)
class Target:
    """A weekly target: hours of clock time, and optionally a focus share (0..1)."""

    hours: float | None = None
    focus: float | None = None


@dataclass(frozen=True, slots=True)
class WeekTrend:
    week_start: date
    week_end: date
    entry_count: int
    total_minutes: float
    clock_minutes: float
    overlap_minutes: float
    focus_minutes: float
    focus_ratio: float
    meeting_minutes: float
    meeting_share: float
    top_projects: list[dict[str, Any]] = field(default_factory=list)
    target_progress: float | None = None  # clock time / target hours (1.0 = met)
    focus_target_met: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["week_start"] = self.week_start.isoformat()
        data["week_end"] = self.week_end.isoformat()
        return data


def weeks_back(today: date, weeks: int, week_start: Weekday | str) -> list[tuple[date, date]]:
    """The `weeks` local weeks ending with the one holding `today`, oldest first."""
    first, _ = week_containing(today, week_start)
    starts = [first - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    return [(start, start + timedelta(days=6)) for start in starts]


def week_trends(
    entries: Iterable[EntryLike],
    weeks: Sequence[tuple[date, date]],
    time_zone: str,
    target: Target | None = None,
) -> list[WeekTrend]:
    """One row per week in `weeks` (local days in `time_zone`); an entry across a week's
    edge counts its minutes on each side."""
    kept = list(entries)
    return [_week(kept, first, last, time_zone, target or Target()) for first, last in weeks]


def _week(
    entries: list[EntryLike], first: date, last: date, time_zone: str, target: Target
) -> WeekTrend:
    facts = compute_facts(entries, first, last, time_zone)
    top = list(facts.minutes_by_project.items())[:TOP_PROJECTS]
    return WeekTrend(
        week_start=first,
        week_end=last,
        entry_count=facts.entry_count,
        total_minutes=facts.total_minutes,
        clock_minutes=facts.clock_minutes,
        overlap_minutes=facts.overlap_minutes,
        focus_minutes=facts.focus_minutes,
        focus_ratio=facts.focus_ratio,
        meeting_minutes=facts.meeting_minutes,
        meeting_share=facts.meeting_share,
        top_projects=[
            {"project": None if name == NO_PROJECT else name, "minutes": minutes}
            for name, minutes in top
        ],
        target_progress=progress(facts.clock_minutes, target.hours),
        focus_target_met=None if target.focus is None else facts.focus_ratio >= target.focus,
    )


def progress(clock_minutes: float, target_hours: float | None) -> float | None:
    """Share of the target reached (1.0 = met), None without a target."""
    if not target_hours:
        return None
    return round(clock_minutes / (target_hours * 60), 3)
