"""`/v1/projects`: a person's projects with description, colour, status, dates and one
default (used for entries logged without a project), and per-project totals over a
range of local days from the facts engine. Entries still name projects by name: a new
name becomes a project the first time projects are listed."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from englog.ai.analytics import compute_facts
from englog.server.auth import CurrentUser, State
from englog.server.http.accounts import conflict
from englog.server.http.analytics import entries_of_days, parse_days
from englog.server.http.errors import invalid, not_found
from englog.server.http.iso_times import IsoDate
from englog.server.http.local_days import zone_of
from englog.store.accounts import Conflict
from englog.store.projects import Project

router = APIRouter(prefix="/v1/projects", tags=["projects"])
T = TypeVar("T", bound=BaseModel)

Status = Literal["active", "completed", "on_hold", "cancelled"]
ProjectName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*\S[^\x00]*$")]
Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$", examples=["#3b82f6"])]
Description = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]
ProjectId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]
Day = Annotated[str | None, Query(min_length=10, max_length=10, pattern=r"^\d{4}-\d{2}-\d{2}$")]


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: ProjectName
    description: Description | None = None
    colour: Colour | None = None
    status: Status = "active"
    is_default: bool = False
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None


class ProjectPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: ProjectName | None = None
    description: Description | None = None
    colour: Colour | None = None
    status: Status | None = None
    is_default: bool | None = None
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None


class ProjectView(BaseModel):
    id: str
    name: str
    description: str | None = None
    colour: str | None = None
    status: Status
    is_default: bool
    start_date: str | None = None
    end_date: str | None = None
    created_at: float
    updated_at: float
    minutes: float | None = Field(
        default=None, description="Minutes logged in the range asked for (from/to)"
    )


class ProjectList(BaseModel):
    projects: list[ProjectView]


def view(project: Project, minutes: float | None = None) -> ProjectView:
    return ProjectView(
        id=project.id,
        name=project.name,
        description=project.description,
        colour=project.colour,
        status=project.status,  # type: ignore[arg-type]
        is_default=project.is_default,
        start_date=project.start_date,
        end_date=project.end_date,
        created_at=project.created_at,
        updated_at=project.updated_at,
        minutes=minutes,
    )


def _fields(body: BaseModel, *, patch: bool) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=patch)
    for required in ("name", "status", "is_default"):  # null means "unchanged" for these
        if required in values and values[required] is None:
            del values[required]
    for key in ("start_date", "end_date"):
        if isinstance(values.get(key), date):
            values[key] = values[key].isoformat()
    if "name" in values:
        values["name"] = values["name"].strip()
    return values


@router.get("")
async def list_projects(
    user: CurrentUser,
    state: State,
    from_: Annotated[Day, Query(alias="from")] = None,
    to: Day = None,
    status: Annotated[Status | None, Query()] = None,
) -> ProjectList:
    """Your projects by name (names your entries use are included); with `from` and
    `to` (local days), each with the minutes logged in them."""
    await state.store.sync_projects(user.id, state.clock())
    projects = await state.store.list_projects(user.id)
    if status is not None:
        projects = [p for p in projects if p.status == status]
    if (from_ is None) != (to is None):
        raise invalid("query.to" if to is None else "query.from", "give both from and to")
    if from_ is None or to is None:
        return ProjectList(projects=[view(p) for p in projects])
    first, last = parse_days(from_, to)
    zone_name, tz = await zone_of(state, user.id)
    entries = await entries_of_days(state, user.id, first, last, tz)
    minutes = compute_facts(entries, first, last, zone_name).minutes_by_project
    return ProjectList(projects=[view(p, float(minutes.get(p.name, 0.0))) for p in projects])


@router.post("", status_code=201)
async def create_project(body: ProjectIn, user: CurrentUser, state: State) -> ProjectView:
    """A new project (409 when you have one of that name)."""
    try:
        made = await state.store.create_project(user.id, _fields(body, patch=False), state.clock())
    except Conflict as exc:
        raise conflict(exc) from None
    return view(made)


@router.get("/{project_id}")
async def get_project(project_id: ProjectId, user: CurrentUser, state: State) -> ProjectView:
    found = await state.store.get_project(user.id, project_id)
    if found is None:
        raise not_found("project")
    return view(found)


@router.patch("/{project_id}")
async def patch_project(
    project_id: ProjectId, body: ProjectPatch, user: CurrentUser, state: State
) -> ProjectView:
    """Rename (your entries follow), describe, colour, set the status (archive:
    completed or cancelled), the dates or the default."""
    try:
        found = await state.store.update_project(
            user.id, project_id, _fields(body, patch=True), state.clock()
        )
    except Conflict as exc:
        raise conflict(exc) from None
    if found is None:
        raise not_found("project")
    return view(found)


@router.delete("/{project_id}", status_code=204)
async def delete_project(project_id: ProjectId, user: CurrentUser, state: State) -> Response:
    """Delete the project; its entries stay, without a project."""
    if not await state.store.delete_project(user.id, project_id, state.clock()):
        raise not_found("project")
    return Response(status_code=204)


async def with_default_project(state: State, user_id: str, entries: list[T]) -> list[T]:
    """Entries without a project get the user's default project, when there is one."""
    if all(getattr(e, "project", None) is not None for e in entries):
        return entries
    default = await state.store.default_project(user_id)
    if default is None:
        return entries
    return [
        e if getattr(e, "project", None) is not None else e.model_copy(update={"project": default})
        for e in entries
    ]
