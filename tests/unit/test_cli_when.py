"""Times as people type them to `englog log` and `englog entries`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from englog.cli.when import (
    entry_span,
    format_minutes,
    listing_range,
    parse_clock,
    parse_minutes,
    pick_day,
)
from englog.client.periods import as_week, parse_week

DAY = date(2026, 11, 30)  # a Monday
NOW = datetime(2026, 12, 2, 17, 45).astimezone()


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("45m", 45), ("90m", 90), ("1h30m", 90), ("1.5h", 90), ("2h", 120), ("1h 5m", 65),
     ("10min", 10)],
)  # fmt: skip
def test_durations(text: str, minutes: float) -> None:
    assert parse_minutes(text) == minutes


@pytest.mark.parametrize("text", ["", "45", "45x", "h", "0m", "-5m", "1h1.5", "1:3x"])
def test_bad_durations_say_the_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"45m|more than zero|unit"):
        parse_minutes(text)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("45 min", 45), ("1h30", 90), ("1:30", 90), ("0:45", 45), ("2 hours", 120),
     ("30 minutes", 30), ("1H30M", 90)],
)  # fmt: skip
def test_durations_people_type(text: str, minutes: float) -> None:
    assert parse_minutes(text) == minutes


@pytest.mark.parametrize("text", ["1h90m", "1:75", "2h60"])
def test_minutes_past_an_hour_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="minutes after hours must be under 60"):
        parse_minutes(text)


def test_an_end_after_midnight_is_the_next_day() -> None:
    span = entry_span(None, "23:00", "01:00", date(2026, 11, 29), NOW)
    assert span.start.date() == date(2026, 11, 29) and span.end.date() == date(2026, 11, 30)
    assert span.minutes == 120


def test_times_are_in_the_given_zone_across_a_dst_change() -> None:
    la = ZoneInfo("America/Los_Angeles")
    # 2026-03-08: clocks go from 02:00 to 03:00 in Los Angeles.
    span = entry_span(None, "01:00", "04:00", date(2026, 3, 8), NOW, la)
    assert span.minutes == 120
    assert span.start.utcoffset() == timedelta(hours=-8)
    assert span.end.utcoffset() == timedelta(hours=-7)


def test_format_minutes() -> None:
    assert [format_minutes(m) for m in (45, 60, 80, 150.4)] == ["45m", "1h", "1h20m", "2h30m"]


def test_clock_times() -> None:
    assert parse_clock("09:10", "--from") == time(9, 10)
    assert parse_clock("9", "--from") == time(9, 0)
    with pytest.raises(ValueError, match="--to '24:00' is not a time of day"):
        parse_clock("24:00", "--to")
    with pytest.raises(ValueError, match="--from 'noon'"):
        parse_clock("noon", "--from")


def test_each_way_of_saying_when() -> None:
    both = entry_span(None, "09:10", "10:30", DAY, NOW)
    assert (both.start.time(), both.end.time(), both.minutes) == (time(9, 10), time(10, 30), 80)
    from_and_duration = entry_span("45m", "09:00", None, DAY, NOW)
    assert from_and_duration.end.time() == time(9, 45)
    to_and_duration = entry_span("1h", None, "12:00", DAY, NOW)
    assert to_and_duration.start.time() == time(11, 0)
    ends_now = entry_span("30m", None, None, NOW.date(), NOW)
    assert ends_now.end.time() == time(17, 45) and ends_now.minutes == 30
    assert entry_span(None, "17:00", None, NOW.date(), NOW).end.time() == time(17, 45)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((None, "10:00", "08:00"), r"ends \(08:00\) before it starts \(10:00\)"),
        ((None, None, None), "say how long"),
        (("1h", "09:00", "10:00"), "not all three"),
        ((None, None, "10:00"), "--to needs --from or a duration"),
    ],
)
def test_impossible_entries(args: tuple[str | None, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        entry_span(*args, DAY, NOW)  # type: ignore[misc]


def test_days() -> None:
    assert pick_day(True, None, DAY) == date(2026, 11, 29)
    assert pick_day(False, "2026-11-03", DAY) == date(2026, 11, 3)
    with pytest.raises(ValueError, match="not both"):
        pick_day(True, "2026-11-03", DAY)
    with pytest.raises(ValueError, match="not a date"):
        pick_day(False, "30/11/2026", DAY)


def test_weeks() -> None:
    assert parse_week("2026-W48") == (date(2026, 11, 23), date(2026, 11, 29))
    assert parse_week("2026w1") == (date(2025, 12, 29), date(2026, 1, 4))
    assert as_week(date(2026, 12, 3)) == (date(2026, 11, 30), date(2026, 12, 6))
    with pytest.raises(ValueError, match="does not exist"):
        parse_week("2026-W54")


def test_listing_ranges() -> None:
    assert listing_range(False, None, None, None, DAY) == (date(2026, 11, 30), date(2026, 12, 6))
    assert listing_range(True, None, None, None, DAY) == (DAY, DAY)
    assert listing_range(False, None, "2026-11-01", "2026-11-02", DAY) == (
        date(2026, 11, 1),
        date(2026, 11, 2),
    )
    # A week starting on Sunday holds Sunday 29 November.
    assert listing_range(False, None, None, None, DAY, "sunday") == (
        date(2026, 11, 29),
        date(2026, 12, 5),
    )
    with pytest.raises(ValueError, match="one of"):
        listing_range(True, "2026-W48", None, None, DAY)
    with pytest.raises(ValueError, match="before"):
        listing_range(False, None, "2026-11-05", "2026-11-02", DAY)
