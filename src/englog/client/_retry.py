"""When a request is sent again, for both clients alike: the policy (plain data, as
`stamina` and Temporal keep it), which failures are safe to resend, and the bookkeeping
of one send's tries (the sleeping is each client's own)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from englog.client import errors

if TYPE_CHECKING:
    from englog.client._calls import Call

RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a request is tried again after a connection error or a 502/503/504.

    attempts: tries in all (default 5); initial_s: first backoff ceiling (0.1 s),
    doubling per try up to max_s (2 s), full jitter; total_s: no new try starts after
    this long (default 30 s)."""

    attempts: int = 5
    initial_s: float = 0.1
    max_s: float = 2.0
    total_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.initial_s < 0 or self.max_s < self.initial_s:
            raise ValueError("retry needs attempts >= 1 and 0 <= initial_s <= max_s")

    def delay(self, failures: int) -> float:
        """Full jitter below a capped exponential ceiling."""
        return random.uniform(0, min(self.max_s, self.initial_s * 2 ** max(0, failures - 1)))


DEFAULT_RETRY = RetryPolicy()


def may_retry(exc: BaseException, call: Call[Any]) -> bool:
    if isinstance(exc, errors.RateLimited) and call.split_at_cap:
        return exc.code != "too_many_tasks"
    if isinstance(exc, errors.ServerUnreachable | errors.RateLimited):
        return True  # never reached the server, or refused before acting: always safe
    if not call.resend:
        return False
    if isinstance(exc, errors.ApiError):
        return exc.status in RETRY_STATUSES
    return isinstance(exc, errors.TransportError)


def retry_delay(
    policy: RetryPolicy, call: Call[Any], exc: errors.ClientError, failures: int, spent: float
) -> float | None:
    """Seconds to wait before trying `call` again after its `failures`-th failure, or
    None to give up (not safe to resend, attempts or time used up). A 429's Retry-After
    is honoured when it fits in the policy's time."""
    if failures >= policy.attempts or not may_retry(exc, call):
        return None
    delay = policy.delay(failures)
    if isinstance(exc, errors.RateLimited) and exc.retry_after is not None:
        delay = max(delay, exc.retry_after)
    return None if spent + delay > policy.total_s else delay


class Attempts:
    """The retry bookkeeping of one send, without the sleeping (which each client does
    its own way): count the failures, and say how long to wait before the next try."""

    def __init__(self, policy: RetryPolicy, call: Call[Any]) -> None:
        self.policy = policy
        self.call = call
        self.failures = 0
        self.started = time.monotonic()

    def delay_after(self, exc: errors.ClientError) -> float:
        """Seconds to wait before trying again; `exc` itself when there is no next try."""
        self.failures += 1
        spent = time.monotonic() - self.started
        delay = retry_delay(self.policy, self.call, exc, self.failures, spent)
        if delay is None:
            raise exc
        return delay
