"""Rate limits and bounded waiting for the REST API (ServerSettings.http_limits).

Runs in front of the routes and the fast paths, inside MetricsMiddleware, so a refused
request costs one dictionary lookup and a token-bucket step, never a store read:

- **Who is calling** is decided without I/O: the admin's token, or a user token this
  process has already authenticated (the cache `principal_for` fills) is a *token*;
  anything else (no token, a wrong one, a user's first request) is its client
  *address*, limited before authentication so forged tokens cannot buy a store read each.
  A browser on `/app` with a session this process has seen signed in counts as its
  user (or the admin), not as its address.
- **Rate limits** (englog.server.ratelimit.TokenBuckets): submissions and other
  requests per token, everything per address for the unknown. The admin's token is not
  rate limited. A refusal is `429 {"error": "rate_limited", ...}` with `Retry-After`,
  counted in `englog_http_rate_limited_total{limit}`.
- **Bounded waiting**: a request that would hold its connection while tasks run (a long
  poll `?wait_s=`, `Prefer: wait` on a submission, `POST /v1/tasks/wait`) takes a wait
  slot (per caller and in all). With none free it is answered at once instead: the wait
  is taken out of the request (the query parameter or the `Prefer` header removed,
  `timeout_s` set to 0), so the route answers the current state (202, or the task as it
  is now) and `Preference-Applied` is absent, as RFC 7240 has it. Counted in
  `englog_http_waits_refused_total{cap}`; slots in use in `englog_http_waiting_requests`.
/health, /readiness and /metrics are never limited (load balancers, scrapers).
"""

from __future__ import annotations

import json
import time
from collections.abc import Hashable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from englog.domain.tokens import hash_token, tokens_match
from englog.server.http.errors import error_json
from englog.server.http.openapi import UNLIMITED_PATHS
from englog.server.http.submission import prefer_wait
from englog.server.ratelimit import (
    Clock,
    HttpLimits,
    Rate,
    TokenBuckets,
    WaitSlots,
    retry_after_header,
)
from englog.server.state import ServerState

SUBMIT_PATHS = frozenset(
    {"/v1/tasks", "/v1/tasks/batch", "/v1/tasks/insights", "/v1/tasks/reports"}
)
# Submissions that may carry `Prefer: wait` (the batch route does not take it).
PREFER_PATHS = SUBMIT_PATHS - {"/v1/tasks/batch"}
WAIT_PATH = "/v1/tasks/wait"
TASK_PREFIX = "/v1/tasks/"


@dataclass(frozen=True, slots=True)
class Caller:
    """A bucket key: ("token", user id), ("admin", "") or ("address", host)."""

    kind: str
    key: str

    @property
    def slot_key(self) -> Hashable:
        return (self.kind, self.key)


ADMIN = Caller("admin", "")


class LimitMetrics:
    def __init__(self, registry: CollectorRegistry, slots: WaitSlots) -> None:
        self.limited = Counter(
            "englog_http_rate_limited",
            "REST requests refused with 429, by limit (submit, requests, anonymous).",
            ["limit"],
            registry=registry,
        )
        self.waits_refused = Counter(
            "englog_http_waits_refused",
            "REST requests that asked to wait for tasks and were answered at once because"
            " no wait slot was free, by cap (token, total).",
            ["cap"],
            registry=registry,
        )
        waiting = Gauge(
            "englog_http_waiting_requests",
            "REST requests holding a wait slot (waiting for tasks) now.",
            registry=registry,
        )
        waiting.set_function(lambda: float(slots.in_use))


