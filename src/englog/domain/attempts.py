"""How one attempt of a task ends, decided once for both stores so SQLite and
PostgreSQL cannot drift apart: the fence a reported result must pass, where an accepted
result takes its task, what taking a task back from its worker does, and the deadline
versus lease-expiry rule. Each rule reads the task's row (anything answering
row["column"]) and returns an `AttemptEnd`; the stores only write it with their SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from englog.domain.policy import QueuePolicy
from englog.domain.tasks import (
    AttemptOutcome,
    Disposition,
    ReportedResult,
    ResultDecision,
    ResultOutcome,
    TaskStatus,
    check_transition,
    next_status_after_failure,
)


class TaskRow(Protocol):
    """A task as stored: sqlite3.Row, asyncpg.Record and dicts all answer row["column"]."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """How one RUNNING attempt ends, as both stores write it, fenced on the task still
    running that attempt: PENDING means a new attempt (attempt + 1) from `run_after`;
    any other target is terminal. The attempt record closes with `outcome` and
    `record_error` in the same transaction."""

    task_id: str
    attempt: int
    target: TaskStatus
    outcome: AttemptOutcome
    error: str | None  # the task's error
    record_error: str | None  # the attempt record's error
    run_after: float = 0.0
    result: Any = None
    accepted_worker: str | None = None  # set when this ends with an accepted result
    reassigned: bool = False  # taken back from its worker: not the task's failure

    def __post_init__(self) -> None:
        check_transition(TaskStatus.RUNNING, self.target)


def judge(result: ReportedResult, row: TaskRow | None) -> ResultDecision | None:
    """The fence: None when the result is accepted (the task runs that very attempt on
    that very worker), else the decision that refuses it."""

    def refuse(disposition: Disposition, status: TaskStatus | None, detail: str) -> Any:
        return ResultDecision(result.task_id, result.attempt, disposition, status, detail)

    if row is None:
        return refuse(Disposition.UNKNOWN_TASK, None, "no such task")
    status = TaskStatus(row["status"])
    if (row["accepted_attempt"], row["accepted_worker"]) == (result.attempt, result.worker_id):
        return refuse(Disposition.DUPLICATE, status, "this attempt's result was accepted")
    current = (row["attempt"], row["worker_id"]) == (result.attempt, result.worker_id)
    if status is not TaskStatus.RUNNING or not current:
        # Never who holds it: a refusal must not tell one worker another's id.
        held = "held by another worker" if row["worker_id"] else "not held"
        where = f"at attempt {row['attempt']}" if row["attempt"] != result.attempt else held
        if status is not TaskStatus.RUNNING:
            where = f"at attempt {row['attempt']}"
        return refuse(Disposition.STALE, status, f"task is {status} {where}")
    return None


def accepted_end(
    result: ReportedResult, row: TaskRow, now: float, policy: QueuePolicy
) -> AttemptEnd:
    """How an accepted result (one `judge` let through) ends its attempt."""
    target = _target_for(result, row)
    error = None if target is TaskStatus.COMPLETED else (result.error or str(result.outcome))
    return AttemptEnd(
        row["id"],
        row["attempt"],
        target,
        AttemptOutcome(str(result.outcome)),
        error,
        error,
        run_after=now + retry_delay(policy, row["attempt"], result.retry_after_s),
        result=result.result,
        accepted_worker=result.worker_id,
    )


def completion_end(result: ReportedResult, now: float, policy: QueuePolicy) -> AttemptEnd:
    """`accepted_end` of a COMPLETED result, which reads nothing of the row: the fence
    (`judge`) says the row runs `result.attempt` of `result.task_id`, and a completion
    ends as COMPLETED whatever else the row holds. So a store can write it fenced in one
    statement and read the row only when the fence refuses; both stores write these
    values as their statements' constants (SQLite's `_COMPLETION_VALUES`, PostgreSQL's
    `_COMPLETE_PARAMS`), which this function states and its tests hold."""
    if result.outcome is not ResultOutcome.COMPLETED:
        raise ValueError(f"not a completion: {result.outcome}")
    fenced = {"id": result.task_id, "attempt": result.attempt}
    return accepted_end(result, fenced, now, policy)


def completions(results: Sequence[ReportedResult]) -> list[ReportedResult]:
    """The results a store may write in one statement (`completion_end` for each):
    completed, each the only one of its task in the report (a second copy must be judged
    a duplicate of the first, one by one). Written before the rest of the report, they
    end as they would in the report's order, as no other result of it names their task."""
    seen: dict[str, int] = {}
    for r in results:
        seen[r.task_id] = seen.get(r.task_id, 0) + 1
    return [r for r in results if r.outcome is ResultOutcome.COMPLETED and seen[r.task_id] == 1]


