"""Deterministic facts about a set of entries, computed before any narrative.

Every insight and report is written from these numbers, so an LLM's claims can be
checked against them and the builtin backend never invents one. Pure functions, no
I/O, no clock: the same entries always give the same facts.

Conventions:
- Days are local days in the person's time zone (`englog.domain.localtime`). An entry
  across midnight counts its minutes on each day it covers; an entry across the edge of
  the requested range counts only its minutes inside (`clipped_minutes` says how many
  were outside), so consecutive weeks add up to the entries' total.
- Overlapping entries are counted as logged in `total_minutes` (and every breakdown);
  `clock_minutes` is the time actually covered and `overlap_minutes` the difference.
- Minutes are rounded to 1 decimal and ratios to 3 decimals only on output.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Protocol

from englog.domain import localtime
from englog.domain.entries import ActivityType, ImpactLevel, ValueRating

# Deep work: activities that need an uninterrupted stretch of attention to make
# progress. Planning is included (it is thinking time, usually alone), while
# deployment, maintenance and support are excluded: they are mostly driven by
# queues, alarms and other people, which is exactly what fragments focus.
FOCUS_TYPES: frozenset[str] = frozenset(
    {
        ActivityType.DEVELOPMENT,
        ActivityType.DEBUGGING,
        ActivityType.CODE_REVIEW,
        ActivityType.TESTING,
        ActivityType.DOCUMENTATION,
        ActivityType.RESEARCH,
        ActivityType.LEARNING,
        ActivityType.PLANNING,
    }
)
MEETING_TYPES: frozenset[str] = frozenset({ActivityType.MEETING})
HIGH_VALUE: frozenset[str] = frozenset({ValueRating.HIGH, ValueRating.CRITICAL})
BEYOND_PERSONAL: frozenset[str] = frozenset(
    {ImpactLevel.TEAM, ImpactLevel.DEPARTMENT, ImpactLevel.COMPANY}
)
NO_PROJECT = "(none)"
# Consecutive focus entries separated by at most this much form one focus block
# (a coffee between two development entries does not break the stretch).
FOCUS_BLOCK_GAP = timedelta(minutes=5)
TOP_TAGS = 5


class EntryLike(Protocol):
    """What analytics needs of an entry: domain `Entry` and `EntryPayload` both fit."""

    @property
    def type(self) -> str: ...
    @property
    def project(self) -> str | None: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def start_time(self) -> datetime: ...
    @property
    def end_time(self) -> datetime: ...
    @property
    def value_rating(self) -> str: ...
    @property
    def impact_level(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Facts:
    """The numbers a narrative may quote. Dict fields are ordered for display."""

    entry_count: int
    excluded_entries: int  # received but wholly outside the requested date range
    period_start: date | None
    period_end: date | None
    days_active: int
    total_minutes: float
    average_minutes_per_active_day: float
    average_entry_minutes: float
    minutes_by_type: dict[str, float]
    type_shares: dict[str, float]  # share of total minutes, same order as minutes_by_type
    minutes_by_project: dict[str, float]
    project_count: int  # distinct named projects ("(none)" is not one)
    focus_minutes: float
    meeting_minutes: float
    focus_ratio: float
    meeting_share: float
    context_switches: int
    context_switches_per_day: float
    high_value_share: float
    team_impact_share: float
    minutes_by_value: dict[str, float]
    minutes_by_impact: dict[str, float]
    daily_totals: dict[str, float]
    busiest_day: str | None
    busiest_day_minutes: float
    longest_focus_block_minutes: float
    streak_days: int
    top_tags: list[dict[str, Any]] = field(default_factory=list)
    time_zone: str = localtime.DEFAULT_ZONE  # the zone whose local days these are
    clock_minutes: float = 0.0  # time covered by at least one entry (the union)
    overlap_minutes: float = 0.0  # total_minutes - clock_minutes: counted twice or more
    clipped_minutes: float = 0.0  # minutes of kept entries outside the range
    # Habits and counts (englog.ai.patterns).
    meeting_count: int = 0
    entries_by_type: dict[str, int] = field(default_factory=dict)
    tag_entries: dict[str, int] = field(default_factory=dict)
    tag_minutes: dict[str, float] = field(default_factory=dict)
    recurring_meetings: list[dict[str, Any]] = field(default_factory=list)
    night_entries: list[dict[str, Any]] = field(default_factory=list)
    night_minutes: float = 0.0
    cross_midnight_entries: int = 0
    learning_topics: list[str] = field(default_factory=list)
    overlapping_entries: int = 0
    weekend_minutes: float = 0.0
    quietest_day: str | None = None
    # The period just before, same length (englog.ai.trends); None when not given.
    previous: dict[str, Any] | None = None
    changes: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: dates become ISO strings."""
        data = asdict(self)
        for key in ("period_start", "period_end"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


def minutes(entry: EntryLike) -> float:
    """Elapsed minutes (compared as instants: right across a DST change too)."""
    return (_instant(entry.end_time) - _instant(entry.start_time)).total_seconds() / 60.0


def day_of(entry: EntryLike, tz: tzinfo = UTC) -> date:
    """The local day an entry starts on."""
    return localtime.local_date(entry.start_time, tz)


@dataclass(frozen=True, slots=True)
class Part:
    """The part of an entry inside the requested range: read like the entry itself,
    with the times cut at the range's edges."""

    entry: EntryLike
    start_time: datetime
    end_time: datetime

    @property
    def type(self) -> str:
        return self.entry.type

    @property
    def project(self) -> str | None:
        return self.entry.project

    @property
    def tags(self) -> list[str]:
        return self.entry.tags

    @property
    def value_rating(self) -> str:
        return self.entry.value_rating

    @property
    def impact_level(self) -> str:
        return self.entry.impact_level

    @property
    def title(self) -> str:
        return str(getattr(self.entry, "title", ""))

    @property
    def id(self) -> str | None:
        return getattr(self.entry, "id", None)


def _instant(dt: datetime) -> datetime:
    """Comparable across naive and aware datetimes (naive is taken as UTC), in UTC."""
    return dt.astimezone(UTC) if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _r1(value: float) -> float:
    return round(value, 1)


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 3) if whole > 0 else 0.0