class LimitsMiddleware:
    """The ASGI middleware; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        state: ServerState,
        registry: CollectorRegistry,
        clock: Clock = time.monotonic,
    ) -> None:
        self.app = app
        self.state = state
        limits: HttpLimits = state.settings.http_limits
        self.buckets = {
            "submit": TokenBuckets(limits.submit, clock),
            "requests": TokenBuckets(limits.requests, clock),
            "anonymous": TokenBuckets(limits.anonymous, clock),
        }
        self.slots = WaitSlots(limits.waits_per_token, limits.waits_total)
        self.metrics = LimitMetrics(registry, self.slots)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        caller = self.caller(scope)
        if await self._refused(caller, scope, send):
            return
        if not _wants_to_wait(scope):
            await self.app(scope, receive, send)
            return
        key = caller.slot_key
        if not self.slots.acquire(key):
            full = "token" if self.slots.held_by(key) >= self.slots.per_key else "total"
            self.metrics.waits_refused.labels(full).inc()
            await self.app(scope, await _without_wait(scope, receive), send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.release(key)

    def caller(self, scope: Scope) -> Caller:
        """Who is asking, from what this process already knows (no I/O)."""
        token = bearer_token(scope)
        if token is None and scope["path"].startswith("/app"):
            # A browser: its signed-in session stands for its user (issue 22: 400
            # anonymous requests from one address made a signed-in user's page 429).
            seen = self._viewer(scope)
            if seen is not None:
                return seen
        if token is not None:
            admin = self.state.settings.admin_token
            if admin and tokens_match(token, admin):
                return ADMIN
            cached = self.state.users_by_token.get(hash_token(token))
            if cached is not None and cached[0] > time.monotonic():
                return Caller("token", cached[1].id)
        client = scope.get("client")
        return Caller("address", client[0] if client else "unknown")

    def _viewer(self, scope: Scope) -> Caller | None:
        session_id = _cookie(scope, SESSION_COOKIE)
        if not session_id:
            return None
        cached = self.state.web_viewers.get(hash_token(session_id))
        if cached is None or cached[0] <= time.monotonic():
            return None
        return ADMIN if cached[1] is None else Caller("token", cached[1])

    async def _refused(self, caller: Caller, scope: Scope, send: Send) -> bool:
        """Charge the caller's bucket; answer 429 (True) when it is empty."""
        if caller is ADMIN:
            return False
        if caller.kind == "address":
            limit = "anonymous"
        elif scope["method"] == "POST" and scope["path"] in SUBMIT_PATHS:
            limit = "submit"
        else:
            limit = "requests"
        buckets = self.buckets[limit]
        wait_s = buckets.take(caller.key)
        if wait_s <= 0:
            return False
        self.metrics.limited.labels(limit).inc()
        response = error_json(429, "rate_limited", _refusal(limit, caller, buckets.rate, wait_s))
        response.headers["Retry-After"] = retry_after_header(wait_s)
        await response(scope, _no_body, send)
        return True


def _refusal(limit: str, caller: Caller, rate: Rate, wait_s: float) -> str:
    what = {"submit": "submissions", "requests": "requests", "anonymous": "requests"}[limit]
    whose = "this token" if caller.kind == "token" else f"address {caller.key} (no known token)"
    return f"too many {what} from {whose}: limit {rate}; retry in {wait_s:.2f} s"


SESSION_COOKIE = "englog_session"  # englog.web.sessions.COOKIE (web builds on server)


def _cookie(scope: Scope, name: str) -> str | None:
    for header, value in scope["headers"]:
        if header == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, found = part.strip().partition("=")
                if key == name:
                    return found
    return None


def bearer_token(scope: Scope) -> str | None:
    """The token of `Authorization: Bearer <token>`, None without one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _wants_to_wait(scope: Scope) -> bool:
    method, path = scope["method"], scope["path"]
    if method == "GET" and path.startswith(TASK_PREFIX):
        return any(_is_wait_s(pair) for pair in scope["query_string"].split(b"&"))
    if method != "POST":
        return False
    if path == WAIT_PATH:
        return True
    if path in PREFER_PATHS:
        return prefer_wait([v for n, v in scope["headers"] if n == b"prefer"]) is not None
    return False


def _is_wait_s(pair: bytes) -> bool:
    return pair.partition(b"=")[0] == b"wait_s"


async def _without_wait(scope: Scope, receive: Receive) -> Receive:
    """Take the wait out of the request (in place: the outer middleware reads the same
    scope); the receive to use from now on."""
    if scope["method"] == "GET":
        pairs = scope["query_string"].split(b"&")
        scope["query_string"] = b"&".join(p for p in pairs if not _is_wait_s(p))
        return receive
    if scope["path"] != WAIT_PATH:
        scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"prefer"]
        return receive
    return await _look_once(receive)


async def _look_once(receive: Receive) -> Receive:
    """`POST /v1/tasks/wait` with `timeout_s` 0 (look once, do not wait): the body read
    and given again with that change; a body that is not such JSON is left for the
    route to refuse."""
    chunks: list[bytes] = []
    message: Message = {"type": "http.disconnect"}
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict) and "timeout_s" in parsed:
        parsed["timeout_s"] = 0
        body = json.dumps(parsed).encode()
    # The client gone before its body arrived: tell the route so, as the socket did.
    replay = message if message["type"] != "http.request" else _whole(body)
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return replay

    return again


def _whole(body: bytes) -> Message:
    return {"type": "http.request", "body": body, "more_body": False}


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
