"""The worker's HTTP side (`--health-listen`): `/health` (liveness plus each dependency
and its breaker), `/readiness` and `/metrics` (Prometheus).

`/readiness` answers 200 only when the worker can run every task type it registered
(connected, registered, streaming, not draining, and its AI backend usable for the
AI types); otherwise 503 with the reason and, per type, what it is ready for. A
worker ready for `noop` but not for `insight_generation` (model missing) answers 503
`"status": "partial"`: it still takes and runs `noop` tasks (the server routes by the
capacity each worker advertises), but a probe that gates a rollout should not count
it as fully ready.

Starlette rather than FastAPI: three fixed routes need no validation or OpenAPI, and
the worker's idle memory matters. Imported only when the flag is given. It reads a
`WorkerStatus` snapshot and imports nothing of the worker itself."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from englog.serving import bind_listener, serve
from englog.worker.status import WorkerStatus

StatusSource = Callable[[], WorkerStatus]


def health_body(s: WorkerStatus) -> dict[str, Any]:
    return {
        "status": "ok",
        "worker_id": s.worker_id,
        "dependencies": {
            "server": {
                "address": s.server,
                "connection": s.connection,
                # Why it cannot be reached, while it cannot: the cause gRPC gives and
                # what to check (null once connected).
                "last_error": s.connection_error,
                "hint": s.connection_hint,
                "reconnects": s.reconnects,
                "registered": s.registered,
                "stream_up": s.stream_up,
                "breaker": s.breaker,
                "breaker_failures": s.breaker_failures,
                "seconds_until_half_open": round(s.seconds_until_half_open, 3),
            },
            "ai": s.ai,
            "outbox": {"durable": s.outbox_durable, "unacknowledged": s.unacknowledged},
        },
        "stats": s.stats,
    }


def readiness_body(s: WorkerStatus) -> tuple[dict[str, Any], int]:
    r = s.readiness
    if r.ready:
        status = "ready"
    elif r.ready_for:
        status = "partial"
    else:
        status = "not_ready"
    body = {
        "status": status,
        "reason": r.reason,
        "ready_for": r.ready_for,
        "not_ready_for": r.not_ready_for,
    }
    return body, 200 if r.ready else 503


def create_health_app(status: StatusSource, registry: CollectorRegistry) -> Starlette:
    async def health(_: Request) -> JSONResponse:
        return JSONResponse(health_body(status()))

    async def readiness(_: Request) -> JSONResponse:
        body, code = readiness_body(status())
        return JSONResponse(body, status_code=code)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/readiness", readiness),
            Route("/metrics", metrics),
        ]
    )


def bind_health(listen: str) -> socket.socket:
    """Bind before the worker starts, so a taken port is a clear error at once."""
    return bind_listener(listen, "--health-listen", "health")


async def serve_health(
    status: StatusSource, registry: CollectorRegistry, sock: socket.socket
) -> None:
    """Serve until cancelled."""
    await serve(create_health_app(status, registry), sock)
