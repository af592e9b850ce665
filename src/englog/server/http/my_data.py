"""My data: every entry of mine as JSON or CSV (`GET /v1/me/export`; `englog import`
takes the CSV back), and deleting my account with everything of it (`DELETE /v1/me`,
confirmed by typing my name)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from englog.domain.entries import Entry
from englog.domain.entry_csv import to_csv
from englog.server.auth import CurrentUser, State
from englog.server.http.errors import invalid, not_found
from englog.server.http.models import MAX_PAGE, entry_json
from englog.store.records import EntryQuery

router = APIRouter(prefix="/v1/me", tags=["me"])

_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Every entry of yours, oldest first",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["entries", "count"],
                    "properties": {
                        "entries": {"type": "array", "items": {"type": "object"}},
                        "count": {"type": "integer"},
                    },
                }
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


async def all_entries(state: State, user_id: str) -> list[Entry]:
    found: list[Entry] = []
    while True:
        page = await state.store.list_entries(
            user_id, EntryQuery(limit=MAX_PAGE, offset=len(found))
        )
        found.extend(page)
        if len(page) < MAX_PAGE:
            return found


@router.get("/export", response_model=None, responses=_EXPORT_RESPONSES)
async def export_entries(
    user: CurrentUser,
    state: State,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response | dict[str, Any]:
    """All my entries: JSON (`{"entries", "count"}`) or CSV (a download)."""
    entries = [entry_json(e) for e in await all_entries(state, user.id)]
    if format == "json":
        return {"entries": entries, "count": len(entries)}
    return Response(
        to_csv(entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="englog-{user.name}.csv"'},
    )


@router.delete("", status_code=204)
async def delete_me(
    user: CurrentUser,
    state: State,
    confirm: Annotated[str, Query(max_length=100, description="Your account name, to confirm")],
) -> Response:
    """Delete my account: entries, tasks, results, tokens and sessions go with it."""
    if confirm != user.name:
        raise invalid("query.confirm", "type your account name to confirm")
    if not await state.store.delete_user(user.id):
        raise not_found("user")
    return Response(status_code=204)
