"""The REST API (DESIGN "External interface"): entries, task submission and inspection,
workers, and the health/readiness/metrics endpoints operators and load balancers use.

Every error leaves as JSON `{"error": <code>, "detail": ...}`; validation errors list
`{"field": "body.entries.0.end_time", "message": ...}` so clients can point at the
offending input. The store is the source of truth; what this process keeps (the task
types it has seen, a short-lived token -> user cache, its own workers' streams) is
refreshed from the store where another replica may know better.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from englog import __version__
from englog.domain.entries import (
    ActivityType,
    Entry,
    EntryFields,
    EntryPatch,
    check_times,
)
from englog.domain.tasks import DEFAULT_TIMEOUTS_S, NewTask, Task, TaskAttempt, TaskStatus
from englog.server.auth import (
    USER_GENERIC_TYPES,
    AdminPrincipal,
    CurrentPrincipal,
    CurrentUser,
    Principal,
    State,
    principal_for,
)
from englog.server.state import ServerState
from englog.store.base import EntryQuery, IdempotencyKeyReused, StoreError, WorkerRecord

MAX_PAGE = 1000
# SQLite integers are 64-bit; no real listing goes anywhere near this.
MAX_OFFSET = 1_000_000_000
MAX_TASK_RANGE = timedelta(days=31)
# Entries gathered for one insight/report; the payload size limit usually bites first.
MAX_TASK_ENTRIES = 10_000
FALLBACK_TIMEOUT_S = 60.0
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
# Tasks per `POST /v1/tasks/batch`; the payloads of one batch together are capped at
# BATCH_PAYLOAD_FACTOR times the per-task limit, so one request stays bounded in memory.
MAX_BATCH = 1000
BATCH_PAYLOAD_FACTOR = 8
# Longest `GET /v1/tasks/{id}?wait_s=` and `Prefer: wait=`: below common proxy and
# client idle timeouts.
MAX_WAIT_S = 30.0
# Set in the ASGI scope of a request that waited for its task (a long poll, a submission
# with Prefer: wait): its duration is the task's, not the server's, so it stays out of
# the request latency histogram.
WAITED = "englog.waited"


# --- errors ---------------------------------------------------------------------------


class ApiError(Exception):
    """An error answered as `{"error": code, "detail": detail, **extra}`."""

    def __init__(
        self, status: int, error: str, detail: Any, extra: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.extra = dict(extra or {})


def invalid(field: str, message: str, **extra: Any) -> ApiError:
    """A 422 in the same shape as pydantic's, for checks that span several fields."""
    return ApiError(422, "validation_error", [{"field": field, "message": message}], extra)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


_ERROR_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "unavailable",
}


def _field_errors(errors: Sequence[Any], prefix: tuple[str, ...] = ()) -> list[dict[str, str]]:
    out = []
    for err in errors:
        loc = (*prefix, *err.get("loc", ()))
        message = str(err.get("msg", "invalid"))
        out.append(
            {
                "field": ".".join(str(p) for p in loc),
                "message": message.removeprefix("Value error, "),
            }
        )
    return out


def _error_json(status: int, error: str, detail: Any, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        reason = bad_json.get("ctx", {}).get("error", "malformed JSON")
        loc = bad_json.get("loc", ())
        where = f" at position {loc[1]}" if len(loc) > 1 else ""
        return _error_json(400, "invalid_json", f"request body is not valid JSON: {reason}{where}")
    return _error_json(422, "validation_error", _field_errors(errors))


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = _ERROR_CODES.get(exc.status_code, "error")
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):
        error = "invalid_json"  # e.g. a body that is not UTF-8
    response = _error_json(exc.status_code, error, exc.detail)
    response.headers.update(exc.headers or {})
    return response


async def _on_api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _error_json(exc.status, exc.error, exc.detail, **exc.extra)


async def _on_store_error(_: Request, exc: Exception) -> JSONResponse:
    """The database is down or closed: tell clients to retry rather than 500."""
    response = _error_json(503, "store_unavailable", f"storage is unavailable: {exc}")
    response.headers["Retry-After"] = "1"
    return response


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    return _error_json(500, "internal_error", "unexpected server error")


# --- JSON views -----------------------------------------------------------------------


