"""The REST API's request counts and latencies, kept as plain numbers and exposed as a
Prometheus counter and histogram when scraped.

Every request used to count one prometheus-client Counter child and observe one
Histogram child: three locked value updates and a walk of the buckets in Python, 18.7k
instructions of the 337k a task read costs in the app (callgrind, docs/benchmarks.md
round 13). Requests are counted on the event loop's thread only, so plain dict and list
updates are enough; a scrape, from any thread, copies them before reading. Written here
because prometheus-client has no unlocked metric; its documented custom-collector API
(`Collector.collect`, the metric families) exposes these in the text a Counter and a
Histogram give, `_created` series included (unless `PROMETHEUS_DISABLE_CREATED_SERIES`
says otherwise, as prometheus-client reads it)."""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Hashable, Iterable, Iterator
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

REQUESTS = "englog_http_requests"
REQUESTS_HELP = "HTTP requests by method, route template and status."
LATENCY = "englog_http_request_duration_seconds"
LATENCY_HELP = (
    "HTTP request latency by method and route template (requests that waited"
    " for their task, with wait_s or Prefer: wait, are left out)."
)
# prometheus-client's default histogram buckets (the histogram used them before).
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_LE = [*(floatToGoString(b) for b in BOUNDS), "+Inf"]
K = TypeVar("K", bound=Hashable)


def _with_created() -> bool:
    return os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in (
        "true",
        "1",
        "t",
    )


class RequestStats(Collector):
    """`count` a finished request; `collect` is what a scrape reads."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # (method, route, status) -> [requests, created]
        self._counts: dict[tuple[str, str, int], list[float]] = {}
        # (method, route) -> [one count per bucket and +Inf, sum, created]
        self._latency: dict[tuple[str, str], list[float]] = {}
        registry.register(self)

    def count(self, method: str, route: str, status: int, seconds: float | None) -> None:
        """One request answered with `status`; its latency unless it waited (None)."""
        counted = self._counts.get((method, route, status))
        if counted is None:
            self._counts[(method, route, status)] = [1, time.time()]
        else:
            counted[0] += 1
        if seconds is None:
            return
        observed = self._latency.get((method, route))
        if observed is None:
            observed = [0] * (len(BOUNDS) + 1) + [0.0, time.time()]
            self._latency[(method, route)] = observed
        observed[bisect_left(BOUNDS, seconds)] += 1  # the first bound >= seconds
        observed[-2] += seconds

    def describe(self) -> Iterable[Metric]:
        """The names, for the registry's duplicate check (no samples read)."""
        return [
            CounterMetricFamily(REQUESTS, REQUESTS_HELP, labels=["method", "route", "status"]),
            HistogramMetricFamily(LATENCY, LATENCY_HELP, labels=["method", "route"]),
        ]

    def collect(self) -> Iterator[Metric]:
        created = _with_created()
        requests = CounterMetricFamily(
            REQUESTS, REQUESTS_HELP, labels=["method", "route", "status"]
        )
        for (method, route, status), (value, since) in _copied(self._counts):
            labels = [method, route, str(status)]
            requests.add_metric(labels, value, created=since if created else None)
        yield requests
        latency = HistogramMetricFamily(LATENCY, LATENCY_HELP, labels=["method", "route"])
        for (method, route), observed in _copied(self._latency):
            cumulative, buckets = 0.0, []
            for le, n in zip(_LE, observed[: len(_LE)], strict=True):
                cumulative += n
                buckets.append((le, cumulative))
            latency.add_metric([method, route], buckets, observed[-2])
            if created:
                where = {"method": method, "route": route}
                latency.samples.append(Sample(f"{LATENCY}_created", where, observed[-1]))
        yield latency


def _copied(kept: dict[K, list[float]]) -> list[tuple[K, list[float]]]:
    """A snapshot a request counted meanwhile cannot change under the reader (the
    copies are single C calls, not interrupted by another thread's bytecode)."""
    return [(key, list(values)) for key, values in list(kept.items())]
