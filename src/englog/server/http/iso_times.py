"""Date-times in requests are ISO 8601 strings, as the OpenAPI document says.

pydantic's lax mode also takes a number (or a string of digits) as Unix seconds, so
`?from=2026` silently meant 1970-01-01T00:33:46Z and `"start_time": 5` was stored: a
client bug answered with wrong data instead of an error. `IsoDateTime` refuses them with
the API's 422 naming the field; every ISO 8601 form pydantic reads stays accepted."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

_NUMBER = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")


def _iso_8601_only(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and not _NUMBER.fullmatch(value)):
        return value
    raise ValueError("give an ISO 8601 date-time, such as 2026-01-05T09:00:00Z")


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601_only)]


def _iso_date_only(value: Any) -> Any:
    if (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and not _NUMBER.fullmatch(value)
    ):
        return value
    raise ValueError("give an ISO 8601 date, such as 2026-01-05")


# A day given as `2026-01-05` (lax mode alone took a number as Unix seconds: 1970-01-01).
IsoDate = Annotated[date, Field(strict=False), BeforeValidator(_iso_date_only)]


_DAY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")


def _day_or_instant(value: Any) -> Any:
    """`2026-03-08` stays a date (a local day); anything else must be a date-time."""
    if isinstance(value, str) and _DAY.fullmatch(value):
        return date.fromisoformat(value.strip())
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return _iso_8601_only(value)


# A local day (a date) or an exact instant (a date-time), as range bounds are given.
DayOrInstant = Annotated[datetime | date, BeforeValidator(_day_or_instant)]