def _iso(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class TaskView(BaseModel):
    """A task as clients see it; times are ISO 8601 UTC."""

    task_id: str
    type: str
    status: TaskStatus
    progress: float
    progress_message: str | None
    attempt: int
    max_attempts: int
    worker_id: str | None
    result: Any
    error: str | None
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    priority: int
    timeout_s: float
    cancel_requested: bool
    reassignments: int

    @classmethod
    def of(cls, task: Task) -> TaskView:
        return cls(**_task_fields(task))


def _task_fields(task: Task) -> dict[str, Any]:
    """TaskView's fields, shared with TaskDetail so it is built in one validation."""
    return {
        "task_id": task.id,
        "type": task.type,
        "status": task.status,
        "progress": task.progress,
        "progress_message": task.progress_message,
        "attempt": task.attempt,
        "max_attempts": task.max_attempts,
        "worker_id": task.worker_id,
        "result": task.result,
        "error": task.error,
        "created_at": _iso(task.created_at),
        "started_at": _iso(task.started_at),
        "completed_at": _iso(task.completed_at),
        "priority": task.priority,
        "timeout_s": task.timeout_s,
        "cancel_requested": task.cancel_requested,
        "reassignments": task.reassignments,
    }


class AttemptView(BaseModel):
    """One delivery of a task; outcome and ended_at are null while it runs. Outcomes:
    completed, failed, cancelled (reported by the worker), lost (its worker went silent
    or never got it), expired (lease ran out) and timed_out (deadline passed)."""

    attempt: int
    worker_id: str
    started_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    error: str | None

    @classmethod
    def of(cls, attempt: TaskAttempt) -> AttemptView:
        return cls(
            attempt=attempt.attempt,
            worker_id=attempt.worker_id,
            started_at=_iso(attempt.started_at),
            ended_at=_iso(attempt.ended_at),
            outcome=None if attempt.outcome is None else str(attempt.outcome),
            error=attempt.error,
        )


class TaskDetail(TaskView):
    """`GET /v1/tasks/{id}`: the task with every attempt so far."""

    attempts: list[AttemptView]

    @classmethod
    def of(cls, task: Task, attempts: Sequence[TaskAttempt]) -> TaskDetail:
        return cls(**_task_fields(task), attempts=[AttemptView.of(a) for a in attempts])


# A task with its attempts, as the store reads them for `GET /v1/tasks/{id}`.
_TaskFound = tuple[Task, list[TaskAttempt]]
# How FastAPI serialises a route's response model (pydantic's dump_json, by alias), so
# FastTaskGet's bodies are the route's byte for byte.
_TASK_DETAIL_JSON: TypeAdapter[TaskDetail] = TypeAdapter(TaskDetail)


class TaskAccepted(BaseModel):
    task_id: str
    status: TaskStatus


class TaskList(BaseModel):
    tasks: list[TaskView]
    count: int
    limit: int
    offset: int


def _entry_json(entry: Entry) -> dict[str, Any]:
    return entry.to_payload()


def _worker_json(record: WorkerRecord, connected: bool) -> dict[str, Any]:
    info = record.info
    return {
        "id": info.id,
        "name": info.name,
        "version": info.version,
        "capabilities": list(info.capabilities),
        "max_concurrency": info.max_concurrency,
        "metadata": dict(info.metadata),
        "status": record.status,
        "registered_at": _iso(record.registered_at),
        "last_heartbeat_at": _iso(record.last_heartbeat_at),
        "stats": dict(record.stats),
        "capacity": dict(record.capacity),
        "connected": connected,
    }


# --- request bodies ---------------------------------------------------------------------


class EntryIn(EntryFields):
    """EntryFields whose time rules are reported against `end_time`, so a 422 names the
    field (`body.entries.3.end_time`) instead of the whole object."""

    @field_validator("end_time")
    @classmethod
    def _end_after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start_time")
        if start is not None:
            check_times(start, end)
        return end


class BulkEntriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[EntryIn] = Field(min_length=1, max_length=MAX_PAGE)


class InsightType(StrEnum):
    PRODUCTIVITY = "productivity"
    SKILL_DEVELOPMENT = "skill_development"
    TIME_MANAGEMENT = "time_management"
    TEAM_COLLABORATION = "team_collaboration"
    PATTERNS = "patterns"


Priority = Annotated[int, Field(ge=0, le=1_000_000)]


class InsightRequest(BaseModel):
    """Either `entry_ids` or a `from`/`to` range (checked in the route, so the 422
    names the field)."""

    model_config = ConfigDict(extra="forbid")

    insight_type: InsightType
    entry_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, min_length=1, max_length=MAX_PAGE
    )
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None
    context: str | None = Field(default=None, max_length=2000)
    priority: Priority = 0


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    week_start: date
    week_end: date
    priority: Priority = 0


class TaskSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = 0
    max_attempts: int = Field(default=3, ge=1, le=20)
    timeout_s: float | None = Field(default=None, gt=0, le=86_400)


class BatchSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskSubmit] = Field(min_length=1, max_length=MAX_BATCH)


class BatchAccepted(BaseModel):
    tasks: list[TaskAccepted]


# --- metrics ----------------------------------------------------------------------------


