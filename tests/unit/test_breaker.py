"""englog.resilience.breaker: transitions on a fake clock, concurrent calls held in
flight with events, the half-open probe limit, cancellation, stale results, hooks."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from structlog.testing import capture_logs

from englog.errors import EnglogError
from englog.resilience import (
    BreakerPolicy,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    CircuitOpenError,
)
from englog.worker.grpc_errors import grpc_breaker_failure

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="x")


def make(**policy: object) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker("dep", BreakerPolicy(**policy), clock=clock), clock  # type: ignore[arg-type]


async def ok() -> str:
    return "ok"


async def boom() -> None:
    raise ConnectionRefusedError("refused")


async def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionRefusedError):
            await breaker.call(boom)


class Held:
    """A call held in flight until released with a result or an exception."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.entered = asyncio.Event()
        self._outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(breaker.call(self._run))

    async def _run(self) -> str:
        self.entered.set()
        return await self._outcome

    async def started(self) -> Held:
        await asyncio.wait_for(self.entered.wait(), 5)
        return self

    async def finish(self, exc: BaseException | None = None) -> None:
        if exc is None:
            self._outcome.set_result("held ok")
        else:
            self._outcome.set_exception(exc)
        await asyncio.wait_for(asyncio.gather(self.task, return_exceptions=True), 5)


def test_policy_defaults_and_validation() -> None:
    p = BreakerPolicy()
    assert (p.failure_threshold, p.success_threshold, p.open_timeout_s) == (5, 3, 30.0)
    assert (p.half_open_max_calls, p.excluded) == (1, ())
    for bad in ({"failure_threshold": 0}, {"success_threshold": 0}, {"half_open_max_calls": 0}):
        with pytest.raises(ValueError):
            BreakerPolicy(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        BreakerPolicy(open_timeout_s=-1)


async def test_opens_after_consecutive_failures_only() -> None:
    breaker, _ = make()
    await fail(breaker, 4)
    assert await breaker.call(ok) == "ok"  # a success resets the run
    await fail(breaker, 4)
    assert breaker.state is CLOSED
    await fail(breaker, 1)
    assert breaker.state is OPEN and not breaker.allows_calls()
    s = breaker.stats()
    assert (s.total_failures, s.total_successes, s.transitions) == (9, 1, {"closed->open": 1})
    assert s.last_failure == "ConnectionRefusedError: refused"


async def test_open_circuit_rejects_and_says_when_it_will_try_again() -> None:
    breaker, clock = make(open_timeout_s=30.0)
    await fail(breaker, 5)
    opened = clock.now
    clock.advance(12.0)
    called = False

    async def never() -> None:
        nonlocal called
        called = True

    with pytest.raises(CircuitOpenError, match=r"'dep' is open; next try in 18\.0s") as info:
        await breaker.call(never)
    assert not called
    err = info.value
    assert (err.name, err.retry_at, err.retry_after_s) == ("dep", opened + 30.0, 18.0)
    assert isinstance(err, EnglogError) and err.retry_after == 18.0
    s = breaker.stats()
    assert s.total_rejections == 1 and s.opened_at == opened
    assert s.seconds_until_half_open == pytest.approx(18.0)


async def test_half_open_after_timeout_then_closes_after_successes() -> None:
    breaker, clock = make()
    changes: list[tuple[str, BreakerState, BreakerState]] = []
    breaker.add_listener(lambda e: changes.append((e.name, e.old, e.new)))
    await fail(breaker, 5)
    clock.advance(29.9)
    assert breaker.state is OPEN
    clock.advance(0.1)
    assert breaker.state is HALF_OPEN and breaker.allows_calls()
    for _ in range(2):
        assert await breaker.call(ok) == "ok"
        assert breaker.state is HALF_OPEN
    await breaker.call(ok)
    assert breaker.state is CLOSED
    assert changes == [("dep", CLOSED, OPEN), ("dep", OPEN, HALF_OPEN), ("dep", HALF_OPEN, CLOSED)]
    s = breaker.stats()
    assert s.transitions == {"closed->open": 1, "open->half_open": 1, "half_open->closed": 1}
    assert s.transition_count == 3 and s.seconds_until_half_open == 0.0


async def test_half_open_failure_reopens_at_once() -> None:
    breaker, clock = make()
    await fail(breaker, 5)
    clock.advance(30)
    await breaker.call(ok)
    await fail(breaker, 1)
    assert breaker.state is OPEN
    assert breaker.stats().opened_at == clock.now
    assert breaker.stats().transitions["half_open->open"] == 1


async def test_half_open_limits_concurrent_probes() -> None:
    breaker, clock = make(half_open_max_calls=2, success_threshold=3)
    await fail(breaker, 5)
    clock.advance(30)
    first, second = await Held(breaker).started(), await Held(breaker).started()
    with pytest.raises(CircuitOpenError, match="probes busy"):
        await breaker.call(ok)
    await first.finish()
    third = await Held(breaker).started()  # the freed slot admits one more
    with pytest.raises(CircuitOpenError):
        await breaker.call(ok)
    await second.finish()
    await third.finish()
    assert breaker.state is CLOSED
    assert breaker.stats().total_rejections == 2


async def test_cancelled_probe_frees_its_slot_and_is_ignored() -> None:
    breaker, clock = make(half_open_max_calls=1, success_threshold=1)
    await fail(breaker, 5)
    clock.advance(30)
    probe = await Held(breaker).started()
    probe.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe.task
    s = breaker.stats()
    assert (s.state, s.total_ignored, s.consecutive_successes, s.total_failures) == (
        HALF_OPEN,
        1,
        0,
        5,
    )
    assert await breaker.call(ok) == "ok"  # the slot is free again
    assert breaker.state is CLOSED


async def test_cancellations_never_open_the_circuit() -> None:
    breaker, _ = make(failure_threshold=2)
    held = [await Held(breaker).started() for _ in range(4)]
    for h in held:
        h.task.cancel()
    await asyncio.gather(*(h.task for h in held), return_exceptions=True)
    assert breaker.state is CLOSED
    assert breaker.stats().total_ignored == 4


async def test_concurrent_failures_open_once_and_late_results_are_discarded() -> None:
    breaker, _ = make(failure_threshold=3)
    held = [await Held(breaker).started() for _ in range(6)]
    for h in held[:3]:
        await h.finish(ConnectionResetError("reset"))
    assert breaker.state is OPEN
    await held[3].finish(ConnectionResetError("late"))
    await held[4].finish()
    await held[5].finish()
    s = breaker.stats()
    assert (s.state, s.total_failures, s.total_successes, s.total_discarded) == (OPEN, 3, 0, 3)
    assert s.transitions == {"closed->open": 1}
    assert s.last_failure == "ConnectionResetError: reset"
    assert all(h.task.done() for h in held)


async def test_result_admitted_while_closed_cannot_close_a_half_open_circuit() -> None:
    breaker, clock = make(success_threshold=1)
    straggler = await Held(breaker).started()
    await fail(breaker, 5)
    clock.advance(30)
    assert breaker.state is HALF_OPEN
    await straggler.finish()
    assert breaker.state is HALF_OPEN
    assert breaker.stats().total_discarded == 1


async def test_excluded_exceptions_count_as_success_and_still_propagate() -> None:
    breaker, _ = make(failure_threshold=2, excluded=(KeyError,))

    async def missing() -> None:
        raise KeyError("no such model")

    for _ in range(5):
        with pytest.raises(KeyError):
            await breaker.call(missing)
    s = breaker.stats()
    assert (s.state, s.total_successes, s.total_failures) == (CLOSED, 5, 0)


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda c: c.name)
def test_grpc_breaker_classifier(code: grpc.StatusCode) -> None:
    failing_codes = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}
    assert grpc_breaker_failure(rpc_error(code)) is (code.name in failing_codes)


