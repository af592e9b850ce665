"""`/v1/analytics/summary` and `/v1/analytics/productivity`: the facts of a range of
local days, answered at once, without a worker. The numbers come from the same engine
the AI tasks use (`englog.ai.analytics.compute_facts`) over the same entries, in the
person's own zone, so they match an insight or a report over the same range."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from englog.ai.analytics import compute_facts
from englog.domain import localtime
from englog.domain.entries import Entry
from englog.server.auth import CurrentUser, State
from englog.server.http.errors import invalid
from englog.server.http.local_days import zone_of
from englog.server.http.models import MAX_PAGE
from englog.store.records import EntryQuery

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])

MAX_DAYS = 366
MAX_ENTRIES = 20_000
_DAY_DOC = "A local day in your time zone, such as 2026-03-02 (included)"
_DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
FROM_DAY = Annotated[
    str,
    Query(alias="from", min_length=10, max_length=10, pattern=_DAY_PATTERN, description=_DAY_DOC),
]
TO_DAY = Annotated[
    str, Query(min_length=10, max_length=10, pattern=_DAY_PATTERN, description=_DAY_DOC)
]
PRODUCTIVITY_FIELDS = (
    "period_start",
    "period_end",
    "time_zone",
    "days_active",
    "total_minutes",
    "focus_minutes",
    "meeting_minutes",
    "focus_ratio",
    "meeting_share",
    "context_switches",
    "context_switches_per_day",
    "longest_focus_block_minutes",
    "high_value_share",
    "team_impact_share",
    "streak_days",
    "daily_totals",
    "busiest_day",
    "busiest_day_minutes",
)


def parse_days(from_: str, to: str) -> tuple[date, date]:
    days = []
    for field, text in (("query.from", from_), ("query.to", to)):
        try:
            days.append(date.fromisoformat(text))
        except ValueError:
            raise invalid(field, f"{text!r} is not a calendar date") from None
    first, last = days
    if last < first:
        raise invalid("query.to", "to must not be before from")
    if (last - first).days + 1 > MAX_DAYS:
        raise invalid("query.to", f"a range spans at most {MAX_DAYS} days")
    return first, last


async def entries_of_days(
    state: State, user_id: str, first: date, last: date, tz: Any
) -> list[Entry]:
    """Every entry touching the local days; more than MAX_ENTRIES is refused, never cut."""
    try:
        start, end = localtime.range_bounds(first, last, tz)
    except (OverflowError, ValueError):
        raise invalid("query.to", "the range is out of the calendar") from None
    found: list[Entry] = []
    while len(found) <= MAX_ENTRIES:
        page = await state.store.list_entries(
            user_id, EntryQuery(start=start, end=end, limit=MAX_PAGE, offset=len(found))
        )
        found.extend(page)
        if len(page) < MAX_PAGE:
            break
    if len(found) > MAX_ENTRIES:
        raise invalid("query.from", f"more than {MAX_ENTRIES} entries; ask for a shorter range")
    return found


async def facts_of(state: State, user_id: str, from_: str, to: str) -> dict[str, Any]:
    first, last = parse_days(from_, to)
    zone_name, tz = await zone_of(state, user_id)
    entries = await entries_of_days(state, user_id, first, last, tz)
    facts: dict[str, Any] = compute_facts(entries, first, last, zone_name).as_dict()
    return facts


@router.get("/summary")
async def summary(
    user: CurrentUser,
    state: State,
    from_: FROM_DAY,
    to: TO_DAY,
) -> dict[str, Any]:
    """Every fact of the local days `from` to `to` (both included): totals by type,
    project, value and impact, daily totals, focus and meetings, top tags."""
    return await facts_of(state, user.id, from_, to)


@router.get("/productivity")
async def productivity(
    user: CurrentUser,
    state: State,
    from_: FROM_DAY,
    to: TO_DAY,
) -> dict[str, Any]:
    """Focus, meetings, context switches, streak and daily totals of the local days."""
    facts = await facts_of(state, user.id, from_, to)
    return {name: facts[name] for name in PRODUCTIVITY_FIELDS}


__all__ = ["router"]
