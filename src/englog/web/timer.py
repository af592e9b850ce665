"""The timer on the web: start (header form), stop, continue an entry, and the page
that stops a timer flagged for running more than 12 hours (an end time, keep it all,
or discard it). Every action is the REST route's own function (`server.http.timer`),
so the web and `/v1/timer` refuse and log the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from englog.server.http import timer as rest
from englog.server.http.errors import ApiError, field_errors
from englog.web.calendar import calendar_of
from englog.web.entry_form import FormProblem, local_input, local_moment
from englog.web.pages import NotFound, go, render
from englog.web.sessions import Engineer, Viewer, checked_form, user_of, web_state
from englog.web.settings import _safe_next
from englog.web.timer_bar import running_view
from englog.web.week import choices

router = APIRouter()
DEFAULT_NEXT = "/app/week"


def problem_text(exc: ApiError | ValidationError) -> list[str]:
    """A refusal in words: the API's detail, or each field's message."""
    if isinstance(exc, ValidationError):
        errors = field_errors(exc.errors())
    elif isinstance(exc.detail, list):
        errors = exc.detail
    else:
        return [str(exc.detail)]
    out = []
    for e in errors:
        where = str(e.get("field", "")).split(".")[-1].replace("_", " ")
        out.append(f"{where.capitalize()}: {e['message']}" if where else str(e["message"]))
    return out


async def _timer_page(
    request: Request, found: Viewer, *, problems: list[str] | None = None, status: int = 200
) -> HTMLResponse:
    state = web_state(request)
    user_id = user_of(found).id
    calendar = await calendar_of(state, user_id)
    timer = await state.store.get_timer(user_id)
    now = datetime.fromtimestamp(state.clock(), UTC)
    running = None if timer is None else running_view(timer, calendar, now)
    return render(
        request,
        "timer.html",
        found,
        status_code=status,
        nav="timer",
        running=running,
        calendar=calendar,
        end_value=local_input(now, calendar.tz),
        problems=problems or [],
        **choices(),
    )


async def _after(
    request: Request, found: Viewer, logged: dict[str, Any] | None, next_url: str
) -> Response:
    """To the week of the entry just logged (named in a notice), else back where the
    person was."""
    if logged is None:
        return go(request, _safe_next(next_url) if next_url else DEFAULT_NEXT)
    state = web_state(request)
    start = datetime.fromisoformat(logged["start_time"])
    calendar = await calendar_of(state, user_of(found).id)
    day = start.astimezone(calendar.tz).date()
    return go(request, f"/app/week?start={day}&logged={logged['id']}")


def _next_of(form: Any) -> str:
    return str(form.get("next") or "")


@router.get("/timer", response_class=HTMLResponse)
async def timer_page(request: Request, found: Engineer) -> HTMLResponse:
    return await _timer_page(request, found)


@router.get("/timer/status", response_class=HTMLResponse)
async def timer_status(request: Request, found: Engineer) -> HTMLResponse:
    """The header's elapsed time, polled by htmx while a timer runs."""
    return render(request, "_timer_status.html", found)


@router.post("/timer")
async def start_timer(request: Request, found: Engineer) -> Response:
    form = await checked_form(request, found)
    fields: dict[str, Any] = {
        "title": str(form.get("title") or "").strip(),
        "type": str(form.get("type") or "development"),
        "project": str(form.get("project") or "").strip() or None,
    }
    return await _start(request, found, fields, _next_of(form))


async def _start(
    request: Request, found: Viewer, fields: dict[str, Any], next_url: str
) -> Response:
    state = web_state(request)
    try:
        answer = await rest.start(state, user_of(found).id, rest.TimerIn.model_validate(fields))
    except (ApiError, ValidationError) as exc:
        status = exc.status if isinstance(exc, ApiError) else 422
        return await _timer_page(request, found, problems=problem_text(exc), status=status)
    return await _after(request, found, answer["stopped"], next_url)


@router.post("/entries/{entry_id}/continue")
async def continue_entry(request: Request, found: Engineer, entry_id: str) -> Response:
    """Start the timer again like this entry (title, type, project, tags, ratings)."""
    form = await checked_form(request, found)
    entry = await web_state(request).store.get_entry(user_of(found).id, entry_id)
    if entry is None:
        raise NotFound("entry")
    fields = entry.model_dump(mode="json", include=set(rest.TimerFields.model_fields))
    return await _start(request, found, fields, _next_of(form))


@router.post("/timer/stop")
async def stop_timer(request: Request, found: Engineer) -> Response:
    """`how`: `now` (the default), `at` (the `end` field, on the viewer's clock), `keep`
    (all of a flagged timer) or `discard`."""
    form = await checked_form(request, found)
    how = str(form.get("how") or "now")
    state = web_state(request)
    calendar = await calendar_of(state, user_of(found).id)
    body: dict[str, Any] = {}
    try:
        if how == "at":
            body["end_time"] = local_moment(str(form.get("end") or "").strip(), "End", calendar.tz)
        elif how == "keep":
            body["keep_long"] = True
        elif how == "discard":
            body["discard"] = True
        elif how != "now":
            raise FormProblem(f"{how!r} is not a way to stop: now, at, keep or discard")
        answer = await rest.stop(state, user_of(found).id, rest.TimerStop.model_validate(body))
    except FormProblem as exc:
        return await _timer_page(request, found, problems=[str(exc)], status=422)
    except (ApiError, ValidationError) as exc:
        status = exc.status if isinstance(exc, ApiError) else 422
        return await _timer_page(request, found, problems=problem_text(exc), status=status)
    return await _after(request, found, answer["entry"], _next_of(form))