def test_grpc_breaker_classifier_plain_exceptions() -> None:
    assert grpc_breaker_failure(ConnectionResetError()) and grpc_breaker_failure(TimeoutError())
    assert not grpc_breaker_failure(ValueError())


async def test_peer_answering_with_client_error_keeps_circuit_closed() -> None:
    breaker = CircuitBreaker(
        "cp", BreakerPolicy(failure_threshold=2), is_failure=grpc_breaker_failure
    )

    async def raises(code: grpc.StatusCode) -> None:
        raise rpc_error(code)

    for code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED) * 3:
        with pytest.raises(grpc.aio.AioRpcError):
            await breaker.call(lambda code=code: raises(code))
    assert breaker.state is CLOSED
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError):
            await breaker.call(lambda: raises(grpc.StatusCode.UNAVAILABLE))
    assert breaker.state is OPEN


async def test_broken_listener_is_logged_not_raised() -> None:
    breaker, _ = make(failure_threshold=1)

    def broken(event: BreakerTransition) -> None:
        raise RuntimeError("listener bug")

    seen: list[BreakerState] = []
    breaker.add_listener(broken)
    breaker.add_listener(lambda e: seen.append(e.new))
    with capture_logs() as logs:
        await fail(breaker, 1)
    assert breaker.state is OPEN and seen == [OPEN]
    assert any(e["event"] == "breaker listener failed" for e in logs)
    assert any(e["event"] == "breaker state changed" and e["new"] == "open" for e in logs)


async def test_guard_context_manager_and_reset() -> None:
    breaker, _ = make(failure_threshold=1)
    with pytest.raises(ConnectionAbortedError):
        async with breaker.guard():
            raise ConnectionAbortedError
    with pytest.raises(CircuitOpenError):
        async with breaker.guard():
            pytest.fail("an open circuit must not run the body")
    breaker.reset()
    assert breaker.state is CLOSED
    async with breaker.guard():
        pass
    s = breaker.stats()
    assert s.total_successes == 1 and s.transitions == {"closed->open": 1, "open->closed": 1}


async def test_observed_calls_are_never_refused_and_teach_the_breaker() -> None:
    """Heartbeats: they must go on while the circuit is open, and their outcomes count
    whenever it is not."""
    breaker, clock = make()
    for _ in range(5):
        with pytest.raises(ConnectionRefusedError):
            await breaker.observe(boom)
    assert breaker.state is OPEN
    assert await breaker.observe(ok) == "ok"  # not refused while open...
    with pytest.raises(ConnectionRefusedError):
        await breaker.observe(boom)
    assert breaker.stats().total_rejections == 0
    assert breaker.stats().consecutive_failures == 0  # ...and not counted either
    clock.advance(30)
    assert breaker.state is HALF_OPEN
    for _ in range(3):
        await breaker.observe(ok)
    assert breaker.state is CLOSED
