"""The task state machine (DESIGN "Task lifecycle"): what may happen to a task."""

from __future__ import annotations

import itertools

import pytest

from englog.domain.attempts import (
    accepted_end,
    completion_end,
    deadline_grace,
    judge,
    lapsed_end,
    lost_in_transit,
    taken_back,
    worker_went_silent,
)
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import (
    TERMINAL,
    TRANSITIONS,
    AttemptOutcome,
    Disposition,
    InvalidTransition,
    ReportedResult,
    ResultOutcome,
    RetryBackoff,
    TaskStatus,
    check_transition,
    next_status_after_failure,
)

S = TaskStatus

ALLOWED = {
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.CANCELLED),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),
    (S.RUNNING, S.PENDING),
}


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_lifecycle_transitions_are_allowed(current: TaskStatus, target: TaskStatus) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    sorted(set(itertools.product(S, S)) - ALLOWED),
)
def test_every_other_transition_is_refused(current: TaskStatus, target: TaskStatus) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(current, target)


def test_invalid_transition_is_a_value_error() -> None:
    assert issubclass(InvalidTransition, ValueError)


def test_terminal_states_have_no_way_out() -> None:
    assert {S.COMPLETED, S.FAILED, S.CANCELLED} == TERMINAL
    for status in S:
        assert status.terminal == (status in TERMINAL)
        assert status.terminal == (not TRANSITIONS[status])


def test_every_state_has_a_transition_entry() -> None:
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(
    ("attempt", "max_attempts", "retriable", "expected"),
    [
        (1, 3, True, S.PENDING),
        (2, 3, True, S.PENDING),
        (3, 3, True, S.FAILED),
        (4, 3, True, S.FAILED),
        (1, 1, True, S.FAILED),
        (1, 3, False, S.FAILED),
        (2, 3, False, S.FAILED),
    ],
)
def test_next_status_after_failure(
    attempt: int, max_attempts: int, retriable: bool, expected: TaskStatus
) -> None:
    assert next_status_after_failure(attempt, max_attempts, retriable) is expected


