"""A week as the person lived it: random entries in zones with odd offsets and DST rules
(across midnight, week edges, DST switches, overlapping) against an independent count,
minute by minute, of when each minute was lived."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from englog.ai.analytics import compute_facts
from englog.domain import localtime

ZONES = [
    "America/Los_Angeles",
    "Europe/Berlin",
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Kiritimati",  # +14
    "UTC",
]
# Days around DST changes of those zones in 2026, and an ordinary week.
AROUND = [
    datetime(2026, 3, 8, tzinfo=UTC),  # US spring forward
    datetime(2026, 3, 29, tzinfo=UTC),  # EU spring forward
    datetime(2026, 4, 5, tzinfo=UTC),  # Lord Howe: back 30 minutes
    datetime(2026, 10, 4, tzinfo=UTC),  # Lord Howe: forward 30 minutes
    datetime(2026, 10, 25, tzinfo=UTC),  # EU fall back
    datetime(2026, 11, 1, tzinfo=UTC),  # US fall back
    datetime(2026, 6, 15, tzinfo=UTC),
]


@dataclass(frozen=True)
class E:
    start_time: datetime
    end_time: datetime
    type: str = "development"
    project: str | None = "atlas"
    tags: list[str] = field(default_factory=list)
    value_rating: str = "medium"
    impact_level: str = "personal"


entry_strategy = st.builds(
    lambda base, offset, length: E(
        base + timedelta(minutes=offset), base + timedelta(minutes=offset + length)
    ),
    st.sampled_from(AROUND),
    st.integers(min_value=-4 * 1440, max_value=4 * 1440),
    st.integers(min_value=1, max_value=1440),
)


def lived_minutes(entries: list[E], tz: ZoneInfo) -> Counter[date]:
    """Independent of englog: each minute of each entry, on the local day it falls on."""
    days: Counter[date] = Counter()
    for entry in entries:
        moment = entry.start_time
        while moment < entry.end_time:
            days[moment.astimezone(tz).date()] += 1
            moment += timedelta(minutes=1)
    return days


def covered_minutes(entries: list[E]) -> int:
    minutes: set[datetime] = set()
    for entry in entries:
        moment = entry.start_time
        while moment < entry.end_time:
            minutes.add(moment)
            moment += timedelta(minutes=1)
    return len(minutes)


@settings(max_examples=60, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    entries=st.lists(entry_strategy, min_size=1, max_size=8),
    week_start=st.sampled_from(list(localtime.Weekday)),
)
def test_consecutive_weeks_add_up_and_each_day_is_what_was_lived(
    zone_name: str, entries: list[E], week_start: localtime.Weekday
) -> None:
    tz = ZoneInfo(zone_name)
    expected_days = lived_minutes(entries, tz)
    total = sum((e.end_time - e.start_time).total_seconds() / 60 for e in entries)
    first, _ = localtime.week_containing(min(expected_days), week_start)
    last_day = max(expected_days)
    weeks_total = 0.0
    monday = first
    while monday <= last_day:
        sunday = monday + timedelta(days=6)
        facts = compute_facts(entries, monday, sunday, zone_name)
        weeks_total += facts.total_minutes
        assert facts.clock_minutes <= facts.total_minutes
        assert facts.overlap_minutes == pytest.approx(facts.total_minutes - facts.clock_minutes)
        for day in localtime.days_between(monday, sunday):
            assert facts.daily_totals[day.isoformat()] == expected_days.get(day, 0), day
        assert facts.time_zone == zone_name
        assert (facts.period_start, facts.period_end) == (monday, sunday)
        monday += timedelta(days=7)
    assert weeks_total == pytest.approx(total)
    whole = compute_facts(entries, time_zone=zone_name)
    assert whole.clipped_minutes == 0
    assert whole.clock_minutes == covered_minutes(entries)
    assert whole.total_minutes == pytest.approx(total)


@pytest.mark.parametrize(
    ("zone_name", "day", "hours"),
    [
        ("America/Los_Angeles", date(2026, 3, 8), 23),
        ("America/Los_Angeles", date(2026, 11, 1), 25),
        ("Europe/Berlin", date(2026, 3, 29), 23),
        ("Australia/Lord_Howe", date(2026, 4, 5), 24.5),
        ("Pacific/Kiritimati", date(2026, 6, 1), 24),
    ],
)
def test_dst_days_are_as_long_as_they_are(zone_name: str, day: date, hours: float) -> None:
    start, end = localtime.day_bounds(day, ZoneInfo(zone_name))
    assert (end - start) == timedelta(hours=hours)


def test_an_entry_across_midnight_counts_on_both_days() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # Friday 22:00 to Saturday 02:30, Berlin time.
    entry = E(
        datetime(2026, 11, 20, 22, 0, tzinfo=berlin), datetime(2026, 11, 21, 2, 30, tzinfo=berlin)
    )
    facts = compute_facts([entry], date(2026, 11, 16), date(2026, 11, 22), "Europe/Berlin")
    assert facts.daily_totals["2026-11-20"] == 120
    assert facts.daily_totals["2026-11-21"] == 150
    assert facts.days_active == 2


def test_an_entry_across_the_week_edge_is_clipped_and_said_so() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # Sunday 22:00 to Monday 01:00.
    entry = E(
        datetime(2026, 11, 22, 22, 0, tzinfo=berlin), datetime(2026, 11, 23, 1, 0, tzinfo=berlin)
    )
    this = compute_facts([entry], date(2026, 11, 16), date(2026, 11, 22), "Europe/Berlin")
    following = compute_facts([entry], date(2026, 11, 23), date(2026, 11, 29), "Europe/Berlin")
    assert (this.total_minutes, this.clipped_minutes, this.excluded_entries) == (120, 60, 0)
    assert (following.total_minutes, following.clipped_minutes) == (60, 120)
    assert following.entry_count == 1 and following.excluded_entries == 0


def test_overlapping_entries_count_clock_time_once() -> None:
    la = ZoneInfo("America/Los_Angeles")
    a = E(datetime(2026, 3, 4, 9, 0, tzinfo=la), datetime(2026, 3, 4, 10, 0, tzinfo=la))
    b = E(datetime(2026, 3, 4, 9, 30, tzinfo=la), datetime(2026, 3, 4, 10, 30, tzinfo=la))
    facts = compute_facts([a, b], date(2026, 3, 2), date(2026, 3, 8), "America/Los_Angeles")
    assert (facts.total_minutes, facts.clock_minutes, facts.overlap_minutes) == (120, 90, 30)


def test_unknown_zones_are_refused_by_name() -> None:
    with pytest.raises(localtime.UnknownZone, match="Mars/Olympus"):
        localtime.zone("Mars/Olympus")
    for not_a_zone in ("/etc/passwd", "localtime", "Factory", "posix/Europe/Berlin"):
        with pytest.raises(localtime.UnknownZone):
            localtime.zone(not_a_zone)
