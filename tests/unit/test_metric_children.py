"""Kept children of labelled metrics count exactly as `labels()` does."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from englog.metric_children import Children


def test_a_kept_child_is_the_metrics_own_and_counts_into_it() -> None:
    registry = CollectorRegistry()
    counter = Counter("things", "things", ["kind", "outcome"], registry=registry)
    children = Children(counter)
    for _ in range(3):
        children("a", "ok").inc()
    children("b", "ok").inc(2)
    counter.labels("a", "ok").inc()  # the metric's own path still sees the same child
    assert children("a", "ok") is counter.labels("a", "ok")
    assert registry.get_sample_value("things_total", {"kind": "a", "outcome": "ok"}) == 4
    assert registry.get_sample_value("things_total", {"kind": "b", "outcome": "ok"}) == 2


def test_histogram_children_observe_into_their_own_series() -> None:
    registry = CollectorRegistry()
    latency = Histogram("wait_seconds", "wait", ["type"], registry=registry)
    of = Children(latency)
    of("noop").observe(0.2)
    of("report").observe(0.3)
    of("noop").observe(0.4)
    assert registry.get_sample_value("wait_seconds_count", {"type": "noop"}) == 2
    assert registry.get_sample_value("wait_seconds_sum", {"type": "report"}) == 0.3
