"""Capped exponential backoff with full jitter, for loops that never give up (the
worker's reconnect and stream loops): the delay grows to a ceiling and resets after a
healthy period, so a long outage does not leave the worker waiting minutes."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


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


@dataclass(slots=True)
class Backoff:
    policy: BackoffPolicy = field(default_factory=BackoffPolicy)
    clock: Callable[[], float] = time.monotonic
    rng: Callable[[float, float], float] = random.uniform
    failures: int = 0
    _healthy_since: float | None = None

    def next_delay(self) -> float:
        """Full jitter: uniform in [0, min(cap, initial * factor**failures)]."""
        p = self.policy
        # Growth stops at the cap: an outage of hours must not overflow the power.
        ceiling = p.initial_s
        for _ in range(self.failures):
            ceiling *= p.factor
            if ceiling >= p.max_s:
                break
        ceiling = min(p.max_s, ceiling)
        self.failures += 1
        self._healthy_since = None
        return self.rng(0.0, ceiling)

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
