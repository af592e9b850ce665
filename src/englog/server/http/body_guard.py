"""Refuse early: a request body larger than its route allows, and a `/v1` request without
a valid token, are answered before the body is read or parsed.

Two ASGI middlewares, so each sits where it belongs in the stack:

- `BodyLimit` (outermost, no I/O): a `Content-Length` above the route's limit (or the
  global cap) is a 413 at once; a chunked body is counted as it arrives and cut off at
  the limit (413 when the route has not answered yet). The connection is closed after
  such an answer, so the rest of the body is never read.
- `EarlyAuth` (inside the rate limits, so a forged token costs a token-bucket step
  before it costs a store read): a `/v1` request without `Authorization: Bearer` or
  with an unknown token is a 401 before its body is read. The routes check again
  (cached), so this only moves the refusal earlier.

Without them a 250 MB POST with no token was read and parsed in full (gigabytes of
memory) before its 401 (issue 22).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from englog.errors import EnglogError
from englog.server.auth import principal_for, remember_principal
from englog.server.http.errors import error_json
from englog.server.http.limits import bearer_token
from englog.server.http.models import MAX_BATCH
from englog.server.state import ServerState
from englog.store.base import StoreError

KIB = 1024
MIB = 1024 * KIB
# No request is larger than this, whatever its route (a batch of payloads at most).
DEFAULT_MAX_BODY = 16 * MIB
# A route not listed below: small JSON or a web form (a task's cancel or retry, an
# entry's update, every GET).
DEFAULT_ROUTE_LIMIT = 64 * KIB


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Byte limits of request bodies, derived from the largest task payload."""

    max_payload_bytes: int
    max_body: int = DEFAULT_MAX_BODY

    def for_route(self, method: str, path: str) -> int:
        """The most a body of `method path` may hold (the global cap at most)."""
        limit = DEFAULT_ROUTE_LIMIT
        if method == "POST" and path == "/v1/tasks":
            # The payload's JSON plus the envelope; escapes may grow the text.
            limit = 2 * self.max_payload_bytes + 64 * KIB
        elif method == "POST" and path == "/v1/tasks/batch":
            limit = 16 * self.max_payload_bytes + MAX_BATCH * KIB
        elif method == "POST" and path == "/v1/entries/bulk":
            # 1000 entries, each up to ~16 KiB of UTF-8 (a 5000-character description).
            limit = self.max_body
        elif method == "POST" and path in ("/v1/tasks/insights", "/v1/tasks/wait"):
            limit = 256 * KIB  # up to 1000 ids
        elif path.startswith("/app/"):
            limit = 256 * KIB
        return min(limit, self.max_body)


class BodyTooLarge(HTTPException, EnglogError):
    """Raised from `receive` when a chunked body passes its limit: the app's error
    handlers (or `BodyLimit`, when raised outside them) answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is over the limit of {limit} bytes for this route")
        self.limit = limit


def _declared(scope: Scope) -> tuple[int | None, bool]:
    """The request's `Content-Length` (None without a valid one) and whether its body
    comes in chunks (`Transfer-Encoding`)."""
    length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


def has_body(scope: Scope) -> bool:
    """The request says a body follows (a length above 0, or chunks)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


async def _refuse(
    scope: Scope, send: Send, status: int, error: str, detail: str, **hdr: str
) -> None:
    response = error_json(status, error, detail)
    response.headers.update(hdr)
    if has_body(scope):
        # The body is left unread: the connection cannot carry another request.
        response.headers["Connection"] = "close"
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class BodyLimit:
    """413 from `Content-Length` before reading; chunked bodies cut off at the limit."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_route(scope["method"], scope["path"])
        length, chunked = _declared(scope)
        if length is not None and length > limit:
            await _refuse(
                scope,
                send,
                413,
                "payload_too_large",
                f"request body of {length} bytes is over the limit of {limit} bytes for this route",
            )
            return
        if not chunked:
            # No body, or one of a declared length within the limit: the HTTP server
            # reads that length and no more, so there is nothing to count (two wrappers
            # less on every GET and every plain submission).
            await self.app(scope, receive, send)
            return
        started = False
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:
            if started:
                raise
            await _refuse(scope, send, 413, "payload_too_large", str(exc.detail))


# Routes whose body carries the credentials themselves (a name and password): they
# authenticate after reading it, under the route's small body limit.
CREDENTIAL_ROUTES = frozenset({"/v1/auth/token"})


class EarlyAuth:
    """401 for a `/v1` request with a body and without a known token, before the body
    is read."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith("/v1/")
            or path in CREDENTIAL_ROUTES
            or not has_body(scope)
        ):
            # Without a body there is nothing to spare: the route authenticates.
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if token is None:
            detail = "missing bearer token (Authorization: Bearer <token>)"
        else:
            try:
                principal = await principal_for(self.state, token)
            except StoreError:
                principal, known = None, True  # the route answers 503 (it cannot tell either)
            else:
                known = principal is not None
                remember_principal(scope, token, principal)
            if known:
                await self.app(scope, receive, send)
                return
            detail = "invalid or unknown token"
        await _refuse(scope, send, 401, "unauthenticated", detail, **{"WWW-Authenticate": "Bearer"})
