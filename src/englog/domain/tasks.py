"""The task state machine: states, legal transitions and the records the store keeps.

Kept free of I/O so the store, the server and the tests share one definition of
what may happen to a task (DESIGN "Task lifecycle")."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from englog.errors import EnglogError
from englog.resilience.backoff import ExponentialBackoff


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})

TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.RUNNING, TaskStatus.CANCELLED}),
    TaskStatus.RUNNING: frozenset(
        {
            TaskStatus.COMPLETED,
            TaskStatus.FAILED,
            TaskStatus.CANCELLED,
            TaskStatus.PENDING,  # retry after a failure, a lost lease or a deadline
        }
    ),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


class InvalidTransition(EnglogError, ValueError):
    """A state change the lifecycle does not allow (a bug or a race lost)."""


def check_transition(current: TaskStatus, target: TaskStatus) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(f"task cannot go from {current} to {target}")


class ResultOutcome(enum.StrEnum):
    """What a worker reports for one attempt."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Disposition(enum.StrEnum):
    """What the server made of one reported result (fencing, DESIGN "Attempt")."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    STALE = "stale"
    UNKNOWN_TASK = "unknown_task"


@dataclass(frozen=True, slots=True)
class RetryBackoff:
    """Server-side delay between attempts of one task.

    initial_s: delay before attempt 2 (default 1 s); factor: growth per attempt
    (default 2.0); max_s: ceiling (default 60 s); jitter: full jitter when True."""

    initial_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0
    jitter: bool = True

    def __post_init__(self) -> None:
        self.curve  # noqa: B018  (the one backoff formula validates the fields)

    @property
    def curve(self) -> ExponentialBackoff:
        return ExponentialBackoff(self.initial_s, self.factor, self.max_s, self.jitter)

    def delay(self, failed_attempt: int) -> float:
        return self.curve.delay(failed_attempt)


def next_status_after_failure(
    attempt: int, max_attempts: int, retriable: bool, reassignments: int = 0
) -> TaskStatus:
    """A failed attempt goes back to PENDING while attempts remain, else FAILED.

    `attempt` counts every delivery (it is the fencing token); deliveries taken back
    from a lost worker (`reassignments`) are not the task's failures, so they do not
    use up `max_attempts`."""
    if retriable and attempt - reassignments < max_attempts:
        return TaskStatus.PENDING
    return TaskStatus.FAILED


# A task may be taken back from lost workers this many times (server setting
# `max_reassignments`); past it the task FAILS, so a flapping worker cannot keep a
# task alive forever, yet does not burn its retries either.
DEFAULT_MAX_REASSIGNMENTS = 10


class AttemptOutcome(enum.StrEnum):
    """How one attempt ended, as `GET /v1/tasks/{id}` shows it."""

    COMPLETED = "completed"  # the worker's result was accepted
    FAILED = "failed"  # the handler failed (retriable or not)
    CANCELLED = "cancelled"  # the worker cancelled it on request
    LOST = "lost"  # its worker went silent or the delivery never arrived: a reassignment
    EXPIRED = "expired"  # its lease ran out before its deadline: a reassignment
    TIMED_OUT = "timed_out"  # its deadline passed on the server: a failure


@dataclass(frozen=True, slots=True)
class TaskAttempt:
    """One delivery of a task. ended_at and outcome are None while it runs."""

    task_id: str
    attempt: int
    worker_id: str
    started_at: float
    ended_at: float | None = None
    outcome: AttemptOutcome | None = None
    error: str | None = None


@dataclass(slots=True)
class Task:
    """A task row as the store returns it. Times are unix seconds (float)."""

    id: str
    type: str
    payload: dict[str, Any]
    status: TaskStatus
    user_id: str | None = None
    priority: int = 0
    attempt: int = 1
    max_attempts: int = 3
    timeout_s: float = 60.0
    worker_id: str | None = None
    lease_expires_at: float | None = None
    progress: float = 0.0
    progress_message: str | None = None
    result: Any = None
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    run_after: float = 0.0
    cancel_requested: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    reassignments: int = 0  # deliveries taken back from lost workers (not failures)


@dataclass(frozen=True, slots=True)
class NewTask:
    """What a submitter asks for; the store assigns id, status and times."""

    type: str
    payload: dict[str, Any]
    user_id: str | None = None
    priority: int = 0
    max_attempts: int = 3
    timeout_s: float = 60.0
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReportedResult:
    """One result as a worker reported it; fenced by (task_id, attempt, worker_id)."""

    task_id: str
    attempt: int
    worker_id: str
    outcome: ResultOutcome
    result: Any = None
    error: str | None = None
    retriable: bool = True
    # Seconds the handler asked to wait before another attempt (its error's
    # `retry_after`); None when it had no opinion. See `attempts.retry_delay`.
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class ResultDecision:
    task_id: str
    attempt: int
    disposition: Disposition
    status: TaskStatus | None = None  # the task's status after the decision
    detail: str = ""
    # The task and its attempt records as this decision committed them, for the tasks
    # the caller asked for (`Store.report_results(..., watched=...)`) that it finished.
    final: tuple[Task, tuple[TaskAttempt, ...]] | None = None


# Above the LLM client's per-attempt timeouts (60 s insight, 90 s report) times its
# retries, so a slow model is retried by the client before the task deadline hits.
DEFAULT_TIMEOUTS_S: dict[str, float] = {
    "insight_generation": 300.0,
    "weekly_report": 360.0,
    "noop": 30.0,
    "sleep": 600.0,
}
