"""The week in figures: minutes per local day, per project and per type, the time
actually lived (entries that overlap count once), which entries overlap, and the bars
that draw them. Pure functions over entries, so the page and its tests agree on sums.

An entry counts its minutes on each local day it covers (Fri 22:00 -> Sat 02:30 is
2h on Friday and 2h30m on Saturday) and only its minutes inside the week."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from englog.domain import localtime
from englog.domain.entries import Entry
from englog.domain.localtime import Weekday
from englog.errors import EnglogError

NO_PROJECT = "(no project)"
# A week page also links the weeks around it, so its days stay this far from the ends
# of the calendar (date.min, date.max) for every sum and link to be a real date.
_MARGIN = timedelta(days=14)
EARLIEST = date.min + _MARGIN
LATEST = date.max - _MARGIN


class OutOfCalendar(EnglogError, ValueError):
    """A day too close to year 1 or year 9999 to hold a week around it."""

    def __init__(self, day: date) -> None:
        super().__init__(
            f"{day} is too close to the end of the calendar: pick a day from {EARLIEST} to {LATEST}"
        )


@dataclass(frozen=True, slots=True)
class Week:
    """Seven local days from `first`, and the half-open range of instants they cover."""

    first: date
    tz: tzinfo = UTC

    @classmethod
    def holding(
        cls, day: date, first_weekday: Weekday | str = Weekday.MONDAY, tz: tzinfo = UTC
    ) -> Week:
        """The week holding `day`; OutOfCalendar at the calendar's ends."""
        if not EARLIEST <= day <= LATEST:
            raise OutOfCalendar(day)
        return cls(localtime.week_containing(day, first_weekday)[0], tz)

    @property
    def last(self) -> date:
        return self.first + timedelta(days=6)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(7)]

    @property
    def start(self) -> datetime:
        return localtime.range_bounds(self.first, self.last, self.tz)[0]

    @property
    def end(self) -> datetime:
        return localtime.range_bounds(self.first, self.last, self.tz)[1]

    @property
    def previous(self) -> date:
        return self.first - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.first + timedelta(days=7)


@dataclass(slots=True)
class WeekTotals:
    total: float = 0.0  # minutes logged: overlapping entries each count
    clock: float = 0.0  # minutes lived: time covered by at least one entry
    by_day: dict[date, float] = field(default_factory=dict)
    clock_by_day: dict[date, float] = field(default_factory=dict)
    by_project: dict[str, float] = field(default_factory=dict)
    by_type: dict[str, float] = field(default_factory=dict)
    # Each entry is listed on the first day of the week it covers, and noted as
    # continuing on the other days it covers.
    entries_by_day: dict[date, list[Entry]] = field(default_factory=dict)
    continued_by_day: dict[date, list[Entry]] = field(default_factory=dict)
    overlaps: dict[str, list[Entry]] = field(default_factory=dict)

    @property
    def overlap(self) -> float:
        return max(self.total - self.clock, 0.0)

    def day_overlap(self, day: date) -> float:
        return max(self.by_day.get(day, 0.0) - self.clock_by_day.get(day, 0.0), 0.0)


def week_totals(week: Week, entries: Iterable[Entry]) -> WeekTotals:
    """The week's sums in its zone; projects and types largest first."""
    by_day: dict[date, float] = dict.fromkeys(week.days, 0.0)
    spans: dict[date, list[tuple[datetime, datetime]]] = {day: [] for day in week.days}
    listed: dict[date, list[Entry]] = {day: [] for day in week.days}
    continued: dict[date, list[Entry]] = {day: [] for day in week.days}
    by_project: dict[str, float] = defaultdict(float)
    by_type: dict[str, float] = defaultdict(float)
    inside: list[Entry] = []
    low, high = week.start, week.end
    for entry in sorted(entries, key=lambda e: _aware(e.start_time)):
        part = localtime.clip(entry.start_time, entry.end_time, low, high)
        if part is None:
            continue
        inside.append(entry)
        split = localtime.minutes_by_day(*part, week.tz)
        days = [day for day in split if day in by_day]
        for day in days:
            by_day[day] += split[day]
            day_part = localtime.clip(*part, *localtime.day_bounds(day, week.tz))
            if day_part is not None:
                spans[day].append(day_part)
        if days:
            listed[days[0]].append(entry)
            for day in days[1:]:
                continued[day].append(entry)
        minutes = sum(split[day] for day in days)
        by_project[entry.project or NO_PROJECT] += minutes
        by_type[str(entry.type)] += minutes
    clock_by_day = {day: localtime.union_minutes(spans[day]) for day in week.days}
    return WeekTotals(
        total=sum(by_day.values()),
        clock=sum(clock_by_day.values()),
        by_day=by_day,
        clock_by_day=clock_by_day,
        by_project=_largest_first(by_project),
        by_type=_largest_first(by_type),
        entries_by_day=listed,
        continued_by_day=continued,
        overlaps=overlapping(inside),
    )


def overlapping(entries: Sequence[Entry]) -> dict[str, list[Entry]]:
    """For each entry sharing time with others, those others in start order (both of a
    pair are marked). A sweep in start order: only entries still running are compared."""
    found: dict[str, list[Entry]] = defaultdict(list)
    running: list[Entry] = []
    for entry in sorted(entries, key=lambda e: (_aware(e.start_time), e.id)):
        start = _aware(entry.start_time)
        running = [r for r in running if _aware(r.end_time) > start]
        for other in running:
            found[entry.id].append(other)
            found[other.id].append(entry)
        running.append(entry)
    return {
        key: sorted(others, key=lambda e: (_aware(e.start_time), e.id))
        for key, others in found.items()
    }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
