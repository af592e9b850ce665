"""Task submission, shared by every submitting route (and the fast path): the checks a
new task passes, the idempotent variant, and the answer with or without `Prefer: wait`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request, Response
from starlette.types import Scope

from englog.domain.tasks import DEFAULT_TIMEOUTS_S, NewTask, Task
from englog.server.auth import USER_GENERIC_TYPES, Principal
from englog.server.http.errors import ApiError, invalid
from englog.server.http.metrics import WAITED, api_metrics, count_submitted
from englog.server.http.models import (
    MAX_WAIT_S,
    TaskFound,
    TaskSubmit,
    accepted_json,
    task_detail_json,
)
from englog.server.http.waiting import wait_finished
from englog.server.state import ServerState
from englog.server.storable import has_nul
from englog.store.base import IdempotencyKeyReused, StoreError

FALLBACK_TIMEOUT_S = 60.0
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
# A value that means the same to float() and to pydantic; anything else (signs,
# exponents, "nan", percent-escapes) is not a plain number of seconds.
PLAIN_DECIMAL = re.compile(rb"[0-9]+(?:\.[0-9]+)?")
# One RFC 7240 preference: a token, optionally `=value` (a token or a quoted string),
# then `;parameters` this server does not use.
_PREFERENCE = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*("[^"]*"|[^;,\s]*))?')


def timeout_for(task_type: str, requested: float | None = None) -> float:
    return (
        requested
        if requested is not None
        else DEFAULT_TIMEOUTS_S.get(task_type, FALLBACK_TIMEOUT_S)
    )


# `json.dumps` builds an encoder for each call made with options (half its cost for a
# small payload); these are built once. Their output is `json.dumps`'s with the same
# options: stored fingerprints must not change.
_COMPACT = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=False)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def check_payload_size(
    state: ServerState, payload: Mapping[str, Any], field: str = "body.payload"
) -> int:
    """The payload's encoded size, after checking it against the per-task limit."""
    try:
        encoded = _COMPACT.encode(payload)
    except ValueError as exc:  # NaN / Infinity would come back silently as null
        raise invalid(field, f"payload must be plain JSON: {exc}") from exc
    if "\\u0000" in encoded and has_nul(payload):  # PostgreSQL cannot keep it; SQLite alike
        raise invalid(field, "payload must not contain the NUL character (U+0000)")
    size = len(encoded.encode())
    limit = state.settings.max_payload_bytes
    if size > limit:
        where = "" if field == "body.payload" else f" ({field})"
        raise ApiError(
            413, "payload_too_large", f"task payload{where} is {size} bytes; limit {limit}"
        )
    return size


async def learn_types(state: ServerState, types: Sequence[str]) -> None:
    """Types this process has not seen may be known to the store: a worker registered
    with another replica, or before this server restarted."""
    if all(t in state.known_types for t in types):
        return
    for record in await state.store.list_workers():
        state.known_types.update(record.info.capabilities)


# What a user (not the admin) may ask of the shared workers (issue 22: a user's eight
# `sleep` 3600 tasks at priority 1,000,000 with 86,400 s timeouts and 20 attempts
# held every slot).
USER_MAX_PRIORITY = 100
USER_MAX_TIMEOUT_S = 3600.0
USER_MAX_ATTEMPTS = 5
USER_MAX_SLEEP_S = 60.0
MAX_LISTED_TYPES = 100


def check_user_bounds(body: TaskSubmit, field: str) -> None:
    """A user's generic task within the bounds above (a 422 naming the field)."""
    if body.priority > USER_MAX_PRIORITY:
        raise invalid(f"{field}.priority", f"users may set a priority of 0 to {USER_MAX_PRIORITY}")
    if body.timeout_s is not None and body.timeout_s > USER_MAX_TIMEOUT_S:
        raise invalid(f"{field}.timeout_s", f"users may set at most {USER_MAX_TIMEOUT_S:g} s")
    if body.max_attempts > USER_MAX_ATTEMPTS:
        raise invalid(f"{field}.max_attempts", f"users may set at most {USER_MAX_ATTEMPTS}")
    seconds = body.payload.get("seconds", 0) if body.type == "sleep" else 0
    is_number = isinstance(seconds, int | float) and not isinstance(seconds, bool)
    if is_number and seconds > USER_MAX_SLEEP_S:
        raise invalid(f"{field}.payload.seconds", f"users may sleep at most {USER_MAX_SLEEP_S:g} s")


