"""Per-type queue gauges computed when Prometheus scrapes, from the server's own state
(no store read): pending tasks by type and the workers able to run each type, which
together say "tasks of this type wait and no worker can take them"."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from englog.server.state import ServerState


class QueueCollector(Collector):
    def __init__(self, state: ServerState) -> None:
        self._state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pending = GaugeMetricFamily(
            "englog_tasks_pending_by_type",
            "PENDING tasks by type, as this server counts them (every replica counts all)",
            labels=["type"],
        )
        for task_type, n in self._state.queue.pending.by_type().items():
            pending.add_metric([task_type], float(n))
        yield pending
        workers = GaugeMetricFamily(
            "englog_workers_by_type",
            "Workers streaming from this server that can run each task type",
            labels=["type"],
        )
        able: Counter[str] = Counter()
        for capabilities in self._state.queue.connected_workers().values():
            able.update(set(capabilities))
        for task_type in sorted(able):
            workers.add_metric([task_type], float(able[task_type]))
        yield workers

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
