"""The task state machine (DESIGN "Task lifecycle"): what may happen to a task."""

from __future__ import annotations

import itertools

import pytest

from englog.domain.tasks import (
    TERMINAL,
    TRANSITIONS,
    InvalidTransition,
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
