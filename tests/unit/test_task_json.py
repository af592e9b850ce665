"""A finished task's JSON is written from plain values (`task_detail_json`,
`tasks_waited_json`) instead of validated models: the bytes must stay the models' own,
whatever a result holds, since clients and the route tests compare them."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from englog.domain.tasks import Task, TaskAttempt, TaskStatus
from englog.server.http.models import (
    TASK_DETAIL_JSON,
    TASKS_WAITED_JSON,
    task_detail_json,
    tasks_waited_json,
)
from englog.views import TaskDetail, TasksWaited

NOW = 1_796_647_117.709129

# What a worker's result can be once the server parsed it: any JSON value.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
times = st.none() | st.floats(min_value=0, max_value=4_000_000_000)


def _task(**fields: Any) -> Task:
    base: dict[str, Any] = {
        "id": "01a2507ddfbb78e8b05b50cf1c000000",
        "type": "noop",
        "payload": {"i": 1},
        "status": TaskStatus.COMPLETED,
        "user_id": None,
        "priority": 0,
        "attempt": 1,
        "max_attempts": 3,
        "timeout_s": 300.0,
        "worker_id": "w1",
        "lease_expires_at": None,
        "progress": 100.0,
        "progress_message": None,
        "result": {"echo": {"i": 1}},
        "error": None,
        "created_at": NOW,
        "updated_at": NOW,
        "started_at": NOW,
        "completed_at": NOW,
        "run_after": 0.0,
        "cancel_requested": False,
        "metadata": {},
        "reassignments": 0,
    }
    return Task(**{**base, **fields})


def _attempt(n: int, ended: float | None, outcome: str | None, error: str | None) -> TaskAttempt:
    return TaskAttempt("01a2507ddfbb78e8b05b50cf1c000000", n, f"w{n}", NOW, ended, outcome, error)


def _model_bytes(task: Task, attempts: list[TaskAttempt]) -> bytes:
    return TASK_DETAIL_JSON.dump_json(TaskDetail.of(task, attempts))


def test_the_usual_finished_task_is_the_models_bytes() -> None:
    task, attempts = _task(), [_attempt(1, NOW, "completed", None)]
    assert task_detail_json((task, attempts)) == _model_bytes(task, attempts)


def test_numbers_read_back_as_integers_are_written_as_their_fields_type() -> None:
    """SQLite gives back a progress of 100 or a timeout of 300 as integers; the model
    writes them as floats (100.0), and so must the plain values."""
    task = _task(progress=100, timeout_s=300, cancel_requested=0, priority=True)
    attempts = [_attempt(1, NOW, "completed", None)]
    written = task_detail_json((task, attempts))
    assert written == _model_bytes(task, attempts)
    assert b'"progress":100.0,' in written and b'"cancel_requested":false' in written


def test_values_where_encoders_differ_are_written_as_the_model_writes_them() -> None:
    """Exponents (1e-07 in Python's json, 1e-7 here), -0.0, big integers, escapes, and
    a time on a whole second (no fraction written)."""
    result = {
        "small": 1e-7,
        "big": 1e20,
        "neg_zero": -0.0,
        "huge_int": 12_345_678_901_234_567_890,
        "text": 'é\u2028\x00\x1f"\\/ 𝄞',
        "list": [1, 2.5, True, False, None],
        "sum": 0.1 + 0.2,
    }
    task = _task(result=result, created_at=1_700_000_000.0, error="boom\n\t", progress=1 / 3)
    attempts = [_attempt(1, 1_700_000_001.5, "failed", 'e"x'), _attempt(2, None, None, None)]
    assert task_detail_json((task, attempts)) == _model_bytes(task, attempts)


@settings(max_examples=150, deadline=None)
@given(
    result=json_values,
    status=st.sampled_from(list(TaskStatus)),
    started=times,
    completed=times,
    progress=st.floats(min_value=0, max_value=100) | st.integers(min_value=0, max_value=100),
    timeout=st.floats(min_value=1e-3, max_value=86_400) | st.integers(1, 86_400),
    message=st.none() | st.text(max_size=20),
    error=st.none() | st.text(max_size=20),
    ended=times,
    outcome=st.sampled_from([None, "completed", "failed", "lost", "expired", "timed_out"]),
)
def test_any_task_is_the_models_bytes(
    result: Any,
    status: TaskStatus,
    started: float | None,
    completed: float | None,
    progress: float | int,
    timeout: float | int,
    message: str | None,
    error: str | None,
    ended: float | None,
    outcome: str | None,
) -> None:
    task = _task(
        result=result,
        status=status,
        started_at=started,
        completed_at=completed,
        progress=progress,
        timeout_s=timeout,
        progress_message=message,
        error=error,
    )
    attempts = [_attempt(1, ended, outcome, error)]
    assert task_detail_json((task, attempts)) == _model_bytes(task, attempts)


def test_the_wait_answer_is_the_models_bytes() -> None:
    finished = [
        (_task(), [_attempt(1, NOW, "completed", None)]),
        (_task(id="other", result=[1e-9, "x"]), []),
    ]
    pending, missing = ["p1", "p2"], ["m1"]
    model = TasksWaited(
        tasks=[TaskDetail.of(*found) for found in finished], pending=pending, missing=missing
    )
    assert tasks_waited_json(finished, pending, missing) == TASKS_WAITED_JSON.dump_json(model)
    assert tasks_waited_json([], [], []) == b'{"tasks":[],"pending":[],"missing":[]}'
