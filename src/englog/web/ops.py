"""The operator's pages: the queue (counts by status and type, throughput over the last
hour, a filterable task table), one task with its attempts and the cancel / retry
buttons, and the workers. Figures refresh live: htmx re-fetches the `…/live` fragments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.params import Path
from fastapi.responses import HTMLResponse, Response

from englog.domain.tasks import TaskStatus
from englog.server.queue import NotRetriable
from englog.server.state import ServerState
from englog.store.records import WorkerRecord
from englog.web import task_view
from englog.web.pages import NotFound, go, render
from englog.web.sessions import Operator, checked_form, web_state

router = APIRouter(prefix="/ops")
PAGE = 25
HOUR_S = 3600.0
TaskId = Annotated[str, Path(min_length=1, max_length=64)]
STATUSES = [s.value for s in TaskStatus]


@dataclass(frozen=True, slots=True)
class MinuteBar:
    x: int
    completed_h: float
    failed_h: float
    label: str
    completed: int
    failed: int


async def queue_figures(state: ServerState) -> dict[str, Any]:
    """Counts by status and by type, and finished tasks per minute over the last hour."""
    counts = await state.store.task_counts()
    by_status = dict.fromkeys(STATUSES, 0)
    by_type: dict[str, dict[str, int]] = {}
    for (status, type_), n in counts.items():
        by_status[status] = by_status.get(status, 0) + n
        by_type.setdefault(type_, dict.fromkeys(STATUSES, 0))[status] = n
    now = state.clock()
    minutes = await state.store.finished_per_minute(now - HOUR_S, now)
    top = max((m.completed + m.failed for m in minutes), default=0) or 1
    bars = [
        MinuteBar(
            x=i * 10,
            completed_h=round(80 * m.completed / top, 1),
            failed_h=round(80 * m.failed / top, 1),
            label=f"{m.completed} completed, {m.failed} failed",
            completed=m.completed,
            failed=m.failed,
        )
        for i, m in enumerate(minutes[-60:])
    ]
    return {
        "by_status": by_status,
        "by_type": dict(sorted(by_type.items())),
        "bars": bars,
        "throughput_axis": [f"{top:g}", f"{top / 2:g}", "0"],
        "finished_last_hour": sum(m.completed + m.failed for m in minutes),
        **wait_figures(state, now),
    }


@dataclass(frozen=True, slots=True)
class WaitBar:
    x: int
    median_h: float
    max_y: float
    label: str


def wait_figures(state: ServerState, now: float) -> dict[str, Any]:
    """Queue wait (submission to first lease) per minute of the last hour, as this
    server process saw it: median as the bar, the longest as a tick above it."""
    minutes = state.metrics.recent_waits.per_minute(now)
    top = max((m.max_s for m in minutes), default=0.0) or 1.0
    bars = [
        WaitBar(
            x=i * 10,
            median_h=round(80 * m.median_s / top, 1),
            max_y=round(90 - 80 * m.max_s / top, 1),
            label=f"{m.count} leased: median {task_view.seconds(m.median_s)}, "
            f"longest {task_view.seconds(m.max_s)}",
        )
        for i, m in enumerate(minutes[-60:])
        if m.count
    ]
    waited = [m for m in minutes if m.count]
    return {
        "wait_bars": bars,
        "wait_axis": [task_view.seconds(top), task_view.seconds(top / 2), "0 s"],
        "leased_last_hour": sum(m.count for m in waited),
        "longest_wait": task_view.seconds(max((m.max_s for m in waited), default=0.0)),
    }


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    found: Operator,
    status: Annotated[TaskStatus | None, Query()] = None,
    type: Annotated[str, Query(max_length=100)] = "",
    user: Annotated[str, Query(max_length=64)] = "",
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    state = web_state(request)
    users = await state.store.list_users()
    tasks = await state.store.list_tasks(user or None, status, type or None, PAGE + 1, offset)
    names = {u.id: u.name for u in users}
    filters = {"status": status.value if status else "", "type": type, "user": user}
    base = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "ops/queue.html",
        found,
        nav="queue",
        tasks=tasks[:PAGE],
        names=names,
        users=users,
        filters=filters,
        statuses=STATUSES,
        newer=_page_url(base, offset - PAGE) if offset > 0 else None,
        older=_page_url(base, offset + PAGE) if len(tasks) > PAGE else None,
        **await queue_figures(state),
    )


def _page_url(filters: dict[str, str], offset: int) -> str:
    query = {**filters, **({"offset": str(max(0, offset))} if offset > 0 else {})}
    return "/app/ops/queue" + (f"?{urlencode(query)}" if query else "")


@router.get("/queue/live", response_class=HTMLResponse)
async def queue_live(request: Request, found: Operator) -> HTMLResponse:
    figures = await queue_figures(web_state(request))
    return render(request, "ops/_figures.html", found, **figures)


async def _task_values(request: Request, task_id: str) -> dict[str, Any]:
    """The task and its attempts (one read), and the name of its owner."""
    state = web_state(request)
    found = await state.store.get_task_detail(task_id, None)
    if found is None:
        raise NotFound("task")
    task, attempts = found
    users = {u.id: u.name for u in await state.store.list_users()} if task.user_id else {}
    return {
        "task": task,
        "attempts": attempts,
        "owner": users.get(task.user_id or "", "admin"),
        "timing": task_view.timing(task, attempts, state.clock()),
        "payload": task_view.payload_summary(task),
        "result": task_view.result_view(task),
        "seconds": task_view.seconds,
    }


# What the task page may say after a button: a key in the URL, never text from it
# (issue 22: `?notice=` displayed any text on the operator's page).
NOTICES = {
    "cancelled": "Cancelled",
    "cancel_asked": "Cancellation asked of its worker: it stops at its next heartbeat",
    "not_cancelled": "Not cancelled: the task had already finished",
    "retried": "Submitted again as this new task; the original keeps its history",
    "not_retried": "Not retried: only a failed or cancelled task can be retried",
}


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_page(
    request: Request, found: Operator, task_id: TaskId, notice: str = ""
) -> HTMLResponse:
    values = await _task_values(request, task_id)
    text = NOTICES.get(notice, "")
    return render(request, "ops/task.html", found, nav="queue", notice=text, **values)


@router.get("/tasks/{task_id}/live", response_class=HTMLResponse)
async def task_live(request: Request, found: Operator, task_id: TaskId) -> HTMLResponse:
    values = await _task_values(request, task_id)
    return render(request, "ops/_task_live.html", found, **values)


def _to_task(request: Request, task_id: str, notice: str) -> Response:
    """To the task's page, which says what the button did."""
    return go(request, f"/app/ops/tasks/{task_id}?{urlencode({'notice': notice})}")