def generic_task(state: ServerState, principal: Principal, body: TaskSubmit, field: str) -> NewTask:
    """Check one generic submission (type known, caller allowed) and build its task;
    `field` locates it in the request body for the 422."""
    if body.type not in state.known_types:
        # The type alone: workers declare types, so the whole list is theirs to bloat.
        may = sorted(t for t in state.known_types if principal.may_submit(t))
        raise invalid(
            f"{field}.type",
            f"unknown task type {body.type[:100]!r}",
            known_types=may[:MAX_LISTED_TYPES],
        )
    if not principal.may_submit(body.type):
        raise ApiError(
            403,
            "forbidden",
            f"users may submit only {sorted(USER_GENERIC_TYPES)} "
            "here; use /v1/tasks/insights or /v1/tasks/reports",
        )
    if not principal.is_admin:
        check_user_bounds(body, field)
    return NewTask(
        type=body.type,
        payload=body.payload,
        user_id=principal.user_id,
        priority=body.priority,
        max_attempts=body.max_attempts,
        timeout_s=timeout_for(body.type, body.timeout_s),
    )


async def submit(request: Request, response: Response, task: NewTask) -> Response:
    """Persist one task (leased at once when a worker stream has a free slot, else
    queued and the streams woken); 202 with a Location. With `Prefer: wait=N`, the
    finished task (200) if it finishes within N seconds (`accepted`).

    With an `Idempotency-Key` header the same key from the same caller, within
    `idempotency_ttl_s` (24 h), answers 202 again with the first task's id (its status
    as it is now) and `Idempotent-Replayed: true`, creating nothing; the same key with
    a different request body is a 422 (as in the IETF Idempotency-Key draft)."""
    state: ServerState = request.app.state.englog
    check_payload_size(state, task.payload)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    request_print = None
    if key is not None:
        if not valid_key(key):
            raise invalid(
                f"header.{IDEMPOTENCY_HEADER}",
                f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
            )
        request_print = fingerprint(request.method, request.url.path, await request.body())
    finishes = state.watch.finishes
    stored, created = await create(state, task, key, request_print)
    if created:
        count_submitted(api_metrics(request), [stored])
    else:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/tasks/{stored.id}"
    status, content, extra = await accepted(
        state, request.scope, stored, task.user_id, finishes if created else None
    )
    answer = Response(content, status, headers=response.headers, media_type="application/json")
    for name, value in extra:
        answer.headers[name.decode()] = value.decode()
    return answer


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isascii() and key.isprintable()


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests with one Idempotency-Key the same request: the same JSON
    however it is spaced or ordered, to the same method and path."""
    try:
        canonical = _CANONICAL.encode(json.loads(body)).encode()
    except (ValueError, RecursionError):
        canonical = body
    return _digest(method, path, canonical)


def fingerprint_of(method: str, path: str, value: Any) -> str:
    """`fingerprint` of a request whose body is `json.dumps(value)`, for a value parsed
    from JSON already (a batch item): the same digest without encoding the body only to
    parse it again."""
    try:
        canonical = _CANONICAL.encode(value).encode()
    except (ValueError, RecursionError):
        return fingerprint(method, path, json.dumps(value).encode())
    return _digest(method, path, canonical)


def _digest(method: str, path: str, canonical: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


async def create(
    state: ServerState, task: NewTask, key: str | None, request_print: str | None
) -> tuple[Task, bool]:
    """Store one new task; with an idempotency `key` (and the request's `fingerprint`)
    only when the key made none yet: (the task, created). A key reused for another
    request is a 422."""
    if key is None:
        [stored] = await state.queue.submit([task])
        return stored, True
    assert request_print is not None
    try:
        stored, created = await state.queue.submit_once(task, key, request_print)
    except IdempotencyKeyReused as exc:
        raise key_reused(exc) from exc
    return stored, created


def key_reused(exc: IdempotencyKeyReused) -> ApiError:
    """The 422 for a key that already names another request."""
    return ApiError(
        422,
        "idempotency_key_reused",
        f"{exc}; use a new key for a new request",
        {"task_id": exc.task_id},
    )


async def accepted(
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
        return 202, accepted_json(stored), []
    scope[WAITED] = True
    applied = [(b"preference-applied", f"wait={wait_s:g}".encode())]
    fresh = finishes is not None and state.watch.finishes == finishes
    found: TaskFound | None = None
    with contextlib.suppress(StoreError):
        found = await wait_finished(state, stored.id, user_id, wait_s, stored if fresh else None)
    if found is None or not found[0].status.terminal:
        return 202, accepted_json(stored if found is None else found[0]), applied
    content_location = (b"content-location", f"/v1/tasks/{found[0].id}".encode())
    return 200, task_detail_json(found), [*applied, content_location]


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
            if not PLAIN_DECIMAL.fullmatch(raw.encode()):
                return None
            seconds = float(raw)
            return min(seconds, MAX_WAIT_S) if seconds > 0 else None
    return None
