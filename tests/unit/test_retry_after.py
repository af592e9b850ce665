"""A handler's `retry_after` sets the earliest next attempt, never an earlier one than
the queue's own backoff (domain.attempts.retry_delay), and it survives the trip from the
worker's FinishedResult through the protocol to the server's ReportedResult."""

from __future__ import annotations

import math

import pytest

from englog.domain.attempts import MAX_RETRY_AFTER_S, accepted_end, retry_delay
from englog.domain.policy import QueuePolicy
from englog.domain.tasks import ReportedResult, ResultOutcome, RetryBackoff, TaskStatus
from englog.protocol import worker_pb2 as pb

# Backoff after attempt 2 is exactly 4 s (2 s doubled, no jitter).
POLICY = QueuePolicy(retry_backoff=RetryBackoff(initial_s=2.0, jitter=False))
ROW = {
    "id": "t1",
    "status": "running",
    "attempt": 2,
    "max_attempts": 5,
    "worker_id": "w1",
    "cancel_requested": False,
    "reassignments": 0,
}


@pytest.mark.parametrize(
    ("retry_after_s", "delay"),
    [
        (None, 4.0),  # no opinion: the backoff
        (10.0, 10.0),  # longer than the backoff: the handler's wish
        (1.0, 4.0),  # shorter: the backoff still holds
        (0.0, 4.0),
        (-5.0, 4.0),  # nonsense is ignored
        (math.nan, 4.0),
        (math.inf, MAX_RETRY_AFTER_S),  # capped
        (10 * MAX_RETRY_AFTER_S, MAX_RETRY_AFTER_S),
    ],
)
def test_retry_delay_is_the_longer_of_backoff_and_retry_after(
    retry_after_s: float | None, delay: float
) -> None:
    assert retry_delay(POLICY, 2, retry_after_s) == delay


def test_an_accepted_retriable_failure_waits_for_retry_after() -> None:
    failed = ReportedResult("t1", 2, "w1", ResultOutcome.FAILED, error="circuit open")
    plain = accepted_end(failed, ROW, 1000.0, POLICY)
    assert (plain.target, plain.run_after) == (TaskStatus.PENDING, 1004.0)
    waiting = ReportedResult(
        "t1", 2, "w1", ResultOutcome.FAILED, error="circuit open", retry_after_s=30.0
    )
    end = accepted_end(waiting, ROW, 1000.0, POLICY)
    assert (end.target, end.run_after) == (TaskStatus.PENDING, 1030.0)


def test_the_protocol_carries_retry_after_s() -> None:
    sent = pb.TaskResult(task_id="t1", attempt=1, retry_after_s=2.5)
    received = pb.TaskResult.FromString(sent.SerializeToString())
    assert received.retry_after_s == 2.5
    assert pb.TaskResult().retry_after_s == 0.0  # absent (an older worker): no opinion