class ApiMetrics:
    """Prometheus metrics of one app, in its own registry so many apps (tests, or an
    HTTP and gRPC side sharing a registry passed in) never clash on names."""

    def __init__(self, state: ServerState, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "englog_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "englog_http_request_duration_seconds",
            "HTTP request latency by method and route template (requests that waited"
            " for their task, with wait_s or Prefer: wait, are left out).",
            ["method", "route"],
            registry=registry,
        )
        self.submitted = Counter(
            "englog_tasks_submitted",
            "Tasks submitted through the REST API, by type.",
            ["type"],
            registry=registry,
        )
        self.pending = Gauge(
            "englog_tasks_pending",
            "PENDING tasks ready to run (at scrape time).",
            registry=registry,
        )
        connected = Gauge(
            "englog_connected_workers", "Workers with an open task stream.", registry=registry
        )
        connected.set_function(lambda: float(len(state.connected_workers)))
        ready = Gauge("englog_ready", "1 when the server is ready to serve.", registry=registry)
        ready.set_function(lambda: 1.0 if state.ready else 0.0)


class MetricsMiddleware:
    """Counts every response by route *template* (never the raw path, whose ids would
    explode label cardinality); unmatched paths share one label."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = getattr(scope.get("route"), "path", "<unmatched>")
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            if not scope.get(WAITED):
                self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class _RouteTemplate:
    path: str


# What the fast paths put in scope["route"], so MetricsMiddleware labels their answers
# with the template of the route they stand in for.
_SUBMIT_ROUTE = _RouteTemplate("/v1/tasks")
_TASK_ROUTE = _RouteTemplate("/v1/tasks/{task_id}")


class FastSubmit:
    """`POST /v1/tasks` without FastAPI's per-request machinery (dependency tree, body
    and response models, jsonable_encoder), which cost most of the ~1.5 ms of CPU a
    submission took. Only the plain case is taken here: a JSON body that validates,
    a known token, no Idempotency-Key. Anything else, every error included, goes to the
    FastAPI route with the body replayed, so status codes, error bodies and the OpenAPI
    schema stay the route's own; the checks themselves are the same functions."""

    def __init__(self, app: ASGIApp, state: ServerState, metrics: ApiMetrics) -> None:
        self.app = app
        self.state = state
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/tasks" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive)
        taken = complete and await self._try_submit(scope, body, send)
        if not taken:
            await self.app(scope, _replay(body, complete, receive), send)

    async def _try_submit(self, scope: Scope, body: bytes, send: Send) -> bool:
        """True when the request was answered here."""
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").partition(b";")[0].strip().lower()
        token = _bearer_token(scope)  # as the route reads it
        if content_type != b"application/json" or token is None or b"idempotency-key" in headers:
            return False
        state = self.state
        try:
            submitted = TaskSubmit.model_validate(json.loads(body))
        except (ValueError, RecursionError):  # bad JSON or a ValidationError: the route explains
            return False
        principal = await principal_for(state, token)
        if principal is None:
            return False
        try:
            task = _generic_task(state, principal, submitted, "body")
            _check_payload_size(state, task.payload)
        except ApiError:
            return False
        finishes = state.watch.finishes
        try:
            [stored] = await state.submit([task])
        except StoreError as exc:
            response = await _on_store_error(Request(scope), exc)
            await response(scope, _no_body, send)
            return True
        self.metrics.submitted.labels(stored.type).inc()
        scope["route"] = _SUBMIT_ROUTE  # MetricsMiddleware's label, as the route's
        status, content, extra = await _accepted(state, scope, stored, principal.user_id, finishes)
        location = (b"location", f"/v1/tasks/{stored.id}".encode())
        await _send_json(send, status, content, location, *extra)
        return True


