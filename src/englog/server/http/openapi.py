"""An OpenAPI document that tells the truth about errors.

FastAPI documents every 422 with its own `ValidationError` shape (`loc`/`msg`/`type`)
and no other error at all, while this API answers every error as `{"error", "detail"}`
(validation errors listing `{"field", "message"}`) and answers 400, 401, 403, 404,
409, 413, 429 and 503 too. A client generated from FastAPI's document would mishandle
every one of them. This module rewrites the generated document once: the 422 schema
becomes the real one, and each operation lists the errors it really gives, derived
from what the route depends on (authentication, a path id, a body, the store) plus the
few its handler raises itself (`_RAISED`). The conformance test
(tests/integration/test_openapi_conformance.py) holds the two together.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from englog.server.auth import (
    current_principal,
    current_user,
    require_account_admin,
    require_admin,
    require_operator,
)

_REF = "#/components/schemas/"
ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "FieldError": {
        "title": "FieldError",
        "type": "object",
        "required": ["field", "message"],
        "properties": {
            "field": {"type": "string", "description": "e.g. body.entries.3.end_time"},
            "message": {"type": "string"},
        },
    },
    "Error": {
        "title": "Error",
        "type": "object",
        "description": "Every error: a stable code, a message, sometimes more fields.",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "description": "e.g. not_found, rate_limited"},
            "detail": {"type": "string"},
        },
        "additionalProperties": True,
    },
    "InvalidRequest": {
        "title": "InvalidRequest",
        "type": "object",
        "description": "422: the fields at fault (error validation_error), or a reused"
        " Idempotency-Key (error idempotency_key_reused, detail a message).",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string"},
            "detail": {
                "anyOf": [
                    {"type": "array", "items": {"$ref": f"{_REF}FieldError"}},
                    {"type": "string"},
                ]
            },
        },
        "additionalProperties": True,
    },
}

_DESCRIPTIONS = {
    400: "The body is not JSON (error invalid_json).",
    401: "Missing or unknown bearer token.",
    403: "The token may not do this (a user token where the admin's is needed, or the"
    " reverse; a user submitting a task type reserved to the admin).",
    404: "No such resource for this caller.",
    409: "The resource is not in a state that allows this.",
    413: "A task payload (or a batch's payloads together) is over the size limit.",
    422: "Invalid input: each field at fault with a message.",
    429: "Too many requests for this token (or address): retry after `Retry-After` seconds.",
    503: "The store is unavailable: retry after `Retry-After` seconds.",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
}
_AUTH_HEADER = {
    "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}},
}

# Errors a handler raises itself, which nothing in its signature shows.
_RAISED: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", "/v1/tasks"): (403, 413),
    ("POST", "/v1/tasks/batch"): (403, 413),
    ("POST", "/v1/tasks/insights"): (413,),
    ("POST", "/v1/tasks/reports"): (413,),
    ("POST", "/v1/tasks/{task_id}/cancel"): (409,),
    ("POST", "/v1/tasks/{task_id}/retry"): (409,),
    ("POST", "/v1/timer"): (409,),
    ("POST", "/v1/timer/stop"): (404, 409),
    ("POST", "/v1/auth/token"): (401, 503),
    ("POST", "/v1/users"): (409,),
    ("PATCH", "/v1/users/{user_id}"): (409,),
    ("POST", "/v1/projects"): (409,),
    ("POST", "/v1/tags/rename"): (404,),
    ("DELETE", "/v1/me"): (404,),
    ("PATCH", "/v1/projects/{project_id}"): (409,),
}
# For operators and load balancers: never rate limited.
UNLIMITED_PATHS = frozenset({"/health", "/readiness", "/metrics"})
# Their 503 is their own body (operations.py), not the error shape.
_PROBE_503 = {
    "description": "Not healthy / not ready: `reason` says why.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string"}, "reason": {"type": "string"}},
            }
        }
    },
}
_PROBES = frozenset({"/health", "/readiness"})


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every documented APIRoute, also inside included routers (which newer FastAPI
    keeps as router objects in `app.routes`)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    for item in iterate(app.routes) if iterate is not None else app.routes:
        route = getattr(item, "original_route", item)
        if isinstance(route, APIRoute) and route.include_in_schema:
            yield route


def error_statuses(route: APIRoute, method: str) -> set[int]:
    """The error statuses `method route.path` really answers."""
    calls = set(_calls(route.dependant))
    statuses: set[int] = set()
    if current_principal in calls:
        statuses |= {401, 503}
    if calls & {current_user, require_admin, require_account_admin, require_operator}:
        statuses.add(403)
    if route.dependant.path_params:
        statuses.add(404)
    if route.body_field is not None:
        statuses |= {400, 422}
    if route.dependant.query_params or route.dependant.header_params:
        statuses.add(422)
    if route.path not in UNLIMITED_PATHS:
        statuses.add(429)
    statuses.update(_RAISED.get((method, route.path), ()))
    return statuses


def _response(status: int) -> dict[str, Any]:
    schema = "InvalidRequest" if status == 422 else "Error"
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": f"{_REF}{schema}"}}},
    }
    if status == 429:
        response["headers"] = {name: {**h, "required": True} for name, h in _RETRY_AFTER.items()}
    elif status == 503:
        response["headers"] = _RETRY_AFTER
    elif status == 401:
        response["headers"] = _AUTH_HEADER
    return response


def _document_operation(operation: dict[str, Any], statuses: set[int]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "422" in responses:  # FastAPI's, for any operation with parameters
        statuses = statuses | {422}
    for status in sorted(statuses):
        documented = responses.get(str(status))
        if documented is None or status == 422:
            responses[str(status)] = _response(status)


def truthful_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with the real error answers (built once, cached)."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    paths: dict[str, Any] = document.get("paths", {})
    for route in _api_routes(app):
        for method in route.methods:
            operation = paths.get(route.path, {}).get(method.lower())
            if operation is None:
                continue
            _document_operation(operation, error_statuses(route, method))
            if route.path in _PROBES:
                operation["responses"]["503"] = _PROBE_503
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for fastapi_default in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_default, None)
    schemas.update(ERROR_SCHEMAS)
    app.openapi_schema = document
    return document


def install_truthful_openapi(app: FastAPI) -> None:
    """Serve `truthful_openapi` at /openapi.json (and to /docs)."""
    app.openapi = lambda: truthful_openapi(app)  # type: ignore[method-assign]
