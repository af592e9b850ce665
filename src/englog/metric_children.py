"""The children of a labelled Prometheus metric, kept by their label values.

prometheus-client's `labels()` takes a lock and checks and rebuilds its key on every
call (2-3 µs), and the hot paths call it a few times per task: per request on the
server, per lease and per result on both sides. A child lives as long as its metric, so
keeping it changes nothing but the cost; there are as many as the metric has children."""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)


class Children(Generic[M]):
    """`children(*values)` is `metric.labels(*values)`, looked up in a dict after the
    first call."""

    __slots__ = ("_kept", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._kept: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._kept.get(values)
        if child is None:
            child = self._kept[values] = self._metric.labels(*values)
        return child
