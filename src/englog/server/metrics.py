"""Server-side Prometheus metrics, in a registry per server (not the global one), so
tests and the demo can run several servers in one process."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from englog.metric_children import Children

# Submission to first lease: from a loopback hand-over (ms) to a backlog of an hour.
QUEUE_WAIT_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
)  # fmt: skip
UNKNOWN_RESULT_TYPE = "unknown"  # a result for a task this process did not lease


@dataclass(frozen=True, slots=True)
class MinuteWaits:
    """Queue waits of the tasks first leased in the minute starting at `start`."""

    start: float
    count: int
    median_s: float
    max_s: float


class RecentWaits:
    """The last hour's queue waits seen by this process, for the queue page's chart
    (Prometheus keeps the long history, from the histogram)."""

    def __init__(self, horizon_s: float = 3600.0, max_kept: int = 50_000) -> None:
        self.horizon_s = horizon_s
        self._seen: deque[tuple[float, float]] = deque(maxlen=max_kept)

    def record(self, now: float, wait_s: float) -> None:
        self._seen.append((now, wait_s))

    def per_minute(self, now: float) -> list[MinuteWaits]:
        """One row per minute of the last hour, oldest first (a quiet minute counts 0)."""
        since = now - self.horizon_s
        while self._seen and self._seen[0][0] < since:
            self._seen.popleft()
        minutes = int(self.horizon_s // 60)
        buckets: list[list[float]] = [[] for _ in range(minutes)]
        for at, wait in self._seen:
            buckets[min(minutes - 1, int((at - since) // 60))].append(wait)
        return [
            MinuteWaits(
                since + 60 * i,
                len(b),
                statistics.median(b) if b else 0.0,
                max(b, default=0.0),
            )
            for i, b in enumerate(buckets)
        ]


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
    submissions_refused: Counter = field(init=False)
    streams: Gauge = field(init=False)
    claim_batch: Histogram = field(init=False)
    queue_wait: Histogram = field(init=False)
    database_bytes: Gauge = field(init=False)
    recent_waits: RecentWaits = field(default_factory=RecentWaits)
    # Labelled per lease or per result (englog.metric_children).
    results_of: Children[Counter] = field(init=False)
    assigned_of: Children[Counter] = field(init=False)
    queue_wait_of: Children[Histogram] = field(init=False)

    def __post_init__(self) -> None:
        r = self.registry
        ProcessCollector(registry=r)  # CPU seconds, resident memory, open file descriptors
        self.results = Counter(
            "englog_task_results",
            "Reported results by disposition, outcome and task type",
            ["disposition", "outcome", "type"],
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
        self.submissions_refused = Counter(
            "englog_submissions_refused",
            "Submissions refused at a bound (too_many_tasks: a user's max_queued_per_user)",
            ["reason"],
            registry=r,
        )
        self.streams = Gauge("englog_worker_streams", "Open worker streams", registry=r)
        self.claim_batch = Histogram(
            "englog_claim_batch_size",
            "Tasks per claim",
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        )
        self.queue_wait = Histogram(
            "englog_task_queue_wait_seconds",
            "Seconds from submission to the first lease, by task type",
            ["type"],
            registry=r,
            buckets=QUEUE_WAIT_BUCKETS,
        )
        self.database_bytes = Gauge(
            "englog_database_size_bytes",
            "Size of the database on disk, sampled every retention pass (about a minute)",
            registry=r,
        )
        self.results_of = Children(self.results)
        self.assigned_of = Children(self.assigned)
        self.queue_wait_of = Children(self.queue_wait)

    def first_leased(self, task_type: str, created_at: float, now: float) -> None:
        """A task leased for the first time (not a retry, not a reassignment)."""
        wait = max(0.0, now - created_at)
        self.queue_wait_of(task_type).observe(wait)
        self.recent_waits.record(now, wait)
