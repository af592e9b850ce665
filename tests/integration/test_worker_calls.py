"""The worker's RPC wrapper: `FastPathRetrier` (englog.resilience.retry) makes its
first attempt outside tenacity and must behave exactly as `Retrier` does (attempts,
delays, deadline, statistics and the on_retry hook), which this checks side by side on
a fake clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc
import pytest

from englog.resilience.retry import FastPathRetrier, Retrier, RetryEvent, RetryPolicy
from englog.worker.grpc_errors import is_retriable

POLICY = RetryPolicy(max_attempts=4, initial_delay_s=0.1, multiplier=2.0, jitter=False)


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="x")


@dataclass
class Run:
    """What one call did, as far as a caller or the metrics can tell."""

    outcome: str = ""
    calls: int = 0
    sleeps: list[float] = field(default_factory=list)
    retries: list[tuple[str, int, float, str]] = field(default_factory=list)
    stats: tuple[int, int, int, int, int, str | None] = (0, 0, 0, 0, 0, None)


async def run(
    cls: type[Retrier],
    errors: list[BaseException],
    *,
    deadline_in: float | None = None,
    policy: RetryPolicy = POLICY,
) -> Run:
    """Calls an operation that raises `errors` in turn, then succeeds."""
    out = Run()
    now = [1000.0]

    async def sleep(seconds: float) -> None:
        out.sleeps.append(round(seconds, 6))
        now[0] += seconds

    def on_retry(e: RetryEvent) -> None:
        out.retries.append((e.operation, e.attempt, round(e.delay_s, 6), type(e.error).__name__))

    retrier = cls(
        policy, retry_on=is_retriable, on_retry=on_retry, sleep=sleep, clock=lambda: now[0]
    )

    async def fn() -> str:
        out.calls += 1
        now[0] += 0.01  # every attempt takes a little time
        if out.calls <= len(errors):
            raise errors[out.calls - 1]
        return "ok"

    deadline = None if deadline_in is None else now[0] + deadline_in
    try:
        out.outcome = await retrier.call("op", fn, deadline=deadline)
    except BaseException as exc:  # the outcome is what is compared
        out.outcome = type(exc).__name__
    s = retrier.stats()["op"]
    out.stats = (s.attempts, s.successes, s.failures, s.cancelled, s.retries, s.last_code)
    return out


UNAVAILABLE = rpc_error(grpc.StatusCode.UNAVAILABLE)
CASES: dict[str, tuple[list[BaseException], dict[str, object]]] = {
    "first_try": ([], {}),
    "two_retriable_then_ok": ([UNAVAILABLE, TimeoutError()], {}),
    "not_retriable": ([rpc_error(grpc.StatusCode.INVALID_ARGUMENT)], {}),
    "exhausted": ([UNAVAILABLE] * 10, {}),
    "single_attempt_policy": ([UNAVAILABLE], {"policy": RetryPolicy(max_attempts=1)}),
    "deadline_stops_after_first": ([UNAVAILABLE] * 10, {"deadline_in": 0.05}),
    "deadline_stops_later": ([UNAVAILABLE] * 10, {"deadline_in": 0.35}),
    "deadline_already_passed": ([], {"deadline_in": -1.0}),
    "max_elapsed": ([UNAVAILABLE] * 10, {"policy": RetryPolicy(max_elapsed_s=0.3, jitter=False)}),
    "base_exception": ([KeyboardInterrupt()], {}),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_fast_path_retrier_behaves_as_retrier(case: str) -> None:
    errors, kw = CASES[case]
    expected = await run(Retrier, errors, **kw)  # type: ignore[arg-type]
    got = await run(FastPathRetrier, errors, **kw)  # type: ignore[arg-type]
    assert got == expected


async def test_fast_path_cancellation_is_counted_and_not_retried() -> None:
    retrier = FastPathRetrier(POLICY)
    started = asyncio.Event()
    calls = 0

    async def hang() -> None:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(retrier.call("op", hang))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    s = retrier.stats()["op"]
    assert (calls, s.attempts, s.cancelled, s.failures) == (1, 1, 1, 0)