def sort_entries(entries: Iterable[EntryLike]) -> list[EntryLike]:
    return sorted(entries, key=lambda e: (_instant(e.start_time), _instant(e.end_time)))


def _sum_by(entries: Iterable[EntryLike], key: Any) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for entry in entries:
        totals[key(entry)] += minutes(entry)
    return totals


def _ranked(totals: dict[str, float]) -> dict[str, float]:
    """Largest first, ties by name, so output order never depends on input order."""
    items = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    return {name: _r1(value) for name, value in items if value > 0}


def _in_levels(totals: dict[str, float], levels: Iterable[str]) -> dict[str, float]:
    """Every level in its natural order, zeros included: the scale itself is the point."""
    return {level: _r1(totals.get(level, 0.0)) for level in levels}


def by_day(entries: Iterable[EntryLike], tz: tzinfo = UTC) -> dict[date, list[EntryLike]]:
    """Entries by the local day they start on, each day in start order."""
    days: dict[date, list[EntryLike]] = defaultdict(list)
    for entry in sort_entries(entries):
        days[day_of(entry, tz)].append(entry)
    return dict(sorted(days.items()))


def context_switches(day_entries: Sequence[EntryLike]) -> int:
    """Times consecutive entries (in start order) change activity type or project."""
    pairs = itertools.pairwise(day_entries)
    return sum(1 for a, b in pairs if (a.type, a.project) != (b.type, b.project))


def longest_focus_block(day_entries: Sequence[EntryLike]) -> float:
    """Minutes of the longest run of focus entries with gaps of at most 5 minutes
    (gaps themselves not counted)."""
    best = current = 0.0
    previous_end: datetime | None = None
    for entry in day_entries:
        if entry.type not in FOCUS_TYPES:
            current, previous_end = 0.0, None
            continue
        start = _instant(entry.start_time)
        if previous_end is None or start - previous_end > FOCUS_BLOCK_GAP:
            current = 0.0
        current += minutes(entry)
        previous_end = _instant(entry.end_time)
        best = max(best, current)
    return best


def longest_streak(days: Iterable[date]) -> int:
    """Longest run of consecutive calendar days in `days`."""
    best = run = 0
    previous: date | None = None
    for day in sorted(set(days)):
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        best, previous = max(best, run), day
    return best


def lived_by_day(entries: Iterable[EntryLike], tz: tzinfo) -> dict[date, float]:
    """Minutes on each local day, an entry across midnight split between its days."""
    totals: dict[date, float] = defaultdict(float)
    for entry in entries:
        for day, spent in localtime.minutes_by_day(entry.start_time, entry.end_time, tz).items():
            totals[day] += spent
    return dict(sorted(totals.items()))


def daily_totals(
    lived: dict[date, float], start: date | None, end: date | None
) -> dict[str, float]:
    """Minutes per day for every day from start to end (default: first to last active
    day), zeros included so a trend shows the days nothing was logged."""
    active = [day for day, spent in lived.items() if spent > 0]
    if not active and (start is None or end is None):
        return {}
    first = start if start is not None else min(active)
    last = end if end is not None else max(active)
    return {
        day.isoformat(): _r1(lived.get(day, 0.0)) for day in localtime.days_between(first, last)
    }


def top_tags(entries: Iterable[EntryLike], limit: int = TOP_TAGS) -> list[dict[str, Any]]:
    """Tags by minutes spent (ties by name), each with how many entries carry it."""
    spent: dict[str, float] = defaultdict(float)
    count: Counter[str] = Counter()
    for entry in entries:
        for tag in set(entry.tags):
            spent[tag] += minutes(entry)
            count[tag] += 1
    ranked = sorted(spent, key=lambda tag: (-spent[tag], tag))[:limit]
    return [{"tag": tag, "minutes": _r1(spent[tag]), "entries": count[tag]} for tag in ranked]


def _busiest(totals: dict[str, float]) -> str | None:
    """The day with the most minutes; the earliest wins a tie."""
    return min(totals, key=lambda day: (-totals[day], day), default=None)


