"""`/v1/tags`: the tags on my entries with how often and how lately they are used
(`q` a prefix, `sort=popular|recent`), and renaming or merging a tag across my
entries (`POST /v1/tags/rename`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from englog.server.auth import CurrentUser, State
from englog.server.http.errors import not_found

router = APIRouter(prefix="/v1/tags", tags=["tags"])
TagName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]


class TagView(BaseModel):
    name: str
    count: int = Field(description="Entries carrying the tag")
    last_used: float = Field(description="Start of the latest such entry (unix seconds)")


class TagList(BaseModel):
    tags: list[TagView]


class TagRename(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    from_: TagName = Field(alias="from")
    to: TagName


class TagRenamed(BaseModel):
    entries: int = Field(description="Entries changed")


@router.get("")
async def list_tags(
    user: CurrentUser,
    state: State,
    q: Annotated[str | None, Query(max_length=64, description="Prefix, any case")] = None,
    sort: Annotated[Literal["popular", "recent", "name"], Query()] = "popular",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TagList:
    uses = await state.store.tag_uses(user.id)
    if q:
        uses = [u for u in uses if u.name.lower().startswith(q.lower())]
    if sort == "popular":
        uses.sort(key=lambda u: (-u.count, -u.last_used, u.name))
    elif sort == "recent":
        uses.sort(key=lambda u: (-u.last_used, -u.count, u.name))
    else:
        uses.sort(key=lambda u: u.name)
    return TagList(tags=[TagView(name=u.name, count=u.count, last_used=u.last_used)
                         for u in uses[:limit]])  # fmt: skip


@router.post("/rename")
async def rename_tag(body: TagRename, user: CurrentUser, state: State) -> TagRenamed:
    """Rename `from` to `to` on every entry of yours; an entry that has both keeps one
    (a merge). 404 when no entry carries `from`."""
    tagged = await state.store.entries_tagged(user.id, body.from_)
    if not tagged:
        raise not_found("tag")
    now = state.clock()
    for entry_id, tags in tagged:
        renamed = list(dict.fromkeys(body.to if t == body.from_ else t for t in tags))
        await state.store.update_entry(user.id, entry_id, {"tags": renamed}, now)
    return TagRenamed(entries=len(tagged))
