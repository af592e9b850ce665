"""The worker's Prometheus metrics, on its own registry (served at `/metrics` of
`--health-listen`), so several workers in one test process never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from englog.metric_children import Children

CONNECTION_STATES = ("idle", "connecting", "ready", "transient_failure", "shutdown")
BREAKER_STATES = ("closed", "open", "half_open")


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=self.registry)  # CPU seconds, resident memory, open fds
        self._control_plane(self.registry)
        self._tasks(self.registry)

    def _control_plane(self, r: CollectorRegistry) -> None:
        self.connection_state = Gauge(
            "englog_worker_connection_state",
            "1 for the channel's current connectivity state",
            ["state"],
            registry=r,
        )
        self.reconnects = Counter(
            "englog_worker_reconnects", "Connections re-established after a loss", registry=r
        )
        self.sessions = Counter(
            "englog_worker_registrations", "Successful registrations (sessions)", registry=r
        )
        self.stream_up = Gauge(
            "englog_worker_stream_up", "1 while the task stream is open", registry=r
        )
        self.retries = Counter(
            "englog_worker_retries",
            "RPC retries by operation and gRPC code",
            ["operation", "code"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "englog_worker_breaker_state",
            "1 for each breaker's current state",
            ["breaker", "state"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "englog_worker_breaker_transitions",
            "Breaker state changes",
            ["breaker", "from_state", "to_state"],
            registry=r,
        )

    def _tasks(self, r: CollectorRegistry) -> None:
        self.tasks_active = Gauge("englog_worker_tasks_active", "Tasks running now", registry=r)
        self.tasks_finished = Counter(
            "englog_worker_tasks_finished",
            "Tasks finished by outcome",
            ["type", "outcome"],
            registry=r,
        )
        self.task_duration = Histogram(
            "englog_worker_task_duration_seconds",
            "Handler run time",
            ["type"],
            buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.outbox_depth = Gauge(
            "englog_worker_outbox_depth",
            "Finished results not yet acknowledged by the server",
            registry=r,
        )
        self.report_stream_fallbacks = Counter(
            "englog_worker_report_stream_fallbacks",
            "Reports sent through the unary RPC because the report stream could not carry them",
            registry=r,
        )
        self.results_acked = Counter(
            "englog_worker_results_acknowledged",
            "Results the server acknowledged, by disposition",
            ["disposition"],
            registry=r,
        )
        # Labelled per result (englog.metric_children).
        self.tasks_finished_of = Children(self.tasks_finished)
        self.task_duration_of = Children(self.task_duration)
        self.results_acked_of = Children(self.results_acked)

    def set_connection_state(self, state: str) -> None:
        for name in CONNECTION_STATES:
            self.connection_state.labels(name).set(1 if name == state else 0)

    def set_breaker_state(self, breaker: str, state: str) -> None:
        for name in BREAKER_STATES:
            self.breaker_state.labels(breaker, name).set(1 if name == state else 0)