def range_instants(
    start: date | None, end: date | None, tz: tzinfo
) -> tuple[datetime | None, datetime | None]:
    """The instants bounding the local days [start, end] (None where open)."""
    low = localtime.day_bounds(start, tz)[0] if start is not None else None
    high = localtime.day_bounds(end, tz)[1] if end is not None else None
    return low, high


def in_range(entry: EntryLike, start: date | None, end: date | None, tz: tzinfo = UTC) -> bool:
    """Whether any of the entry's time lies on the local days [start, end]."""
    low, high = range_instants(start, end, tz)
    return localtime.clip(entry.start_time, entry.end_time, low, high) is not None


def cut_to_range(
    entries: Iterable[EntryLike], start: date | None, end: date | None, tz: tzinfo
) -> tuple[list[EntryLike], int, float]:
    """The parts of `entries` inside the local days [start, end], how many entries lay
    wholly outside, and the minutes cut off the kept ones."""
    low, high = range_instants(start, end, tz)
    parts: list[EntryLike] = []
    excluded, clipped = 0, 0.0
    for entry in entries:
        part = localtime.clip(entry.start_time, entry.end_time, low, high)
        if part is None:
            excluded += 1
            continue
        piece = Part(entry, *part)
        clipped += minutes(entry) - minutes(piece)
        parts.append(piece)
    return parts, excluded, clipped


_LEVELS = ("value_rating", "impact_level")


def compute_facts(
    entries: Iterable[EntryLike],
    start: date | None = None,
    end: date | None = None,
    time_zone: str | None = None,
) -> Facts:
    """Facts over the local days [start, end] in `time_zone` (either bound optional):
    entries across an edge count their minutes inside (see the module's conventions)."""
    tz = localtime.zone(time_zone)
    kept, excluded, clipped = cut_to_range(entries, start, end, tz)
    days = by_day(kept, tz)
    lived = lived_by_day(kept, tz)
    active = sorted(day for day, spent in lived.items() if spent > 0)
    total = sum(minutes(e) for e in kept)
    clock = localtime.union_minutes((e.start_time, e.end_time) for e in kept)
    focus = sum(minutes(e) for e in kept if e.type in FOCUS_TYPES)
    meeting = sum(minutes(e) for e in kept if e.type in MEETING_TYPES)
    switches = sum(context_switches(day_entries) for day_entries in days.values())
    totals = daily_totals(lived, start, end)
    busiest = _busiest(totals) if kept else None
    by_value, by_impact = (_sum_by(kept, lambda e, k=k: getattr(e, k)) for k in _LEVELS)
    raw_by_type = _sum_by(kept, lambda e: e.type)
    by_type = _ranked(raw_by_type)
    return Facts(
        entry_count=len(kept),
        excluded_entries=excluded,
        period_start=start if start is not None else (active[0] if active else None),
        period_end=end if end is not None else (active[-1] if active else None),
        days_active=len(active),
        total_minutes=_r1(total),
        average_minutes_per_active_day=_r1(total / len(active)) if active else 0.0,
        average_entry_minutes=_r1(total / len(kept)) if kept else 0.0,
        minutes_by_type=by_type,
        type_shares={name: _ratio(raw_by_type[name], total) for name in by_type},
        minutes_by_project=_ranked(_sum_by(kept, lambda e: e.project or NO_PROJECT)),
        project_count=len({e.project for e in kept if e.project}),
        focus_minutes=_r1(focus),
        meeting_minutes=_r1(meeting),
        focus_ratio=_ratio(focus, total),
        meeting_share=_ratio(meeting, total),
        context_switches=switches,
        context_switches_per_day=_r1(switches / len(days)) if days else 0.0,
        high_value_share=_ratio(sum(by_value.get(v, 0.0) for v in HIGH_VALUE), total),
        team_impact_share=_ratio(sum(by_impact.get(i, 0.0) for i in BEYOND_PERSONAL), total),
        minutes_by_value=_in_levels(by_value, [v.value for v in ValueRating]),
        minutes_by_impact=_in_levels(by_impact, [i.value for i in ImpactLevel]),
        daily_totals=totals,
        busiest_day=busiest,
        busiest_day_minutes=totals[busiest] if busiest is not None else 0.0,
        longest_focus_block_minutes=_r1(
            max((longest_focus_block(d) for d in days.values()), default=0.0)
        ),
        streak_days=longest_streak(active),
        top_tags=top_tags(kept),
        time_zone=time_zone or localtime.DEFAULT_ZONE,
        clock_minutes=_r1(clock),
        overlap_minutes=_r1(max(0.0, total - clock)),
        clipped_minutes=_r1(clipped),
        **_patterns(kept, totals, tz),
    )


def _patterns(kept: list[EntryLike], totals: dict[str, float], tz: tzinfo) -> dict[str, Any]:
    """The habit and count fields of `Facts` (englog.ai.patterns)."""
    from englog.ai.patterns import patterns_of  # it builds on this module's helpers

    found = patterns_of(kept, totals, tz)
    return {f.name: getattr(found, f.name) for f in fields(found)}