@router.post("/tasks/{task_id}/cancel")
async def cancel(request: Request, found: Operator, task_id: TaskId) -> Response:
    await checked_form(request, found)
    cancelled = await web_state(request).queue.cancel(task_id, None)
    if cancelled is None:
        raise NotFound("task")
    after = cancelled.after
    if cancelled.before.status.terminal:
        notice = "not_cancelled"
    elif after.status is TaskStatus.CANCELLED:
        notice = "cancelled"
    else:
        notice = "cancel_asked"
    return _to_task(request, task_id, notice)


@router.post("/tasks/{task_id}/retry")
async def retry(request: Request, found: Operator, task_id: TaskId) -> Response:
    await checked_form(request, found)
    try:
        again = await web_state(request).queue.retry(task_id, None)
    except NotRetriable:
        return _to_task(request, task_id, "not_retried")
    if again is None:
        raise NotFound("task")
    return _to_task(request, again.id, "retried")


@dataclass(frozen=True, slots=True)
class WorkerRow:
    record: WorkerRecord
    connected: bool
    alive: bool

    @property
    def stats(self) -> dict[str, Any]:
        return dict(self.record.stats)

    @property
    def dependencies(self) -> dict[str, str]:
        return dict(self.record.stats.get("dependencies") or {})


async def worker_rows(state: ServerState) -> list[WorkerRow]:
    """Alive: streaming from this server, or heard from by any replica within three
    heartbeat intervals (and not signed off). The rest are lost, since their last beat."""
    connected = state.queue.connected_workers()
    recent = state.clock() - 3 * state.settings.heartbeat_interval_s
    rows = []
    for record in await state.store.list_workers():
        heard = record.last_heartbeat_at or 0.0
        here = record.info.id in connected
        alive = here or (record.status != "offline" and heard >= recent)
        rows.append(WorkerRow(record, here, alive))
    return sorted(rows, key=lambda r: (not r.alive, r.record.info.id))


@router.get("/workers", response_class=HTMLResponse)
async def workers_page(request: Request, found: Operator) -> HTMLResponse:
    rows = await worker_rows(web_state(request))
    return render(request, "ops/workers.html", found, nav="workers", rows=rows)


@router.get("/workers/live", response_class=HTMLResponse)
async def workers_live(request: Request, found: Operator) -> HTMLResponse:
    rows = await worker_rows(web_state(request))
    return render(request, "ops/_workers.html", found, rows=rows)
