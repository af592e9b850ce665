"""`create_http_app`: the REST API (DESIGN "External interface") assembled from its
routers, error handlers, metrics and, in front, the fast paths."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry

from englog import __version__
from englog.server.http import (
    accounts,
    analytics,
    entries,
    insights,
    me,
    my_data,
    operations,
    projects,
    tags,
    tasks,
    timer,
    trends,
)
from englog.server.http.batch_gate import BatchGate
from englog.server.http.body_guard import BodyLimit, BodyLimits, EarlyAuth
from englog.server.http.errors import install_error_handlers
from englog.server.http.fast_paths import FastBatch, FastSubmit, FastTaskGet
from englog.server.http.limits import LimitsMiddleware
from englog.server.http.metrics import ApiMetrics, MetricsMiddleware
from englog.server.http.openapi import install_truthful_openapi
from englog.server.http.otel import fastapi_telemetry
from englog.server.http.query import documented_query_only
from englog.server.http.redirects import RelativeRedirects
from englog.server.state import ServerState

WEB_PREFIX = "/app"


def create_http_app(
    state: ServerState, registry: CollectorRegistry | None = None, *, fast_paths: bool = True
) -> FastAPI:
    """Build the REST app over `state`. Metrics go to `registry` (a fresh one by default,
    so any number of apps can coexist in one process). `fast_paths=False` serves every
    request through the FastAPI routes (tests run the route tests both ways)."""
    app = FastAPI(
        title="englog",
        version=__version__,
        description="Work-activity log with AI insights and weekly reports.",
        dependencies=[Depends(documented_query_only)],
        # The docs pages load their JavaScript from a CDN on the web app's origin: off
        # unless the operator asks (--api-docs); /openapi.json is always served.
        docs_url="/docs" if state.settings.api_docs else None,
        redoc_url="/redoc" if state.settings.api_docs else None,
        **fastapi_telemetry(),
    )
    app.state.englog = state
    app.state.metrics = ApiMetrics(state, registry or CollectorRegistry())
    install_error_handlers(app)
    install_truthful_openapi(app)
    # insights first: its routes are listed before the generic ones in the OpenAPI.
    modules = [me, my_data, accounts, entries, timer, trends, projects, tags, analytics, insights]
    for module in [*modules, tasks, operations]:
        app.include_router(module.router)
    # The web app for people with a browser, beside the API it shares a process, a
    # store and a queue with. Imported here: englog.web builds on englog.server.
    from englog.web import create_web_app

    app.mount(WEB_PREFIX, create_web_app(state))
    app.add_api_route("/", _to_web_app, include_in_schema=False)
    if fast_paths:  # innermost, inside the gate below as the route is
        batch = _route(tasks.router, "POST", "/v1/tasks/batch")
        app.add_middleware(FastBatch, state=state, metrics=app.state.metrics, route=batch)
    # Large submissions are parsed two at a time (memory; see batch_gate).
    app.add_middleware(BatchGate)
    if fast_paths:
        # Added before the layers below, so they run inside MetricsMiddleware (which
        # counts their answers).
        submit = _route(tasks.router, "POST", "/v1/tasks")
        read = _route(tasks.router, "GET", "/v1/tasks/{task_id}")
        app.add_middleware(FastSubmit, state=state, metrics=app.state.metrics, route=submit)
        app.add_middleware(FastTaskGet, state=state, route=read)
    # A /v1 request without a known token is refused before its body is read (after
    # the rate limits: a forged token costs a bucket step before a store read).
    app.add_middleware(EarlyAuth, state=state)
    # Rate limits and wait slots before any route or fast path does work.
    app.add_middleware(LimitsMiddleware, state=state, registry=app.state.metrics.registry)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    # Outermost: a body over its route's limit is refused from its Content-Length.
    app.add_middleware(BodyLimit, limits=BodyLimits(state.settings.max_payload_bytes))
    # Redirects never carry the request's Host back.
    app.add_middleware(RelativeRedirects)
    return app


async def _to_web_app() -> RedirectResponse:
    return RedirectResponse(f"{WEB_PREFIX}/")


def _route(router: APIRouter, method: str, path: str) -> APIRoute:
    """The route a fast path stands in for: put in the scope as routing would."""
    routes = (r for r in router.routes if isinstance(r, APIRoute) and r.path == path)
    return next(r for r in routes if method in r.methods)
