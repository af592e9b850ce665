"""How the server runs its task queue: lease length, retry delay, reassignment cap and
deadline grace, as one value the store is given at construction, so no store method
carries them as loose arguments and every caller applies the same rules."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from englog.domain.tasks import DEFAULT_MAX_REASSIGNMENTS, RetryBackoff

DEFAULT_LEASE_TTL_S = 30.0
# A RUNNING task whose deadline (started_at + timeout_s) passed this long ago is ended
# by the server: the worker cancels at the deadline and needs a moment to report.
DEFAULT_DEADLINE_GRACE_S = 30.0


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """The queue's timing and caps (DESIGN "Task lifecycle").

    lease_ttl_s: how long a claim, a renewal or a progress report keeps a task leased
    (default 30 s); retry_backoff: the delay before the next attempt after a failure,
    a lapsed lease or a silent worker (default `RetryBackoff()`: 1 s doubling to 60 s,
    full jitter); max_reassignments: how often a task may be taken back from lost
    workers before it fails (default 10); deadline_grace_s: how long past its deadline
    a RUNNING task waits for its worker's report before the server ends it (default
    30 s)."""

    lease_ttl_s: float = DEFAULT_LEASE_TTL_S
    retry_backoff: RetryBackoff = field(default_factory=RetryBackoff)
    max_reassignments: int = DEFAULT_MAX_REASSIGNMENTS
    deadline_grace_s: float = DEFAULT_DEADLINE_GRACE_S
    # RUNNING tasks one user may hold at once (englog.domain.fairness); 0: no cap.
    max_running_per_user: int = 0

    def __post_init__(self) -> None:
        if not (self.lease_ttl_s > 0 and math.isfinite(self.lease_ttl_s)):
            raise ValueError(f"lease_ttl_s must be a positive number, not {self.lease_ttl_s!r}")
        if self.max_reassignments < 0:
            raise ValueError(f"max_reassignments must be >= 0, not {self.max_reassignments!r}")
        if self.max_running_per_user < 0:
            raise ValueError("max_running_per_user must be >= 0")
        if not self.deadline_grace_s >= 0:
            raise ValueError(f"deadline_grace_s must be >= 0, not {self.deadline_grace_s!r}")
