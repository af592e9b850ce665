"""The projects page: each project with its colour, status and time logged this week
(the facts engine, in the person's zone and week), a form to add one, and per project a
form to rename, recolour, change status (archive) or make it the default."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.params import Path
from fastapi.responses import HTMLResponse, Response

from englog.ai.analytics import compute_facts
from englog.domain import localtime
from englog.server.http.analytics import entries_of_days
from englog.server.http.local_days import settings_of
from englog.store.accounts import Conflict
from englog.web.pages import NotFound, go, render
from englog.web.sessions import Engineer, checked_form, user_of, web_state

router = APIRouter(prefix="/projects")
ProjectId = Annotated[str, Path(min_length=1, max_length=64)]
STATUSES = ("active", "completed", "on_hold", "cancelled")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


async def _page(
    request: Request, found: Engineer, *, status_code: int = 200, problem: str = ""
) -> HTMLResponse:
    state = web_state(request)
    user = user_of(found)
    settings = await settings_of(state, user.id)
    tz = localtime.zone(settings.zone_name)
    today = localtime.today_in(tz, datetime.fromtimestamp(state.clock(), UTC))
    first, last = localtime.week_containing(today, settings.week_start)
    await state.store.sync_projects(user.id, state.clock())
    projects = await state.store.list_projects(user.id)
    entries = await entries_of_days(state, user.id, first, last, tz)
    minutes = compute_facts(entries, first, last, settings.zone_name).minutes_by_project
    return render(
        request,
        "projects.html",
        found,
        status_code=status_code,
        nav="projects",
        projects=projects,
        minutes=minutes,
        week=(first, last),
        statuses=STATUSES,
        problem=problem,
    )


@router.get("", response_class=HTMLResponse)
async def projects_page(request: Request, found: Engineer) -> HTMLResponse:
    return await _page(request, found)


def _changes(form: dict[str, str]) -> dict[str, object] | str:
    """The project fields of a posted form, or what is wrong with them."""
    name = form.get("name", "").strip()
    colour = form.get("colour", "").strip()
    status = form.get("status", "active")
    if not name or len(name) > 100:
        return "Name the project (up to 100 characters)"
    if colour and not COLOUR.match(colour):
        return "A colour is #rrggbb"
    if status not in STATUSES:
        return "Unknown status"
    return {
        "name": name,
        "colour": colour or None,
        "status": status,
        "description": form.get("description", "").strip() or None,
    }


@router.post("", response_class=HTMLResponse)
async def add_project(request: Request, found: Engineer) -> Response:
    form = {k: str(v) for k, v in (await checked_form(request, found)).items()}
    changes = _changes(form)
    if isinstance(changes, str):
        return await _page(request, found, status_code=422, problem=changes)
    state = web_state(request)
    try:
        await state.store.create_project(user_of(found).id, changes, state.clock())
    except Conflict:
        return await _page(request, found, status_code=409, problem="You have that project")
    return go(request, "/app/projects")


@router.post("/{project_id}", response_class=HTMLResponse)
async def edit_project(request: Request, found: Engineer, project_id: ProjectId) -> Response:
    form = {k: str(v) for k, v in (await checked_form(request, found)).items()}
    changes = _changes(form)
    if isinstance(changes, str):
        return await _page(request, found, status_code=422, problem=changes)
    changes["is_default"] = form.get("default") == "on"
    state = web_state(request)
    try:
        done = await state.store.update_project(
            user_of(found).id, project_id, changes, state.clock()
        )
    except Conflict:
        return await _page(request, found, status_code=409, problem="You have that project")
    if done is None:
        raise NotFound(project_id)
    return go(request, "/app/projects")
