"""`/v1/entries`: a user's work log (create, bulk create, list, read, patch, delete)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import ValidationError

from englog.domain.entries import ActivityType, EntryFields, EntryPatch
from englog.server.auth import CurrentUser, State
from englog.server.http.errors import ApiError, field_errors, not_found
from englog.server.http.iso_times import IsoDateTime
from englog.server.http.models import (
    MAX_OFFSET,
    MAX_PAGE,
    BulkEntriesIn,
    EntryIn,
    entry_json,
    utc,
)
from englog.store.base import EntryQuery

router = APIRouter(prefix="/v1/entries", tags=["entries"])


@router.post("", status_code=201)
async def create_entry(body: EntryIn, user: CurrentUser, state: State) -> dict[str, Any]:
    [entry] = await state.store.add_entries(user.id, [body], state.clock())
    return entry_json(entry)


@router.post("/bulk", status_code=201)
async def create_entries(body: BulkEntriesIn, user: CurrentUser, state: State) -> dict[str, Any]:
    """All or nothing: one invalid entry rejects the whole batch before anything is stored."""
    stored = await state.store.add_entries(user.id, body.entries, state.clock())
    return {"entries": [entry_json(e) for e in stored], "count": len(stored)}


@router.get("")
async def list_entries(
    user: CurrentUser,
    state: State,
    from_: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    to: IsoDateTime | None = None,
    type: ActivityType | None = None,
    project: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    query = EntryQuery(
        start=utc(from_) if from_ else None,
        end=utc(to) if to else None,
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
    return entry_json(updated)


@router.delete("/{entry_id}", status_code=204)
async def delete_entry(entry_id: str, user: CurrentUser, state: State) -> Response:
    if not await state.store.delete_entry(user.id, entry_id):
        raise not_found("entry")
    return Response(status_code=204)
