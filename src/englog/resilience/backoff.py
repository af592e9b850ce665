"""The one backoff formula of englog, capped exponential growth with full jitter, and
the stateful `Backoff` for loops that never give up (the worker's reconnect and stream
loops).

`ExponentialBackoff` is the formula; every policy that waits between attempts
(`RetryPolicy` for single operations, `BackoffPolicy` for endless loops, the server's
`RetryBackoff` between attempts of a task) builds one from its own fields, so the
growth, the cap and the jitter are computed in one place."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Uniform = Callable[[float, float], float]


@dataclass(frozen=True, slots=True)
class ExponentialBackoff:
    """initial_s: ceiling before the first retry; factor: growth per retry (default
    2.0); max_s: the cap on any delay (default 60 s); jitter: full jitter, uniform in
    [0, ceiling], so many clients failing together do not retry together (default on)."""

    initial_s: float
    factor: float = 2.0
    max_s: float = 60.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.max_s < 0 or self.factor < 1:
            raise ValueError("backoff needs initial_s >= 0, max_s >= 0 and factor >= 1")

    def ceiling(self, retry: int) -> float:
        """Largest delay before retry number `retry` (1 = after the first failure)."""
        try:
            grown = self.initial_s * self.factor ** max(0, retry - 1)
        except OverflowError:  # an outage of hours must not overflow the power
            return self.max_s
        return min(self.max_s, grown)

    def delay(self, retry: int, rng: Uniform = random.uniform) -> float:
        ceiling = self.ceiling(retry)
        return rng(0.0, ceiling) if self.jitter else ceiling


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """initial_s: first ceiling (default 0.1 s); factor: growth (default 2.0);
    max_s: the cap (default 5 s); healthy_after_s: a run this long resets the
    backoff (default 10 s)."""

    initial_s: float = 0.1
    factor: float = 2.0
    max_s: float = 5.0
    healthy_after_s: float = 10.0

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.max_s < self.initial_s or self.factor < 1:
            raise ValueError("backoff needs 0 < initial_s <= max_s and factor >= 1")

    @property
    def curve(self) -> ExponentialBackoff:
        return ExponentialBackoff(self.initial_s, self.factor, self.max_s, jitter=True)


@dataclass(slots=True)
class Backoff:
    """The delay grows to a ceiling while failures repeat and resets after a healthy
    period, so a long outage does not leave the worker waiting minutes."""

    policy: BackoffPolicy = field(default_factory=BackoffPolicy)
    clock: Callable[[], float] = time.monotonic
    rng: Uniform = random.uniform
    failures: int = 0
    _healthy_since: float | None = None

    def next_delay(self) -> float:
        """Full jitter: uniform in [0, min(cap, initial * factor**failures)]."""
        self.failures += 1
        self._healthy_since = None
        return self.policy.curve.delay(self.failures, self.rng)

    def mark_healthy(self) -> None:
        """Call when the protected thing works; after healthy_after_s the delay resets."""
        now = self.clock()
        if self._healthy_since is None:
            self._healthy_since = now
        elif now - self._healthy_since >= self.policy.healthy_after_s:
            self.failures = 0

    def reset(self) -> None:
        self.failures = 0
        self._healthy_since = None
