"""ISO weeks and local times, as people type them: `2026-W48`, a date in the week, or
this week. A report covers Monday to Sunday."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

_WEEK = re.compile(r"(\d{4})-?W(\d{1,2})", re.IGNORECASE)


def parse_week(text: str) -> tuple[date, date]:
    """Monday and Sunday of `2026-W48` (or `2026W48`); ValueError says the form."""
    match = _WEEK.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"week {text!r} is not like 2026-W48")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise ValueError(f"week {text!r} does not exist: {exc}") from exc
    return monday, monday + timedelta(days=6)


def week_of(day: date) -> tuple[date, date]:
    """Monday and Sunday of the ISO week holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def as_week(week: str | date | tuple[date, date] | None) -> tuple[date, date]:
    """A week given as `2026-W48`, any date in it, an explicit (start, end), or None
    for the current one."""
    if week is None:
        return week_of(date.today())
    if isinstance(week, tuple):
        return week
    if isinstance(week, datetime):
        return week_of(week.date())
    if isinstance(week, date):
        return week_of(week)
    return parse_week(week)


def aware(moment: datetime) -> datetime:
    """A naive datetime is taken as local time, as a person means it."""
    return moment if moment.tzinfo is not None else moment.astimezone()


def day_start(day: date) -> datetime:
    """Local midnight starting `day`."""
    return aware(datetime.combine(day, datetime.min.time()))
