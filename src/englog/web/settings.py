"""`/app/settings`: the time zone a person's days are counted in and the day their
week starts, the web's side of `PATCH /v1/me`. The zone must be an IANA name the
server knows; an unknown one is refused with the name it was given. The week page's
offer to switch to the browser's zone posts here too (with `next` to go back)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from englog.domain import localtime
from englog.domain.localtime import UnknownZone, Weekday
from englog.web.calendar import Calendar, calendar_of
from englog.web.pages import go, render
from englog.web.sessions import Engineer, Viewer, checked_form, user_of, web_state

router = APIRouter()
MAX_ZONE_NAME = 64
DEFAULT_NEXT = "/app/settings?saved=1"


@lru_cache(maxsize=1)
def zone_names() -> list[str]:
    """The IANA names offered for completion: Area/City ones (no `posixrules`, `Etc/…`
    aliases or legacy `US/…` links clutter the list; they are still accepted) and UTC."""
    from zoneinfo import available_timezones

    areas = (
        "Africa/",
        "America/",
        "Antarctica/",
        "Arctic/",
        "Asia/",
        "Atlantic/",
        "Australia/",
        "Europe/",
        "Indian/",
        "Pacific/",
    )
    return ["UTC", *sorted(n for n in available_timezones() if n.startswith(areas))]


def _safe_next(value: str) -> str:
    """Only a page of this app: never another site (`//evil`, `https://…`)."""
    if value.startswith("/app/") and not value.startswith("//") and "\\" not in value:
        return value
    return DEFAULT_NEXT


async def _page(
    request: Request,
    found: Viewer,
    calendar: Calendar,
    *,
    problems: list[str] | None = None,
    values: dict[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    shown = values or {"timezone": calendar.zone_name, "week_start": str(calendar.week_start)}
    return render(
        request,
        "settings.html",
        found,
        status_code=status_code,
        nav="settings",
        calendar=calendar,
        zone=calendar.tz,
        now=datetime.now(UTC),
        form=shown,
        problems=problems or [],
        saved=saved,
        zone_names=zone_names(),
        weekdays=[str(d) for d in Weekday],
        here="/app/settings",
    )


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request, found: Engineer, saved: int = 0) -> HTMLResponse:
    calendar = await calendar_of(web_state(request), user_of(found).id)
    return await _page(request, found, calendar, saved=bool(saved))


@router.post("/settings")
async def save_settings(request: Request, found: Engineer) -> Response:
    """Set what the form gives; a form without `week_start` (the zone offer) keeps it."""
    form = await checked_form(request, found)
    values = {name: str(form.get(name) or "").strip() for name in ("timezone", "week_start")}
    state = web_state(request)
    user_id = user_of(found).id
    problems: list[str] = []
    zone_name = values["timezone"]
    if not zone_name:
        problems.append("Time zone: give an IANA name such as Europe/Berlin or UTC")
    elif len(zone_name) > MAX_ZONE_NAME:
        problems.append(f"Time zone: at most {MAX_ZONE_NAME} characters")
    else:
        try:
            localtime.check_zone(zone_name)
        except UnknownZone as exc:
            problems.append(f"Time zone: {exc}")
    week_start: str | None = values["week_start"] or None
    if week_start is not None and week_start not in {str(d) for d in Weekday}:
        problems.append(f"First day of the week: {week_start!r} is not a day of the week")
    if problems:
        calendar = await calendar_of(state, user_id)
        shown = {**values, "week_start": week_start or str(calendar.week_start)}
        return await _page(
            request, found, calendar, problems=problems, values=shown, status_code=422
        )
    await state.store.set_user_settings(user_id, timezone=zone_name, week_start=week_start)
    return go(request, _safe_next(str(form.get("next") or DEFAULT_NEXT)))
