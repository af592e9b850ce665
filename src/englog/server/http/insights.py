"""`POST /v1/tasks/insights` and `/v1/tasks/reports`: AI tasks that carry a snapshot of
the user's entries, so workers need no database and never see another user's data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from fastapi import APIRouter, Request, Response

from englog.domain import localtime
from englog.domain.entries import Entry
from englog.domain.tasks import NewTask
from englog.server.auth import CurrentUser, State
from englog.server.http.errors import invalid
from englog.server.http.local_days import range_end, range_start, zone_of
from englog.server.http.models import (
    MAX_PAGE,
    WAIT_RESPONSES,
    InsightRequest,
    ReportRequest,
    TaskAccepted,
)
from englog.server.http.submission import submit, timeout_for
from englog.server.state import ServerState
from englog.store.base import EntryQuery

MAX_TASK_RANGE = timedelta(days=31)
# Entries gathered for one insight/report; the payload size limit usually bites first.
MAX_TASK_ENTRIES = 10_000

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


@router.post("/insights", status_code=202, response_model=TaskAccepted, responses=WAIT_RESPONSES)
async def submit_insight(
    body: InsightRequest, user: CurrentUser, state: State, request: Request, response: Response
) -> Response:
    return await submit(request, response, await insight_task(state, user.id, body))


@router.post("/reports", status_code=202, response_model=TaskAccepted, responses=WAIT_RESPONSES)
async def submit_report(
    body: ReportRequest, user: CurrentUser, state: State, request: Request, response: Response
) -> Response:
    """Entries sharing time with the local days [week_start, week_end] in the user's zone."""
    return await submit(request, response, await report_task(state, user.id, body))


async def insight_task(state: ServerState, user_id: str, body: InsightRequest) -> NewTask:
    """The `insight_generation` task for `body`, carrying the user's entries, the range
    asked for and the user's zone (REST and the web app submit the same task). ApiError
    (422) for a request it cannot serve."""
    zone_name, tz = await zone_of(state, user_id)
    found, period = await _insight_entries(state, user_id, body, tz)
    payload: dict[str, Any] = {
        "insight_type": str(body.insight_type),
        "entries": [e.to_payload() for e in found],
        "context": body.context,
        "time_zone": zone_name,
    }
    if period is not None:
        payload["period_start"], payload["period_end"] = (d.isoformat() for d in period)
        payload["previous_entries"] = await _previous_entries(state, user_id, *period, tz)
    return _ai_task(user_id, "insight_generation", payload, body)


async def report_task(state: ServerState, user_id: str, body: ReportRequest) -> NewTask:
    """The `weekly_report` task over the user's local days [week_start, week_end], with
    every entry sharing time with them (the facts count only the minutes inside)."""
    if body.week_end < body.week_start:
        raise invalid("body.week_end", "week_end must not be before week_start")
    if (body.week_end - body.week_start).days + 1 > MAX_TASK_RANGE.days:
        raise invalid("body.week_end", f"a report spans at most {MAX_TASK_RANGE.days} days")
    if body.week_end >= date.max - timedelta(days=1) or body.week_start <= date.min:
        raise invalid("body.week_end", "week_end is out of range")
    zone_name, tz = await zone_of(state, user_id)
    found = await _entries_in_range(
        state, user_id, *localtime.range_bounds(body.week_start, body.week_end, tz)
    )
    if not found:
        raise invalid(
            "body.week_start",
            f"no entries between week_start and week_end (local days in {zone_name})",
        )
    payload = {
        "week_start": body.week_start.isoformat(),
        "week_end": body.week_end.isoformat(),
        "entries": [e.to_payload() for e in found],
        "time_zone": zone_name,
        "previous_entries": await _previous_entries(
            state, user_id, body.week_start, body.week_end, tz
        ),
    }
    return _ai_task(user_id, "weekly_report", payload, body)


async def _previous_entries(
    state: ServerState, user_id: str, first: date, last: date, tz: tzinfo
) -> list[dict[str, Any]]:
    """The entries of the same number of local days just before `first` (possibly
    none: a quiet week before is a fact), so trends compare with what was logged."""
    length = timedelta(days=(last - first).days + 1)
    try:
        bounds = localtime.range_bounds(first - length, first - timedelta(days=1), tz)
    except (OverflowError, ValueError):
        return []
    return [e.to_payload() for e in await _entries_in_range(state, user_id, *bounds)]


