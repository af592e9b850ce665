"""englog.resilience.retry: classification, attempts, backoff bounds, deadlines,
cancellation and per-operation statistics under concurrent callers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import grpc
import pytest
from structlog.testing import capture_logs

from englog.resilience import Retrier, RetryEvent, RetryPolicy, is_transient, retry_call
from englog.worker.grpc_errors import RETRIABLE_CODES, grpc_code, is_retriable

EXPECTED_RETRIABLE = {
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
    "RESOURCE_EXHAUSTED",
    "ABORTED",
    "INTERNAL",
    "UNKNOWN",
}


def rpc_error(code: grpc.StatusCode, details: str = "boom") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


class FakeTime:
    """A clock that only the fake sleep moves; records every requested delay."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # let concurrent callers interleave


def failing(times: int, exc: Callable[[], BaseException], result: object = "ok"):
    """fn that raises exc() `times` times, then returns result; counts its calls."""
    calls = {"n": 0}

    async def fn() -> object:
        calls["n"] += 1
        if calls["n"] <= times:
            raise exc()
        return result

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def make(policy: RetryPolicy | None = None, **kw: object) -> tuple[Retrier, FakeTime]:
    """A retrier with the worker's gRPC classification, on a fake clock."""
    t = FakeTime()
    kw = {"retry_on": is_retriable, "describe": grpc_code, **kw}
    return Retrier(policy or RetryPolicy(), sleep=t.sleep, clock=t.clock, **kw), t  # type: ignore[arg-type]


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda c: c.name)
def test_classification_of_every_grpc_status(code: grpc.StatusCode) -> None:
    exc = rpc_error(code)
    assert is_retriable(exc) is (code.name in EXPECTED_RETRIABLE)
    assert grpc_code(exc) == code.name


def test_classification_of_plain_exceptions() -> None:
    assert {c.name for c in RETRIABLE_CODES} == EXPECTED_RETRIABLE
    for exc in (TimeoutError(), ConnectionRefusedError(), ConnectionResetError()):
        assert is_retriable(exc), exc
    for exc in (ValueError(), KeyError("x"), asyncio.CancelledError(), KeyboardInterrupt()):
        assert not is_retriable(exc), exc
    assert grpc_code(ValueError()) is None


def test_policy_defaults_and_validation() -> None:
    p = RetryPolicy()
    assert (p.max_attempts, p.initial_delay_s, p.max_delay_s, p.multiplier, p.jitter) == (
        5,
        0.1,
        30.0,
        2.0,
        True,
    )
    assert p.max_elapsed_s is None
    bad: list[dict[str, object]] = [
        {"max_attempts": 0},
        {"max_attempts": 2.5},
        {"initial_delay_s": -1},
        {"initial_delay_s": 2.0, "max_delay_s": 1.0},
        {"multiplier": 0.5},
        {"max_elapsed_s": 0},
    ]
    for kwargs in bad:
        with pytest.raises(ValueError):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]


async def test_gives_up_after_max_attempts_and_reraises_original() -> None:
    retrier, t = make()
    err = rpc_error(grpc.StatusCode.UNAVAILABLE)

    async def always() -> None:
        raise err

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await retrier.call("register", always)
    assert info.value is err
    s = retrier.stats()["register"]
    assert (s.attempts, s.retries, s.failures, s.successes) == (5, 4, 1, 0)
    assert s.last_code == "UNAVAILABLE" and "boom" in (s.last_error or "")
    assert len(t.sleeps) == 4


async def test_succeeds_after_transient_errors() -> None:
    retrier, t = make()
    fn = failing(2, lambda: rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED), result=42)
    assert await retrier.call("heartbeat", fn) == 42
    s = retrier.stats()["heartbeat"]
    assert (s.attempts, s.retries, s.successes, s.failures) == (3, 2, 1, 0)
    assert len(t.sleeps) == 2


async def test_non_retriable_error_is_raised_at_once() -> None:
    retrier, t = make()
    fn = failing(10, lambda: rpc_error(grpc.StatusCode.INVALID_ARGUMENT))
    with pytest.raises(grpc.aio.AioRpcError):
        await retrier.call("report", fn)
    assert fn.calls["n"] == 1 and t.sleeps == []  # type: ignore[attr-defined]
    assert retrier.stats()["report"].last_code == "INVALID_ARGUMENT"


async def test_per_call_classifier_overrides_default() -> None:
    retrier, _ = make()
    fn = failing(2, lambda: ValueError("malformed answer"))
    assert await retrier.call("ollama", fn, retry_on=lambda e: isinstance(e, ValueError)) == "ok"
    assert fn.calls["n"] == 3  # type: ignore[attr-defined]


