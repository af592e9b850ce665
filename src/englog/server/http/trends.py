"""`/v1/trends`: the last N local weeks side by side (total, clock time, focus, meetings,
top projects, progress against the weekly target), for `englog trends` and the web."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from englog.domain import localtime
from englog.domain.entries import Entry
from englog.server.auth import CurrentUser, State
from englog.server.http.local_days import settings_of, zone_of
from englog.server.http.models import MAX_PAGE
from englog.store.base import EntryQuery
from englog.trends import DEFAULT_WEEKS, MAX_WEEKS, Target, week_trends, weeks_back

router = APIRouter(prefix="/v1/trends", tags=["trends"])


async def entries_between(
    state: State, user_id: str, start: datetime, end: datetime
) -> list[Entry]:
    """Every entry of the user overlapping [start, end), page by page."""
    found: list[Entry] = []
    while True:
        page = await state.store.list_entries(
            user_id, EntryQuery(start=start, end=end, limit=MAX_PAGE, offset=len(found))
        )
        found += page
        if len(page) < MAX_PAGE:
            return found


@router.get("")
async def get_trends(
    user: CurrentUser,
    state: State,
    weeks: Annotated[
        int, Query(ge=1, le=MAX_WEEKS, description="How many weeks, this one included")
    ] = DEFAULT_WEEKS,
) -> dict[str, Any]:
    """The last `weeks` local weeks in your zone, oldest first, each with its totals and,
    when you set a weekly target (`PATCH /v1/me`), `target_progress` (clock time over
    the target: 1.0 is met) and `focus_target_met`."""
    settings = await settings_of(state, user.id)
    zone_name, tz = await zone_of(state, user.id)
    today = localtime.today_in(tz, datetime.fromtimestamp(state.clock(), tz))
    spans = weeks_back(today, weeks, settings.week_start)
    start, end = localtime.range_bounds(spans[0][0], spans[-1][1], tz)
    entries = await entries_between(state, user.id, start, end)
    target = Target(settings.weekly_target_hours, settings.focus_target)
    rows = week_trends(entries, spans, zone_name, target)
    return {
        "time_zone": zone_name,
        "week_start": settings.week_start,
        "weekly_target_hours": settings.weekly_target_hours,
        "focus_target": settings.focus_target,
        "weeks": [row.as_dict() for row in rows],
    }
