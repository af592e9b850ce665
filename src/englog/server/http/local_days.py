"""Dates in requests are the person's local days; date-times are exact instants.

`?from=2026-03-08&to=2026-03-08` means the whole of 8 March where the person lives
(23 hours that day in Los Angeles), `to` included, while
`?from=2026-03-08T09:00:00-08:00` is that instant. One parser for every route that
takes a range, so the rule is the same everywhere."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo

from pydantic import TypeAdapter, ValidationError

from englog.domain import localtime
from englog.server.http.errors import invalid
from englog.server.state import ServerState
from englog.store.records import UserSettings

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT = TypeAdapter(datetime)


def parse_day_or_instant(text: str, field: str) -> date | datetime:
    """A date (`2026-03-08`) or an ISO 8601 date-time; 422 naming `field` otherwise."""
    value = text.strip()
    if _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise invalid(field, f"{value!r} is not a calendar date") from None
    if re.fullmatch(r"\s*[-+]?[\d.eE+-]+\s*", value):
        raise invalid(field, "give a date (2026-03-08) or an ISO 8601 date-time")
    try:
        moment = _INSTANT.validate_python(value)
    except ValidationError:
        raise invalid(
            field, "give a date (2026-03-08) or an ISO 8601 date-time, such as 2026-03-08T09:00Z"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def range_start(value: date | datetime, tz: tzinfo) -> datetime:
    """The first instant of a range that starts at `value`."""
    if isinstance(value, datetime):
        return value
    return localtime.day_bounds(value, tz)[0]


def range_end(value: date | datetime, tz: tzinfo) -> datetime:
    """The instant a range ending at `value` stops: after the whole local day for a date."""
    if isinstance(value, datetime):
        return value
    try:
        return localtime.day_bounds(value, tz)[1]
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


async def settings_of(state: ServerState, user_id: str) -> UserSettings:
    """The user's calendar settings (defaults if the user vanished meanwhile)."""
    found = await state.store.get_user_settings(user_id)
    return found if found is not None else UserSettings()


async def zone_of(state: ServerState, user_id: str) -> tuple[str, tzinfo]:
    """The user's zone name and zone."""
    return localtime.zone_or_default((await settings_of(state, user_id)).zone_name)