async def test_jittered_delays_stay_within_exponential_ceiling() -> None:
    policy = RetryPolicy(max_attempts=8, initial_delay_s=0.1, max_delay_s=1.0)
    retrier, t = make(policy)
    runs: list[list[float]] = []
    for _ in range(60):
        t.sleeps = []
        with pytest.raises(ConnectionResetError):
            await retrier.call("op", failing(100, ConnectionResetError))
        runs.append(t.sleeps)
    assert all(len(r) == 7 for r in runs)
    for n in range(7):
        ceiling = min(1.0, 0.1 * 2**n)
        assert policy.ceiling(n + 1) == pytest.approx(ceiling)
        column = [r[n] for r in runs]
        assert all(0.0 <= d <= ceiling for d in column), (n, column)
        assert len(set(column)) > 1, "jitter must vary the delays"
        assert max(column) > ceiling / 2, "full jitter uses the whole window"


async def test_without_jitter_delays_double_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=7, initial_delay_s=0.1, max_delay_s=1.0, jitter=False)
    retrier, t = make(policy)
    with pytest.raises(TimeoutError):
        await retrier.call("op", failing(100, TimeoutError))
    assert t.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


async def test_stops_when_next_sleep_would_pass_the_deadline() -> None:
    retrier, t = make(RetryPolicy(max_attempts=10, jitter=False))
    deadline = t.now + 0.35
    fn = failing(100, lambda: rpc_error(grpc.StatusCode.UNAVAILABLE))
    with pytest.raises(grpc.aio.AioRpcError):
        await retrier.call("op", fn, deadline=deadline)
    # sleeps 0.1 and 0.2 fit; the next (0.4) would end past the deadline
    assert t.sleeps == pytest.approx([0.1, 0.2])
    assert fn.calls["n"] == 3  # type: ignore[attr-defined]
    assert t.now <= deadline


async def test_deadline_already_passed_makes_no_attempt() -> None:
    retrier, t = make()
    fn = failing(0, ValueError)
    with pytest.raises(TimeoutError, match="deadline passed"):
        await retrier.call("op", fn, deadline=t.now - 1)
    assert fn.calls["n"] == 0  # type: ignore[attr-defined]
    assert retrier.stats()["op"].failures == 1


async def test_max_elapsed_bounds_the_whole_call() -> None:
    policy = RetryPolicy(max_attempts=50, initial_delay_s=1.0, max_delay_s=4.0, jitter=False)
    retrier, t = make(policy)
    start = t.now
    with pytest.raises(ConnectionError):
        bounded = replace(policy, max_elapsed_s=10.0)  # per-call policy overrides the retrier's
        await retrier.call("op", failing(100, ConnectionError), policy=bounded)
    # 1 + 2 + 4 = 7 fits in 10 s; another 4 would end at 11
    assert t.sleeps == pytest.approx([1.0, 2.0, 4.0])
    assert t.now - start <= 10.0


