"""RequestStats exposes what prometheus-client's Counter and Histogram exposed for the
same requests: the text a scrape reads, line for line (the `_created` times aside)."""

from __future__ import annotations

import re
import sys
import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from englog.server.http.request_stats import (
    LATENCY,
    LATENCY_HELP,
    REQUESTS,
    REQUESTS_HELP,
    RequestStats,
)

REQUESTS_SEEN: list[tuple[str, str, int, float | None]] = [
    ("POST", "/v1/tasks", 202, 0.0031),
    ("POST", "/v1/tasks", 202, 0.005),  # on a bound: counted in that bucket
    ("POST", "/v1/tasks", 422, 0.0),
    ("GET", "/v1/tasks/{task_id}", 200, 0.0051),
    ("GET", "/v1/tasks/{task_id}", 200, None),  # waited: counted, not timed
    ("GET", "/v1/tasks/{task_id}", 200, 12.5),  # past the last bound: +Inf only
    ("GET", "<unmatched>", 404, 0.3),
]


def _scraped(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return [re.sub(r"_created(\{.*\}) \S+$", r"_created\1 T", line) for line in text.splitlines()]


def test_a_scrape_reads_what_prometheus_clients_own_metrics_gave() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    stats = RequestStats(ours)
    counter = Counter(REQUESTS, REQUESTS_HELP, ["method", "route", "status"], registry=theirs)
    histogram = Histogram(LATENCY, LATENCY_HELP, ["method", "route"], registry=theirs)
    for method, route, status, seconds in REQUESTS_SEEN:
        stats.count(method, route, status, seconds)
        counter.labels(method, route, str(status)).inc()
        if seconds is not None:
            histogram.labels(method, route).observe(seconds)
    assert _scraped(ours) == _scraped(theirs)
    lines = _scraped(ours)
    get = 'method="GET",route="/v1/tasks/{task_id}"'
    assert f'englog_http_requests_total{{{get},status="200"}} 3.0' in lines
    assert f'{LATENCY}_count{{method="GET",route="/v1/tasks/{{task_id}}"}} 2.0' in lines
    assert f'{LATENCY}_bucket{{le="0.005",method="POST",route="/v1/tasks"}} 3.0' in lines


def test_a_scrape_from_another_thread_while_requests_are_counted() -> None:
    """Every request a new route: the dicts grow while the reader walks them, which
    raises in the reader unless it reads a snapshot."""
    registry = CollectorRegistry()
    stats = RequestStats(registry)
    done = threading.Event()
    scrapes: list[str] = []
    failures: list[BaseException] = []

    def scrape() -> None:
        try:
            while not done.is_set():
                scrapes.append(generate_latest(registry).decode())
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    reader = threading.Thread(target=scrape)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns within a scrape, not between
    reader.start()
    try:
        for i in range(5_000):
            stats.count("GET", f"/r{i}", 200, 0.001 * (i % 7))
    finally:
        done.set()
        reader.join(timeout=30)
        sys.setswitchinterval(interval)
    assert not failures and scrapes and not reader.is_alive()
    final = generate_latest(registry).decode()
    counted = re.findall(r"englog_http_requests_total\{[^}]*\} (\S+)", final)
    assert len(counted) == 5_000 and sum(float(v) for v in counted) == 5_000


def test_the_names_are_taken_in_the_registry() -> None:
    registry = CollectorRegistry()
    RequestStats(registry)
    try:
        Counter(REQUESTS, "again", registry=registry)
    except ValueError as exc:
        assert "Duplicated timeseries" in str(exc)
    else:
        raise AssertionError("a second englog_http_requests was registered")
