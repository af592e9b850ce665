"""Local days in a person's time zone: the one place that turns dates into instants and
instants into the days they were lived on.

Every path that reads a date (REST `from`/`to`, the CLI's `--date`, the web week,
insight and report ranges, the facts) goes through here, so a day means the same
instants everywhere. A local day runs from its local midnight to the next one, so DST
days are 23 or 25 hours long and consecutive days tile time with no gap and no overlap.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from englog.errors import EnglogError

__all__ = [
    "DEFAULT_ZONE",
    "UnknownZone",
    "Weekday",
    "check_zone",
    "clip",
    "day_bounds",
    "days_between",
    "local_date",
    "minutes_by_day",
    "range_bounds",
    "today_in",
    "union_minutes",
    "week_containing",
    "zone",
    "zone_or_default",
]

DEFAULT_ZONE = "UTC"
_DAY = timedelta(days=1)


class UnknownZone(EnglogError, ValueError):
    """A time zone name that is not in the IANA database."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown time zone {name!r}: give an IANA name such as Europe/Berlin or UTC"
        )
        self.name = name


class Weekday(enum.StrEnum):
    """The first day of a person's week."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def index(self) -> int:
        """0 for Monday, as `date.weekday()`."""
        return list(Weekday).index(self)


@lru_cache(maxsize=512)
def zone(name: str | None) -> tzinfo:
    """The zone named `name` (UTC for None or empty); UnknownZone otherwise.

    Only names of the IANA database are taken (not file paths, not `localtime`), so a
    zone stored today still means the same thing on another machine."""
    if not name or name == DEFAULT_ZONE:
        return UTC
    if name not in _known_zones():
        raise UnknownZone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(name) from None


# Files of the tz database that are not zones a person lives in, or that mean another
# thing on another machine.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules", "leapseconds", "tzdata.zi"})


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    names = {
        name
        for name in available_timezones()
        if name not in _NOT_ZONES and not name.startswith(("posix/", "right/"))
    }
    return frozenset(names) | {"UTC"}


def zone_or_default(name: str | None) -> tuple[str, tzinfo]:
    """A stored zone's name and zone; UTC for one this machine's tz database no longer
    has (a stored setting must never make a page or a report fail)."""
    try:
        return (name or DEFAULT_ZONE), zone(name)
    except UnknownZone:
        return DEFAULT_ZONE, UTC


def check_zone(name: str) -> str:
    """`name` if it is a known zone, else UnknownZone."""
    zone(name)
    return name


def _aware(moment: datetime) -> datetime:
    """The instant in UTC; a naive datetime is taken as UTC (as the REST API and the
    store take it). In UTC, so a difference is elapsed time even across a DST change
    (Python subtracts two datetimes sharing a zone object by their wall clocks)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def local_date(moment: datetime, tz: tzinfo) -> date:
    """The local calendar day `moment` falls on."""
    return _aware(moment).astimezone(tz).date()


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[local midnight of `day`, local midnight of the next day), as UTC instants."""
    return _midnight(day, tz), _midnight(day + _DAY, tz)


def range_bounds(first: date, last: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The instants of the local days `first` to `last`, both included, as UTC."""
    return _midnight(first, tz), _midnight(last + _DAY, tz)


def _midnight(day: date, tz: tzinfo) -> datetime:
    """The first instant of `day` in `tz`. Where midnight itself is skipped by a DST
    change, zoneinfo maps it forward, which is still the first instant of the day."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def days_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += _DAY


def clip(
    start: datetime, end: datetime, low: datetime | None, high: datetime | None
) -> tuple[datetime, datetime] | None:
    """The part of [start, end) inside [low, high) (either bound optional), or None."""
    start, end = _aware(start), _aware(end)
    if low is not None:
        start = max(start, low)
    if high is not None:
        end = min(end, high)
    return (start, end) if end > start else None


def minutes_by_day(start: datetime, end: datetime, tz: tzinfo) -> dict[date, float]:
    """Minutes of [start, end) on each local day it touches (an entry across midnight
    counts on both days)."""
    start, end = _aware(start), _aware(end)
    out: dict[date, float] = {}
    day = local_date(start, tz)
    while True:
        low, high = day_bounds(day, tz)
        part = clip(start, end, low, high)
        if part is not None:
            out[day] = (part[1] - part[0]).total_seconds() / 60.0
        if high >= end:
            return out
        day += _DAY


def union_minutes(spans: Iterable[tuple[datetime, datetime]]) -> float:
    """Minutes covered by at least one span: the time actually lived, however many
    entries overlap."""
    total = 0.0
    current: tuple[datetime, datetime] | None = None
    for start, end in sorted((_aware(s), _aware(e)) for s, e in spans):
        if current is None or start > current[1]:
            if current is not None:
                total += (current[1] - current[0]).total_seconds()
            current = (start, end)
        elif end > current[1]:
            current = (current[0], end)
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return total / 60.0


def week_containing(day: date, first_weekday: Weekday | str = Weekday.MONDAY) -> tuple[date, date]:
    """First and last day of the week holding `day`, weeks starting on `first_weekday`."""
    offset = (day.weekday() - Weekday(first_weekday).index) % 7
    first = day - timedelta(days=offset)
    return first, first + timedelta(days=6)


def today_in(tz: tzinfo, now: datetime | None = None) -> date:
    """Today's date for a person in `tz`."""
    return (now or datetime.now(UTC)).astimezone(tz).date()
