"""The worker's HTTP side (`--health-listen`): `/health` (liveness plus each dependency
and its breaker), `/readiness` (200 only when registered, streaming and AI usable;
503 with the reason otherwise) and `/metrics` (Prometheus).

Starlette rather than FastAPI: three fixed routes need no validation or OpenAPI, and
the worker's idle memory matters. Imported only when the flag is given."""

from __future__ import annotations

import contextlib
import importlib.util
import socket
from typing import TYPE_CHECKING, Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from englog.addresses import split_hostport
from englog.ai.backend import get_backend

if TYPE_CHECKING:
    from englog.worker.client import Worker


# httptools parses HTTP in C; h11 (pure Python) is the fallback when it is missing.
HTTP_PARSER = "httptools" if importlib.util.find_spec("httptools") else "h11"


def create_health_app(worker: Worker) -> Starlette:
    async def health(_: Request) -> JSONResponse:
        conn = worker.conn.stats()
        breaker = worker.breaker.stats()
        backend = get_backend()
        ai_ok, ai_why = worker.ai_usable()
        ai: dict[str, Any] = {"backend": getattr(backend, "name", "?"), "usable": ai_ok}
        if ai_why:
            ai["reason"] = ai_why
        if worker.ai_health is not None:
            ai["health"] = worker.ai_health
        ai_breaker = getattr(backend, "breaker", None)
        if ai_breaker is not None:
            ai["breaker"] = str(ai_breaker.state)
        return JSONResponse(
            {
                "status": "ok",
                "worker_id": worker.settings.worker_id,
                "dependencies": {
                    "server": {
                        "address": worker.settings.server,
                        "connection": conn.state,
                        "reconnects": conn.reconnects,
                        "registered": worker.registered.is_set(),
                        "stream_up": worker.stream_up,
                        "breaker": str(breaker.state),
                        "breaker_failures": breaker.consecutive_failures,
                        "seconds_until_half_open": round(breaker.seconds_until_half_open, 3),
                    },
                    "ai": ai,
                    "outbox": {
                        "durable": worker.outbox.durable,
                        "unacknowledged": worker.pending_results,
                    },
                },
                "stats": worker.stats(),
            }
        )

    async def readiness(_: Request) -> JSONResponse:
        ready, reason = worker.readiness()
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "reason": reason},
            status_code=200 if ready else 503,
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(worker.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/readiness", readiness),
            Route("/metrics", metrics),
        ]
    )


def bind_health(listen: str) -> socket.socket:
    """Bind before the worker starts, so a taken port is a clear error at once."""
    host, port = split_hostport(listen, "--health-listen")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = getattr(exc, "strerror", None) or exc
        raise OSError(f"cannot listen for health on {listen}: {reason}") from exc
    return sock


async def serve_health(worker: Worker, sock: socket.socket) -> None:
    """Serve until cancelled."""
    config = uvicorn.Config(
        create_health_app(worker),
        http=HTTP_PARSER,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    # The process owns SIGTERM/SIGINT (graceful drain): uvicorn must not take them.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    try:
        await server.serve(sockets=[sock])
    finally:
        with contextlib.suppress(OSError):
            sock.close()
