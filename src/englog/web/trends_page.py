"""`/app/trends`: the last N local weeks side by side (the numbers of `GET /v1/trends`,
computed by the same functions), drawn as SVG columns on the server, and the form that
sets the weekly target the week page measures against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from englog.domain import localtime
from englog.server.http.trends import entries_between
from englog.store.records import UserSettings
from englog.trends import DEFAULT_WEEKS, MAX_WEEKS, Target, WeekTrend, week_trends, weeks_back
from englog.web.calendar import calendar_of
from englog.web.pages import go, render
from englog.web.sessions import Engineer, Viewer, checked_form, user_of, web_state

router = APIRouter()
CHART_HEIGHT = 120
COLUMN = 40  # width given to one week


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    text: str
    x: int
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Chart:
    label: str
    columns: list[Column]
    width: int
    line_y: float | None  # the target, when there is one
    line_text: str = ""


def column_chart(
    label: str,
    trends: list[WeekTrend],
    values: list[float],
    texts: list[str],
    line: float | None = None,
    line_text: str = "",
) -> Chart:
    """Columns scaled to the largest value (or the target line, when higher)."""
    top = max([*values, line or 0.0]) or 1.0
    scale = (CHART_HEIGHT - 20) / top
    columns = [
        Column(
            label=t.week_start.strftime("%d %b"),
            text=text,
            x=i * COLUMN,
            y=round(CHART_HEIGHT - value * scale, 1),
            height=round(value * scale, 1),
        )
        for i, (t, value, text) in enumerate(zip(trends, values, texts, strict=True))
    ]
    line_y = None if line is None else round(CHART_HEIGHT - line * scale, 1)
    return Chart(label, columns, max(len(trends), 1) * COLUMN, line_y, line_text)


def charts(trends: list[WeekTrend], target: Target) -> list[Chart]:
    hours = [t.clock_minutes / 60 for t in trends]
    focus = [t.focus_ratio * 100 for t in trends]
    meetings = [t.meeting_minutes / 60 for t in trends]
    return [
        column_chart(
            "Clock time per week (hours)",
            trends,
            hours,
            [f"{h:.1f}" for h in hours],
            target.hours,
            f"target {target.hours:g} h" if target.hours else "",
        ),
        column_chart(
            "Focus share per week (%)",
            trends,
            focus,
            [f"{f:.0f}" for f in focus],
            None if target.focus is None else target.focus * 100,
            f"target {target.focus * 100:.0f} %" if target.focus is not None else "",
        ),
        column_chart("Meetings per week (hours)", trends, meetings, [f"{m:.1f}" for m in meetings]),
    ]


async def _page(
    request: Request,
    found: Viewer,
    weeks: int,
    *,
    problems: list[str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    state = web_state(request)
    user_id = user_of(found).id
    calendar = await calendar_of(state, user_id)
    settings = await state.store.get_user_settings(user_id) or UserSettings()
    today = calendar.today(datetime.fromtimestamp(state.clock(), UTC))
    spans = weeks_back(today, weeks, calendar.week_start)
    start, end = localtime.range_bounds(spans[0][0], spans[-1][1], calendar.tz)
    entries = await entries_between(state, user_id, start, end)
    target = Target(settings.weekly_target_hours, settings.focus_target)
    trends = week_trends(entries, spans, calendar.zone_name, target)
    return render(
        request,
        "trends.html",
        found,
        status_code=status,
        nav="trends",
        weeks=weeks,
        trends=trends,
        charts=charts(trends, target),
        target=target,
        calendar=calendar,
        problems=problems or [],
        max_weeks=MAX_WEEKS,
    )


@router.get("/trends", response_class=HTMLResponse)
async def trends_page(
    request: Request,
    found: Engineer,
    weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS)] = DEFAULT_WEEKS,
) -> HTMLResponse:
    return await _page(request, found, weeks)


def _number(text: str, name: str, low: float, high: float) -> float | None:
    """Blank is none; otherwise a number in (low, high]."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a number") from None
    if not low < value <= high:
        raise ValueError(f"{name}: give a number above {low:g} and at most {high:g}")
    return value


@router.post("/trends/target")
async def set_target(request: Request, found: Engineer) -> Response:
    """The weekly target (hours; focus as a percentage), as `PATCH /v1/me` sets it;
    blank fields clear it."""
    form = await checked_form(request, found)
    try:
        hours = _number(str(form.get("hours") or "").strip(), "Hours a week", 0, 168)
        focus = _number(str(form.get("focus") or "").strip(), "Focus share", 0, 100)
    except ValueError as exc:
        return await _page(request, found, DEFAULT_WEEKS, problems=[str(exc)], status=422)
    state = web_state(request)
    await state.store.set_weekly_target(
        user_of(found).id, hours, None if focus is None else round(focus / 100, 4)
    )
    return go(request, "/app/trends")
