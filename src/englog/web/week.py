"""The engineer's landing page: the week's entries as a timeline by local day, totals
per day (time logged, and time lived when entries overlap), project and type with a
chart, a quick-add form, and edit/delete in place. Everything is on the clock of the
viewer's zone, and the week starts on their first day of the week."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from englog.domain.entries import (
    MAX_ENTRY_DURATION,
    ActivityType,
    Entry,
    EntryFields,
    ImpactLevel,
    ValueRating,
)
from englog.server import entry_checks
from englog.server.state import ServerState
from englog.store.base import EntryQuery
from englog.trends import Target, week_trends
from englog.web.calendar import Calendar, calendar_of
from englog.web.entry_form import EntryForm, form_values, local_input
from englog.web.pages import NotFound, go, is_htmx, render
from englog.web.sessions import Engineer, Viewer, checked_form, user_of, web_state
from englog.web.templating import span
from englog.web.totals import OutOfCalendar, Week, bars, week_totals
from englog.web.week_grid import quick_add_values, stylesheet, week_grid

router = APIRouter()
MAX_WEEK_ENTRIES = 1000  # a week shown in full; beyond that the page says so
RECENT_FOR_PROJECTS = 500
VIEW_COOKIE = "englog_week_view"  # the view last chosen: calendar (default) or list
View = Literal["calendar", "list"]
# What the edit form changes: it has no description, so a stored one is kept.
EDITED = set(EntryFields.model_fields) - {"description"}


def choices() -> dict[str, list[str]]:
    return {
        "types": [t.value for t in ActivityType],
        "values": [v.value for v in ValueRating],
        "impacts": [i.value for i in ImpactLevel],
    }


async def week_entries(state: ServerState, user_id: str, week: Week) -> list[Entry]:
    """The entries sharing time with the week (also one begun the week before)."""
    query = EntryQuery(start=week.start, end=week.end, limit=MAX_WEEK_ENTRIES)
    return await state.store.list_entries(user_id, query)


async def past_projects(state: ServerState, user_id: str) -> list[str]:
    recent = await state.store.list_entries(user_id, EntryQuery(limit=RECENT_FOR_PROJECTS))
    return sorted({e.project for e in recent if e.project})


def week_of(day: date | None, calendar: Calendar) -> Week:
    """The viewer's week holding `day` (today where they are when None); 422 at the
    ends of the calendar."""
    try:
        return Week.holding(day or calendar.today(), calendar.week_start, calendar.tz)
    except OutOfCalendar as exc:
        raise HTTPException(status_code=422, detail=f"Week: {exc}") from None


def _week_url(day: date | None, calendar: Calendar) -> str:
    """The page of the week holding `day`; this week for a day the page cannot show."""
    try:
        return f"/app/week?start={Week.holding(day or calendar.today(), calendar.week_start).first}"
    except OutOfCalendar:
        return "/app/week"


def _named(entry: Entry, calendar: Calendar) -> str:
    """`"Standup" Mon 09:00-09:15`: an entry as a warning names it."""
    return f"“{entry.title}” {span(entry, calendar.tz, weekday=True)}"


async def _week_page(
    request: Request,
    found: Viewer,
    week: Week,
    calendar: Calendar,
    form: EntryForm | None = None,
    status: int = 200,
    notices: list[str] | None = None,
    *,
    view: View | None = None,
    day: date | None = None,
    logged: str | None = None,
) -> HTMLResponse:
    state = web_state(request)
    user = user_of(found)
    entries = await week_entries(state, user.id, week)
    totals = week_totals(week, entries)
    if form is None:
        start = _default_start(week, calendar)
        form = EntryForm(values={"start": start, "type": "development"})
    settings = await state.store.get_user_settings(user.id)
    target = Target(
        settings.weekly_target_hours if settings else None,
        settings.focus_target if settings else None,
    )
    [trend] = week_trends(entries, [(week.first, week.last)], calendar.zone_name, target)
    if view is None:
        view = "list" if request.cookies.get(VIEW_COOKIE) == "list" else "calendar"
    today = calendar.today()
    shown_day = day if day in week.days else (today if today in week.days else week.first)
    return render(
        request,
        "week.html",
        found,
        status_code=status,
        nav="week",
        week=week,
        calendar=calendar,
        zone=calendar.tz,
        totals=totals,
        day_bars=bars([(d.strftime("%a"), m) for d, m in totals.by_day.items()]),
        project_bars=bars(list(totals.by_project.items())[:8]),
        projects=await past_projects(state, user.id),
        form=form,
        full=len(entries) >= MAX_WEEK_ENTRIES,
        notices=notices or [],
        here=f"/app/week?start={week.first}",
        view=view,
        grid=week_grid(week.days, [*entries, *_running_block(request, user.id, week)], calendar.tz),
        running_id=RUNNING_ID,
        shown_day=shown_day,
        today=today,
        target=target,
        trend=trend,
        logged=logged,
        **choices(),
    )


RUNNING_ID = "running-timer"


def _running_block(request: Request, user_id: str, week: Week) -> list[Entry]:
    """The running timer as an entry ending now, drawn on the calendar (never counted
    in the totals); none when it ran over a day (it could not be an entry as it is)."""
    bar = getattr(request.state, "timer_bar", None)
    running = bar.running if bar is not None else None
    if running is None:
        return []
    now = datetime.fromtimestamp(web_state(request).clock(), UTC)
    start = running.started.astimezone(UTC)
    end = max(now, start + timedelta(minutes=1))
    if end - start > MAX_ENTRY_DURATION or end <= week.start or start >= week.end:
        return []
    return [
        Entry(
            id=RUNNING_ID,
            user_id=user_id,
            title=running.title,
            type=running.type,
            project=running.project,
            start_time=start,
            end_time=end,
            created_at=now,
            updated_at=now,
        )
    ]


def _default_start(week: Week, calendar: Calendar) -> str:
    now = datetime.now(UTC)
    if week.start <= now < week.end:
        return local_input(now, calendar.tz)
    return f"{week.first}T09:00"


@router.get("/week", response_class=HTMLResponse)
async def week_page(
    request: Request,
    found: Engineer,
    start: Annotated[date | None, Query()] = None,
    check: Annotated[str | None, Query(max_length=64)] = None,
    view: Annotated[View | None, Query()] = None,
    day: Annotated[date | None, Query()] = None,
    at: Annotated[str | None, Query(max_length=32)] = None,
    logged: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """`check`: an entry just saved, whose warnings (overlaps, an end in the future)
    the page shows; `logged`: one the timer just logged (named, with its warnings).
    `view` (calendar or list) is remembered in a cookie; `day` is the day the calendar
    shows on a narrow screen; `at` (a calendar slot) prefills the quick-add form."""
    calendar = await calendar_of(web_state(request), user_of(found).id)
    notices = await _warnings(request, found, check, calendar) if check else []
    logged_name = None
    if logged:
        entry = await web_state(request).store.get_entry(user_of(found).id, logged)
        if entry is not None:
            logged_name = _named(entry, calendar)
            notices = await _warnings(request, found, logged, calendar)
    form = None
    week = week_of(start, calendar)
    if at and (values := quick_add_values(at)) is not None:
        form = EntryForm(values={"type": "development", **values})
        week = week_of(datetime.fromisoformat(at).date(), calendar)
    page = await _week_page(
        request,
        found,
        week,
        calendar,
        form,
        notices=notices,
        view=view,
        day=day,
        logged=logged_name,
    )
    if view is not None:
        page.set_cookie(
            VIEW_COOKIE,
            view,
            max_age=365 * 86400,
            path="/app",
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="strict",
        )
    return page


@router.get("/calendar.css")
async def calendar_css() -> Response:
    """The grid classes of the calendar view (generated, so rows and lanes match
    englog.web.week_grid)."""
    return Response(
        stylesheet(),
        media_type="text/css",
        headers={"cache-control": "public, max-age=3600"},
    )


async def _warnings(
    request: Request, found: Viewer, entry_id: str, calendar: Calendar
) -> list[str]:
    """What entry_checks says about the entry, its overlaps named by title and time."""
    state = web_state(request)
    user_id = user_of(found).id
    entry = await state.store.get_entry(user_id, entry_id)
    if entry is None:
        return []
    ids = (await entry_checks.overlaps(state.store, user_id, [entry])).get(entry.id, [])
    others = await state.store.get_entries(user_id, ids) if ids else []
    named = [_named(other, calendar) for other in others]
    now = datetime.fromtimestamp(state.clock(), UTC)
    return [
        f"{_named(entry, calendar)} {line}" for line in entry_checks.warnings(entry, named, now)
    ]


@router.post("/entries")
async def add_entry(request: Request, found: Engineer) -> Response:
    form = EntryForm.from_form(await checked_form(request, found))
    state = web_state(request)
    user_id = user_of(found).id
    calendar = await calendar_of(state, user_id)
    entry = form.entry(calendar.tz)
    if entry is None:
        try:
            week = Week.holding(
                _start_day(form) or calendar.today(), calendar.week_start, calendar.tz
            )
        except OutOfCalendar:
            week = week_of(None, calendar)
        return await _week_page(request, found, week, calendar, form, status=422)
    [stored] = await state.store.add_entries(user_id, [entry], state.clock())
    return await _to_week_of(request, found, stored, calendar)


async def _to_week_of(
    request: Request, found: Viewer, entry: Entry, calendar: Calendar
) -> Response:
    """Back to the week the entry starts in, where the change shows; with its warnings
    when it overlaps others or ends in the future."""
    state = web_state(request)
    url = _week_url(entry.start_time.astimezone(calendar.tz).date(), calendar)
    ids = (await entry_checks.overlaps(state.store, user_of(found).id, [entry])).get(entry.id, [])
    if entry_checks.warnings(entry, ids, datetime.fromtimestamp(state.clock(), UTC)):
        url += f"{'&' if '?' in url else '?'}check={entry.id}"
    return go(request, url)


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
    calendar = await calendar_of(web_state(request), user_of(found).id)
    form = EntryForm(values=form_values(entry, calendar.tz))
    name = "_entry_edit.html" if is_htmx(request) else "entry_edit.html"
    return render(
        request, name, found, entry=entry, form=form, nav="week", zone=calendar.tz, **choices()
    )


@router.post("/entries/{entry_id}")
async def update_entry(request: Request, found: Engineer, entry_id: str) -> Response:
    stored = await _own_entry(request, found, entry_id)
    form = EntryForm.from_form(await checked_form(request, found))
    state = web_state(request)
    user_id = user_of(found).id
    calendar = await calendar_of(state, user_id)
    entry = form.entry(calendar.tz)
    if entry is None:
        return render(
            request,
            "entry_edit.html",
            found,
            status_code=422,
            entry=stored,
            form=form,
            nav="week",
            zone=calendar.tz,
            **choices(),
        )
    values = entry.model_dump(include=EDITED)
    updated = await state.store.update_entry(user_id, entry_id, values, state.clock())
    if updated is None:  # deleted meanwhile
        raise NotFound("entry")
    return await _to_week_of(request, found, updated, calendar)


@router.post("/entries/{entry_id}/delete")
async def delete_entry(request: Request, found: Engineer, entry_id: str) -> Response:
    await checked_form(request, found)
    stored = await _own_entry(request, found, entry_id)
    state = web_state(request)
    await state.store.delete_entry(user_of(found).id, entry_id)
    calendar = await calendar_of(state, user_of(found).id)
    return go(request, _week_url(stored.start_time.astimezone(calendar.tz).date(), calendar))
