"""Server-side Prometheus metrics, in a registry per server (not the global one), so
tests and the demo can run several servers in one process."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector


@dataclass(slots=True)
class ServerMetrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )
    results: Counter = field(init=False)
    assigned: Counter = field(init=False)
    leases_expired: Counter = field(init=False)
    workers_lost: Counter = field(init=False)
    tasks_pruned: Counter = field(init=False)
    tasks_retried: Counter = field(init=False)
    streams: Gauge = field(init=False)
    claim_batch: Histogram = field(init=False)

    def __post_init__(self) -> None:
        r = self.registry
        ProcessCollector(registry=r)  # CPU seconds, resident memory, open file descriptors
        self.results = Counter(
            "englog_task_results",
            "Reported results by disposition and outcome",
            ["disposition", "outcome"],
            registry=r,
        )
        self.assigned = Counter(
            "englog_tasks_assigned", "Tasks leased to workers", ["type"], registry=r
        )
        self.leases_expired = Counter(
            "englog_leases_expired",
            "Leases that expired and were requeued or failed",
            registry=r,
        )
        self.workers_lost = Counter(
            "englog_workers_lost",
            "Workers declared dead after missing heartbeats",
            registry=r,
        )
        self.tasks_pruned = Counter(
            "englog_tasks_pruned",
            "Finished tasks deleted by retention",
            registry=r,
        )
        self.tasks_retried = Counter(
            "englog_tasks_retried",
            "Failed or cancelled tasks submitted again (POST /v1/tasks/{id}/retry, web app)",
            registry=r,
        )
        self.streams = Gauge("englog_worker_streams", "Open worker streams", registry=r)
        self.claim_batch = Histogram(
            "englog_claim_batch_size",
            "Tasks per claim",
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        )
