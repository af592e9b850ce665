"""The engineer's landing page: the week's entries as a timeline by day, totals per day,
project and type with a chart, a quick-add form, and edit/delete in place."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from englog.domain.entries import ActivityType, Entry, EntryFields, ImpactLevel, ValueRating
from englog.server.state import ServerState
from englog.store.base import EntryQuery
from englog.web.entry_form import EntryForm, form_values
from englog.web.pages import NotFound, go, is_htmx, render
from englog.web.sessions import Engineer, Viewer, checked_form, user_of, web_state
from englog.web.totals import Week, bars, week_totals

router = APIRouter()
MAX_WEEK_ENTRIES = 1000  # a week shown in full; beyond that the page says so
RECENT_FOR_PROJECTS = 500
# What the edit form changes: it has no description, so a stored one is kept.
EDITED = set(EntryFields.model_fields) - {"description"}


def choices() -> dict[str, list[str]]:
    return {
        "types": [t.value for t in ActivityType],
        "values": [v.value for v in ValueRating],
        "impacts": [i.value for i in ImpactLevel],
    }


async def week_entries(state: ServerState, user_id: str, week: Week) -> list[Entry]:
    query = EntryQuery(start=week.start, end=week.end, limit=MAX_WEEK_ENTRIES)
    return await state.store.list_entries(user_id, query)


async def past_projects(state: ServerState, user_id: str) -> list[str]:
    recent = await state.store.list_entries(user_id, EntryQuery(limit=RECENT_FOR_PROJECTS))
    return sorted({e.project for e in recent if e.project})


# The weeks a page can show with its previous and next links (issue 22: the calendar's
# first and last weeks were a 500 with a traceback).
FIRST_DAY = date(1, 1, 8)
LAST_DAY = date(9999, 12, 24)


def _week_of(start: date | None) -> Week:
    day = start or datetime.now(UTC).date()
    return Week.holding(min(max(day, FIRST_DAY), LAST_DAY))


async def _week_page(
    request: Request, found: Viewer, week: Week, form: EntryForm | None = None, status: int = 200
) -> HTMLResponse:
    state = web_state(request)
    user = user_of(found)
    entries = await week_entries(state, user.id, week)
    totals = week_totals(week, entries)
    if form is None:
        form = EntryForm(values={"start": _default_start(week), "type": "development"})
    return render(
        request,
        "week.html",
        found,
        status_code=status,
        nav="week",
        week=week,
        totals=totals,
        day_bars=bars([(d.strftime("%a"), m) for d, m in totals.by_day.items()]),
        project_bars=bars(list(totals.by_project.items())[:8]),
        projects=await past_projects(state, user.id),
        form=form,
        full=len(entries) >= MAX_WEEK_ENTRIES,
        **choices(),
    )


def _default_start(week: Week) -> str:
    now = datetime.now(UTC)
    moment = now if week.start <= now < week.end else week.start.replace(hour=9)
    return moment.strftime("%Y-%m-%dT%H:%M")


@router.get("/week", response_class=HTMLResponse)
async def week_page(
    request: Request,
    found: Engineer,
    start: Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY)] = None,
) -> HTMLResponse:
    return await _week_page(request, found, _week_of(start))


@router.post("/entries")
async def add_entry(request: Request, found: Engineer) -> Response:
    form = EntryForm.from_form(await checked_form(request, found))
    entry = form.entry()
    state = web_state(request)
    if entry is None:
        week = _week_of(_start_day(form))
        return await _week_page(request, found, week, form, status=422)
    await state.store.add_entries(user_of(found).id, [entry], state.clock())
    return _to_week_of(request, entry)


def _to_week_of(request: Request, entry: EntryFields) -> Response:
    """Back to the week the entry starts in, where the change shows."""
    return go(request, f"/app/week?start={Week.holding(entry.start_time.date()).monday}")


def _start_day(form: EntryForm) -> date | None:
    try:
        return datetime.fromisoformat(form.values["start"]).date()
    except ValueError:
        return None


async def _own_entry(request: Request, found: Viewer, entry_id: str) -> Entry:
    entry = await web_state(request).store.get_entry(user_of(found).id, entry_id)
    if entry is None:
        raise NotFound("entry")
    return entry


@router.get("/entries/{entry_id}/edit", response_class=HTMLResponse)
async def edit_entry_form(request: Request, found: Engineer, entry_id: str) -> HTMLResponse:
    entry = await _own_entry(request, found, entry_id)
    form = EntryForm(values=form_values(entry))
    name = "_entry_edit.html" if is_htmx(request) else "entry_edit.html"
    return render(request, name, found, entry=entry, form=form, nav="week", **choices())


@router.post("/entries/{entry_id}")
async def update_entry(request: Request, found: Engineer, entry_id: str) -> Response:
    stored = await _own_entry(request, found, entry_id)
    form = EntryForm.from_form(await checked_form(request, found))
    entry = form.entry()
    if entry is None:
        return render(
            request,
            "entry_edit.html",
            found,
            status_code=422,
            entry=stored,
            form=form,
            nav="week",
            **choices(),
        )
    state = web_state(request)
    values = entry.model_dump(include=EDITED)
    await state.store.update_entry(user_of(found).id, entry_id, values, state.clock())
    return _to_week_of(request, entry)


@router.post("/entries/{entry_id}/delete")
async def delete_entry(request: Request, found: Engineer, entry_id: str) -> Response:
    await checked_form(request, found)
    stored = await _own_entry(request, found, entry_id)
    await web_state(request).store.delete_entry(user_of(found).id, entry_id)
    return _to_week_of(request, stored)
