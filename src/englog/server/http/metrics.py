"""Prometheus metrics of the REST API: requests by route template, latency, submissions
and a few scrape-time gauges."""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from englog.domain.tasks import Task
from englog.metric_children import Children
from englog.server.http.request_stats import RequestStats
from englog.server.scrape import QueueCollector
from englog.server.state import ServerState

# Set in the ASGI scope of a request that waited for its task (a long poll, a submission
# with Prefer: wait): its duration is the task's, not the server's, so it stays out of
# the request latency histogram.
WAITED = "englog.waited"


class ApiMetrics:
    """Prometheus metrics of one app, in its own registry so many apps (tests, or an
    HTTP and gRPC side sharing a registry passed in) never clash on names."""

    def __init__(self, state: ServerState, registry: CollectorRegistry) -> None:
        self.registry = registry
        # Every request is counted: plain numbers, read at scrape time (request_stats).
        self.http = RequestStats(registry)
        self.submitted = Counter(
            "englog_tasks_submitted",
            "Tasks submitted through the REST API, by type.",
            ["type"],
            registry=registry,
        )
        # Read from the queue's own count at scrape time: no store query per scrape.
        pending = Gauge(
            "englog_tasks_pending",
            "PENDING tasks, those waiting out a retry backoff included.",
            registry=registry,
        )
        pending.set_function(lambda: float(state.queue.pending.total))
        connected = Gauge(
            "englog_connected_workers", "Workers with an open task stream.", registry=registry
        )
        connected.set_function(lambda: float(len(state.queue.dispatcher.streams)))
        ready = Gauge("englog_ready", "1 when the server is ready to serve.", registry=registry)
        ready.set_function(lambda: 1.0 if state.ready else 0.0)
        registry.register(QueueCollector(state))  # pending and workers by task type
        # `labels()` cost 3 % of a task read's CPU (py-spy) until children were kept.
        self.submitted_of = Children(self.submitted)


def count_submitted(metrics: ApiMetrics, created: Sequence[Task]) -> None:
    """The tasks a submission created, by type (a replay counts none)."""
    for task_type, count in collections.Counter(t.type for t in created).items():
        metrics.submitted_of(task_type).inc(count)


def api_metrics(request: Request) -> ApiMetrics:
    """The metrics of the app serving `request` (set by create_http_app)."""
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


class MetricsMiddleware:
    """Counts every response by route *template* (never the raw path, whose ids would
    explode label cardinality); unmatched paths share one label."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = getattr(scope.get("route"), "path", "<unmatched>")
            waited = scope.get(WAITED)
            seconds = None if waited else time.perf_counter() - started
            self.metrics.http.count(scope.get("method", ""), route, status, seconds)
