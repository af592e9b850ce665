"""`POST /v1/tasks`, `POST /v1/tasks/batch` and `GET /v1/tasks/{id}` without FastAPI's
per-request machinery (dependency tree, body, query and response models,
jsonable_encoder), which cost most of the CPU of a submission and two thirds of the
app's time for a read: the two halves of every round trip. Measured on 2026-12-03 with
the bench's harness, 8 runs each way alternating: single submissions end to end 1.43x
the tasks/s, round-trip p50 0.78x; the batch route (2026-12-07, the client pattern,
6 pairs): the server's CPU per coalesced task 0.69 -> 0.59 ms.

Only the plain case is taken here: a known bearer token, a valid body (with at most one
valid `Idempotency-Key`), no query but an in-range `wait_s`, a task found. Anything else,
every error included, goes to the FastAPI route (a submission's body replayed), so
status codes, error bodies and the OpenAPI schema stay the route's own. The checks,
the store calls, the wait and the serializers are the route's functions, so the
answers are the route's byte for byte; the tests run every route test through both."""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from englog import json_loads
from englog.server.auth import Principal, principal_for
from englog.server.http.asgi_body import read_body, replay
from englog.server.http.batch_keys import BATCH_PATH, accept_batch
from englog.server.http.errors import ApiError, store_failure, too_many_tasks
from englog.server.http.limits import bearer_token
from englog.server.http.metrics import WAITED, ApiMetrics, count_submitted
from englog.server.http.models import (
    MAX_WAIT_S,
    BatchSubmit,
    TaskSubmit,
    accepted_json,
    task_detail_json,
)
from englog.server.http.submission import (
    PLAIN_DECIMAL,
    accepted,
    check_payload_size,
    create,
    fingerprint_of,
    generic_task,
    valid_key,
)
from englog.server.http.waiting import find_task
from englog.server.queue import TooManyTasks
from englog.server.state import ServerState
from englog.store.base import StoreError

_TASKS_PREFIX = "/v1/tasks/"


async def _caller(state: ServerState, scope: Scope) -> Principal | None:
    """Who the bearer token names; None when nobody, or when the store fails (the route
    meets the failure again and answers its 503). The token is read as the routes'
    `HTTPBearer` dependency reads it (englog.server.auth), without a Request built."""
    token = bearer_token(scope)
    if token is None:
        return None
    try:
        return await principal_for(state, token)
    except StoreError:
        return None


def _json_and_key(scope: Scope) -> tuple[bool, str | None]:
    """Whether a submission's body is declared JSON with at most one Idempotency-Key,
    and that key: anything else is left to the route."""
    content_type = dict(scope["headers"]).get(b"content-type", b"")
    keys = [v.decode("latin-1") for n, v in scope["headers"] if n == b"idempotency-key"]
    plain_json = content_type.partition(b";")[0].strip().lower() == b"application/json"
    return plain_json and len(keys) <= 1, keys[0] if keys else None


class _FastWrite:
    """A submission's fast path: the app it stands before, and the route it stands in
    for, set in the scope as routing would, so MetricsMiddleware labels both alike."""

    def __init__(
        self, app: ASGIApp, state: ServerState, metrics: ApiMetrics, route: APIRoute
    ) -> None:
        self.app = app
        self.state = state
        self.metrics = metrics
        self.route = route


