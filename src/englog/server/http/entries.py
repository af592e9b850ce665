"""`/v1/entries`: a user's work log (create, bulk create, list, read, patch, delete)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import ValidationError

from englog.domain.entries import ActivityType, Entry, EntryFields, EntryPatch
from englog.server import entry_checks
from englog.server.auth import CurrentUser, State
from englog.server.http.errors import ApiError, field_errors, invalid, not_found
from englog.server.http.local_days import parse_day_or_instant, range_end, range_start, zone_of
from englog.server.http.models import (
    MAX_OFFSET,
    MAX_PAGE,
    BulkEntriesIn,
    EntryIn,
    entry_json,
)
from englog.server.http.projects import with_default_project
from englog.store.base import EntryQuery

router = APIRouter(prefix="/v1/entries", tags=["entries"])


RANGE_DOC = (
    "A date (2026-03-08) is a local day in your time zone (`GET /v1/me`), `to` included; "
    "a date-time is that exact instant. Entries overlapping the range are listed."
)


async def checked_json(state: State, user_id: str, stored: Sequence[Entry]) -> list[dict[str, Any]]:
    """Entries as JSON, each with the ids of the entries it overlaps and its warnings."""
    found = await entry_checks.overlaps(state.store, user_id, stored)
    now = datetime.fromtimestamp(state.clock(), UTC)
    return [
        entry_json(e)
        | {"overlaps": found[e.id], "warnings": entry_checks.warnings(e, found[e.id], now)}
        for e in stored
    ]


@router.post("", status_code=201)
async def create_entry(body: EntryIn, user: CurrentUser, state: State) -> dict[str, Any]:
    """The stored entry, with `overlaps` (ids of your entries sharing its time) and
    `warnings` (an overlap, an end in the future): never refused for either."""
    fields = await with_default_project(state, user.id, [body])
    [entry] = await state.store.add_entries(user.id, fields, state.clock())
    [answer] = await checked_json(state, user.id, [entry])
    return answer


@router.post("/bulk", status_code=201)
async def create_entries(body: BulkEntriesIn, user: CurrentUser, state: State) -> dict[str, Any]:
    """All or nothing: one invalid entry rejects the whole batch before anything is stored."""
    fields = await with_default_project(state, user.id, list(body.entries))
    stored = await state.store.add_entries(user.id, fields, state.clock())
    return {"entries": await checked_json(state, user.id, stored), "count": len(stored)}


@router.get("")
async def list_entries(
    user: CurrentUser,
    state: State,
    from_: Annotated[str | None, Query(alias="from", max_length=64, description=RANGE_DOC)] = None,
    to: Annotated[str | None, Query(max_length=64, description=RANGE_DOC)] = None,
    type: ActivityType | None = None,
    project: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    low = parse_day_or_instant(from_, "query.from") if from_ else None
    high = parse_day_or_instant(to, "query.to") if to else None
    # The zone is read only when a bound is a local day: instants need none.
    days = [b for b in (low, high) if b is not None and not isinstance(b, datetime)]
    tz = (await zone_of(state, user.id))[1] if days else UTC
    start = range_start(low, tz) if low is not None else None
    end = range_end(high, tz) if high is not None else None
    if start is not None and end is not None and end <= start:
        raise invalid("query.to", "to must be after from (a date includes its whole day)")
    query = EntryQuery(
        start=start,
        end=end,
        type=type.value if type else None,
        project=project,
        limit=limit,
        offset=offset,
    )
    found = await state.store.list_entries(user.id, query)
    return {
        "entries": [entry_json(e) for e in found],
        "count": len(found),
        "limit": limit,
        "offset": offset,
    }


@router.get("/{entry_id}")
async def get_entry(entry_id: str, user: CurrentUser, state: State) -> dict[str, Any]:
    entry = await state.store.get_entry(user.id, entry_id)
    if entry is None:
        raise not_found("entry")
    return entry_json(entry)


@router.patch("/{entry_id}")
async def patch_entry(
    entry_id: str, body: EntryPatch, user: CurrentUser, state: State
) -> dict[str, Any]:
    """Merge the patch into the stored entry and validate the result as a whole, so a
    new start_time is checked against the stored end_time (and vice versa)."""
    stored = await state.store.get_entry(user.id, entry_id)
    if stored is None:
        raise not_found("entry")
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        return entry_json(stored)
    merged_input = stored.model_dump(include=set(EntryFields.model_fields)) | changes
    try:
        merged = EntryIn.model_validate(merged_input)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", field_errors(exc.errors(), ("body",))) from exc
    values = {name: getattr(merged, name) for name in changes}
    updated = await state.store.update_entry(user.id, entry_id, values, state.clock())
    if updated is None:
        raise not_found("entry")
    [answer] = await checked_json(state, user.id, [updated])
    return answer


@router.delete("/{entry_id}", status_code=204)
async def delete_entry(entry_id: str, user: CurrentUser, state: State) -> Response:
    if not await state.store.delete_entry(user.id, entry_id):
        raise not_found("entry")
    return Response(status_code=204)