async def _accepted(
    state: ServerState, scope: Scope, stored: Task, user_id: str | None, finishes: int | None
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """A submission's answer: 202 with the task's id and status; with `Prefer: wait=N`,
    200 and the task as `GET /v1/tasks/{id}` shows it once it finishes within N seconds
    (RFC 7240), else that 202 after the wait. The task is committed before any of
    this, so a failed read during the wait still answers 202: the client must learn
    its task id rather than resubmit.

    `finishes`: `TaskWatch.finishes` read before this request created `stored` (None
    for an idempotent replay). When no task finished in this process meanwhile, its own
    task cannot have finished before the watch exists, and `stored` stands in for the
    wait's first read."""
    wait_s = prefer_wait([value for name, value in scope["headers"] if name == b"prefer"])
    if wait_s is None:
        return 202, _accepted_json(stored), []
    scope[WAITED] = True
    applied = [(b"preference-applied", f"wait={wait_s:g}".encode())]
    fresh = finishes is not None and state.watch.finishes == finishes
    found: _TaskFound | None = None
    with contextlib.suppress(StoreError):
        found = await _wait_finished(state, stored.id, user_id, wait_s, stored if fresh else None)
    if found is None or not found[0].status.terminal:
        return 202, _accepted_json(stored if found is None else found[0]), applied
    task = found[0]
    content_location = (b"content-location", f"/v1/tasks/{task.id}".encode())
    return 200, _TASK_DETAIL_JSON.dump_json(TaskDetail.of(*found)), [*applied, content_location]


def _accepted_json(task: Task) -> bytes:
    """The 202 body, as the route's TaskAccepted model serialises it."""
    return b'{"task_id":"%s","status":"%s"}' % (task.id.encode(), str(task.status).encode())


# One RFC 7240 preference: a token, optionally `=value` (a token or a quoted string),
# then `;parameters` this server does not use.
_PREFERENCE = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*("[^"]*"|[^;,\s]*))?')


def prefer_wait(values: Sequence[bytes]) -> float | None:
    """The `wait` preference of `Prefer` headers in seconds, capped at MAX_WAIT_S; None
    when absent, zero or not a number. RFC 7240 makes preferences hints a server may
    ignore, so a malformed one is ignored rather than refused; `Preference-Applied`
    in the answer tells the client whether it was honoured."""
    for value in values:
        for preference in value.decode("latin-1").split(","):
            match = _PREFERENCE.match(preference)
            if match is None or match.group(1).lower() != "wait":
                continue
            raw = (match.group(2) or "").strip('"')
            if not _PLAIN_DECIMAL.fullmatch(raw.encode()):
                return None
            seconds = float(raw)
            return min(seconds, MAX_WAIT_S) if seconds > 0 else None
    return None


_TASKS_PREFIX = "/v1/tasks/"
# A `wait_s` value that means the same to float() and to pydantic; anything else (signs,
# exponents, "nan", percent-escapes, a second parameter after `&`) is the route's to judge.
_PLAIN_DECIMAL = re.compile(rb"[0-9]+(?:\.[0-9]+)?")


class FastTaskGet:
    """`GET /v1/tasks/{id}` and its long poll `?wait_s=S` without FastAPI's per-request
    machinery: clients poll it until their task finishes, so it is half of every round
    trip, and the route's dependency tree, query and response models took about two
    thirds of the app's time for it (the store read is most of the rest). Only the
    plain case is taken here: a known bearer token, no query but an in-range `wait_s`,
    the task found. Anything else goes to the FastAPI route untouched, so its 401, 404
    and 422 bodies stay its own; the read, the wait (`_find_task`) and the serializer
    are the route's, so the body is too, byte for byte."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith(_TASKS_PREFIX)
        ):
            task_id: str = scope["path"][len(_TASKS_PREFIX) :]
            if task_id and "/" not in task_id and await self._try_get(scope, task_id, send):
                return
        await self.app(scope, receive, send)

    async def _try_get(self, scope: Scope, task_id: str, send: Send) -> bool:
        """True when the request was answered here."""
        token = _bearer_token(scope)
        if token is None:
            return False
        try:
            wait_s = _plain_wait_s(scope["query_string"])
        except ValueError:
            return False
        state = self.state
        try:
            principal = await principal_for(state, token)
        except StoreError:  # the route meets it again and answers its 503
            return False
        if principal is None:
            return False
        scope["route"] = _TASK_ROUTE  # MetricsMiddleware's label, as the route's
        if wait_s is not None:
            scope[WAITED] = True
        try:
            found = await _find_task(state, task_id, principal.user_id, wait_s)
        except StoreError as exc:  # answered here: the route would wait all over again
            response = await _on_store_error(Request(scope), exc)
            await response(scope, _no_body, send)
            return True
        if found is None:
            return False  # the route's 404
        await _send_json(send, 200, _TASK_DETAIL_JSON.dump_json(TaskDetail.of(*found)))
        return True


def _bearer_token(scope: Scope) -> str | None:
    """The token as FastAPI's HTTPBearer reads it: the first Authorization header,
    scheme `Bearer` in any case, token stripped; None when there is none."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _plain_wait_s(query: bytes) -> float | None:
    """`wait_s` from a query string that holds nothing else; None for an empty one.
    ValueError for anything else, which the route then validates and explains."""
    if not query:
        return None
    name, _, value = query.partition(b"=")
    if name != b"wait_s" or not _PLAIN_DECIMAL.fullmatch(value):
        raise ValueError("not a plain wait_s")
    wait_s = float(value)
    if not 0 < wait_s <= MAX_WAIT_S:
        raise ValueError("wait_s out of range")
    return wait_s


async def _send_json(
    send: Send, status: int, content: bytes, *headers: tuple[bytes, bytes]
) -> None:
    """A JSON response in the two ASGI messages, headers as Starlette's Response sets them."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(content)).encode()),
                (b"content-type", b"application/json"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body, and False when the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A `receive` that gives the already-read body again, then defers to the real one."""
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            if complete:
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}
        return await receive()

    return again


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _metrics(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


# --- helpers ----------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    """Naive datetimes in queries are taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _check_range(start: datetime, end: datetime, start_field: str, end_field: str) -> None:
    if end <= start:
        raise invalid(
            end_field,
            f"{end_field.rsplit('.', 1)[-1]} must be after {start_field.rsplit('.', 1)[-1]}",
        )
    if end - start > MAX_TASK_RANGE:
        raise invalid(end_field, f"the range spans at most {MAX_TASK_RANGE.days} days")


async def _entries_in_range(
    state: ServerState, user_id: str, start: datetime, end: datetime
) -> list[Entry]:
    """All entries in the range; more than MAX_TASK_ENTRIES is refused, never cut."""
    found: list[Entry] = []
    while len(found) <= MAX_TASK_ENTRIES:
        page = await state.store.list_entries(
            user_id, EntryQuery(start=start, end=end, limit=MAX_PAGE, offset=len(found))
        )
        found.extend(page)
        if len(page) < MAX_PAGE:
            break
    if len(found) > MAX_TASK_ENTRIES:
        raise invalid(
            "body.from",
            f"the range holds more than {MAX_TASK_ENTRIES} entries; ask for a shorter range",
        )
    return found


def _check_payload_size(
    state: ServerState, payload: Mapping[str, Any], field: str = "body.payload"
) -> int:
    """The payload's encoded size, after checking it against the per-task limit."""
    try:
        encoded = json.dumps(payload, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError as exc:  # NaN / Infinity would come back silently as null
        raise invalid(field, f"payload must be plain JSON: {exc}") from exc
    size = len(encoded.encode())
    limit = state.settings.max_payload_bytes
    if size > limit:
        where = "" if field == "body.payload" else f" ({field})"
        raise ApiError(
            413, "payload_too_large", f"task payload{where} is {size} bytes; limit {limit}"
        )
    return size


async def _submit_ai(
    request: Request,
    response: Response,
    user_id: str,
    type_: str,
    payload: dict[str, Any],
    body: InsightRequest | ReportRequest,
) -> Response:
    """AI tasks carry a snapshot of the user's entries, so workers need no database."""
    task = NewTask(
        type=type_,
        payload=payload,
        user_id=user_id,
        priority=body.priority,
        timeout_s=_timeout_for(type_),
    )
    return await _submit(request, response, task)


async def _submit(request: Request, response: Response, task: NewTask) -> Response:
    """Persist one task (leased at once when a worker stream has a free slot, else
    queued and the streams woken); 202 with a Location. With `Prefer: wait=N`, the
    finished task (200) if it finishes within N seconds (`_accepted`).

    With an `Idempotency-Key` header the same key from the same caller, within
    `idempotency_ttl_s` (24 h), answers 202 again with the first task's id (its status
    as it is now) and `Idempotent-Replayed: true`, creating nothing; the same key with
    a different request body is a 422 (as in the IETF Idempotency-Key draft)."""
    state: ServerState = request.app.state.englog
    _check_payload_size(state, task.payload)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    finishes = state.watch.finishes
    if key is None:
        [stored] = await state.submit([task])
        created = True
    else:
        stored, created = await _submit_once(request, state, task, key)
        if created:
            state.notify_tasks()
    if created:
        _metrics(request).submitted.labels(stored.type).inc()
    else:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/tasks/{stored.id}"
    status, content, extra = await _accepted(
        state, request.scope, stored, task.user_id, finishes if created else None
    )
    answer = Response(content, status, headers=response.headers, media_type="application/json")
    for name, value in extra:
        answer.headers[name.decode()] = value.decode()
    return answer


async def _submit_once(
    request: Request, state: ServerState, task: NewTask, key: str
) -> tuple[Task, bool]:
    field = f"header.{IDEMPOTENCY_HEADER}"
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise invalid(field, f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters")
    raw = await request.body()
    try:  # the same JSON however it is spaced or ordered is the same request
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = raw
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + canonical
    ).hexdigest()
    try:
        return await state.store.submit_idempotent(
            task, key, fingerprint, state.settings.idempotency_ttl_s, state.clock()
        )
    except IdempotencyKeyReused as exc:
        raise ApiError(
            422,
            "idempotency_key_reused",
            f"{exc}; use a new key for a new request",
            {"task_id": exc.task_id},
        ) from exc


def _timeout_for(task_type: str, requested: float | None = None) -> float:
    return (
        requested
        if requested is not None
        else DEFAULT_TIMEOUTS_S.get(task_type, FALLBACK_TIMEOUT_S)
    )


# --- entries ----------------------------------------------------------------------------

entries = APIRouter(prefix="/v1/entries", tags=["entries"])


@entries.post("", status_code=201)
async def create_entry(body: EntryIn, user: CurrentUser, state: State) -> dict[str, Any]:
    [entry] = await state.store.add_entries(user.id, [body], state.clock())
    return _entry_json(entry)


@entries.post("/bulk", status_code=201)
async def create_entries(body: BulkEntriesIn, user: CurrentUser, state: State) -> dict[str, Any]:
    """All or nothing: one invalid entry rejects the whole batch before anything is stored."""
    stored = await state.store.add_entries(user.id, body.entries, state.clock())
    return {"entries": [_entry_json(e) for e in stored], "count": len(stored)}


@entries.get("")
async def list_entries(
    user: CurrentUser,
    state: State,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    type: ActivityType | None = None,
    project: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    query = EntryQuery(
        start=_utc(from_) if from_ else None,
        end=_utc(to) if to else None,
        type=type.value if type else None,
        project=project,
        limit=limit,
        offset=offset,
    )
    found = await state.store.list_entries(user.id, query)
    return {
        "entries": [_entry_json(e) for e in found],
        "count": len(found),
        "limit": limit,
        "offset": offset,
    }


@entries.get("/{entry_id}")
async def get_entry(entry_id: str, user: CurrentUser, state: State) -> dict[str, Any]:
    entry = await state.store.get_entry(user.id, entry_id)
    if entry is None:
        raise not_found("entry")
    return _entry_json(entry)


@entries.patch("/{entry_id}")
async def patch_entry(
    entry_id: str, body: EntryPatch, user: CurrentUser, state: State
) -> dict[str, Any]:
    """Merge the patch into the stored entry and validate the result as a whole, so a
    new start_time is checked against the stored end_time (and vice versa)."""
    stored = await state.store.get_entry(user.id, entry_id)
    if stored is None:
        raise not_found("entry")
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        return _entry_json(stored)
    merged_input = stored.model_dump(include=set(EntryFields.model_fields)) | changes
    try:
        merged = EntryIn.model_validate(merged_input)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", _field_errors(exc.errors(), ("body",))) from exc
    values = {name: getattr(merged, name) for name in changes}
    updated = await state.store.update_entry(user.id, entry_id, values, state.clock())
    if updated is None:
        raise not_found("entry")
    return _entry_json(updated)


@entries.delete("/{entry_id}", status_code=204)
async def delete_entry(entry_id: str, user: CurrentUser, state: State) -> Response:
    if not await state.store.delete_entry(user.id, entry_id):
        raise not_found("entry")
    return Response(status_code=204)


# --- tasks ------------------------------------------------------------------------------

tasks = APIRouter(prefix="/v1/tasks", tags=["tasks"])
# The single-task submission routes take `Prefer: wait=N` (see `_accepted`); the batch
# route does not (it sends no Preference-Applied, as RFC 7240 allows).
_WAIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": TaskDetail,
        "description": "Sent with `Prefer: wait=N` (seconds, at most 30): the task finished"
        " within the wait; it is shown as GET /v1/tasks/{task_id} shows it.",
    }
}


async def _insight_entries(state: ServerState, user_id: str, body: InsightRequest) -> list[Entry]:
    if body.entry_ids is not None:
        if body.from_ is not None or body.to is not None:
            raise invalid("body.entry_ids", "give either entry_ids or from/to, not both")
        wanted = list(dict.fromkeys(body.entry_ids))
        found = await state.store.get_entries(user_id, wanted)
        missing = sorted(set(wanted) - {e.id for e in found})
        if missing:
            raise invalid(
                "body.entry_ids",
                f"unknown entries: {', '.join(missing)}",
                missing_entry_ids=missing,
            )
        return found
    if body.from_ is None or body.to is None:
        raise invalid("body.entry_ids", "give entry_ids, or both from and to")
    start, end = _utc(body.from_), _utc(body.to)
    _check_range(start, end, "body.from", "body.to")
    found = await _entries_in_range(state, user_id, start, end)
    if not found:
        raise invalid("body.from", "no entries in the requested range")
    return found


@tasks.post("/insights", status_code=202, response_model=TaskAccepted, responses=_WAIT_RESPONSES)
async def submit_insight(
    body: InsightRequest, user: CurrentUser, state: State, request: Request, response: Response
) -> Response:
    found = await _insight_entries(state, user.id, body)
    payload = {
        "insight_type": str(body.insight_type),
        "entries": [e.to_payload() for e in found],
        "context": body.context,
    }
    return await _submit_ai(request, response, user.id, "insight_generation", payload, body)


@tasks.post("/reports", status_code=202, response_model=TaskAccepted, responses=_WAIT_RESPONSES)
async def submit_report(
    body: ReportRequest, user: CurrentUser, state: State, request: Request, response: Response
) -> Response:
    """Entries overlapping [week_start 00:00, week_end + 1 day 00:00) UTC."""
    if body.week_end < body.week_start:
        raise invalid("body.week_end", "week_end must not be before week_start")
    if (body.week_end - body.week_start).days + 1 > MAX_TASK_RANGE.days:
        raise invalid("body.week_end", f"a report spans at most {MAX_TASK_RANGE.days} days")
    if body.week_end >= date.max:
        raise invalid("body.week_end", "week_end is out of range")
    start = datetime.combine(body.week_start, datetime.min.time(), UTC)
    end = datetime.combine(body.week_end + timedelta(days=1), datetime.min.time(), UTC)
    found = await _entries_in_range(state, user.id, start, end)
    if not found:
        raise invalid("body.week_start", "no entries between week_start and week_end")
    payload = {
        "week_start": body.week_start.isoformat(),
        "week_end": body.week_end.isoformat(),
        "entries": [e.to_payload() for e in found],
    }
    return await _submit_ai(request, response, user.id, "weekly_report", payload, body)


@tasks.post("", status_code=202, response_model=TaskAccepted, responses=_WAIT_RESPONSES)
async def submit_task(
    body: TaskSubmit,
    principal: CurrentPrincipal,
    state: State,
    request: Request,
    response: Response,
) -> Response:
    """Generic submission: admin for any known type, users for the test types only
    (see englog.server.auth)."""
    await _learn_types(state, [body.type])
    return await _submit(request, response, _generic_task(state, principal, body, "body"))


async def _learn_types(state: ServerState, types: Sequence[str]) -> None:
    """Types this process has not seen may be known to the store: a worker registered
    with another replica, or before this server restarted."""
    if all(t in state.known_types for t in types):
        return
    for record in await state.store.list_workers():
        state.known_types.update(record.info.capabilities)


def _generic_task(
    state: ServerState, principal: Principal, body: TaskSubmit, field: str
) -> NewTask:
    """Check one generic submission (type known, caller allowed) and build its task;
    `field` locates it in the request body for the 422."""
    if body.type not in state.known_types:
        known = sorted(state.known_types)
        raise invalid(
            f"{field}.type",
            f"unknown task type {body.type!r}; known types: {', '.join(known)}",
            known_types=known,
        )
    if not principal.may_submit(body.type):
        raise ApiError(
            403,
            "forbidden",
            f"users may submit only {sorted(USER_GENERIC_TYPES)} "
            "here; use /v1/tasks/insights or /v1/tasks/reports",
        )
    return NewTask(
        type=body.type,
        payload=body.payload,
        user_id=principal.user_id,
        priority=body.priority,
        max_attempts=body.max_attempts,
        timeout_s=_timeout_for(body.type, body.timeout_s),
    )


@tasks.post("/batch", status_code=202)
async def submit_batch(
    body: BatchSubmit, principal: CurrentPrincipal, state: State, request: Request
) -> BatchAccepted:
    """Up to MAX_BATCH generic tasks in one store transaction: all are accepted or none
    (the first invalid task rejects the batch). One commit and one dispatcher wake-up
    instead of one per task is what makes bulk submission cheap."""
    new_tasks: list[NewTask] = []
    total = 0
    await _learn_types(state, [item.type for item in body.tasks])
    for i, item in enumerate(body.tasks):
        field = f"body.tasks.{i}"
        new_tasks.append(_generic_task(state, principal, item, field))
        total += _check_payload_size(state, item.payload, f"{field}.payload")
    limit = state.settings.max_payload_bytes * BATCH_PAYLOAD_FACTOR
    if total > limit:
        raise ApiError(
            413, "payload_too_large", f"the batch's payloads total {total} bytes; limit {limit}"
        )
    stored = await state.submit(new_tasks)
    counter = _metrics(request).submitted
    for task_type in {t.type for t in stored}:
        counter.labels(task_type).inc(sum(1 for t in stored if t.type == task_type))
    return BatchAccepted(tasks=[TaskAccepted(task_id=t.id, status=t.status) for t in stored])


@tasks.get("/{task_id}")
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
    # The plain case is answered by FastTaskGet before it gets here, with the same body.
    if wait_s is not None:
        request.scope[WAITED] = True
    found = await _find_task(state, task_id, principal.user_id, wait_s)
    if found is None:
        raise not_found("task")
    return TaskDetail.of(*found)


async def _find_task(
    state: ServerState, task_id: str, user_id: str | None, wait_s: float | None
) -> _TaskFound | None:
    """What `GET /v1/tasks/{id}` answers, for the route and FastTaskGet alike: the task
    and its attempts in one store read, after waiting for it to finish when `wait_s`."""
    if wait_s is None:
        return await state.store.get_task_detail(task_id, user_id)
    return await _wait_finished(state, task_id, user_id, wait_s)


async def _wait_finished(
    state: ServerState,
    task_id: str,
    user_id: str | None,
    wait_s: float,
    submitted: Task | None = None,
) -> _TaskFound | None:
    """The task once it is terminal, or as it is after `wait_s`. Woken by this
    process's commits (TaskWatch), watched before the first read so none is missed; a
    result another replica accepted shows in the read after the wait. The last read is
    the answer, so it is a full one (attempts too).

    The answer is the last read, or the task as the commit that finished it handed it
    over (`Waiter.final`, the same bytes as a read). `submitted`: the task as this
    request's own submission just committed it, standing in for the first read (see
    `_accepted` for when that is safe). When the server shuts down the wait ends at
    once with a last read (`TaskWatch.close`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    watch = state.watch
    with watch.watch(task_id) as finished:
        if submitted is not None and not submitted.status.terminal:
            found: _TaskFound | None = (submitted, [])
        else:
            found = await state.store.get_task_detail(task_id, user_id)
        while found is not None and not found[0].status.terminal and not watch.closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await finished.wait()
            # Cleared before the read: a commit during it wakes the next wait.
            final = finished.take()
            if final is not None:  # the task as the commit that finished it left it
                found = final[0], list(final[1])
            else:
                found = await state.store.get_task_detail(task_id, user_id)
            if loop.time() >= deadline:
                break
    return found


@tasks.get("")
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


@tasks.post(
    "/{task_id}/cancel",
    responses={202: {"description": "running: cancellation requested from its worker"}},
)
async def cancel_task(task_id: str, principal: CurrentPrincipal, state: State) -> JSONResponse:
    """Pending tasks are cancelled at once (200); running ones are asked to stop via the
    worker's next heartbeat (202); finished ones cannot be cancelled (409)."""
    current = await state.store.get_task(task_id, principal.user_id)
    if current is None:
        raise not_found("task")
    if current.status.terminal:
        raise ApiError(
            409, "conflict", f"task is already {current.status}", {"task_status": current.status}
        )
    task = await state.store.cancel_task(task_id, principal.user_id, state.clock())
    if task is None:
        raise not_found("task")
    if task.status in (TaskStatus.COMPLETED, TaskStatus.FAILED):  # finished meanwhile
        raise ApiError(
            409, "conflict", f"task is already {task.status}", {"task_status": task.status}
        )
    state.notify_tasks()
    if task.status.terminal:
        state.watch.finished([task.id])
    code = 202 if task.status is TaskStatus.RUNNING else 200
    return JSONResponse(TaskView.of(task).model_dump(mode="json"), status_code=code)


# --- workers and operations ----------------------------------------------------------------

ops = APIRouter(tags=["operations"])


@ops.get("/v1/workers")
async def list_workers(_: AdminPrincipal, state: State) -> dict[str, Any]:
    records = await state.store.list_workers()
    workers = [_worker_json(r, r.info.id in state.connected_workers) for r in records]
    return {"workers": workers, "count": len(workers)}


def _uptime(state: ServerState) -> float:
    return round(max(0.0, state.clock() - state.started_at), 3)


@ops.get("/health")
async def health(state: State) -> JSONResponse:
    """Liveness: the process answers and so does its store."""
    body: dict[str, Any] = {"status": "ok", "version": __version__, "uptime_s": _uptime(state)}
    try:
        body["pending_tasks"] = await state.store.pending_count()
    except Exception as exc:  # any failure of the store means unhealthy, never a 500
        body.update(status="unhealthy", reason=f"store: {exc}")
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@ops.get("/readiness")
async def readiness(state: State) -> JSONResponse:
    """Readiness: startup finished (migrations, lease extension) and the store answers.
    `unroutable_task_types` counts pending tasks, per type, that no worker connected to
    this server can run: they wait until such a worker connects."""
    workers = len(state.connected_workers)
    if not state.ready:
        return JSONResponse({"status": "not_ready", "reason": "starting"}, status_code=503)
    try:
        pending = await state.store.pending_count()
        by_type = await state.store.pending_by_type()
        records = await state.store.list_workers() if by_type else []
    except Exception as exc:
        return JSONResponse({"status": "not_ready", "reason": f"store: {exc}"}, status_code=503)
    # Workers streaming from this server, and those heard from lately by any replica.
    routable = set().union(*state.connected_workers.values())
    recent = state.clock() - 3 * state.settings.heartbeat_interval_s
    for record in records:
        heard = record.last_heartbeat_at or 0.0
        if record.status != "offline" and heard >= recent:
            routable.update(record.info.capabilities)
    unroutable = {t: n for t, n in by_type.items() if t not in routable}
    return JSONResponse(
        {
            "status": "ready",
            "connected_workers": workers,
            "pending_tasks": pending,
            "unroutable_task_types": unroutable,
        }
    )


@ops.get("/metrics", response_class=Response)
async def metrics(state: State, request: Request) -> Response:
    api_metrics = _metrics(request)
    # A scrape must succeed even when the store does not; the gauge keeps its last value.
    with contextlib.suppress(Exception):
        api_metrics.pending.set(await state.store.pending_count())
    return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)


# --- the app ------------------------------------------------------------------------------

_Handler = Callable[[Request, Exception], Awaitable[Response]]


def create_http_app(state: ServerState, registry: CollectorRegistry | None = None) -> FastAPI:
    """Build the REST app over `state`. Metrics go to `registry` (a fresh one by default,
    so any number of apps can coexist in one process)."""
    app = FastAPI(
        title="englog",
        version=__version__,
        description="Work-activity log with AI insights and weekly reports.",
    )
    app.state.englog = state
    app.state.metrics = ApiMetrics(state, registry or CollectorRegistry())
    handlers: dict[type[Exception], _Handler] = {
        RequestValidationError: _on_validation_error,
        StarletteHTTPException: _on_http_error,
        ApiError: _on_api_error,
        StoreError: _on_store_error,
        Exception: _on_unexpected,
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)
    for router in (entries, tasks, ops):
        app.include_router(router)
    # The fast paths are added first, so they run inside MetricsMiddleware (which counts
    # their answers too).
    app.add_middleware(FastSubmit, state=state, metrics=app.state.metrics)
    app.add_middleware(FastTaskGet, state=state)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app