class FastSubmit(_FastWrite):
    """`POST /v1/tasks`, the plain case."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/tasks" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, complete = await read_body(receive)
        taken = complete and await self._try_submit(scope, body, send)
        if not taken:
            await self.app(scope, replay(body, complete, receive), send)

    async def _try_submit(self, scope: Scope, body: bytes, send: Send) -> bool:
        """True when the request was answered here."""
        plain, key = _json_and_key(scope)
        if not plain or (key is not None and not valid_key(key)):
            return False
        state = self.state
        try:
            raw = json_loads.loads(body)
            submitted = TaskSubmit.model_validate(raw)
        except (ValueError, RecursionError):  # bad JSON or a ValidationError: the route explains
            return False
        principal = await _caller(state, scope)
        if principal is None:
            return False
        try:
            task = generic_task(state, principal, submitted, "body")
            check_payload_size(state, task.payload)
        except ApiError:
            return False
        scope["route"] = self.route
        finishes = state.watch.finishes
        # The body's fingerprint from the value parsed above (`fingerprint`'s digest).
        request_print = None if key is None else fingerprint_of("POST", scope["path"], raw)
        try:
            stored, created = await create(state, task, key, request_print)
        except ApiError:  # a reused key: nothing was stored, the route answers its 422
            return False
        except StoreError as exc:
            await store_failure(exc)(scope, _no_body, send)
            return True
        except TooManyTasks as exc:  # answered here: the refusal is counted once
            await too_many_tasks(exc)(scope, _no_body, send)
            return True
        if created:
            count_submitted(self.metrics, [stored])
        status, content, extra = await accepted(
            state, scope, stored, principal.user_id, finishes if created else None
        )
        location = (b"location", f"/v1/tasks/{stored.id}".encode())
        replayed = [] if created else [(b"idempotent-replayed", b"true")]
        await _send_json(send, status, content, location, *replayed, *extra)
        return True


class FastBatch(_FastWrite):
    """`POST /v1/tasks/batch`, the plain case: what a coalescing client sends for its
    submitting threads, a few tasks at a time, so FastAPI's machinery weighed on every
    coalesced task (issue 26). It runs inside BatchGate, as the route does: sixteen
    clients' 1,000-task batches parsed at once took the server past 100 MB. Every
    refusal goes to the route, raised before anything is stored (`accept_batch` raises
    ApiError only then)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != BATCH_PATH
            or scope["method"] != "POST"
            or scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        body, complete = await read_body(receive)
        taken = complete and await self._try(scope, body, send)
        if not taken:
            await self.app(scope, replay(body, complete, receive), send)

    async def _try(self, scope: Scope, body: bytes, send: Send) -> bool:
        """True when the request was answered here."""
        plain, key = _json_and_key(scope)
        if not plain:
            return False
        try:
            raw = json_loads.loads(body)
            batch = BatchSubmit.model_validate(raw)
        except (ValueError, RecursionError):  # bad JSON or a ValidationError: the route explains
            return False
        principal = await _caller(self.state, scope)
        if principal is None:
            return False
        scope["route"] = self.route
        try:
            outcome = await accept_batch(self.state, principal, batch, body, key, raw)
        except ApiError:  # refused before anything was stored: the route says why
            return False
        except StoreError as exc:
            await store_failure(exc)(scope, _no_body, send)
            return True
        except TooManyTasks as exc:
            await too_many_tasks(exc)(scope, _no_body, send)
            return True
        count_submitted(self.metrics, outcome.created)
        content = b'{"tasks":[%s]}' % b",".join(accepted_json(t) for t in outcome.stored)
        replayed = [(b"idempotent-replayed", b"true")] if outcome.replayed else []
        await _send_json(send, 202, content, *replayed)
        return True


class FastTaskGet:
    """`GET /v1/tasks/{id}` and its long poll `?wait_s=S`, the plain case; `route` as
    for FastSubmit."""

    def __init__(self, app: ASGIApp, state: ServerState, route: APIRoute) -> None:
        self.app = app
        self.state = state
        self.route = route

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
        try:
            wait_s = _plain_wait_s(scope["query_string"])
        except ValueError:
            return False
        state = self.state
        principal = await _caller(state, scope)
        if principal is None:
            return False
        scope["route"] = self.route
        if wait_s is not None:
            scope[WAITED] = True
        try:
            found = await find_task(state, task_id, principal.user_id, wait_s)
        except StoreError as exc:  # answered here: the route would wait all over again
            await store_failure(exc)(scope, _no_body, send)
            return True
        if found is None:
            return False  # the route's 404
        await _send_json(send, 200, task_detail_json(found))
        return True


def _plain_wait_s(query: bytes) -> float | None:
    """`wait_s` from a query string that holds nothing else; None for an empty one.
    ValueError for anything else, which the route then validates and explains."""
    if not query:
        return None
    name, _, value = query.partition(b"=")
    if name != b"wait_s" or not PLAIN_DECIMAL.fullmatch(value):
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


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
