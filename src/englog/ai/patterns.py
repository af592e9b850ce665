"""Habits the daily totals cannot show: recurring meetings, night and cross-midnight
work, what was learned, overlapping entries and counts a text may state ("10
meetings", "5 entries tagged postgres").

Computed over the entries `compute_facts` kept, each entry read in the offset it was
logged with (the engineer's own clock). Pure functions, no I/O: advice and the claim
checker read these numbers, never the entries again."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from englog.ai.analytics import EntryLike, _instant, minutes, sort_entries

RECURRING_MIN_DAYS = 3  # the same meeting on 3 or more days is a recurring one
NIGHT_START = time(22, 0)  # work between 22:00 and 06:00 is night work
NIGHT_END = time(6, 0)
LEARNING_TYPES = frozenset({"learning", "research"})
MAX_TOPICS = 3
MAX_LISTED = 5
_NUMBERING = re.compile(r"[#\d]+")


@dataclass(frozen=True, slots=True)
class Patterns:
    """What `patterns_of` finds; every field has a home at the end of `Facts`."""

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


def _title_key(title: str) -> str:
    """ "Daily standup", "daily standup #3" and "Daily Standup" are one meeting."""
    return " ".join(_NUMBERING.sub(" ", title.lower()).split())


def _title(entry: EntryLike) -> str:
    return str(getattr(entry, "title", "") or "").strip()


def _local(moment: datetime, tz: tzinfo) -> datetime:
    """The wall clock of the person's zone (naive times are UTC, as everywhere)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(tz)


def recurring_meetings(entries: Iterable[EntryLike], tz: tzinfo = UTC) -> list[dict[str, Any]]:
    """Meetings with the same title on at least RECURRING_MIN_DAYS distinct local days,
    most days first: title, days, entries, minutes and the usual start ("09:00")."""
    groups: dict[str, list[EntryLike]] = defaultdict(list)
    for entry in entries:
        if entry.type == "meeting" and (key := _title_key(_title(entry))):
            groups[key].append(entry)
    found = []
    for group in groups.values():
        days = {_local(e.start_time, tz).date() for e in group}
        if len(days) < RECURRING_MIN_DAYS:
            continue
        start = Counter(f"{_local(e.start_time, tz):%H:%M}" for e in group).most_common(1)[0][0]
        found.append(
            {
                "title": Counter(_title(e) for e in group).most_common(1)[0][0],
                "days": len(days),
                "entries": len(group),
                "minutes": round(sum(minutes(e) for e in group), 1),
                "usual_start": start,
            }
        )
    return sorted(found, key=lambda r: (-r["days"], -r["minutes"], r["title"]))


def _night_minutes(entry: EntryLike, tz: tzinfo = UTC) -> float:
    """Minutes of the entry between 22:00 and 06:00 in the person's zone (compared as
    UTC instants, so a DST night is as long as it was)."""
    start, end = _local(entry.start_time, UTC), _local(entry.end_time, UTC)
    total = 0.0
    day = _local(start, tz).date() - timedelta(days=1)  # early hours: the night before
    while day <= _local(end, tz).date():
        lo = datetime.combine(day, NIGHT_START, tz).astimezone(UTC)
        hi = datetime.combine(day + timedelta(days=1), NIGHT_END, tz).astimezone(UTC)
        total += max(0.0, (min(end, hi) - max(start, lo)).total_seconds() / 60.0)
        day += timedelta(days=1)
    return round(total, 1)


def night_work(
    entries: Iterable[EntryLike], tz: tzinfo = UTC
) -> tuple[list[dict[str, Any]], float, int]:
    """Entries with time between 22:00 and 06:00 or running past local midnight (on-call
    pages, late releases): the entries, their night minutes and how many cross midnight."""
    listed, total, crossing = [], 0.0, 0
    for entry in sort_entries(entries):
        night = _night_minutes(entry, tz)  # inside the range only
        whole = getattr(entry, "entry", entry)  # a part cut at the range's edge: its entry
        began, ended = _local(whole.start_time, tz), _local(whole.end_time, tz)
        crosses = ended.date() > began.date() and ended.time() != time(0)
        crossing += crosses
        if night <= 0 and not crosses:
            continue
        total += night
        listed.append(
            {
                "title": _title(entry),
                "start": began.isoformat(timespec="minutes"),
                "end": ended.isoformat(timespec="minutes"),
                "minutes": round(minutes(whole), 1),
                "minutes_in_range": round(minutes(entry), 1),
                "night_minutes": night,
                "crosses_midnight": crosses,
            }
        )
    return listed[:MAX_LISTED], round(total, 1), crossing


def learning_topics(entries: Iterable[EntryLike]) -> list[str]:
    """What was learned or researched, by minutes: the tags of those entries, or their
    titles when untagged."""
    spent: dict[str, float] = defaultdict(float)
    for entry in entries:
        if entry.type not in LEARNING_TYPES:
            continue
        names = list(entry.tags) or [_title(entry)]
        for name in names:
            if name:
                spent[name] += minutes(entry)
    return sorted(spent, key=lambda n: (-spent[n], n))[:MAX_TOPICS]


def overlapping_entries(entries: Sequence[EntryLike]) -> int:
    """Entries whose time overlaps another entry's (counted once each)."""
    ordered = sort_entries(entries)
    marked: set[int] = set()
    latest_end: datetime | None = None
    latest_index = -1
    for i, entry in enumerate(ordered):
        start, end = _instant(entry.start_time), _instant(entry.end_time)
        if latest_end is not None and start < latest_end:
            marked |= {i, latest_index}
        if latest_end is None or end > latest_end:
            latest_end, latest_index = end, i
    return len(marked)


def _quietest(daily: dict[str, float]) -> str | None:
    """The active day with the fewest minutes; the earliest wins a tie."""
    active = {d: m for d, m in daily.items() if m > 0}
    return min(active, key=lambda d: (active[d], d), default=None)


def patterns_of(
    entries: Sequence[EntryLike], daily_totals: dict[str, float], tz: tzinfo = UTC
) -> Patterns:
    by_type = Counter(str(e.type) for e in entries)
    tag_entries: Counter[str] = Counter()
    tag_minutes: dict[str, float] = defaultdict(float)
    for entry in entries:
        for tag in set(entry.tags):
            tag_entries[tag] += 1
            tag_minutes[tag] += minutes(entry)
    night, night_total, crossing = night_work(entries, tz)
    weekend = sum(m for d, m in daily_totals.items() if date.fromisoformat(d).weekday() >= 5)
    return Patterns(
        meeting_count=by_type.get("meeting", 0),
        entries_by_type=dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
        tag_entries=dict(sorted(tag_entries.items(), key=lambda kv: (-kv[1], kv[0]))),
        tag_minutes={
            t: round(m, 1) for t, m in sorted(tag_minutes.items(), key=lambda kv: (-kv[1], kv[0]))
        },
        recurring_meetings=recurring_meetings(entries, tz),
        night_entries=night,
        night_minutes=night_total,
        cross_midnight_entries=crossing,
        learning_topics=learning_topics(entries),
        overlapping_entries=overlapping_entries(entries),
        weekend_minutes=round(weekend, 1),
        quietest_day=_quietest(daily_totals),
    )
