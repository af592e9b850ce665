"""How much one caller may ask of the REST API: token buckets for request rates and
counted slots for requests that wait (long polls, `Prefer: wait`).

Pure bookkeeping, no I/O and an injectable clock, so the HTTP layer decides *what* to
limit (per token, per address, which routes) and these classes only decide *whether*,
and for how long a refused caller should back off. Memory stays bounded however many
distinct callers (or forged tokens) arrive: a bucket that has refilled is the same as
no bucket, so idle ones are dropped, and the oldest go first past `max_keys`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

Clock = Callable[[], float]
# Distinct keys remembered at once; at ~200 bytes each, about 20 MB at worst.
DEFAULT_MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Rate:
    """A sustained rate and the burst allowed above it.

    per_s: requests a second on average; 0 turns the limit off.
    burst: requests allowed at once after a quiet spell (the bucket's size), >= 1.
    """

    per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not math.isfinite(self.per_s) or self.per_s < 0:
            raise ValueError(f"a rate must be a finite number >= 0, got {self.per_s}")
        if self.burst < 1:
            raise ValueError(f"a burst must be at least 1, got {self.burst}")

    @property
    def limited(self) -> bool:
        return self.per_s > 0

    def __str__(self) -> str:
        return f"{self.per_s:g}/s burst {self.burst}" if self.limited else "unlimited"


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one REST caller may ask of a server process (ServerSettings.http_limits).

    A caller is a token this process has already authenticated (the admin's token is
    never rate limited: operators and benchmarks use it), else the client address.

    submit: per token, the submission routes (POST /v1/tasks, /batch, /insights,
        /reports; a batch counts once). Default 200/s, burst 400.
    requests: per token, every other route but /health, /readiness and /metrics.
        Default 1000/s, burst 2000.
    anonymous: per client address, requests whose token this process does not know yet
        (missing, wrong, or a user's first request). Default 100/s, burst 200.
    waits_per_token / waits_total: requests holding their connection while they wait
        for tasks (GET ?wait_s=, Prefer: wait, POST /v1/tasks/wait), per caller and in
        all; beyond them a request is answered at once. Defaults 100 and 1000.
    idle_timeout_s: a keep-alive connection with no request is closed after this.
        Default 5 s.
    read_timeout_s: a request must arrive complete (head and body) within this from its
        first byte (or from the connection opening); else the connection is closed.
        Default 15 s.
    connections_per_address / connections_total: open HTTP connections one client
        address may hold, and in all (the latter never above the process's descriptor
        limit less a reserve); beyond them a connection is closed when accepted.
        Defaults 1024 and 8192.
    """

    submit: Rate = Rate(200, 400)
    requests: Rate = Rate(1000, 2000)
    anonymous: Rate = Rate(100, 200)
    waits_per_token: int = 100
    waits_total: int = 1000
    idle_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    # Open HTTP connections one client address may hold, and in all; beyond them a new
    # connection is closed at once (englog.serving.connection_caps).
    connections_per_address: int = 1024
    connections_total: int = 8192

    def __post_init__(self) -> None:
        if self.waits_per_token < 0 or self.waits_total < 0:
            raise ValueError("wait limits must be >= 0")
        if self.connections_per_address < 1 or self.connections_total < 1:
            raise ValueError("connection caps must be >= 1")
        for name in ("idle_timeout_s", "read_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")


def retry_after_header(wait_s: float) -> str:
    """`Retry-After` takes whole seconds (RFC 9110); round up so an obedient client is
    never refused again for coming back too early, and never say 0."""
    return str(max(1, math.ceil(wait_s)))


class TokenBuckets:
    """One token bucket per key, all with the same `rate`."""

    def __init__(
        self, rate: Rate, clock: Clock = time.monotonic, max_keys: int = DEFAULT_MAX_KEYS
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.rate = rate
        self._clock = clock
        self._max_keys = max_keys
        # key -> (tokens left, when last counted); insertion order is least recently used.
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable) -> float:
        """Spend one token of `key`'s bucket: 0.0 when the caller may go on now, else
        the seconds until a token is there (nothing is spent then)."""
        rate = self.rate
        if not rate.limited:
            return 0.0
        now = self._clock()
        tokens, last = self._buckets.pop(key, (float(rate.burst), now))
        tokens = min(float(rate.burst), tokens + max(0.0, now - last) * rate.per_s)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / rate.per_s
        self._buckets[key] = (tokens, now)
        self._forget_idle(now)
        return wait

    def _forget_idle(self, now: float) -> None:
        """Drop the least recently used buckets once full again (a couple per call, so
        the cost stays constant), and any beyond `max_keys`."""
        rate = self.rate
        for _ in range(2):
            key = next(iter(self._buckets), None)
            if key is None:
                return
            tokens, last = self._buckets[key]
            if tokens + (now - last) * rate.per_s < rate.burst:
                break
            del self._buckets[key]
        while len(self._buckets) > self._max_keys:
            del self._buckets[next(iter(self._buckets))]


class WaitSlots:
    """Counted slots for requests that hold their connection open while they wait:
    at most `per_key` for one caller and `total` for everyone. A request that finds no
    slot does not queue for one; it answers at once instead of waiting."""

    def __init__(self, per_key: int, total: int) -> None:
        if per_key < 0 or total < 0:
            raise ValueError("wait slot limits must be >= 0")
        self.per_key = per_key
        self.total = total
        self._held: dict[Hashable, int] = {}
        self._in_use = 0

    @property
    def in_use(self) -> int:
        return self._in_use

    def held_by(self, key: Hashable) -> int:
        return self._held.get(key, 0)

    def acquire(self, key: Hashable) -> bool:
        """Take a slot for `key`; False (and nothing taken) when none is free."""
        held = self._held.get(key, 0)
        if held >= self.per_key or self._in_use >= self.total:
            return False
        self._held[key] = held + 1
        self._in_use += 1
        return True

    def release(self, key: Hashable) -> None:
        held = self._held.get(key, 0)
        if held < 1:
            raise ValueError(f"no wait slot held by {key!r}")
        if held == 1:
            del self._held[key]
        else:
            self._held[key] = held - 1
        self._in_use -= 1

    @contextmanager
    def hold(self, key: Hashable) -> Iterator[bool]:
        """`with slots.hold(key) as granted:` a slot for the block when `granted`."""
        granted = self.acquire(key)
        try:
            yield granted
        finally:
            if granted:
                self.release(key)