def whole_days(first: date, last: date, tz: tzinfo = UTC) -> tuple[datetime, datetime]:
    """The instants of the local days `first` to `last` in `tz` (both included)."""
    return localtime.range_bounds(first, last, tz)


def _ai_task(
    user_id: str, type_: str, payload: dict[str, Any], body: InsightRequest | ReportRequest
) -> NewTask:
    return NewTask(
        type=type_,
        payload=payload,
        user_id=user_id,
        priority=body.priority,
        timeout_s=timeout_for(type_),
    )


async def _insight_entries(
    state: ServerState, user_id: str, body: InsightRequest, tz: tzinfo
) -> tuple[list[Entry], tuple[date, date] | None]:
    """The entries an insight is about, and the local days asked for (None for a
    choice of entries: their own days are the period)."""
    if body.entry_ids is not None:
        if body.from_ is not None or body.to is not None:
            raise invalid("body.entry_ids", "give either entry_ids or from/to, not both")
        wanted = list(dict.fromkeys(body.entry_ids))
        found = await state.store.get_entries(user_id, wanted)
        missing = sorted(set(wanted) - {e.id for e in found})
        if missing:
            raise invalid(
                "body.entry_ids",
                f"unknown entries: {', '.join(missing)}",
                missing_entry_ids=missing,
            )
        first = min(localtime.local_date(e.start_time, tz) for e in found)
        last = max(localtime.local_date(e.end_time, tz) for e in found)
        if (last - first).days + 1 > MAX_TASK_RANGE.days:
            raise invalid(
                "body.entry_ids",
                f"the entries span {(last - first).days + 1} days; "
                f"an insight covers at most {MAX_TASK_RANGE.days}",
            )
        return found, None
    if body.from_ is None or body.to is None:
        raise invalid("body.entry_ids", "give entry_ids, or both from and to")
    try:
        start, end = range_start(body.from_, tz), range_end(body.to, tz)
    except (OverflowError, ValueError):
        raise invalid("body.to", "the range is out of the calendar") from None
    _check_range(start, end, "body.from", "body.to")
    found = await _entries_in_range(state, user_id, start, end)
    if not found:
        raise invalid("body.from", "no entries in the requested range")
    first = localtime.local_date(start, tz)
    last = localtime.local_date(end - timedelta(microseconds=1), tz)
    days = (last - first).days + 1
    # Instants spanning 31 days may touch 32 local days; dates count exactly.
    if days > MAX_TASK_RANGE.days + (0 if _both_days(body) else 1):
        raise invalid("body.to", f"the range spans at most {MAX_TASK_RANGE.days} days")
    return found, (first, last)


def _check_range(start: datetime, end: datetime, start_field: str, end_field: str) -> None:
    """An instant range runs forward and spans at most 31 days (a range of local days is
    counted in days, so a DST change cannot push a 31-day range over)."""
    if end <= start:
        raise invalid(
            end_field,
            f"{end_field.rsplit('.', 1)[-1]} must be after {start_field.rsplit('.', 1)[-1]}",
        )
    if end - start > MAX_TASK_RANGE + timedelta(hours=2):
        raise invalid(end_field, f"the range spans at most {MAX_TASK_RANGE.days} days")


async def _entries_in_range(
    state: ServerState, user_id: str, start: datetime, end: datetime
) -> list[Entry]:
    """All entries in the range; more than MAX_TASK_ENTRIES is refused, never cut."""
    found: list[Entry] = []
    while len(found) <= MAX_TASK_ENTRIES:
        page = await state.store.list_entries(
            user_id, EntryQuery(start=start, end=end, limit=MAX_PAGE, offset=len(found))
        )
        found.extend(page)
        if len(page) < MAX_PAGE:
            break
    if len(found) > MAX_TASK_ENTRIES:
        raise invalid(
            "body.from",
            f"the range holds more than {MAX_TASK_ENTRIES} entries; ask for a shorter range",
        )
    return found


def _both_days(body: InsightRequest) -> bool:
    return not isinstance(body.from_, datetime) and not isinstance(body.to, datetime)
