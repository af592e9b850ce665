"""The one client both systems get: a pool of threads submitting as fast as they can,
completion detected by polling a cheap count, and sequential round trips."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from bench.procs import BenchError

POLL_S = 0.02


class RoundTrips(Protocol):
    """What the round-trip measurements need of a system."""

    name: str

    def roundtrip(self, i: int, timeout: float = 30.0) -> float: ...


class System(RoundTrips, Protocol):
    def submit_one(self, i: int) -> str: ...
    def submit_many(self, start: int, count: int) -> None: ...
    def completed(self) -> int: ...


def _drain(jobs: Sequence[Callable[[], object]], threads: int) -> None:
    """Run `jobs` on `threads` threads, each taking the next job as soon as it is free."""
    lock = threading.Lock()
    it = iter(jobs)

    def loop() -> None:
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                return
            job()

    with ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(loop) for _ in range(threads)]:
            f.result()


def throughput(
    system: System, n: int, threads: int, batch: bool = False, timeout: float = 600.0
) -> dict[str, float]:
    """Submit `n` no-op tasks (one request each, or 1,000 per request) and wait until
    every result is back. tasks/s counts from the first submission to the last result."""
    base = system.completed()
    target = base + n
    if batch:
        step = 1000
        jobs = [(lambda s=s: system.submit_many(s, min(step, n - s))) for s in range(0, n, step)]
    else:
        jobs = [(lambda i=i: system.submit_one(i)) for i in range(n)]
    started = time.perf_counter()
    _drain(jobs, threads)
    submitted = time.perf_counter()
    deadline = started + timeout
    while (done := system.completed()) < target:
        if time.perf_counter() > deadline:
            raise BenchError(f"{system.name}: {done - base} of {n} results after {timeout}s")
        time.sleep(POLL_S)
    finished = time.perf_counter()
    return {
        "tasks": n,
        "seconds": round(finished - started, 3),
        "tasks_per_s": round(n / (finished - started), 1),
        "submit_per_s": round(n / (submitted - started), 1),
    }


def roundtrips(system: System, n: int, warmup: int = 20) -> dict[str, float]:
    """Sequential: submit one, wait until its result is visible, then the next."""
    for i in range(warmup):
        system.roundtrip(-1 - i)
    phases: list[tuple[float, float]] | None = getattr(system, "phases", None)
    if phases is not None:
        phases.clear()
    samples = sorted(system.roundtrip(i) for i in range(n))
    out = {
        "tasks": n,
        "p50_ms": round(percentile(samples, 50) * 1000, 2),
        "p99_ms": round(percentile(samples, 99) * 1000, 2),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
    }
    if phases:
        # Where the round trip goes, by the server's clock: queued, then leased to result.
        out["queued_p50_ms"] = round(statistics.median(q for q, _ in phases) * 1000, 2)
        out["running_p50_ms"] = round(statistics.median(r for _, r in phases) * 1000, 2)
    return out


def paired_roundtrips(
    systems: Sequence[RoundTrips], n: int, warmup: int = 20
) -> dict[str, dict[str, float]]:
    """Sequential round trips alternating between systems that run side by side (one
    on each, then the next task), so that background noise, which on a shared VM
    changes from one minute to the next, hits every system alike. The order is
    reversed on every other task."""
    for system in systems:
        for i in range(warmup):
            system.roundtrip(-1 - i)
    samples: dict[str, list[float]] = {system.name: [] for system in systems}
    for i in range(n):
        for system in systems if i % 2 == 0 else list(reversed(systems)):
            samples[system.name].append(system.roundtrip(i))
    out: dict[str, dict[str, float]] = {}
    for name, values in samples.items():
        values.sort()
        out[name] = {
            "tasks": n,
            "p50_ms": round(percentile(values, 50) * 1000, 2),
            "p99_ms": round(percentile(values, 99) * 1000, 2),
            "mean_ms": round(statistics.fmean(values) * 1000, 2),
        }
    return out


def median_of(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median of every numeric leaf across runs of the same shape."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            out[key] = median_of([r[key] for r in runs])
        elif isinstance(value, int | float):
            out[key] = round(statistics.median(r[key] for r in runs), 2)
    return out


def percentile(sorted_samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted samples."""
    if not sorted_samples:
        raise ValueError("no samples")
    rank = max(1, round(pct / 100 * len(sorted_samples)))
    return sorted_samples[min(rank, len(sorted_samples)) - 1]


def throughput_submit_only(system: System, n: int, threads: int) -> None:
    """Queue `n` tasks through the batch path without waiting for results."""
    step = 1000
    _drain(
        [(lambda s=s: system.submit_many(s, min(step, n - s))) for s in range(0, n, step)], threads
    )


class Collects(Protocol):
    """What the client pattern needs of a system: submit one task for its result, then
    collect the results of many."""

    name: str

    def submit_for_result(self, i: int) -> Any: ...
    def collect_all(self, handles: list[Any], timeout: float) -> int: ...


def submit_then_collect(
    system: Collects, n: int, threads: int, timeout: float = 600.0
) -> dict[str, float]:
    """The client pattern of issue 13: `n` no-op tasks submitted one request each from
    `threads` threads, then every result collected (englog: `Client.submit`, then
    `Client.wait_all`; Celery: `delay()`, then `get()` on each). tasks/s counts from the
    first submission to the last result in hand."""
    handles: list[Any] = [None] * n

    def submit(i: int) -> None:
        handles[i] = system.submit_for_result(i)

    started = time.perf_counter()
    _drain([(lambda i=i: submit(i)) for i in range(n)], threads)
    submitted = time.perf_counter()
    done = system.collect_all(handles, timeout)
    finished = time.perf_counter()
    if done != n:
        raise BenchError(f"{system.name}: collected {done} of {n} results")
    return {
        "tasks": n,
        "seconds": round(finished - started, 3),
        "tasks_per_s": round(n / (finished - started), 1),
        "submit_per_s": round(n / (submitted - started), 1),
        "collect_s": round(finished - submitted, 3),
    }
