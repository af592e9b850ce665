"""Date-times in requests are ISO 8601 strings, as the OpenAPI document says.

pydantic's lax mode also takes a number (or a string of digits) as Unix seconds, so
`?from=2026` silently meant 1970-01-01T00:33:46Z and `"start_time": 5` was stored: a
client bug answered with wrong data instead of an error. `IsoDateTime` refuses them with
the API's 422 naming the field; every ISO 8601 form pydantic reads stays accepted."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_NUMBER = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")


def _iso_8601_only(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and not _NUMBER.fullmatch(value)):
        return value
    raise ValueError("give an ISO 8601 date-time, such as 2026-01-05T09:00:00Z")


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601_only)]