# The longest wait a handler's `retry_after` may impose on its task: a bad value (a
# year, say) must not park a task out of sight; past this the queue's own backoff and
# the task's attempts decide.
MAX_RETRY_AFTER_S = 3600.0


def retry_delay(policy: QueuePolicy, failed_attempt: int, retry_after_s: float | None) -> float:
    """How long after a failed attempt the next one may start: the queue's backoff, or
    longer when the handler asked for it (an open circuit knows when it half-opens).
    A handler cannot shorten the backoff; a negative, NaN or missing wish is ignored and
    one over `MAX_RETRY_AFTER_S` is capped there."""
    backoff = policy.retry_backoff.delay(failed_attempt)
    if retry_after_s is None or not retry_after_s > 0:  # None, <= 0 and NaN alike
        return backoff
    return max(backoff, min(retry_after_s, MAX_RETRY_AFTER_S))


def _target_for(result: ReportedResult, row: TaskRow) -> TaskStatus:
    if result.outcome is ResultOutcome.COMPLETED:
        return TaskStatus.COMPLETED
    if result.outcome is ResultOutcome.CANCELLED or row["cancel_requested"]:
        return TaskStatus.CANCELLED  # a failure after a cancel request is not retried
    return next_status_after_failure(
        row["attempt"], row["max_attempts"], result.retriable, row["reassignments"]
    )


def taken_back(
    row: TaskRow, reason: str, outcome: AttemptOutcome, run_after: float, policy: QueuePolicy
) -> AttemptEnd:
    """A reassignment (base.py "Taking a task back"): not the task's failure, capped at
    `policy.max_reassignments`; past the cap the task fails."""
    cap = policy.max_reassignments
    if row["cancel_requested"]:
        target, error = TaskStatus.CANCELLED, reason  # nobody wants another attempt
    elif row["reassignments"] < cap:
        target, error = TaskStatus.PENDING, reason
    else:
        target = TaskStatus.FAILED
        error = f"{reason}; taken back from its worker {row['reassignments']} times"
        error += f" (reassignment cap {cap})"
    return AttemptEnd(
        row["id"],
        row["attempt"],
        target,
        outcome,
        error,
        reason,
        run_after=run_after,
        reassigned=target is TaskStatus.PENDING,
    )


def lost_in_transit(row: TaskRow, reason: str, now: float, policy: QueuePolicy) -> AttemptEnd:
    """A delivery that never reached its worker: taken back, ready again at once."""
    return taken_back(row, reason, AttemptOutcome.LOST, now, policy)


def worker_went_silent(row: TaskRow, now: float, policy: QueuePolicy) -> AttemptEnd:
    """A task of a worker that stopped heartbeating: taken back after backoff."""
    reason = f"worker {row['worker_id']} went silent"
    run_after = now + policy.retry_backoff.delay(row["attempt"])
    return taken_back(row, reason, AttemptOutcome.LOST, run_after, policy)


def deadline_grace(policy: QueuePolicy, enforce_deadlines: bool) -> float:
    """How long past its deadline a task may run; unbounded while deadlines are not
    enforced (a restarted server gives running tasks time to report first)."""
    return policy.deadline_grace_s if enforce_deadlines else float("inf")


def lapsed_end(row: TaskRow, now: float, policy: QueuePolicy, grace: float) -> AttemptEnd:
    """A RUNNING task whose deadline (plus `grace`) or lease passed. A passed deadline
    is the attempt's failure (TIMED_OUT: retried while attempts remain, CANCELLED if
    cancellation was requested); a lapsed lease alone means the worker vanished, a
    reassignment (EXPIRED). Both wait out the backoff."""
    run_after = now + policy.retry_backoff.delay(row["attempt"])
    if row["started_at"] + row["timeout_s"] + grace < now:
        error = f"deadline of {row['timeout_s']:g}s passed (worker {row['worker_id']})"
        if row["cancel_requested"]:
            target = TaskStatus.CANCELLED
        else:
            target = next_status_after_failure(
                row["attempt"], row["max_attempts"], True, row["reassignments"]
            )
        outcome = AttemptOutcome.TIMED_OUT
        return AttemptEnd(row["id"], row["attempt"], target, outcome, error, error, run_after)
    reason = f"lease expired (worker {row['worker_id']})"
    return taken_back(row, reason, AttemptOutcome.EXPIRED, run_after, policy)
