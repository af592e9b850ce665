"""Bounded retries for single operations (RPCs, Ollama calls), built on tenacity.

Each call gets a fresh `tenacity.AsyncRetrying`: one shared object keeps its per-call
state and `.statistics` on itself, so concurrent callers overwrite each other (tenacity
issue 701). Statistics are therefore gathered per operation from the call's own hooks.

The time bound compares our own clock with an absolute stop time (the caller's deadline
or `max_elapsed_s` from the start, whichever comes first). It is tenacity's
`stop_before_delay` rule, "stop if the next sleep would end past the bound", but fed by an
injectable clock: tenacity times calls with `time.monotonic` directly, which a test's fake
sleep cannot move, and a caller's deadline is absolute, not relative to the first attempt.

What is worth retrying is the caller's to say (`retry_on`), as is the short code shown
in statistics and logs (`describe`): the worker passes its gRPC classification
(`englog.worker.grpc_errors`), the AI backends their own; nothing here knows a
transport. Delays come from the one backoff formula (`englog.resilience.backoff`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import NamedTuple, TypeVar

import structlog
import tenacity

from englog.resilience.backoff import ExponentialBackoff

T = TypeVar("T")
log = structlog.get_logger("englog.resilience.retry")

Classifier = Callable[[BaseException], bool]
Describe = Callable[[BaseException], str | None]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """Given to `on_retry` before each sleep: which operation, which attempt failed
    (1 = the first), how long the wait is, the error and its short code (if any)."""

    operation: str
    attempt: int
    delay_s: float
    error: BaseException
    code: str | None


RetryHook = Callable[[RetryEvent], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """max_attempts: calls in all, first included (default 5); initial_delay_s: the first
    backoff ceiling (default 0.1 s); max_delay_s: cap on any one delay (default 30 s);
    multiplier: growth per attempt (default 2.0); jitter: full jitter, uniform in
    [0, ceiling] (default on); max_elapsed_s: bound on the whole call, None for none."""

    max_attempts: int = 5
    initial_delay_s: float = 0.1
    max_delay_s: float = 30.0
    multiplier: float = 2.0
    jitter: bool = True
    max_elapsed_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        if self.initial_delay_s < 0 or self.max_delay_s < self.initial_delay_s:
            raise ValueError("retry delays need 0 <= initial_delay_s <= max_delay_s")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")
        if self.max_elapsed_s is not None and self.max_elapsed_s <= 0:
            raise ValueError(f"max_elapsed_s must be > 0 or None, got {self.max_elapsed_s!r}")

    @property
    def curve(self) -> ExponentialBackoff:
        return ExponentialBackoff(
            self.initial_delay_s, self.multiplier, self.max_delay_s, self.jitter
        )

    def ceiling(self, retry: int) -> float:
        """Largest delay before retry number `retry` (1 = after the first failure)."""
        return self.curve.ceiling(retry)


DEFAULT_RETRY_POLICY = RetryPolicy()


def is_transient(exc: BaseException) -> bool:
    """The default classifier: timeouts and connection errors, whatever the transport."""
    return isinstance(exc, TimeoutError | ConnectionError)


def no_code(exc: BaseException) -> str | None:
    """The default `describe`: no short code beyond the exception's type."""
    return None


@dataclass(slots=True)
class RetryStats:
    """Per operation. attempts counts every try; successes/failures/cancelled count
    whole calls; retries counts the sleeps between tries."""

    operation: str
    attempts: int = 0
    successes: int = 0
    failures: int = 0
    cancelled: int = 0
    retries: int = 0
    last_error: str | None = None
    last_code: str | None = None

    def note_error(self, exc: BaseException, code: str | None) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.last_code = code


class _Bounds(NamedTuple):
    """What one `Retrier.call` may do: its policy, what it retries, and when it must stop
    (a `clock` value, or None for attempts alone)."""

    policy: RetryPolicy
    classify: Classifier
    stop_at: float | None


