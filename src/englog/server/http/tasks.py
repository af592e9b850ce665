"""`/v1/tasks`: generic and batch submission, reading a task (with its long poll),
listing and cancelling. The insight and report submissions are in `insights`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from englog.domain.tasks import TaskStatus
from englog.server.auth import CurrentPrincipal, State
from englog.server.http.batch_keys import accept_batch
from englog.server.http.errors import ApiError, not_found
from englog.server.http.metrics import WAITED, api_metrics, count_submitted
from englog.server.http.models import (
    MAX_OFFSET,
    MAX_PAGE,
    MAX_WAIT_S,
    WAIT_RESPONSES,
    BatchAccepted,
    BatchSubmit,
    TaskAccepted,
    TaskDetail,
    TaskList,
    TaskSubmit,
    TasksWaited,
    TaskView,
    WaitRequest,
    tasks_waited_json,
)
from englog.server.http.submission import (
    IDEMPOTENCY_HEADER,
    generic_task,
    learn_types,
    submit,
)
from englog.server.http.waiting import find_task, wait_any
from englog.server.queue import NotRetriable
from englog.views import TaskRetried

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


@router.post("", status_code=202, response_model=TaskAccepted, responses=WAIT_RESPONSES)
async def submit_task(
    body: TaskSubmit,
    principal: CurrentPrincipal,
    state: State,
    request: Request,
    response: Response,
) -> Response:
    """Generic submission: admin for any known type, users for the test types only
    (see englog.server.auth)."""
    await learn_types(state, [body.type])
    return await submit(request, response, generic_task(state, principal, body, "body"))


@router.post("/batch", status_code=202)
async def submit_batch(
    body: BatchSubmit,
    principal: CurrentPrincipal,
    state: State,
    request: Request,
    response: Response,
) -> BatchAccepted:
    """Up to MAX_BATCH generic tasks in one store transaction: all are accepted or none
    (the first invalid task rejects the batch). One commit and one dispatcher wake-up
    instead of one per task is what makes bulk submission cheap. With an
    Idempotency-Key, a retried batch creates its tasks once (see `batch_keys`). An item
    with its own `idempotency_key` is created once per key, as the single submission
    with that key would be (how the client coalesces submissions from many threads);
    keyed batches are one store transaction too. The plain case is answered by
    `fast_paths.FastBatch` before it gets here, through the same `accept_batch`."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    outcome = await accept_batch(state, principal, body, await request.body(), key)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    count_submitted(api_metrics(request), outcome.created)
    return BatchAccepted(
        tasks=[TaskAccepted(task_id=t.id, status=t.status) for t in outcome.stored]
    )


@router.get("/{task_id}")
async def get_task(
    task_id: str,
    principal: CurrentPrincipal,
    state: State,
    request: Request,
    wait_s: Annotated[
        float | None,
        Query(
            gt=0,
            le=MAX_WAIT_S,
            description="Long poll: answer as soon as the task is finished (completed,"
            " failed or cancelled), or after this many seconds with its state then.",
        ),
    ] = None,
) -> TaskDetail:
    if wait_s is not None:
        request.scope[WAITED] = True
    found = await find_task(state, task_id, principal.user_id, wait_s)
    if found is None:
        raise not_found("task")
    return TaskDetail.of(*found)


@router.post("/wait", response_model=TasksWaited)
async def wait_tasks(
    body: WaitRequest, principal: CurrentPrincipal, state: State, request: Request
) -> Response:
    """Wait for any of many tasks: answers as soon as at least one is finished (at once
    when some already are) with every one finished by then, or after `timeout_s` with
    `tasks` empty. Users see their own tasks, the admin all; any other id is listed
    under `missing`, not refused. One request for many results instead of a long poll
    per task."""
    if body.timeout_s > 0:
        request.scope[WAITED] = True
    waited = await wait_any(state, body.ids, principal.user_id, body.timeout_s)
    answer = tasks_waited_json(waited.finished, waited.pending, waited.missing)
    return Response(answer, media_type="application/json")


@router.get("")
async def list_tasks(
    principal: CurrentPrincipal,
    state: State,
    status: TaskStatus | None = None,
    type: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> TaskList:
    """Newest first; users see their own tasks, the admin sees all."""
    found = await state.store.list_tasks(principal.user_id, status, type, limit, offset)
    views = [TaskView.of(t) for t in found]
    return TaskList(tasks=views, count=len(views), limit=limit, offset=offset)


@router.post(
    "/{task_id}/cancel",
    responses={202: {"description": "running: cancellation requested from its worker"}},
)
async def cancel_task(task_id: str, principal: CurrentPrincipal, state: State) -> JSONResponse:
    """Pending tasks are cancelled at once (200); running ones are asked to stop via the
    worker's next heartbeat (202); finished ones cannot be cancelled (409)."""
    cancelled = await state.queue.cancel(task_id, principal.user_id)
    if cancelled is None:
        raise not_found("task")
    task = cancelled.after
    # Finished before the request, or meanwhile (a cancelled one counts only before).
    if cancelled.before.status.terminal or task.status in (
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
    ):
        raise ApiError(
            409, "conflict", f"task is already {task.status}", {"task_status": task.status}
        )
    code = 202 if task.status is TaskStatus.RUNNING else 200
    return JSONResponse(TaskView.of(task).model_dump(mode="json"), status_code=code)


@router.post("/{task_id}/retry", status_code=201)
async def retry_task(
    task_id: str, principal: CurrentPrincipal, state: State, response: Response
) -> TaskRetried:
    """Run a failed or cancelled task again as a new task (same type, payload,
    priority, attempts and timeout); the original keeps its history. Users retry their
    own tasks, the admin any."""
    try:
        task = await state.queue.retry(task_id, principal.user_id)
    except NotRetriable as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    if task is None:
        raise not_found("task")
    response.headers["Location"] = f"/v1/tasks/{task.id}"
    return TaskRetried(task_id=task.id, status=task.status, retry_of=task_id)
