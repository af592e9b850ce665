"""What the client raises: every error derives from `englog.errors.EnglogError`, and no
httpx exception leaves the client raw.

    EnglogError
    └── ClientError
        ├── ConfigError          no URL or token (not logged in), a bad config file
        ├── TransportError       the request failed on the way (reset, read timeout)
        │   └── ServerUnreachable    nothing answers at the URL
        ├── ApiError             the server answered 4xx/5xx: status, error code, field
        │   ├── Unauthorized     401: the token is missing, unknown or revoked
        │   ├── Forbidden        403: the token may not do this
        │   ├── NotFound         404
        │   ├── Conflict         409 (e.g. cancelling a finished task)
        │   ├── ValidationFailed 400/422: bad input, each field in `errors`
        │   └── RateLimited      429: too many requests; `retry_after` seconds
        ├── TaskFailed           the task ended failed (its error and attempts)
        │   └── TaskCancelled    ... or cancelled
        └── Timeout              a wait for tasks ran out (they keep running)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from englog.errors import EnglogError


class ClientError(EnglogError):
    """Anything the englog client raises."""


class ConfigError(ClientError):
    """The client cannot be configured: no URL or token, or an unreadable config file."""


class TransportError(ClientError):
    """The request did not complete: the connection broke or the answer was too slow."""


class ServerUnreachable(TransportError):
    """Nothing accepted the connection at the server URL."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One rejected input, as the server's 422 names it (`body.end_time`)."""

    field: str
    message: str


class ApiError(ClientError):
    """The server answered with an error: `status` (HTTP), `code` (its `error` field, e.g.
    `validation_error`), `field` (the first offending input, when it names one), and the
    whole decoded `body`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        errors: Sequence[FieldError] = (),
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = tuple(errors)
        self.body = body

    @property
    def field(self) -> str | None:
        return self.errors[0].field if self.errors else None


class Unauthorized(ApiError):
    """401: no token, or one the server does not know (revoked, or another server's)."""


class Forbidden(ApiError):
    """403: the token is valid but may not do this (e.g. the admin token on entries)."""


class NotFound(ApiError):
    """404: no such entry or task (or it belongs to another user)."""


class Conflict(ApiError):
    """409: the request contradicts the current state (a finished task cannot be
    cancelled)."""


class ValidationFailed(ApiError):
    """400/422: the input was refused; `errors` lists each field and why."""


class RateLimited(ApiError):
    """429: the server refused the request without acting on it; `retry_after` is
    how many seconds it asked the caller to wait (None when it did not say)."""

    retry_after: float | None = None


class TaskFailed(ClientError):
    """A task ended without a result: `error` is its last error, `attempts` the
    deliveries it took, `status` failed or cancelled."""

    def __init__(self, task_id: str, status: str, error: str | None, attempts: int) -> None:
        what = error or status
        super().__init__(f"task {task_id} {status} after {attempts} attempt(s): {what}")
        self.task_id = task_id
        self.status = status
        self.error = error
        self.attempts = attempts


class TaskCancelled(TaskFailed):
    """The task was cancelled before it produced a result."""


class Timeout(ClientError):
    """A wait ended before the tasks finished; they keep running on the server, and
    `pending` holds their ids."""

    def __init__(self, message: str, pending: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.pending = tuple(pending)
