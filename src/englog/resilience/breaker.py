"""A three-state asyncio circuit breaker, one per dependency (control plane, Ollama).

Written here because the libraries we surveyed (pybreaker, aiobreaker, purgatory,
circuitbreaker, aiomisc and newer ones) miss what the worker relies on: none limits the
probes let through while half-open, only pybreaker needs several successes to close,
and several count a cancelled call as a failure or let it close the circuit.

Every finished call is one of three outcomes: a failure (the dependency is unwell), a
success (the peer answered, even with a client error or an excluded exception), or
ignored (cancellation and other non-`Exception`s; a half-open probe slot is freed). Each
state change bumps a generation; a result from a call admitted under an earlier
generation is discarded. State changes never await, so they are atomic on the loop.

What counts as a failure is the caller's to say (`is_failure`): the worker passes its
gRPC classification (`englog.worker.grpc_errors`), the AI backends theirs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import TracebackType
from typing import TypeVar

import structlog

from englog.errors import EnglogError

T = TypeVar("T")
log = structlog.get_logger("englog.resilience.breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """failure_threshold: consecutive failures that open (default 5); success_threshold:
    consecutive half-open successes that close (default 3); open_timeout_s: time open
    before probing (default 30 s); half_open_max_calls: probes in flight at once
    (default 1); excluded: exceptions that mean the peer answered (default none)."""

    failure_threshold: int = 5
    success_threshold: int = 3
    open_timeout_s: float = 30.0
    half_open_max_calls: int = 1
    excluded: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        for name in ("failure_threshold", "success_threshold", "half_open_max_calls"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.open_timeout_s < 0:
            raise ValueError(f"open_timeout_s must be >= 0, got {self.open_timeout_s!r}")


DEFAULT_BREAKER_POLICY = BreakerPolicy()


class CircuitOpenError(EnglogError):
    """Rejected without calling the dependency; `retry_at` is a breaker clock value,
    `retry_after` (= `retry_after_s`) the seconds until the breaker lets a probe in."""

    def __init__(self, name: str, retry_at: float, retry_after_s: float, why: str) -> None:
        super().__init__(f"circuit {name!r} is {why}; next try in {retry_after_s:.1f}s")
        self.name = name
        self.retry_at = retry_at
        self.retry_after_s = retry_after_s
        self.retry_after = retry_after_s


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """Given to listeners on each state change of the breaker `name`."""

    name: str
    old: BreakerState
    new: BreakerState


Listener = Callable[[BreakerTransition], None]


@dataclass(slots=True)
class BreakerStats:
    """seconds_until_half_open is 0 unless open; *_at fields are breaker clock values."""

    name: str
    state: BreakerState
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    total_calls: int = 0
    total_successes: int = 0
    total_failures: int = 0
    total_rejections: int = 0
    total_ignored: int = 0
    total_discarded: int = 0
    transition_count: int = 0
    transitions: dict[str, int] = field(default_factory=dict)
    last_failure: str | None = None
    last_failure_at: float | None = None
    opened_at: float | None = None
    seconds_until_half_open: float = 0.0


@dataclass(frozen=True, slots=True)
class _Ticket:
    generation: int
    probe: bool


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        policy: BreakerPolicy = DEFAULT_BREAKER_POLICY,
        *,
        is_failure: Callable[[BaseException], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.policy = policy
        self._is_failure = is_failure or (lambda _exc: True)
        self._clock = clock
        self._listeners: list[Listener] = []
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._probes = 0
        self._stats = BreakerStats(name, BreakerState.CLOSED)

    @property
    def state(self) -> BreakerState:
        """Moves open to half-open here, lazily, once the open timeout has passed."""
        if self._state is BreakerState.OPEN and self._clock() >= self._retry_at():
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    def allows_calls(self) -> bool:
        return self.state is not BreakerState.OPEN

    def add_listener(self, fn: Listener) -> None:
        """fn(BreakerTransition), called synchronously on each change; errors are logged."""
        self._listeners.append(fn)

    def stats(self) -> BreakerStats:
        s = self._stats
        state = self.state
        until = max(0.0, self._retry_at() - self._clock()) if state is BreakerState.OPEN else 0.0
        return replace(
            s, state=state, transitions=dict(s.transitions), seconds_until_half_open=until
        )

    def reset(self) -> None:
        """Force closed (admin, tests)."""
        if self._state is not BreakerState.CLOSED:
            self._transition(BreakerState.CLOSED)
        self._stats.consecutive_failures = self._stats.consecutive_successes = 0

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        async with self.guard():
            return await fn()

    async def observe(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn` without ever refusing it, and learn from its outcome unless the
        circuit is open. For calls that must go on whatever the breaker says (heartbeats
        keep leases alive); their successes still close a half-open circuit."""
        ticket = None
        if self.state is not BreakerState.OPEN:
            self._stats.total_calls += 1
            ticket = _Ticket(self._generation, probe=False)
        try:
            result = await fn()
        except BaseException as exc:
            if ticket is not None:
                self._finish(ticket, exc)
            raise
        if ticket is not None:
            self._finish(ticket, None)
        return result

    def guard(self) -> _Guard:
        """`async with breaker.guard():` around a call; raises CircuitOpenError if refused."""
        return _Guard(self)

    def _retry_at(self) -> float:
        return (self._stats.opened_at or 0.0) + self.policy.open_timeout_s

    def _admit(self) -> _Ticket:
        state, now = self.state, self._clock()
        if state is BreakerState.OPEN:
            self._stats.total_rejections += 1
            raise CircuitOpenError(self.name, self._retry_at(), self._retry_at() - now, "open")
        probe = state is BreakerState.HALF_OPEN
        if probe:
            if self._probes >= self.policy.half_open_max_calls:
                self._stats.total_rejections += 1
                raise CircuitOpenError(self.name, now, 0.0, "half-open with all probes busy")
            self._probes += 1
        self._stats.total_calls += 1
        return _Ticket(self._generation, probe)

    def _finish(self, ticket: _Ticket, exc: BaseException | None) -> None:
        s = self._stats
        if ticket.generation != self._generation:
            s.total_discarded += 1
            return
        if ticket.probe:
            self._probes -= 1
        if exc is not None and not isinstance(exc, Exception):
            s.total_ignored += 1
        elif exc is None or isinstance(exc, self.policy.excluded) or not self._is_failure(exc):
            self._on_success()
        else:
            self._on_failure(exc)

    def _on_success(self) -> None:
        s = self._stats
        s.total_successes += 1
        s.consecutive_failures = 0
        s.consecutive_successes += 1
        if (
            self._state is BreakerState.HALF_OPEN
            and s.consecutive_successes >= self.policy.success_threshold
        ):
            self._transition(BreakerState.CLOSED)

    def _on_failure(self, exc: BaseException) -> None:
        s = self._stats
        s.total_failures += 1
        s.last_failure, s.last_failure_at = f"{type(exc).__name__}: {exc}", self._clock()
        s.consecutive_successes = 0
        s.consecutive_failures += 1
        if (
            self._state is BreakerState.HALF_OPEN
            or s.consecutive_failures >= self.policy.failure_threshold
        ):
            self._transition(BreakerState.OPEN)

    def _transition(self, new: BreakerState) -> None:
        s, old = self._stats, self._state
        self._state, self._generation, self._probes = new, self._generation + 1, 0
        s.consecutive_failures = s.consecutive_successes = 0
        if new is BreakerState.OPEN:
            s.opened_at = self._clock()
        key = f"{old.value}->{new.value}"
        s.transitions[key] = s.transitions.get(key, 0) + 1
        s.transition_count += 1
        log.info("breaker state changed", breaker=self.name, old=old.value, new=new.value)
        event = BreakerTransition(self.name, old, new)
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception:
                log.exception("breaker listener failed", breaker=self.name)


class _Guard:
    __slots__ = ("_breaker", "_ticket")

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker
        self._ticket: _Ticket | None = None

    async def __aenter__(self) -> None:
        self._ticket = self._breaker._admit()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ticket is not None:
            self._breaker._finish(self._ticket, exc)
