"""Insights and weekly reports: ask for one, watch it progress live (htmx polls a
fragment that stops polling once the task is finished), read it rendered, download a
report as Markdown. Tasks are looked up with the viewer's user id, so another user's
task is a 404 on every page and fragment."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.params import Path
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from englog.ai.result_text import markdown, points
from englog.ai.schemas import Insight, InsightType, WeeklyReport
from englog.domain import localtime
from englog.domain.tasks import Task, TaskStatus
from englog.server.http.errors import ApiError, field_errors
from englog.server.http.insights import insight_task, report_task
from englog.server.http.models import InsightRequest, ReportRequest
from englog.web.calendar import Calendar, calendar_of
from englog.web.pages import NotFound, go, is_htmx, render
from englog.web.sessions import Engineer, Viewer, checked_form, user_of, web_state

router = APIRouter()
LISTED = 50
KINDS = {"insights": "insight_generation", "reports": "weekly_report"}
TaskId = Annotated[str, Path(min_length=1, max_length=64)]


def _problem(exc: ApiError | ValidationError) -> str:
    """What the API would answer, in one line: its messages without the field paths."""
    detail = field_errors(exc.errors()) if isinstance(exc, ValidationError) else exc.detail
    if isinstance(detail, list):
        return "; ".join(str(item.get("message", item)) for item in detail)
    return str(detail)


async def _calendar(request: Request, found: Viewer) -> Calendar:
    return await calendar_of(web_state(request), user_of(found).id)


async def _listed(request: Request, found: Viewer, kind: str) -> list[Task]:
    store = web_state(request).store
    return await store.list_tasks(user_of(found).id, None, KINDS[kind], LISTED, 0)


async def _own_task(request: Request, found: Viewer, task_id: str, kind: str) -> Task:
    task = await web_state(request).store.get_task(task_id, user_of(found).id)
    if task is None or task.type != KINDS[kind]:
        raise NotFound("task")
    return task


def _result(task: Task) -> Insight | WeeklyReport | None:
    if task.status is not TaskStatus.COMPLETED or not isinstance(task.result, dict):
        return None
    model = WeeklyReport if task.type == KINDS["reports"] else Insight
    try:
        return model.model_validate(task.result)
    except ValidationError:
        return None


def _panel_values(task: Task, kind: str) -> dict[str, Any]:
    result = _result(task)
    heading, items = points(result) if result else ("", [])
    return {
        "task": task,
        "result": result,
        "points_heading": heading,
        "points": items,
        "kind": kind,
        "panel_url": f"/app/{kind}/{task.id}/panel",
    }


# --- insights -----------------------------------------------------------------------------


@router.get("/insights", response_class=HTMLResponse)
async def insights_page(request: Request, found: Engineer) -> HTMLResponse:
    return await _insights_view(request, found)


async def _insights_view(
    request: Request,
    found: Viewer,
    problem: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    calendar = await _calendar(request, found)
    today = calendar.today()
    first, _ = localtime.week_containing(today, calendar.week_start)
    form = values or {"insight_type": "productivity", "from": str(first), "to": str(today)}
    return render(
        request,
        "insights.html",
        found,
        status_code=status_code,
        nav="insights",
        calendar=calendar,
        zone=calendar.tz,
        tasks=await _listed(request, found, "insights"),
        form=form,
        problem=problem,
        insight_types=[t.value for t in InsightType],
    )


@router.post("/insights")
async def request_insight(request: Request, found: Engineer) -> Response:
    form = await checked_form(request, found)
    values = {k: str(form.get(k) or "") for k in ("insight_type", "from", "to")}
    state = web_state(request)
    try:
        # Plain dates: local days in the viewer's zone, `to` included (insight_task
        # reads them so, as REST does).
        first, last = date.fromisoformat(values["from"]), date.fromisoformat(values["to"])
        body = InsightRequest.model_validate(
            {"insight_type": values["insight_type"], "from": first, "to": last}
        )
        [task] = await state.queue.submit([await insight_task(state, user_of(found).id, body)])
    except ValueError as exc:  # also pydantic's ValidationError
        problem = _problem(exc) if isinstance(exc, ValidationError) else f"Dates: {exc}"
        return await _insights_view(request, found, problem, values, 422)
    except ApiError as exc:
        return await _insights_view(request, found, _problem(exc), values, 422)
    return go(request, f"/app/insights/{task.id}")


# --- reports ------------------------------------------------------------------------------


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request, found: Engineer) -> HTMLResponse:
    return await _reports_view(request, found)


async def _reports_view(
    request: Request,
    found: Viewer,
    problem: str = "",
    week_start: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    calendar = await _calendar(request, found)
    first, last = localtime.week_containing(calendar.today(), calendar.week_start)
    return render(
        request,
        "reports.html",
        found,
        status_code=status_code,
        nav="reports",
        calendar=calendar,
        zone=calendar.tz,
        first_day=first,
        last_day=last,
        tasks=await _listed(request, found, "reports"),
        problem=problem,
        week_start=week_start or str(first),
    )


@router.post("/reports")
async def request_report(request: Request, found: Engineer) -> Response:
    form = await checked_form(request, found)
    given = str(form.get("week_start") or "")
    state = web_state(request)
    calendar = await _calendar(request, found)
    try:
        first, last = localtime.week_containing(date.fromisoformat(given), calendar.week_start)
        body = ReportRequest(week_start=first, week_end=last)
        [task] = await state.queue.submit([await report_task(state, user_of(found).id, body)])
    except (ValueError, OverflowError):
        return await _reports_view(
            request, found, f"Week starting: {given!r} is not a date", given, 422
        )
    except ApiError as exc:
        return await _reports_view(request, found, _problem(exc), given, 422)
    return go(request, f"/app/reports/{task.id}")


@router.get("/reports/{task_id}.md")
async def report_markdown(request: Request, found: Engineer, task_id: TaskId) -> Response:
    task = await _own_task(request, found, task_id, "reports")
    result = _result(task)
    if not isinstance(result, WeeklyReport):
        raise NotFound("report")
    name = f"englog-report-{result.week_start}.md"
    return Response(
        markdown(result),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- one task, its live panel -------------------------------------------------------------


async def _task_page(
    request: Request, found: Viewer, kind: str, task_id: str, *, panel: bool = False
) -> HTMLResponse:
    """The task's page; `panel`: the fragment htmx polls (the whole page without htmx)."""
    task = await _own_task(request, found, task_id, kind)
    name = "_task_panel.html" if panel and is_htmx(request) else "result.html"
    zone = (await _calendar(request, found)).tz
    return render(request, name, found, nav=kind, zone=zone, **_panel_values(task, kind))


@router.get("/insights/{task_id}", response_class=HTMLResponse)
async def insight_page(request: Request, found: Engineer, task_id: TaskId) -> HTMLResponse:
    return await _task_page(request, found, "insights", task_id)


@router.get("/insights/{task_id}/panel", response_class=HTMLResponse)
async def insight_panel(request: Request, found: Engineer, task_id: TaskId) -> HTMLResponse:
    return await _task_page(request, found, "insights", task_id, panel=True)


@router.get("/reports/{task_id}", response_class=HTMLResponse)
async def report_page(request: Request, found: Engineer, task_id: TaskId) -> HTMLResponse:
    return await _task_page(request, found, "reports", task_id)


@router.get("/reports/{task_id}/panel", response_class=HTMLResponse)
async def report_panel(request: Request, found: Engineer, task_id: TaskId) -> HTMLResponse:
    return await _task_page(request, found, "reports", task_id, panel=True)