async def test_cancellation_during_backoff_sleep_stops_at_once() -> None:
    sleeping = asyncio.Event()

    async def sleep_forever(_: float) -> None:
        sleeping.set()
        await asyncio.Event().wait()

    retrier = Retrier(RetryPolicy(), retry_on=is_retriable, sleep=sleep_forever)
    fn = failing(100, lambda: rpc_error(grpc.StatusCode.UNAVAILABLE))
    task = asyncio.create_task(retrier.call("op", fn))
    await asyncio.wait_for(sleeping.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert fn.calls["n"] == 1  # type: ignore[attr-defined]
    s = retrier.stats()["op"]
    assert (s.attempts, s.cancelled, s.failures) == (1, 1, 0)


async def test_cancellation_during_attempt_is_not_retried() -> None:
    retrier, t = make()
    started = asyncio.Event()
    calls = 0

    async def hang() -> None:
        nonlocal calls
        calls += 1
        if calls > 1:  # fail fast instead of hanging if a regression retries
            raise AssertionError("retried after cancellation")
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(retrier.call("op", hang))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert calls == 1 and t.sleeps == []


async def test_base_exceptions_are_never_retried_even_by_a_catch_all_classifier() -> None:
    retrier, t = make(retry_on=lambda _exc: True)
    for exc in (asyncio.CancelledError, KeyboardInterrupt):
        fn = failing(100, exc)
        with pytest.raises(exc):
            await retrier.call("op", fn)
        assert fn.calls["n"] == 1  # type: ignore[attr-defined]
    assert t.sleeps == []


async def test_retriable_error_while_being_cancelled_is_not_retried() -> None:
    """A handler that turns cancellation into a retriable error must not loop on."""
    retrier, t = make()
    started = asyncio.Event()
    calls = 0

    async def converts() -> None:
        nonlocal calls
        calls += 1
        if calls > 1:  # fail fast instead of hanging if a regression retries
            raise AssertionError("retried while being cancelled")
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ConnectionResetError("torn down") from None

    task = asyncio.create_task(retrier.call("op", converts))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(task, 5)
    assert t.sleeps == []


async def test_statistics_per_operation_under_concurrent_callers() -> None:
    """One shared AsyncRetrying mixes concurrent calls (tenacity 701); ours must not."""
    retrier, _ = make(RetryPolicy(max_attempts=3))

    async def flaky_then(i: int) -> int:
        fn = failing(2, lambda: rpc_error(grpc.StatusCode.UNAVAILABLE), result=i)
        return await retrier.call("flaky", fn)  # type: ignore[arg-type]

    async def rejected() -> None:
        await retrier.call("bad", failing(100, lambda: rpc_error(grpc.StatusCode.NOT_FOUND)))

    async def exhausted() -> None:
        await retrier.call("down", failing(100, TimeoutError))

    jobs: list[Awaitable[object]] = [flaky_then(i) for i in range(20)]
    jobs += [rejected() for _ in range(7)] + [exhausted() for _ in range(5)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert results[:20] == list(range(20))
    assert all(isinstance(r, grpc.aio.AioRpcError) for r in results[20:27])
    assert all(isinstance(r, TimeoutError) for r in results[27:])
    stats = retrier.stats()
    f, b, d = stats["flaky"], stats["bad"], stats["down"]
    assert (f.attempts, f.retries, f.successes, f.failures) == (60, 40, 20, 0)
    assert (b.attempts, b.retries, b.successes, b.failures) == (7, 0, 0, 7)
    assert (d.attempts, d.retries, d.successes, d.failures) == (15, 10, 0, 5)
    assert b.last_code == "NOT_FOUND" and d.last_code is None


async def test_stats_are_a_snapshot() -> None:
    retrier, _ = make()
    await retrier.call("op", failing(0, ValueError))
    snapshot = retrier.stats()
    await retrier.call("op", failing(0, ValueError))
    assert snapshot["op"].successes == 1
    assert retrier.stats()["op"].successes == 2


async def test_on_retry_hook_and_log_line_for_each_retry() -> None:
    seen: list[tuple[str, int, float, str | None]] = []

    def hook(event: RetryEvent) -> None:
        assert grpc_code(event.error) == event.code
        seen.append((event.operation, event.attempt, event.delay_s, event.code))
        with pytest.raises(AttributeError):
            event.attempt = 99  # type: ignore[misc]  # frozen: hooks cannot change it
        raise RuntimeError("a broken hook must not break the call")

    retrier, t = make(on_retry=hook)
    fn = failing(2, lambda: rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy"))
    with capture_logs() as logs:
        assert await retrier.call("stream", fn) == "ok"
    assert seen == [
        ("stream", 1, t.sleeps[0], "RESOURCE_EXHAUSTED"),
        ("stream", 2, t.sleeps[1], "RESOURCE_EXHAUSTED"),
    ]
    retries = [e for e in logs if e["event"] == "retrying"]
    assert [(e["operation"], e["attempt"], e["code"]) for e in retries] == [
        ("stream", 1, "RESOURCE_EXHAUSTED"),
        ("stream", 2, "RESOURCE_EXHAUSTED"),
    ]
    assert all("busy" in e["error"] and e["delay_s"] >= 0 for e in retries)
    assert sum(e["event"] == "retry hook failed" for e in logs) == 2


async def test_retry_call_convenience() -> None:
    t = FakeTime()
    fn = failing(1, ConnectionRefusedError, result="up")
    assert await retry_call("op", fn, sleep=t.sleep, clock=t.clock) == "up"
    assert len(t.sleeps) == 1 and 0 <= t.sleeps[0] <= 0.1


async def test_default_classifier_knows_no_transport() -> None:
    """Without a classifier only timeouts and connection errors are retried, and no
    short code is recorded: gRPC meaning is the worker's to pass in."""
    t = FakeTime()
    retrier = Retrier(RetryPolicy(max_attempts=3), sleep=t.sleep, clock=t.clock)
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError())
    assert not is_transient(rpc_error(grpc.StatusCode.UNAVAILABLE))
    with pytest.raises(grpc.aio.AioRpcError):
        await retrier.call("rpc", failing(5, lambda: rpc_error(grpc.StatusCode.UNAVAILABLE)))
    assert await retrier.call("net", failing(2, ConnectionResetError)) == "ok"
    stats = retrier.stats()
    assert (stats["rpc"].attempts, stats["rpc"].last_code) == (1, None)
    assert stats["net"].attempts == 3