class _StopAt(tenacity.stop.stop_base):
    """Stop when the next sleep would end at or past `stop_at` on `clock`."""

    def __init__(self, stop_at: float, clock: Callable[[], float]) -> None:
        self.stop_at = stop_at
        self.clock = clock

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep >= self.stop_at


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Retrier:
    """Runs operations under a `RetryPolicy` and keeps statistics per operation name.

    `retry_on(exc)` says what is worth another attempt (default `is_transient`);
    `describe(exc)` gives the short code kept in statistics and logs (default none);
    `on_retry(RetryEvent)` is called before each sleep (metrics); `sleep` and `clock`
    are seams for tests (`clock` must match `deadline`'s base)."""

    def __init__(
        self,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        *,
        retry_on: Classifier = is_transient,
        describe: Describe = no_code,
        on_retry: RetryHook | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.retry_on = retry_on
        self.describe = describe
        self.on_retry = on_retry
        self._sleep = sleep
        self._clock = clock
        self._stats: dict[str, RetryStats] = {}

    def stats(self) -> dict[str, RetryStats]:
        """A snapshot: later calls do not change the returned objects."""
        return {name: replace(s) for name, s in self._stats.items()}

    async def call(
        self,
        operation: str,
        fn: Callable[[], Awaitable[T]],
        *,
        deadline: float | None = None,
        policy: RetryPolicy | None = None,
        retry_on: Classifier | None = None,
    ) -> T:
        """Await `fn()` until it succeeds, raises something not retriable, runs out of
        attempts or would overrun `deadline` (a `clock` value); then the last error is
        raised as is. Cancellation is never retried."""
        policy = policy or self.policy
        stats = self._stats.setdefault(operation, RetryStats(operation))
        stop_at = self._stop_at(policy, deadline)
        if stop_at is not None and self._clock() >= stop_at:
            stats.failures += 1
            raise TimeoutError(f"{operation}: deadline passed before the first attempt")
        classify = retry_on or self.retry_on
        return await self._attempts(operation, fn, _Bounds(policy, classify, stop_at), stats)

    async def _attempts(
        self, operation: str, fn: Callable[[], Awaitable[T]], bounds: _Bounds, stats: RetryStats
    ) -> T:
        """Every attempt, driven by tenacity, each counted in `stats`."""
        retrying = self._retrying(operation, bounds, stats)
        try:
            result: T = await retrying(fn)
        except BaseException as exc:
            self._count_end(exc, stats)
            raise
        stats.successes += 1
        return result

    def _count_end(self, exc: BaseException, stats: RetryStats) -> None:
        """Count a call that ended in `exc`: cancelled, or failed with its error noted."""
        if isinstance(exc, asyncio.CancelledError):
            stats.cancelled += 1
        else:
            stats.failures += 1
            stats.note_error(exc, self.describe(exc))

    def _stop_at(self, policy: RetryPolicy, deadline: float | None) -> float | None:
        bounds = [] if deadline is None else [deadline]
        if policy.max_elapsed_s is not None:
            bounds.append(self._clock() + policy.max_elapsed_s)
        return min(bounds) if bounds else None

    def _retrying(
        self, operation: str, bounds: _Bounds, stats: RetryStats
    ) -> tenacity.AsyncRetrying:
        policy, classify, stop_at = bounds
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(policy.max_attempts)
        if stop_at is not None:
            stop = stop | _StopAt(stop_at, self._clock)
        curve = policy.curve

        def wait(state: tenacity.RetryCallState) -> float:
            return curve.delay(state.attempt_number)

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, Exception) or _being_cancelled():
                return False
            return classify(exc)

        def before(_: tenacity.RetryCallState) -> None:
            stats.attempts += 1

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self._note_retry(operation, stats, state)

        return tenacity.AsyncRetrying(
            sleep=self._sleep,
            stop=stop,
            wait=wait,
            retry=tenacity.retry_if_exception(should_retry),
            before=before,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _note_retry(
        self, operation: str, stats: RetryStats, state: tenacity.RetryCallState
    ) -> None:
        if state.outcome is None or (exc := state.outcome.exception()) is None:
            return  # tenacity sleeps only after a failed attempt here
        event = RetryEvent(
            operation, state.attempt_number, state.upcoming_sleep, exc, self.describe(exc)
        )
        stats.retries += 1
        stats.note_error(exc, event.code)
        log.info(
            "retrying",
            operation=operation,
            attempt=event.attempt,
            delay_s=round(event.delay_s, 4),
            code=event.code,
            error=stats.last_error,
        )
        if self.on_retry is None:
            return
        try:
            self.on_retry(event)
        except Exception:
            log.exception("retry hook failed", operation=operation)


async def retry_call(
    operation: str,
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    *,
    deadline: float | None = None,
    retry_on: Classifier = is_transient,
    describe: Describe = no_code,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """One-off retried call through a throwaway `Retrier`; keep a `Retrier` for statistics."""
    retrier = Retrier(policy, retry_on=retry_on, describe=describe, sleep=sleep, clock=clock)
    return await retrier.call(operation, fn, deadline=deadline)


class FastPathRetrier(Retrier):
    """A `Retrier` whose first attempt runs outside tenacity: building and driving an
    `AsyncRetrying` costs about 35 µs of CPU per call alone and 90-110 µs beside a real
    gRPC call (measured), paid by every result report although nearly all succeed at
    once. A first failure that would be retried hands over to the full machinery with
    that failure replayed as its attempt 1, so attempts, delays, deadlines, statistics
    and the `on_retry` hook are the same as `Retrier.call`'s."""

    async def _attempts(
        self, operation: str, fn: Callable[[], Awaitable[T]], bounds: _Bounds, stats: RetryStats
    ) -> T:
        try:
            result = await fn()
        except BaseException as exc:
            if not (isinstance(exc, Exception) and self._retriable(exc, bounds)):
                stats.attempts += 1
                self._count_end(exc, stats)
                raise
            first = exc
        else:
            stats.attempts += 1
            stats.successes += 1
            return result
        # Outside the handler, so later errors are not chained to the first one.
        # `stop_at` is absolute: the bound still runs from before the first attempt.
        return await super()._attempts(operation, _replaying(first, fn), bounds, stats)

    def _retriable(self, exc: Exception, bounds: _Bounds) -> bool:
        """Whether tenacity would try again after `exc` as attempt 1."""
        policy, classify, stop_at = bounds
        return (
            policy.max_attempts > 1
            and not _being_cancelled()
            and classify(exc)
            and (stop_at is None or self._clock() < stop_at)
        )


def _replaying(first: Exception, fn: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
    """`fn`, except that its first call raises `first` (the attempt already made)."""
    replayed = False

    async def attempt() -> T:
        nonlocal replayed
        if not replayed:
            replayed = True
            raise first
        return await fn()

    return attempt