def test_backoff_without_jitter_grows_and_is_capped() -> None:
    backoff = RetryBackoff(initial_s=1.0, factor=2.0, max_s=10.0, jitter=False)
    assert [backoff.delay(a) for a in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_treats_attempt_zero_like_the_first() -> None:
    backoff = RetryBackoff(initial_s=0.5, jitter=False)
    assert backoff.delay(0) == backoff.delay(1) == 0.5


def test_backoff_jitter_stays_within_zero_and_the_capped_delay() -> None:
    backoff = RetryBackoff(initial_s=1.0, factor=2.0, max_s=5.0, jitter=True)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)]:
        delays = [backoff.delay(attempt) for _ in range(300)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter spreads over the range instead of sitting at the ceiling.
        assert min(delays) < ceiling / 2 < max(delays)


@pytest.mark.parametrize("kwargs", [{"initial_s": -1.0}, {"max_s": -0.1}, {"factor": 0.5}])
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        RetryBackoff(**kwargs)


# --- the queue policy and how attempts end (englog.domain.attempts) -------------------

NO_JITTER = QueuePolicy(retry_backoff=RetryBackoff(initial_s=2.0, jitter=False))


def running(**changes: object) -> dict[str, object]:
    """A task row RUNNING attempt 2 on worker w1, started at 100 with a 60 s deadline."""
    row: dict[str, object] = {
        "id": "t1",
        "status": "running",
        "attempt": 2,
        "max_attempts": 3,
        "worker_id": "w1",
        "accepted_attempt": None,
        "accepted_worker": None,
        "cancel_requested": False,
        "reassignments": 0,
        "started_at": 100.0,
        "timeout_s": 60.0,
    }
    return row | changes


def report(outcome: ResultOutcome = ResultOutcome.COMPLETED, **changes: object) -> ReportedResult:
    fields: dict[str, object] = {"task_id": "t1", "attempt": 2, "worker_id": "w1"}
    return ReportedResult(outcome=outcome, **(fields | changes))  # type: ignore[arg-type]


def test_queue_policy_defaults_are_the_documented_ones() -> None:
    policy = QueuePolicy()
    assert (policy.lease_ttl_s, policy.max_reassignments, policy.deadline_grace_s) == (
        30.0,
        10,
        30.0,
    )
    assert policy.retry_backoff == RetryBackoff()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lease_ttl_s": 0}, "lease_ttl_s"),
        ({"lease_ttl_s": float("inf")}, "lease_ttl_s"),
        ({"max_reassignments": -1}, "max_reassignments"),
        ({"deadline_grace_s": -1.0}, "deadline_grace_s"),
        ({"deadline_grace_s": float("nan")}, "deadline_grace_s"),
    ],
)
def test_queue_policy_rejects_nonsense(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QueuePolicy(**kwargs)  # type: ignore[arg-type]


def test_the_fence_accepts_only_the_running_attempt_on_its_worker() -> None:
    assert judge(report(), running()) is None
    unknown = judge(report(), None)
    assert unknown is not None and unknown.disposition is Disposition.UNKNOWN_TASK
    for result, row in [
        (report(attempt=1), running()),
        (report(worker_id="w2"), running()),
        (report(), running(status="pending")),
    ]:
        refused = judge(result, row)
        assert refused is not None and refused.disposition is Disposition.STALE
        # Which attempt runs, never which worker holds it (issue 22).
        assert "w1" not in refused.detail and "worker w" not in refused.detail
        assert refused.detail.startswith("task is ")
    again = judge(report(), running(status="completed", accepted_attempt=2, accepted_worker="w1"))
    assert again is not None and again.disposition is Disposition.DUPLICATE


def test_a_completion_ends_as_the_fence_would_let_it_whatever_the_row_holds() -> None:
    """`completion_end` (a store's one-statement completion, the fence in its WHERE) is
    `accepted_end` of any row the fence accepts: nothing else of the row matters."""
    result = report(result={"ok": 1})
    for row in (running(), running(cancel_requested=True), running(reassignments=5)):
        assert judge(result, row) is None
        assert completion_end(result, 1000.0, NO_JITTER) == accepted_end(
            result, row, 1000.0, NO_JITTER
        )
    with pytest.raises(ValueError, match="not a completion"):
        completion_end(report(ResultOutcome.FAILED), 1000.0, NO_JITTER)


def test_an_accepted_result_ends_its_attempt() -> None:
    done = accepted_end(report(result={"ok": 1}), running(), 1000.0, NO_JITTER)
    assert (done.target, done.error, done.result, done.accepted_worker) == (
        S.COMPLETED,
        None,
        {"ok": 1},
        "w1",
    )
    retry = accepted_end(report(ResultOutcome.FAILED, error="boom"), running(), 1000.0, NO_JITTER)
    assert (retry.target, retry.error, retry.record_error) == (S.PENDING, "boom", "boom")
    assert retry.run_after == 1000.0 + 4.0  # backoff after attempt 2: 2 s doubled
    last = accepted_end(report(ResultOutcome.FAILED, attempt=3), running(attempt=3), 0.0, NO_JITTER)
    assert (last.target, last.error) == (S.FAILED, "failed")
    cancelled = accepted_end(
        report(ResultOutcome.FAILED), running(cancel_requested=True), 0.0, NO_JITTER
    )
    assert cancelled.target is S.CANCELLED


def test_taking_back_is_capped_and_never_a_failure_below_the_cap() -> None:
    policy = QueuePolicy(max_reassignments=2)
    back = taken_back(running(reassignments=1), "gone", AttemptOutcome.LOST, 5.0, policy)
    assert (back.target, back.reassigned, back.error, back.run_after) == (
        S.PENDING,
        True,
        "gone",
        5.0,
    )
    capped = taken_back(running(reassignments=2), "gone", AttemptOutcome.LOST, 5.0, policy)
    assert (capped.target, capped.reassigned, capped.record_error) == (S.FAILED, False, "gone")
    assert capped.error == "gone; taken back from its worker 2 times (reassignment cap 2)"
    cancel = taken_back(running(cancel_requested=True), "gone", AttemptOutcome.LOST, 5.0, policy)
    assert cancel.target is S.CANCELLED
    assert lost_in_transit(running(), "lost", 7.0, policy).run_after == 7.0
    silent = worker_went_silent(running(), 7.0, NO_JITTER)
    assert (silent.error, silent.outcome, silent.run_after) == (
        "worker w1 went silent",
        AttemptOutcome.LOST,
        11.0,
    )


def test_a_passed_deadline_fails_the_attempt_and_a_lapsed_lease_reassigns_it() -> None:
    grace = deadline_grace(NO_JITTER, enforce_deadlines=True)
    late = lapsed_end(running(), 100.0 + 60.0 + 30.0 + 1, NO_JITTER, grace)
    assert (late.target, late.outcome, late.reassigned) == (
        S.PENDING,
        AttemptOutcome.TIMED_OUT,
        False,
    )
    assert late.error == "deadline of 60s passed (worker w1)"
    lapsed = lapsed_end(running(), 120.0, NO_JITTER, grace)
    assert (lapsed.target, lapsed.outcome, lapsed.reassigned) == (
        S.PENDING,
        AttemptOutcome.EXPIRED,
        True,
    )
    assert lapsed.error == "lease expired (worker w1)"
    suspended = deadline_grace(NO_JITTER, enforce_deadlines=False)
    assert lapsed_end(running(), 10_000.0, NO_JITTER, suspended).outcome is AttemptOutcome.EXPIRED
