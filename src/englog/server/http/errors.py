"""The REST API's one error shape: `{"error": <code>, "detail": ...}`, with validation
errors listed as `{"field": "body.entries.0.end_time", "message": ...}` so a client can
point at the offending input. Every failure leaves through these handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from englog.errors import EnglogError
from englog.logs import redact
from englog.server.queue import TooManyTasks
from englog.store.base import InvalidData, StoreError


class ApiError(EnglogError):
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


ERROR_CODES = {
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


def field_errors(errors: Sequence[Any], prefix: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """pydantic's errors as the API lists them: a dotted `field` and a plain `message`."""
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


def error_json(status: int, error: str, detail: Any, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status)


def store_unavailable(exc: StoreError) -> JSONResponse:
    """The database is down or closed: tell clients to retry rather than 500."""
    response = error_json(503, "store_unavailable", f"storage is unavailable: {redact(str(exc))}")
    response.headers["Retry-After"] = "1"
    return response


def store_failure(exc: StoreError) -> JSONResponse:
    """A value the database can never hold (InvalidData: NUL in text on PostgreSQL) is
    the request's fault, a 422 no retry can fix; any other store error is a 503."""
    if isinstance(exc, InvalidData):
        return error_json(422, "validation_error", [{"field": "request", "message": str(exc)}])
    return store_unavailable(exc)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        reason = bad_json.get("ctx", {}).get("error", "malformed JSON")
        loc = bad_json.get("loc", ())
        where = f" at position {loc[1]}" if len(loc) > 1 else ""
        return error_json(400, "invalid_json", f"request body is not valid JSON: {reason}{where}")
    return error_json(422, "validation_error", field_errors(errors))


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = ERROR_CODES.get(exc.status_code, "error")
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):
        error = "invalid_json"  # e.g. a body that is not UTF-8
    response = error_json(exc.status_code, error, exc.detail)
    response.headers.update(exc.headers or {})
    return response


async def _on_api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_json(exc.status, exc.error, exc.detail, **exc.extra)


async def _on_store_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoreError)
    return store_failure(exc)


def too_many_tasks(exc: TooManyTasks) -> JSONResponse:
    """The 429 of a user at `max_queued_per_user` (the route's and the fast path's)."""
    response = error_json(429, "too_many_tasks", str(exc))
    response.headers["Retry-After"] = "5"
    return response


async def _on_too_many_tasks(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TooManyTasks)
    return too_many_tasks(exc)


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    return error_json(500, "internal_error", "unexpected server error")


_Handler = Callable[[Request, Exception], Awaitable[Response]]


def install_error_handlers(app: FastAPI) -> None:
    handlers: dict[type[Exception], _Handler] = {
        RequestValidationError: _on_validation_error,
        StarletteHTTPException: _on_http_error,
        ApiError: _on_api_error,
        StoreError: _on_store_error,
        TooManyTasks: _on_too_many_tasks,
        Exception: _on_unexpected,
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)
