"""The week in figures: minutes per day, per project and per type, and the bars that
draw them. Pure functions over entries, so the page and its tests agree on the sums."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from englog.domain.entries import Entry

NO_PROJECT = "(no project)"


@dataclass(frozen=True, slots=True)
class Week:
    """Monday to Sunday (UTC) and the half-open range of instants it covers."""

    monday: date

    @classmethod
    def holding(cls, day: date) -> Week:
        return cls(day - timedelta(days=day.weekday()))

    @property
    def days(self) -> list[date]:
        return [self.monday + timedelta(days=i) for i in range(7)]

    @property
    def start(self) -> datetime:
        return datetime.combine(self.monday, datetime.min.time(), UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    @property
    def previous(self) -> date:
        return self.monday - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.monday + timedelta(days=7)


@dataclass(slots=True)
class WeekTotals:
    total: float = 0.0
    by_day: dict[date, float] = field(default_factory=dict)
    by_project: dict[str, float] = field(default_factory=dict)
    by_type: dict[str, float] = field(default_factory=dict)
    entries_by_day: dict[date, list[Entry]] = field(default_factory=dict)


def week_totals(week: Week, entries: Iterable[Entry]) -> WeekTotals:
    """Each entry counts on the day it starts (UTC); projects and types largest first."""
    by_day: dict[date, float] = dict.fromkeys(week.days, 0.0)
    listed: dict[date, list[Entry]] = {day: [] for day in week.days}
    by_project: dict[str, float] = defaultdict(float)
    by_type: dict[str, float] = defaultdict(float)
    for entry in sorted(entries, key=lambda e: e.start_time):
        day = entry.start_time.astimezone(UTC).date()
        if day not in by_day:
            continue  # started the week before, overlapping into this one
        minutes = entry.duration_minutes
        by_day[day] += minutes
        listed[day].append(entry)
        by_project[entry.project or NO_PROJECT] += minutes
        by_type[str(entry.type)] += minutes
    return WeekTotals(
        total=sum(by_day.values()),
        by_day=by_day,
        by_project=_largest_first(by_project),
        by_type=_largest_first(by_type),
        entries_by_day=listed,
    )


def _largest_first(sums: dict[str, float]) -> dict[str, float]:
    return dict(sorted(sums.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    y: int
    width: float


def bars(items: Sequence[tuple[str, float]], width: float = 240.0, row: int = 22) -> list[Bar]:
    """Horizontal bars scaled to the largest value, one `row` pixels apart."""
    top = max((value for _, value in items), default=0.0) or 1.0
    return [
        Bar(label, value, i * row, round(width * value / top, 1))
        for i, (label, value) in enumerate(items)
    ]
